//! Each subcommand: turn arguments into library configuration and run it.

use std::fs::File;
use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use envstream::{
    Backend, EncryptionContext, Header, Keyring, LocalKey, OpenOptions, Opener, SealOptions, Sealer,
};

use envstream_kms::{KmsClients, KmsKeyring, KmsSettings};

use crate::cli::{
    AwsArgs, Command, KeyArgs, OpenArgs, RekeyArgs, SealArgs, UnwrapArgs, VerifyArgs,
};
use crate::error::UsageError;
use crate::output::{open_input, Sink};
use crate::report::Report;

pub(crate) fn run(cmd: Command, report: &mut Report) -> Result<()> {
    match cmd {
        Command::Keygen { output } => keygen(&output),
        Command::Seal(args) => seal(args, report),
        Command::Open(args) => open(args, report),
        Command::Verify(args) => verify(args, report),
        Command::Rekey(args) => rekey(args, report),
        Command::Inspect { json, input } => inspect(json, &input),
        Command::Completions { shell } => {
            let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
            // Generate into memory: clap_complete panics on write errors.
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd, "envstream", &mut text);
            std::io::stdout().write_all(&text)?;
            Ok(())
        }
        Command::Man => {
            let cmd = <crate::cli::Cli as clap::CommandFactory>::command();
            let mut text = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut text)?;
            std::io::stdout().write_all(&text)?;
            Ok(())
        }
    }
}

fn keygen(path: &Path) -> Result<()> {
    let (key, text) = LocalKey::generate(Backend::default())?;
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(UsageError(format!(
                "{} already exists; keygen never overwrites a key file, choose another path",
                path.display()
            ))
            .into())
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot create key file {}", path.display()))
        }
    };
    let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(path);
        return Err(e).with_context(|| format!("cannot write key file {}", path.display()));
    }
    eprintln!(
        "envstream: wrote key {} to {}",
        key.key_id(),
        path.display()
    );
    Ok(())
}

/// Loads the key files named by flags, or by $ENVSTREAM_KEY_FILE when no
/// key flag of any kind (`other_keys` counts KMS keys and modes) is given.
fn load_keys(args: &KeyArgs, other_keys: usize, be: Backend) -> Result<Vec<LocalKey>> {
    let mut paths: Vec<PathBuf> = args.key_files.clone();
    if paths.is_empty() && other_keys == 0 {
        if let Some(p) = std::env::var_os("ENVSTREAM_KEY_FILE").filter(|p| !p.is_empty()) {
            paths.push(PathBuf::from(p));
        }
    }
    if paths.is_empty() && other_keys == 0 {
        return Err(envstream::Error::NoKeyring.into());
    }
    paths
        .iter()
        .map(|p| LocalKey::load(p, be).map_err(anyhow::Error::from))
        .collect()
}

fn parse_pair(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(UsageError(format!(
            "--context {s:?} must have the form KEY=VALUE with a non-empty KEY"
        ))
        .into()),
    }
}

/// The backend named by `--backend`, or the default.
fn backend(name: &Option<String>) -> Result<Backend> {
    match name {
        None => Ok(Backend::default()),
        Some(n) => Backend::available()
            .iter()
            .copied()
            .find(|b| b.name() == n)
            .ok_or_else(|| {
                let known: Vec<&str> = Backend::available().iter().map(|b| b.name()).collect();
                UsageError(format!(
                    "--backend {n:?} is not compiled in; choose one of {}",
                    known.join(", ")
                ))
                .into()
            }),
    }
}

/// Parses `65536`, `64K`, `64KiB`, `1M`, `1MiB` (binary units).
pub(crate) fn parse_size(s: &str) -> Result<u32> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t
        .strip_suffix("KiB")
        .or_else(|| t.strip_suffix('K'))
        .or_else(|| t.strip_suffix('k'))
    {
        (n, 1024u64)
    } else if let Some(n) = t
        .strip_suffix("MiB")
        .or_else(|| t.strip_suffix('M'))
        .or_else(|| t.strip_suffix('m'))
    {
        (n, 1024 * 1024)
    } else {
        (t, 1)
    };
    let bad = || {
        UsageError(format!(
            "--chunk-size {s:?} is not a size such as 65536, 64K or 1M"
        ))
    };
    let n: u64 = num.trim().parse().map_err(|_| bad())?;
    let v = n.checked_mul(mult).ok_or_else(bad)?;
    u32::try_from(v)
        .map_err(|_| anyhow::Error::from(envstream::Error::ChunkSizeOutOfRange { size: v }))
}

/// KMS access for one command: a small runtime and the loaded AWS config.
/// Created only when a KMS flag is given, so local-key runs stay lean.
struct Kms {
    rt: tokio::runtime::Runtime,
    clients: std::sync::Arc<KmsClients>,
}

impl Kms {
    fn new(aws: &AwsArgs) -> Result<Kms> {
        let rt = envstream_kms::runtime().context("cannot start the KMS runtime")?;
        let settings = KmsSettings {
            region: aws.region.clone(),
            profile: aws.profile.clone(),
            ..KmsSettings::default()
        };
        let clients = rt.block_on(KmsClients::load(&settings));
        Ok(Kms { rt, clients })
    }
}

fn seal_refs<'a>(local: &'a [LocalKey], kms: &'a [KmsKeyring]) -> Vec<&'a dyn Keyring> {
    // KMS keys first: the first KMS key generates the data key.
    kms.iter()
        .map(|k| k as &dyn Keyring)
        .chain(local.iter().map(|k| k as &dyn Keyring))
        .collect()
}

fn open_refs<'a>(local: &'a [LocalKey], kms: &'a [KmsKeyring]) -> Vec<&'a dyn Keyring> {
    // Local key files first: no network call when one of them opens the file.
    local
        .iter()
        .map(|k| k as &dyn Keyring)
        .chain(kms.iter().map(|k| k as &dyn Keyring))
        .collect()
}

fn seal(args: SealArgs, report: &mut Report) -> Result<()> {
    let mut context = EncryptionContext::new();
    for c in &args.context {
        let (k, v) = parse_pair(c)?;
        context.insert(k, v)?;
    }
    let be = backend(&args.perf.backend)?;
    let mut options = SealOptions::new().context(context).backend(be);
    if let Some(s) = &args.chunk_size {
        options = options.chunk_size(parse_size(s)?)?;
    }
    if crate::output::is_stdio(&args.out.output) && std::io::stdout().is_terminal() {
        return Err(UsageError(
            "refusing to write ciphertext to a terminal; redirect stdout or pass -o FILE".into(),
        )
        .into());
    }
    let keys = load_keys(&args.keys, args.kms_keys.len(), be)?;
    let kms = if args.kms_keys.is_empty() {
        None
    } else {
        Some(Kms::new(&args.aws)?)
    };
    let kms_keys: Vec<KmsKeyring> = match &kms {
        Some(k) => args
            .kms_keys
            .iter()
            .map(|id| KmsKeyring::seal(k.clients.clone(), id.clone()))
            .collect(),
        None => Vec::new(),
    };
    let input = open_input(&args.input)?;
    let size = input_size(&input);
    let input = report.count_input(input, size);
    let mut sink = Sink::open(&args.out.output, args.out.force)?;
    let refs = seal_refs(&keys, &kms_keys);
    let sealer = match &kms {
        Some(k) => k.rt.block_on(Sealer::prepare(&refs, options))?,
        None => Sealer::prepare_blocking(&refs, options)?,
    };
    report.header(
        sealer.header(),
        sealer
            .header()
            .wrapped_keys()
            .iter()
            .map(|w| w.key_id().to_owned())
            .collect(),
    );
    let out = report.count_output(sink.writer());
    let (_, stats) = sealer
        .seal_stream(input, out, args.perf.threads)
        .context("sealing failed")?;
    report.stats(stats.chunks);
    sink.commit()
}

/// Builds the unwrapping keyrings (local key files first) for open, verify
/// and rekey, and runs `f` with them inside the KMS runtime when needed.
fn with_unwrap_keys<T>(
    args: &UnwrapArgs,
    be: Backend,
    need_kms: bool,
    f: impl FnOnce(&[&dyn Keyring], Option<&Kms>) -> Result<T>,
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
        if acct.len() != 12 || !acct.bytes().all(|b| b.is_ascii_digit()) {
            return Err(UsageError(format!(
                "--discovery-account {acct:?} must be a 12-digit AWS account id"
            ))
            .into());
        }
    }
    let kms_flags = args.kms_keys.len() + usize::from(args.discovery);
    let keys = load_keys(&args.keys, kms_flags, be)?;
    let kms = if kms_flags == 0 && !need_kms {
        None
    } else {
        Some(Kms::new(&args.aws)?)
    };
    let kms_keys: Vec<KmsKeyring> = match &kms {
        Some(k) if args.discovery => vec![KmsKeyring::discovery(
            k.clients.clone(),
            args.discovery_accounts.clone(),
        )],
        Some(k) if !args.kms_keys.is_empty() => {
            vec![KmsKeyring::strict(k.clients.clone(), args.kms_keys.clone())]
        }
        _ => Vec::new(),
    };
    f(&open_refs(&keys, &kms_keys), kms.as_ref())
}

fn open_options(context: &[String], be: Backend) -> Result<OpenOptions> {
    let mut options = OpenOptions::new().backend(be);
    for c in context {
        let (k, v) = parse_pair(c)?;
        options = options.require_context(k, v);
    }
    Ok(options)
}

/// Parses `START..END`, `START..` or `..END` (END exclusive).
pub(crate) fn parse_range(s: &str) -> Result<(u64, Option<u64>)> {
    let bad = || {
        UsageError(format!(
            "--range {s:?} must look like START..END, START.. or ..END (byte offsets)"
        ))
    };
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let start = if a.trim().is_empty() {
        0
    } else {
        a.trim().parse::<u64>().map_err(|_| bad())?
    };
    let end = if b.trim().is_empty() {
        None
    } else {
        Some(b.trim().parse::<u64>().map_err(|_| bad())?)
    };
    if end.is_some_and(|e| e < start) {
        return Err(UsageError(format!("--range {s:?}: END is before START")).into());
    }
    Ok((start, end))
}

fn open(args: OpenArgs, report: &mut Report) -> Result<()> {
    let be = backend(&args.perf.backend)?;
    let options = open_options(&args.context, be)?;
    let range = args.range.as_deref().map(parse_range).transpose()?;
    let mut seekable = false;
    let reader = with_unwrap_keys(&args.unwrap, be, false, |refs, kms| {
        let input = open_input(&args.input)?;
        let size = input_size(&input);
        seekable = size.is_some();
        let input = report.count_input(input, if range.is_some() { None } else { size });
        let opener = Opener::new(input)?;
        Ok(match kms {
            Some(k) => k.rt.block_on(opener.unlock(refs, options))?,
            None => opener.unlock_blocking(refs, options)?,
        })
    })?;
    report.header(reader.header(), vec![reader.opened_with().to_owned()]);
    let mut sink = Sink::open(&args.out.output, args.out.force)?;
    match range {
        None => {
            let out = report.count_output(sink.writer());
            let (_, stats) = reader.copy_to(out, args.perf.threads)?;
            report.stats(stats.chunks);
        }
        Some((start, end)) => {
            let mut reader = reader;
            if seekable {
                // Reads and authenticates only the chunks that overlap the range.
                reader
                    .seek(SeekFrom::Start(start))
                    .map_err(envstream::Error::from)?;
            } else {
                // A pipe cannot seek: authenticate and discard up to START.
                std::io::copy(&mut (&mut reader).take(start), &mut std::io::sink())
                    .map_err(envstream::Error::from)?;
            }
            let mut out = report.count_output(sink.writer());
            let limit = end.map_or(u64::MAX, |e| e - start);
            std::io::copy(&mut (&mut reader).take(limit), &mut out).map_err(|e| {
                match envstream::Error::from_io_ref(&e) {
                    Some(_) => anyhow::Error::from(envstream::Error::from(e)),
                    None => anyhow::Error::from(e).context("cannot write output"),
                }
            })?;
            out.flush()?;
            report.stats(reader.chunks());
        }
    }
    sink.commit()
}

fn verify(args: VerifyArgs, report: &mut Report) -> Result<()> {
    let be = backend(&args.perf.backend)?;
    let options = open_options(&args.context, be)?;
    let reader = with_unwrap_keys(&args.unwrap, be, false, |refs, kms| {
        let input = open_input(&args.input)?;
        let size = input_size(&input);
        let input = report.count_input(input, size);
        let opener = Opener::new(input)?;
        Ok(match kms {
            Some(k) => k.rt.block_on(opener.unlock(refs, options))?,
            None => opener.unlock_blocking(refs, options)?,
        })
    })?;
    let header = reader.header().clone();
    let opened_with = reader.opened_with().to_owned();
    report.header(&header, vec![opened_with.clone()]);
    let (_, stats) = reader.copy_to(std::io::sink(), args.perf.threads)?;
    report.stats(stats.chunks);
    let mut out = std::io::stdout().lock();
    writeln!(out, "verified: the whole file authenticates")?;
    writeln!(out, "plaintext bytes: {}", stats.plaintext_bytes)?;
    writeln!(
        out,
        "chunks:          {} of {} bytes",
        stats.chunks,
        header.chunk_size()
    )?;
    writeln!(out, "opened with:     {opened_with}")?;
    if header.context().is_empty() {
        writeln!(out, "context:         (empty)")?;
    } else {
        let pairs: Vec<String> = header
            .context()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(out, "context:         {}", pairs.join(" "))?;
    }
    out.flush()?;
    Ok(())
}

fn rekey(args: RekeyArgs, report: &mut Report) -> Result<()> {
    let be = Backend::default();
    if args.add_kms_keys.is_empty() && args.add_key_files.is_empty() && args.remove_keys.is_empty()
    {
        return Err(
            UsageError("rekey needs --add-kms-key, --add-key-file or --remove-key".into()).into(),
        );
    }
    if crate::output::is_stdio(&args.out.output) && std::io::stdout().is_terminal() {
        return Err(UsageError(
            "refusing to write ciphertext to a terminal; redirect stdout or pass -o FILE".into(),
        )
        .into());
    }
    let add_local: Vec<LocalKey> = args
        .add_key_files
        .iter()
        .map(|p| LocalKey::load(p, be).map_err(anyhow::Error::from))
        .collect::<Result<_>>()?;
    let rekeyed = with_unwrap_keys(
        &args.unwrap,
        be,
        !args.add_kms_keys.is_empty(),
        |refs, kms| {
            let input = open_input(&Some(args.input.clone()))?;
            let size = input_size(&input);
            let input = report.count_input(input, size);
            let opener = Opener::new(input)?;
            let add_kms: Vec<KmsKeyring> = match kms {
                Some(k) => args
                    .add_kms_keys
                    .iter()
                    .map(|id| KmsKeyring::seal(k.clients.clone(), id.clone()))
                    .collect(),
                None => Vec::new(),
            };
            let add: Vec<&dyn Keyring> = add_kms
                .iter()
                .map(|k| k as &dyn Keyring)
                .chain(add_local.iter().map(|k| k as &dyn Keyring))
                .collect();
            let options = OpenOptions::new().backend(be);
            Ok(match kms {
                Some(k) => {
                    k.rt.block_on(opener.rekey(refs, options, &add, &args.remove_keys))?
                }
                None => opener.rekey_blocking(refs, options, &add, &args.remove_keys)?,
            })
        },
    )?;
    report.header(
        rekeyed.header(),
        rekeyed
            .header()
            .wrapped_keys()
            .iter()
            .map(|w| w.key_id().to_owned())
            .collect(),
    );
    let mut sink = Sink::open(&args.out.output, args.out.force)?;
    let out = report.count_output(sink.writer());
    rekeyed.write_to(out)?;
    sink.commit()
}

/// The input's size when it is a regular file (for progress and seeking).
fn input_size(f: &File) -> Option<u64> {
    f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len())
}

fn inspect(json: bool, input: &Option<PathBuf>) -> Result<()> {
    let f: File = open_input(input)?;
    let opener = Opener::new(f)?;
    let h = opener.header();
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", header_json(h))?;
    } else {
        writeln!(out, "format version: {}", h.version())?;
        writeln!(
            out,
            "suite:          0x{:04x} ({})",
            h.suite().id(),
            h.suite().name()
        )?;
        writeln!(out, "chunk size:     {}", h.chunk_size())?;
        writeln!(out, "header length:  {}", h.len())?;
        if h.context().is_empty() {
            writeln!(out, "context:        (empty)")?;
        } else {
            writeln!(out, "context:")?;
            for (k, v) in h.context().iter() {
                writeln!(out, "  {k}={v}")?;
            }
        }
        writeln!(out, "wrapped keys:   {}", h.wrapped_keys().len())?;
        for k in h.wrapped_keys() {
            writeln!(out, "  {} {}", k.provider(), k.key_id())?;
        }
    }
    out.flush()?;
    Ok(())
}

fn header_json(h: &Header) -> serde_json::Value {
    let ctx: serde_json::Map<String, serde_json::Value> = h
        .context()
        .iter()
        .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
        .collect();
    serde_json::json!({
        "version": h.version(),
        "suite": h.suite().name(),
        "suite_id": h.suite().id(),
        "chunk_size": h.chunk_size(),
        "header_len": h.len(),
        "context": ctx,
        "keys": h.wrapped_keys().iter().map(|k| serde_json::json!({
            "provider": k.provider(),
            "key_id": k.key_id(),
            "wrapped_len": k.ciphertext().len(),
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536").expect("ok"), 65536);
        assert_eq!(parse_size("64K").expect("ok"), 65536);
        assert_eq!(parse_size("64KiB").expect("ok"), 65536);
        assert_eq!(parse_size("16M").expect("ok"), 16 << 20);
        assert!(parse_size("abc").is_err());
        assert!(parse_size("99999999M").is_err());
    }
}
