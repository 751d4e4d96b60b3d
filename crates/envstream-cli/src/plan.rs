//! The plan stage, as ripgrep turns low-level arguments into high-level
//! ones: a command's typed arguments become one plan, once. A plan says
//! what the command reads ([`Source`]), where it writes ([`Target`]), with
//! which keys and options, which S3 settings apply, and which files it
//! must never overwrite ([`protected`]). Every argument-level
//! check (near-miss `s3://` names, flags only where they apply, the
//! terminal refusals, `-o` never naming the input or a key file) happens
//! here, so the command modules only run the plan: plan → library call →
//! report.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use envstream::{Backend, EncryptionContext, OpenOptions, SealOptions};
use envstream_s3::S3Url;

use crate::cli::{AwsArgs, Command, KeyArgs, S3Args, UnwrapArgs};
use crate::error::UsageError;
use crate::output::named_file;
use crate::paths::{same_file, Protected};
pub(crate) use crate::s3::S3Access;
use crate::values::{ByteRange, RecipientArg};

/// What a command reads.
pub(crate) enum Source {
    Stdin,
    File(PathBuf),
    S3(S3Url),
    /// `seal -- COMMAND`: the output of a command envstream runs.
    Producer(Vec<String>),
}

impl Source {
    /// The input a path argument names (`-` or absent: stdin).
    fn of(p: &Option<PathBuf>) -> Result<Source> {
        if let Some(url) = crate::s3::location(p.as_ref())? {
            return Ok(Source::S3(url));
        }
        Ok(named_file(p).map_or(Source::Stdin, |p| Source::File(p.to_path_buf())))
    }

    /// How it is named in messages.
    pub(crate) fn label(&self) -> String {
        match self {
            Source::Stdin => "stdin".to_owned(),
            Source::File(p) => format!("input {}", p.display()),
            Source::S3(url) => format!("input {url}"),
            Source::Producer(cmd) => format!("the output of `{}`", cmd.join(" ")),
        }
    }

    /// Refuses a terminal on stdin: a sealed file is never typed, and
    /// typed plaintext would end as an empty backup on Ctrl-D.
    fn refuse_terminal(&self, what: &str) -> Result<()> {
        if matches!(self, Source::Stdin) && std::io::stdin().is_terminal() {
            return Err(UsageError(what.to_owned()).into());
        }
        Ok(())
    }
}

/// Where a command writes.
pub(crate) enum Target {
    Stdout,
    File(PathBuf),
    S3(S3Url),
}

impl Target {
    fn of(p: &Option<PathBuf>) -> Result<Target> {
        if let Some(url) = crate::s3::location(p.as_ref())? {
            return Ok(Target::S3(url));
        }
        Ok(named_file(p).map_or(Target::Stdout, |p| Target::File(p.to_path_buf())))
    }

    /// How it is named in messages.
    pub(crate) fn label(&self) -> String {
        match self {
            Target::Stdout => "stdout".to_owned(),
            Target::File(p) => format!("output {}", p.display()),
            Target::S3(url) => format!("output {url}"),
        }
    }

    /// `-o` may never be the input or a key file, even with `--force`,
    /// and ciphertext never goes to a terminal.
    fn check(&self, protected: &[Protected], ciphertext: bool) -> Result<()> {
        match self {
            Target::File(out) => {
                for p in protected {
                    if matches!(p, Protected::Input(_) | Protected::KeyFile(_)) && same_file(out, p)
                    {
                        return Err(UsageError(format!(
                            "-o {} is the same file as the {}; write the output somewhere else",
                            out.display(),
                            p.role()
                        ))
                        .into());
                    }
                }
            }
            Target::Stdout if ciphertext && std::io::stdout().is_terminal() => {
                return Err(UsageError(
                    "refusing to write ciphertext to a terminal; redirect stdout or pass -o FILE"
                        .into(),
                )
                .into());
            }
            _ => {}
        }
        Ok(())
    }
}

/// The key files a command uses, resolved once: the `--key-file` flags,
/// or `$ENVSTREAM_KEY_FILE` when there are none.
#[derive(Clone)]
pub(crate) struct KeyFiles {
    pub(crate) paths: Vec<PathBuf>,
    /// Whether they came from `$ENVSTREAM_KEY_FILE`.
    pub(crate) from_env: bool,
}

impl KeyFiles {
    pub(crate) fn of(args: &KeyArgs) -> KeyFiles {
        if !args.key_files.is_empty() {
            return KeyFiles {
                paths: args.key_files.clone(),
                from_env: false,
            };
        }
        let paths: Vec<PathBuf> = std::env::var_os("ENVSTREAM_KEY_FILE")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .into_iter()
            .collect();
        KeyFiles {
            from_env: !paths.is_empty(),
            paths,
        }
    }

    /// The key files, each refused if it names S3.
    fn local(args: &KeyArgs) -> Result<KeyFiles> {
        let files = KeyFiles::of(args);
        for p in &files.paths {
            crate::s3::local_only(p, "key files are read locally")?;
        }
        Ok(files)
    }
}

pub(crate) struct SealPlan {
    pub(crate) from: Source,
    pub(crate) to: Target,
    pub(crate) force: bool,
    pub(crate) key_files: KeyFiles,
    /// Public-key recipients (`--recipient`).
    pub(crate) recipients: Vec<RecipientArg>,
    /// KMS keys, the first of which generates the data key.
    pub(crate) kms: Vec<String>,
    pub(crate) aws: AwsArgs,
    pub(crate) s3: S3Access,
    pub(crate) backend: Backend,
    pub(crate) options: SealOptions,
    pub(crate) chunk_size: u32,
    pub(crate) expected_size: Option<u64>,
    pub(crate) threads: usize,
    /// Who signs the stream, if anyone.
    pub(crate) sign_key: Option<crate::values::SignKey>,
}

pub(crate) struct OpenPlan {
    pub(crate) from: Source,
    /// `None` for `verify`, which writes no plaintext.
    pub(crate) to: Option<Target>,
    pub(crate) force: bool,
    pub(crate) key_files: KeyFiles,
    pub(crate) unwrap: UnwrapArgs,
    pub(crate) s3: S3Access,
    pub(crate) backend: Backend,
    pub(crate) options: OpenOptions,
    pub(crate) range: Option<ByteRange>,
    pub(crate) threads: usize,
    /// `open --verify-first`: to stdout, nothing before the end verified.
    pub(crate) verify_first: bool,
}

pub(crate) struct RekeyPlan {
    pub(crate) from: Source,
    pub(crate) to: Target,
    pub(crate) force: bool,
    pub(crate) key_files: KeyFiles,
    pub(crate) unwrap: UnwrapArgs,
    pub(crate) add_files: Vec<PathBuf>,
    pub(crate) add_recipients: Vec<RecipientArg>,
    pub(crate) add_kms: Vec<String>,
    pub(crate) remove: Vec<String>,
    pub(crate) s3: S3Access,
    /// The signing key that signs a signed stream's new header.
    pub(crate) sign_key: Option<crate::values::SignKey>,
}

pub(crate) struct InspectPlan {
    pub(crate) from: Source,
    pub(crate) json: bool,
    pub(crate) s3: S3Access,
}

/// What `keygen` writes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeygenKind {
    /// A local key file.
    Local,
    /// An Ed25519 signing key and its `.pub`.
    Sign,
    /// An identity and its recipient `.pub`.
    Recipient,
}

/// What to run.
pub(crate) enum Plan {
    Keygen { output: PathBuf, kind: KeygenKind },
    Seal(SealPlan),
    Open(OpenPlan),
    Verify(OpenPlan),
    Rekey(RekeyPlan),
    Inspect(InspectPlan),
    Completions(clap_complete::Shell),
    Man,
}

/// The backend named by `--backend`, or the default.
pub(crate) fn backend(choice: Option<Backend>) -> Backend {
    choice.unwrap_or_default()
}

fn open_options(context: &[(String, String)], be: Backend) -> OpenOptions {
    context
        .iter()
        .fold(OpenOptions::new().backend(be), |o, (k, v)| {
            o.require_context(k.clone(), v.clone())
        })
}

/// Refuses the S3 flags when no S3 location uses them.
fn s3_flags_apply(used: bool, flags: &S3Args, what: &str) -> Result<()> {
    if !used {
        crate::s3::refuse_unused(flags, what)?;
    }
    Ok(())
}

impl Plan {
    /// The plan for `cmd`; `protected` is [`protected`]`(&cmd)`, computed
    /// once before the report is set up.
    pub(crate) fn new(cmd: Command, protected: &[Protected]) -> Result<Plan> {
        refuse_outside_fips(&cmd)?;
        Ok(match cmd {
            Command::Keygen {
                output,
                sign,
                recipient,
            } => {
                crate::s3::local_only(&output, "key files are written locally")?;
                let kind = match (sign, recipient) {
                    (true, _) => KeygenKind::Sign,
                    (_, true) => KeygenKind::Recipient,
                    _ => KeygenKind::Local,
                };
                if kind != KeygenKind::Local && output.as_os_str() == "-" {
                    let flag = if sign { "--sign" } else { "--recipient" };
                    return Err(UsageError(format!(
                        "keygen {flag} needs a file path: the public key is written beside it as PATH.pub"
                    ))
                    .into());
                }
                Plan::Keygen { output, kind }
            }
            Command::Seal(a) => {
                let from = if a.producer.is_empty() {
                    Source::of(&a.input)?
                } else {
                    Source::Producer(a.producer.clone())
                };
                let mut context = EncryptionContext::new();
                for (k, v) in &a.context {
                    context.insert(k.clone(), v.clone())?;
                }
                let be = backend(a.perf.backend);
                let chunk_size = a
                    .chunk_size
                    .unwrap_or(envstream::format::DEFAULT_CHUNK_SIZE);
                let options = SealOptions::new()
                    .context(context)
                    .backend(be)
                    .chunk_size(chunk_size)?;
                let to = Target::of(&a.out.output)?;
                let s3 = S3Access::new(a.aws.clone(), a.s3.s3());
                if !matches!(to, Target::S3(_)) {
                    if a.expected_size.is_some() {
                        return Err(UsageError(
                            "--expected-size sizes S3 upload parts; it needs -o s3://BUCKET/KEY"
                                .into(),
                        )
                        .into());
                    }
                    s3_flags_apply(false, &s3.flags, "-o s3://BUCKET/KEY")?;
                }
                if matches!(from, Source::S3(_)) {
                    return Err(UsageError(
                        "seal reads a local file or stdin, not S3; pipe it in: `aws s3 cp s3://… - | envstream seal …`".into(),
                    )
                    .into());
                }
                to.check(protected, true)?;
                from.refuse_terminal("refusing to seal what is typed on a terminal: pass INPUT, pipe data in, or run a producer after -- (for example `-- tar c DIR`)")?;
                Plan::Seal(SealPlan {
                    from,
                    to,
                    force: a.out.force,
                    key_files: KeyFiles::local(&a.keys)?,
                    recipients: a.recipients.clone(),
                    sign_key: a.sign_key.clone(),
                    kms: a.kms_keys,
                    aws: a.aws,
                    s3,
                    backend: be,
                    options,
                    chunk_size,
                    expected_size: a.expected_size,
                    threads: usize::from(a.perf.threads),
                })
            }
            Command::Open(a) => {
                let to = Target::of(&a.out.output)?;
                if matches!(to, Target::S3(_)) {
                    return Err(UsageError(
                        "open writes plaintext, and never to S3: write it to a file (-o FILE) or stdout".into(),
                    )
                    .into());
                }
                to.check(protected, false)?;
                let plan = open_plan(
                    &a.input,
                    a.unwrap,
                    a.s3.s3(),
                    &a.context,
                    a.perf.backend,
                    a.perf.threads,
                )?;
                Plan::Open(OpenPlan {
                    to: Some(to),
                    force: a.out.force,
                    range: a.range,
                    verify_first: a.verify_first,
                    ..plan
                })
            }
            Command::Verify(a) => Plan::Verify(open_plan(
                &a.input,
                a.unwrap,
                a.s3.s3(),
                &a.context,
                a.perf.backend,
                a.perf.threads,
            )?),
            Command::Rekey(a) => {
                if a.add_kms_keys.is_empty()
                    && a.add_key_files.is_empty()
                    && a.add_recipients.is_empty()
                    && a.remove_keys.is_empty()
                {
                    return Err(UsageError(
                        "rekey needs --add-kms-key, --add-key-file, --add-recipient or --remove-key"
                            .into(),
                    )
                    .into());
                }
                let from = Source::of(&Some(a.input.clone()))?;
                let to = Target::of(&a.out.output)?;
                let flags = a.s3.s3();
                let (s3_in, s3_out) = (matches!(from, Source::S3(_)), matches!(to, Target::S3(_)));
                s3_flags_apply(s3_in || s3_out, &flags, "an s3:// input or output")?;
                if !s3_out && flags.buffer.buffer.is_some() {
                    s3_flags_apply(
                        false,
                        &S3Args {
                            buffer: flags.buffer.clone(),
                            ..S3Args::default()
                        },
                        "-o s3://BUCKET/KEY",
                    )?;
                }
                to.check(protected, true)?;
                for p in &a.add_key_files {
                    crate::s3::local_only(p, "key files are read locally")?;
                }
                Plan::Rekey(RekeyPlan {
                    from,
                    to,
                    force: a.out.force,
                    s3: S3Access::new(a.unwrap.aws.clone(), flags),
                    key_files: KeyFiles::local(&a.unwrap.keys)?,
                    unwrap: a.unwrap,
                    add_files: a.add_key_files,
                    add_recipients: a.add_recipients,
                    add_kms: a.add_kms_keys,
                    remove: a.remove_keys,
                    sign_key: a.sign_key,
                })
            }
            Command::Inspect {
                json,
                aws,
                s3,
                input,
            } => {
                let from = Source::of(&input)?;
                let flags = S3Args {
                    path: s3,
                    ..S3Args::default()
                };
                if !matches!(from, Source::S3(_)) {
                    crate::s3::refuse_unused(&flags, "an s3:// input")?;
                    if aws.region.is_some() || aws.profile.is_some() {
                        return Err(UsageError(
                            "--region and --profile apply only to an s3:// input; inspect needs no key".into(),
                        )
                        .into());
                    }
                }
                Plan::Inspect(InspectPlan {
                    from,
                    json,
                    s3: S3Access::new((&aws).into(), flags),
                })
            }
            Command::Completions { shell } => Plan::Completions(shell),
            Command::Man => Plan::Man,
        })
    }
}

/// A FIPS build refuses, before any work, the flags whose cryptography
/// runs outside AWS-LC's FIPS module (the library refuses them too).
fn refuse_outside_fips(cmd: &Command) -> Result<()> {
    if !crate::cli::fips_build() {
        return Ok(());
    }
    const PQ: &str = "X-Wing (ML-KEM-768 + X25519, from pure-Rust crates)";
    const SIGNED: &str = "BLAKE3, the body digest of signed streams,";
    let unwrap = |u: &UnwrapArgs, v: &mut Vec<(&'static str, &'static str)>| {
        if !u.ids.identities.is_empty() {
            v.push(("--identity", PQ));
        }
        if !u.signers.is_empty() {
            v.push(("--signer", SIGNED));
        }
    };
    let mut used: Vec<(&'static str, &'static str)> = Vec::new();
    match cmd {
        Command::Keygen { sign: true, .. } => used.push(("keygen --sign", SIGNED)),
        Command::Keygen {
            recipient: true, ..
        } => used.push(("keygen --recipient", PQ)),
        Command::Seal(a) => {
            if !a.recipients.is_empty() {
                used.push(("--recipient", PQ));
            }
            if a.sign_key.is_some() {
                used.push(("--sign-key", SIGNED));
            }
        }
        Command::Open(a) => unwrap(&a.unwrap, &mut used),
        Command::Verify(a) => unwrap(&a.unwrap, &mut used),
        Command::Rekey(a) => {
            unwrap(&a.unwrap, &mut used);
            if !a.add_recipients.is_empty() {
                used.push(("--add-recipient", PQ));
            }
            if a.sign_key.is_some() {
                used.push(("--sign-key", SIGNED));
            }
        }
        _ => {}
    }
    match used.first() {
        Some((flag, primitive)) => Err(UsageError(format!(
            "{flag} cannot be used in a FIPS build: {primitive} runs outside AWS-LC's FIPS module; use a standard build of envstream for it"
        ))
        .into()),
        None => Ok(()),
    }
}

/// What open and verify share: the input, the unwrapping keys, the
/// context requirements and the engine's settings.
fn open_plan(
    input: &Option<PathBuf>,
    unwrap: UnwrapArgs,
    flags: S3Args,
    context: &[(String, String)],
    be: Option<Backend>,
    threads: u16,
) -> Result<OpenPlan> {
    let from = Source::of(input)?;
    s3_flags_apply(matches!(from, Source::S3(_)), &flags, "an s3:// input")?;
    let be = backend(be);
    Ok(OpenPlan {
        from,
        to: None,
        force: false,
        s3: S3Access::new(unwrap.aws.clone(), flags),
        key_files: KeyFiles::local(&unwrap.keys)?,
        unwrap,
        backend: be,
        options: open_options(context, be),
        range: None,
        threads: usize::from(threads),
        verify_first: false,
    })
}

/// The files a command reads or writes: a report may be none of them, and
/// `-o` may be neither the input nor a key file. Built once, from the
/// arguments, before the report is set up.
pub(crate) fn protected(cmd: &Command) -> Vec<Protected> {
    let mut v = Vec::new();
    let keys = |v: &mut Vec<Protected>, k: &KeyArgs| {
        v.extend(KeyFiles::of(k).paths.into_iter().map(Protected::KeyFile));
    };
    // Signers' public key files and identity files are never written
    // either.
    let signers = |v: &mut Vec<Protected>, u: &UnwrapArgs| {
        v.extend(u.signers.iter().filter_map(|s| match s {
            crate::values::SignKey::File(p) => Some(Protected::KeyFile(p.clone())),
            crate::values::SignKey::Kms(_) => None,
        }));
        v.extend(u.ids.identities.iter().cloned().map(Protected::KeyFile));
    };
    let recipients = |v: &mut Vec<Protected>, rs: &[RecipientArg]| {
        v.extend(rs.iter().filter_map(|r| match r {
            RecipientArg::File(p) => Some(Protected::KeyFile(p.clone())),
            RecipientArg::Text(_) => None,
        }));
    };
    match cmd {
        Command::Seal(a) => {
            v.push(Protected::input(&a.input));
            v.push(Protected::output(&a.out.output));
            keys(&mut v, &a.keys);
            recipients(&mut v, &a.recipients);
            if let Some(crate::values::SignKey::File(p)) = &a.sign_key {
                v.push(Protected::KeyFile(p.clone()));
            }
        }
        Command::Open(a) => {
            v.push(Protected::input(&a.input));
            v.push(Protected::output(&a.out.output));
            keys(&mut v, &a.unwrap.keys);
            signers(&mut v, &a.unwrap);
        }
        Command::Verify(a) => {
            v.push(Protected::input(&a.input));
            v.push(Protected::Stdout);
            keys(&mut v, &a.unwrap.keys);
            signers(&mut v, &a.unwrap);
        }
        Command::Rekey(a) => {
            v.push(Protected::input(&Some(a.input.clone())));
            v.push(Protected::output(&a.out.output));
            keys(&mut v, &a.unwrap.keys);
            signers(&mut v, &a.unwrap);
            if let Some(crate::values::SignKey::File(p)) = &a.sign_key {
                v.push(Protected::KeyFile(p.clone()));
            }
            v.extend(a.add_key_files.iter().cloned().map(Protected::KeyFile));
            recipients(&mut v, &a.add_recipients);
        }
        _ => {}
    }
    v
}
