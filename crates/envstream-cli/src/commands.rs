//! Each subcommand: turn arguments into library configuration and run it.

use std::fs::File;
use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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
use crate::output::{
    input_label, open_input, open_sealed_input, output_label, same_file, Protected, Sink,
};
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
            std::io::stdout().write_all(crate::man::render(&cmd).as_bytes())?;
            Ok(())
        }
    }
}

/// The files a command reads or writes: a report may be none of them, and
/// `-o` may be neither the input nor a key file.
pub(crate) fn protected(cmd: &Command) -> Vec<Protected> {
    let mut v = Vec::new();
    let keys = |v: &mut Vec<Protected>, k: &KeyArgs| {
        v.extend(key_file_paths(k).into_iter().map(Protected::KeyFile));
    };
    match cmd {
        Command::Seal(a) => {
            v.push(Protected::input(&a.input));
            v.push(Protected::output(&a.out.output));
            keys(&mut v, &a.keys);
        }
        Command::Open(a) => {
            v.push(Protected::input(&a.input));
            v.push(Protected::output(&a.out.output));
            keys(&mut v, &a.unwrap.keys);
        }
        Command::Verify(a) => {
            v.push(Protected::input(&a.input));
            v.push(Protected::Stdout);
            keys(&mut v, &a.unwrap.keys);
        }
        Command::Rekey(a) => {
            v.push(Protected::input(&Some(a.input.clone())));
            v.push(Protected::output(&a.out.output));
            keys(&mut v, &a.unwrap.keys);
            v.extend(a.add_key_files.iter().cloned().map(Protected::KeyFile));
        }
        _ => {}
    }
    v
}

/// `-o OUT` must never be the input or a key file, even with `--force`.
fn check_output_target(output: &Option<PathBuf>, protected: &[Protected]) -> Result<()> {
    let Some(out) = output
        .as_deref()
        .filter(|_| !crate::output::is_stdio(output))
    else {
        return Ok(());
    };
    for p in protected {
        if matches!(p, Protected::Input(_) | Protected::KeyFile(_)) && same_file(out, p) {
            return Err(UsageError(format!(
                "-o {} is the same file as the {}; write the output somewhere else",
                out.display(),
                p.role()
            ))
            .into());
        }
    }
    Ok(())
}

fn keygen(path: &Path) -> Result<()> {
    let (key, text) = LocalKey::generate(Backend::default())?;
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .context("cannot write the key to stdout")?;
        eprintln!("envstream: wrote key {} to stdout", key.key_id());
        return Ok(());
    }
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

/// The key files a command uses: the `--key-file` flags, or
/// `$ENVSTREAM_KEY_FILE` when there are none.
fn key_file_paths(args: &KeyArgs) -> Vec<PathBuf> {
    if !args.key_files.is_empty() {
        return args.key_files.clone();
    }
    std::env::var_os("ENVSTREAM_KEY_FILE")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .collect()
}

/// What a command does with its keys, for the "no key" message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyUse {
    Seal,
    Open,
}

/// Loads the key files (see [`key_file_paths`]). `other_keys` counts KMS
/// keys and modes. `$ENVSTREAM_KEY_FILE` is used together with KMS keys,
/// and then said so on stderr, so a break-glass key is never dropped
/// silently. Two files holding the same key load it once.
fn load_keys(
    args: &KeyArgs,
    other_keys: usize,
    be: Backend,
    purpose: KeyUse,
) -> Result<Vec<LocalKey>> {
    let paths = key_file_paths(args);
    if paths.is_empty() && other_keys == 0 {
        let msg = match purpose {
            KeyUse::Seal => "no key given: pass --key-file FILE (create one with `envstream keygen -o FILE`) or --kms-key KEY, or set ENVSTREAM_KEY_FILE",
            KeyUse::Open => "no key given: pass --key-file FILE, --kms-key ARN or --discovery (or set ENVSTREAM_KEY_FILE) to open the file",
        };
        return Err(UsageError(msg.into()).into());
    }
    if args.key_files.is_empty() && other_keys > 0 {
        if let Some(p) = paths.first() {
            eprintln!(
                "envstream: note: also using key file {} from ENVSTREAM_KEY_FILE (unset it to use only the KMS keys)",
                p.display()
            );
        }
    }
    let mut keys: Vec<LocalKey> = Vec::with_capacity(paths.len());
    for p in &paths {
        warn_if_shared(p);
        let key = LocalKey::load(p, be).with_context(|| format!("key file {}", p.display()))?;
        if keys.iter().any(|k| k.key_id() == key.key_id()) {
            eprintln!(
                "envstream: note: key file {} holds a key already given (key id {}); it is used once",
                p.display(),
                key.key_id()
            );
            continue;
        }
        keys.push(key);
    }
    Ok(keys)
}

/// Warns, as ssh does, when a key file can be read or written by group or others.
fn warn_if_shared(p: &Path) {
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
fn unique_kms_keys(flag: &str, keys: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(keys.len());
    for k in keys {
        if out.contains(k) {
            eprintln!("envstream: note: {flag} {k} is given more than once; it is used once");
        } else {
            out.push(k.clone());
        }
    }
    out
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
fn backend(choice: Option<Backend>) -> Backend {
    choice.unwrap_or_default()
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
        let clients = rt
            .block_on(KmsClients::load(&settings))
            .map_err(envstream::Error::Keyring)?;
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

/// `provider/key id` of every wrapped key, the form `--remove-key` takes.
fn key_ids(h: &Header) -> Vec<String> {
    h.wrapped_keys()
        .iter()
        .map(|w| format!("{}/{}", w.provider(), w.key_id()))
        .collect()
}

/// Says so when fewer keys were written than named: two names for one key.
fn note_merged(named: usize, h: &Header) {
    let written = h.wrapped_keys().len();
    if written < named {
        eprintln!(
            "envstream: note: {named} keys were named but {written} are distinct; each key is wrapped once"
        );
    }
}

fn seal(args: SealArgs, report: &mut Report) -> Result<()> {
    let mut context = EncryptionContext::new();
    for c in &args.context {
        let (k, v) = parse_pair(c)?;
        context.insert(k, v)?;
    }
    let be = backend(args.perf.backend);
    report.backend(be);
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
    check_output_target(&args.out.output, &protected_seal(&args))?;
    let kms_names = unique_kms_keys("--kms-key", &args.kms_keys);
    let keys = load_keys(&args.keys, kms_names.len(), be, KeyUse::Seal)?;
    let kms = if kms_names.is_empty() {
        None
    } else {
        Some(Kms::new(&args.aws)?)
    };
    let kms_keys: Vec<KmsKeyring> = match &kms {
        Some(k) => kms_names
            .iter()
            .map(|id| KmsKeyring::seal(k.clients.clone(), id.clone()))
            .collect(),
        None => Vec::new(),
    };
    let input = open_input(&args.input)?;
    let size = input_size(&input);
    let input = report.count_input(input, size, &input_label(&args.input));
    let mut sink = Sink::open(&args.out.output, args.out.force)?;
    let refs = seal_refs(&keys, &kms_keys);
    let sealer = match &kms {
        Some(k) => k.rt.block_on(Sealer::prepare(&refs, options))?,
        None => Sealer::prepare_blocking(&refs, options)?,
    };
    note_merged(refs.len(), sealer.header());
    report.header(sealer.header(), key_ids(sealer.header()));
    let out = report.count_output(sink.writer(), &output_label(&args.out.output));
    let (_, stats) = sealer.seal_stream(input, out, usize::from(args.perf.threads))?;
    report.stats(stats.chunks);
    sink.commit()
}

fn protected_seal(args: &SealArgs) -> Vec<Protected> {
    let mut v = vec![Protected::input(&args.input)];
    v.extend(
        key_file_paths(&args.keys)
            .into_iter()
            .map(Protected::KeyFile),
    );
    v
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
    let keys = load_keys(&args.keys, kms_flags, be, KeyUse::Open)?;
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
        Some(k) if !args.kms_keys.is_empty() => vec![KmsKeyring::strict(
            k.clients.clone(),
            unique_kms_keys("--kms-key", &args.kms_keys),
        )],
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
    let be = backend(args.perf.backend);
    report.backend(be);
    let options = open_options(&args.context, be)?;
    let range = args.range.as_deref().map(parse_range).transpose()?;
    let mut protected = vec![Protected::input(&args.input)];
    protected.extend(
        key_file_paths(&args.unwrap.keys)
            .into_iter()
            .map(Protected::KeyFile),
    );
    check_output_target(&args.out.output, &protected)?;
    let mut seekable = false;
    // A range from a pipe stops reading early; the rest of the pipe is then
    // read and discarded (not decrypted) so that the writer upstream is not
    // killed by SIGPIPE, which would fail a `set -o pipefail` pipeline.
    let mut drain: Option<File> = None;
    let reader = with_unwrap_keys(&args.unwrap, be, false, |refs, kms| {
        let input = open_sealed_input(&args.input)?;
        let size = input_size(&input);
        seekable = size.is_some();
        if range.is_some() && !seekable {
            drain = Some(input.try_clone().context("cannot use the input")?);
        }
        let input = report.count_input(
            input,
            if range.is_some() { None } else { size },
            &input_label(&args.input),
        );
        let opener = Opener::new(input)?;
        Ok(match kms {
            Some(k) => k.rt.block_on(opener.unlock(refs, options))?,
            None => opener.unlock_blocking(refs, options)?,
        })
    })?;
    report.header(reader.header(), vec![reader.opened_with().to_owned()]);
    let mut sink = Sink::open(&args.out.output, args.out.force)?;
    let label = output_label(&args.out.output);
    match range {
        None => {
            let out = report.count_output(sink.writer(), &label);
            let (_, stats) = reader.copy_to(out, usize::from(args.perf.threads))?;
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
            let mut out = report.count_output(sink.writer(), &label);
            let limit = end.map_or(u64::MAX, |e| e - start);
            std::io::copy(&mut (&mut reader).take(limit), &mut out).map_err(|e| {
                match envstream::Error::from_io_ref(&e) {
                    Some(_) => anyhow::Error::from(envstream::Error::from(e)),
                    None => anyhow::Error::from(e),
                }
            })?;
            out.flush()?;
            report.stats(reader.chunks());
            drop(reader);
            if let Some(mut rest) = drain {
                let n = std::io::copy(&mut rest, &mut std::io::sink())
                    .with_context(|| format!("cannot read {}", input_label(&args.input)))?;
                report.add_input(n);
            }
        }
    }
    sink.commit()
}

fn verify(args: VerifyArgs, report: &mut Report) -> Result<()> {
    let be = backend(args.perf.backend);
    report.backend(be);
    let options = open_options(&args.context, be)?;
    let reader = with_unwrap_keys(&args.unwrap, be, false, |refs, kms| {
        let input = open_sealed_input(&args.input)?;
        let size = input_size(&input);
        let input = report.count_input(input, size, &input_label(&args.input));
        let opener = Opener::new(input)?;
        Ok(match kms {
            Some(k) => k.rt.block_on(opener.unlock(refs, options))?,
            None => opener.unlock_blocking(refs, options)?,
        })
    })?;
    let header = reader.header().clone();
    let opened_with = reader.opened_with().to_owned();
    report.header(&header, vec![opened_with.clone()]);
    let (_, stats) = reader.copy_to(std::io::sink(), usize::from(args.perf.threads))?;
    report.stats(stats.chunks);
    // The summary replaces the progress bar; a bar left above it would
    // look as if verification stopped early.
    report.clear_progress();
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
    report.backend(be);
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
    let input_path = Some(args.input.clone());
    let mut protected = vec![Protected::input(&input_path)];
    protected.extend(
        key_file_paths(&args.unwrap.keys)
            .into_iter()
            .map(Protected::KeyFile),
    );
    protected.extend(args.add_key_files.iter().cloned().map(Protected::KeyFile));
    check_output_target(&args.out.output, &protected)?;
    let mut add_local: Vec<LocalKey> = Vec::new();
    for p in &args.add_key_files {
        warn_if_shared(p);
        let key = LocalKey::load(p, be).with_context(|| format!("key file {}", p.display()))?;
        if !add_local.iter().any(|k| k.key_id() == key.key_id()) {
            add_local.push(key);
        }
    }
    let add_kms_names = unique_kms_keys("--add-kms-key", &args.add_kms_keys);
    let rekeyed = with_unwrap_keys(&args.unwrap, be, !add_kms_names.is_empty(), |refs, kms| {
        let input = open_sealed_input(&input_path)?;
        let size = input_size(&input);
        let input = report.count_input(input, size, &input_label(&input_path));
        let opener = Opener::new(input)?;
        let add_kms: Vec<KmsKeyring> = match kms {
            Some(k) => add_kms_names
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
    })?;
    let header = rekeyed.header().clone();
    report.header(&header, key_ids(&header));
    let mut sink = Sink::open(&args.out.output, args.out.force)?;
    let out = report.count_output(sink.writer(), &output_label(&args.out.output));
    let (_, body) = rekeyed.write_to(out)?;
    report.stats(envstream::BodyLayout::new(&header).chunk_count(body));
    sink.commit()
}

/// The input's size when it is a regular file (for progress and seeking).
fn input_size(f: &File) -> Option<u64> {
    f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len())
}

fn inspect(json: bool, input: &Option<PathBuf>) -> Result<()> {
    let f: File = open_sealed_input(input)?;
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
