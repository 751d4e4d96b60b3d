//! Keys for a command: key files (with `$ENVSTREAM_KEY_FILE`, the
//! permission warning and duplicate merging), KMS keyrings and their
//! runtime, and the unwrapping keyrings of open, verify and rekey.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use envstream::{Backend, Identity, LocalKey, PqIdentity, PqRecipient, Recipient};
use envstream_kms::{DiscoveryFilter, KmsClients, KmsIdentity, KmsKeyring, KmsSettings};

use crate::cli::{AwsArgs, UnwrapArgs};
use crate::error::UsageError;
use crate::plan::KeyFiles;

/// What a command does with its keys, for the "no key" message.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyUse {
    Seal,
    Open,
}

/// Loads the key files ([`KeyFiles`]). `other_keys` counts KMS
/// keys and modes. `$ENVSTREAM_KEY_FILE` is used together with KMS keys,
/// and then said so on stderr, so a break-glass key is never dropped
/// silently. Two files holding the same key load it once.
pub(super) fn load_keys(
    files: &KeyFiles,
    other_keys: usize,
    be: Backend,
    purpose: KeyUse,
) -> Result<Vec<LocalKey>> {
    let paths = &files.paths;
    if paths.is_empty() && other_keys == 0 {
        let msg = match purpose {
            KeyUse::Seal => "no key given: pass --key-file FILE (create one with `envstream keygen -o FILE`), --recipient R or --kms-key KEY, or set ENVSTREAM_KEY_FILE",
            KeyUse::Open => "no key given: pass --key-file FILE, --identity FILE, --kms-key ARN or --discovery (or set ENVSTREAM_KEY_FILE) to open the file",
        };
        return Err(UsageError(msg.into()).into());
    }
    if files.from_env && other_keys > 0 {
        if let Some(p) = paths.first() {
            eprintln!(
                "envstream: note: also using key file {} from ENVSTREAM_KEY_FILE (unset it to use only the keys given by flags)",
                p.display()
            );
        }
    }
    load_distinct(paths, be, |p, key| {
        eprintln!(
            "envstream: note: key file {} holds a key already given (key id {}); it is used once",
            p.display(),
            key.key_id()
        );
    })
}

/// Loads key files (each checked for loose permissions), each distinct
/// key once; `on_duplicate` hears of a file whose key was already loaded.
fn load_distinct(
    paths: &[std::path::PathBuf],
    be: Backend,
    on_duplicate: impl Fn(&Path, &LocalKey),
) -> Result<Vec<LocalKey>> {
    let mut keys: Vec<LocalKey> = Vec::with_capacity(paths.len());
    for p in paths {
        warn_if_shared(p);
        let key = LocalKey::load(p, be).with_context(|| format!("key file {}", p.display()))?;
        if keys.iter().any(|k| k.key_id() == key.key_id()) {
            on_duplicate(p, &key);
            continue;
        }
        keys.push(key);
    }
    Ok(keys)
}

/// Refuses more wrapping keys than a header holds before any is used (so
/// no KMS call is made for a seal that cannot be written).
pub(super) fn check_key_count(named: usize) -> Result<()> {
    let max = envstream::format::MAX_WRAPPED_KEYS;
    if named > max {
        return Err(UsageError(format!(
            "{named} wrapping keys were named, but a header holds at most {max}; name fewer keys"
        ))
        .into());
    }
    Ok(())
}

/// Warns, as ssh does, when a key file can be read or written by group or others.
pub(super) fn warn_if_shared(p: &Path) {
    if let Ok(m) = std::fs::metadata(p) {
        let mode = m.permissions().mode() & 0o777;
        if m.is_file() && mode & 0o077 != 0 {
            eprintln!(
                "envstream: warning: key file {} is accessible by group or others (mode {mode:03o}); run `chmod 600 {}`",
                p.display(),
                p.display()
            );
        }
    }
}

/// Drops repeated `--kms-key` values (the same string twice), saying so.
/// Different names for one key (an alias and its ARN) are merged by the
/// library once KMS has named the key.
pub(super) fn unique_kms_keys(flag: &str, keys: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(keys.len());
    for k in keys {
        if out.contains(k) {
            eprintln!("envstream: note: {flag} {k} is given more than once; it is used once");
        } else {
            out.push(k.clone());
        }
    }
    // A multi-Region key and its replica are one key: which one to call
    // would be ambiguous (the AWS Encryption SDK's "MRKs are unique").
    if let Some(group) = envstream_kms::duplicate_mrks(&out).first() {
        return Err(UsageError(format!(
            "{flag} names one multi-Region key more than once ({}): they are replicas of the same key; keep one, the replica in the region you want to call",
            group.join(", ")
        ))
        .into());
    }
    Ok(out)
}

/// KMS access for one command: the loaded AWS config and the clients'
/// own small runtime. Created only when a KMS flag is given, so local-key
/// runs stay lean. KMS keyrings then work with the blocking library API.
pub(super) struct Kms {
    pub(super) clients: std::sync::Arc<KmsClients>,
}

impl Kms {
    /// The KMS keys to seal with (no AWS setup when there are none).
    pub(super) fn seal_keys(aws: &AwsArgs, names: &[String]) -> Result<Vec<KmsKeyring>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let kms = Kms::new(aws)?;
        Ok(names
            .iter()
            .map(|id| KmsKeyring::seal(kms.clients.clone(), id.clone()))
            .collect())
    }

    pub(super) fn new(aws: &AwsArgs) -> Result<Kms> {
        let settings = KmsSettings {
            region: aws.region.clone(),
            profile: aws.profile.clone(),
            ..KmsSettings::default()
        };
        let clients = KmsClients::load_blocking(&settings)
            .map_err(|e| envstream::Error::Key(envstream::KeyError::Keyring(e)))?;
        Ok(Kms { clients })
    }
}

/// The key files `rekey --add-key-file` names, loaded (each distinct key
/// once).
pub(super) fn load_added_keys(paths: &[std::path::PathBuf], be: Backend) -> Result<Vec<LocalKey>> {
    load_distinct(paths, be, |_, _| {})
}

/// The public-key recipients of `--recipient` / `--add-recipient`: `.pub`
/// files or recipient strings, each distinct recipient once (saying so).
pub(super) fn load_recipients(
    flag: &str,
    args: &[crate::values::RecipientArg],
    be: Backend,
) -> Result<Vec<PqRecipient>> {
    use crate::values::RecipientArg;
    let mut out: Vec<PqRecipient> = Vec::with_capacity(args.len());
    for a in args {
        let r = match a {
            RecipientArg::Text(t) => PqRecipient::parse(t, be)?,
            RecipientArg::File(p) => {
                crate::s3::local_only(p, "recipient files are read locally")?;
                PqRecipient::load(p, be).with_context(|| format!("{flag} {}", p.display()))?
            }
        };
        if out.iter().any(|o| o.key_id() == r.key_id()) {
            eprintln!(
                "envstream: note: {flag} names recipient {} more than once; it is used once",
                r.key_id()
            );
            continue;
        }
        out.push(r);
    }
    Ok(out)
}

/// The identity files of `--identity`, each distinct identity once.
fn load_identities(paths: &[std::path::PathBuf], be: Backend) -> Result<Vec<PqIdentity>> {
    let mut out: Vec<PqIdentity> = Vec::with_capacity(paths.len());
    for p in paths {
        crate::s3::local_only(p, "identity files are read locally")?;
        warn_if_shared(p);
        let id =
            PqIdentity::load(p, be).with_context(|| format!("identity file {}", p.display()))?;
        if !out.iter().any(|o| o.key_id() == id.key_id()) {
            out.push(id);
        }
    }
    Ok(out)
}

/// The recipients of a seal after the generator: the other KMS keys, the
/// public-key recipients, then the key files.
pub(super) fn recipients<'a>(
    local: &'a [LocalKey],
    pq: &'a [PqRecipient],
    kms: &'a [KmsKeyring],
) -> Vec<&'a dyn Recipient> {
    kms.iter()
        .map(|k| k as &dyn Recipient)
        .chain(pq.iter().map(|k| k as &dyn Recipient))
        .chain(local.iter().map(|k| k as &dyn Recipient))
        .collect()
}

/// The identities of an open: local key files and identity files first,
/// so that no network call is made when one of them opens the file.
fn identities<'a>(
    local: &'a [LocalKey],
    pq: &'a [PqIdentity],
    kms: &'a [KmsIdentity],
) -> Vec<&'a dyn Identity> {
    local
        .iter()
        .map(|k| k as &dyn Identity)
        .chain(pq.iter().map(|k| k as &dyn Identity))
        .chain(kms.iter().map(|k| k as &dyn Identity))
        .collect()
}

/// Builds the unwrapping keyrings (local key files first) for open, verify
/// and rekey, and runs `f` with them (and the KMS clients, if any).
pub(super) fn with_unwrap_keys<T>(
    args: &UnwrapArgs,
    files: &KeyFiles,
    be: Backend,
    need_kms: bool,
    f: impl FnOnce(&[&dyn Identity], Option<&Kms>) -> Result<T>,
) -> Result<T> {
    for arn in &args.kms_keys {
        if !envstream_kms::parse_arn(arn).is_some_and(|a| a.resource.starts_with("key/")) {
            return Err(UsageError(format!(
                "--kms-key needs a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) to unwrap, not {arn:?}; `envstream inspect FILE` shows the ARNs"
            ))
            .into());
        }
    }
    for acct in &args.discovery_accounts {
        if !envstream_kms::is_account_id(acct) {
            return Err(UsageError(format!(
                "--discovery-account {acct:?} must be a 12-digit AWS account id"
            ))
            .into());
        }
    }
    if args.discovery && !args.discovery_any_account {
        discovery_filter(args)?;
    }
    let strict_keys = unique_kms_keys("--kms-key", &args.kms_keys)?;
    let kms_flags = args.kms_keys.len() + usize::from(args.discovery);
    let ids = load_identities(&args.ids.identities, be)?;
    let keys = load_keys(files, kms_flags + ids.len(), be, KeyUse::Open)?;
    let kms = if kms_flags == 0 && !need_kms {
        None
    } else {
        Some(Kms::new(&args.aws)?)
    };
    let kms_keys: Vec<KmsIdentity> = match &kms {
        Some(k) if args.discovery && args.discovery_any_account => {
            eprintln!(
                "envstream: warning: --discovery-any-account lets whoever wrote the file choose which KMS key is called, in any account: its owner sees the call, and a file sealed to a key anyone may use opens"
            );
            vec![mrk_region(
                KmsIdentity::discovery_any_account(
                    k.clients.clone(),
                    args.discovery_partition.clone(),
                ),
                args,
            )]
        }
        Some(k) if args.discovery => vec![mrk_region(
            KmsIdentity::discovery(k.clients.clone(), discovery_filter(args)?),
            args,
        )],
        Some(k) if !strict_keys.is_empty() => {
            vec![KmsIdentity::strict(k.clients.clone(), strict_keys)]
        }
        _ => Vec::new(),
    };
    f(&identities(&keys, &ids, &kms_keys), kms.as_ref())
}

/// Discovery with `--region R`: multi-Region key records are decrypted
/// with their replica in R (a restore in the recovery region); other
/// records in their own region.
fn mrk_region(id: KmsIdentity, args: &UnwrapArgs) -> KmsIdentity {
    match &args.aws.region {
        Some(r) => id.mrk_region(r.clone()),
        None => id,
    }
}

/// The discovery filter of `--discovery-partition` and
/// `--discovery-account`: at least one account is required.
fn discovery_filter(args: &UnwrapArgs) -> Result<DiscoveryFilter> {
    if args.discovery_accounts.is_empty() {
        return Err(UsageError(
            "--discovery needs --discovery-account ID (repeatable): without an account filter the file chooses which KMS key is called; pass --discovery-any-account to allow that".into(),
        )
        .into());
    }
    DiscoveryFilter::new(
        args.discovery_partition.clone(),
        args.discovery_accounts.clone(),
    )
    .map_err(|e| UsageError(format!("--discovery-partition or --discovery-account: {e}")).into())
}

/// Says so when fewer keys were written than named: two names for one key.
pub(super) fn note_merged(named: usize, h: &envstream::Header) {
    let written = h.wrapped_keys().len();
    if written < named {
        let distinct = if written == 1 {
            "only 1 is distinct".to_owned()
        } else {
            format!("only {written} are distinct")
        };
        eprintln!(
            "envstream: note: {named} keys were named but {distinct}; each key is wrapped once"
        );
    }
}

/// The signers `--signer` pins: public key files, or KMS signing keys
/// (their public keys fetched once, with `GetPublicKey`).
/// `options` requiring one of the `--signer` keys.
pub(super) fn pin_signers(
    options: envstream::OpenOptions,
    args: &UnwrapArgs,
) -> Result<envstream::OpenOptions> {
    Ok(pinned_signers(args)?
        .into_iter()
        .fold(options, envstream::OpenOptions::require_signer))
}

pub(super) fn pinned_signers(args: &UnwrapArgs) -> Result<Vec<envstream::SignerKey>> {
    let mut out = Vec::with_capacity(args.signers.len());
    let mut kms: Option<Kms> = None;
    for s in &args.signers {
        match s {
            crate::values::SignKey::File(p) => out.push(
                envstream::SignerKey::load_public_file(p)
                    .with_context(|| format!("signer public key file {}", p.display()))?,
            ),
            crate::values::SignKey::Kms(id) => {
                if kms.is_none() {
                    kms = Some(Kms::new(&args.aws)?);
                }
                let clients = kms.as_ref().map(|k| k.clients.clone());
                let Some(clients) = clients else { continue };
                let signer = envstream_kms::KmsSigner::new_blocking(clients, id)
                    .map_err(|e| envstream::Error::Key(envstream::KeyError::Keyring(e)))?;
                out.push(envstream::Signer::signer_key(&signer).clone());
            }
        }
    }
    Ok(out)
}

/// The signer of `--sign-key`: a local key file, or a KMS key (its public
/// key fetched once, here, before anything is written).
pub(super) fn signer(
    key: Option<&crate::values::SignKey>,
    aws: &AwsArgs,
    be: Backend,
) -> Result<Option<std::sync::Arc<dyn envstream::Signer>>> {
    use crate::values::SignKey;
    Ok(match key {
        None => None,
        Some(SignKey::File(p)) => {
            warn_if_shared(p);
            let key = envstream::LocalSigningKey::load(p, be)
                .with_context(|| format!("signing key file {}", p.display()))?;
            Some(std::sync::Arc::new(key))
        }
        Some(SignKey::Kms(id)) => {
            let kms = Kms::new(aws)?;
            let s = envstream_kms::KmsSigner::new_blocking(kms.clients, id)
                .map_err(|e| envstream::Error::Key(envstream::KeyError::Keyring(e)))?;
            Some(std::sync::Arc::new(s))
        }
    })
}
