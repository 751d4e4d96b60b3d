//! Command-line arguments (clap derive only; no logic).

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use envstream::Backend;

/// The exit-code table: the README, `--help` and the man page all show it,
/// and `tests/exit_codes.rs` runs one command for every row.
pub(crate) const EXIT_CODES: &[(u8, &str)] = &[
    (0, "ok"),
    (1, "I/O or other error: unreadable input or key file (an identity or recipient file too, and a secret file given as a recipient), missing S3 object, S3 object replaced during a restore, output or report that cannot be written, disk full, seal or rekey output cut off by a closed pipe, a producer command (seal -- CMD) that failed, an input file that shrank while it was sealed"),
    (2, "usage or setup error: bad flags or values, no key given, more than 16 wrapping keys, a rekey that changes nothing, output (file or S3 object) exists without --force, malformed s3:// location, terminal refused, report path clashes with another file, missing AWS region, credentials or profile, a region or endpoint URL that is not valid, an endpoint that answers but is not KMS or S3"),
    (3, "integrity failure: not an envstream file (an empty S3 object too), unsupported version or suite, malformed header, tampered chunk, truncation, trailing data, commitment or header-tag mismatch, a signed stream whose signature is missing, cut or invalid or whose body does not match what was signed"),
    (4, "key or access failure: no supplied key or identity unwraps the data key, KMS refused (access denied, disabled key, wrong context), context mismatch, S3 access denied or missing bucket, `--signer` given and the stream unsigned or signed by another key"),
    (5, "key service or S3 unavailable: connection refused or timed out, no answer within the timeouts (about 30 s; 2 minutes per attempt for an S3 completion or server-side copy), HTTP 5xx, or throttling that outlasts the retries"),
];

/// The environment variables envstream reads.
pub(crate) const ENVIRONMENT: &[(&str, &str)] = &[
    ("ENVSTREAM_KEY_FILE", "key file used when no --key-file is given; with --kms-key or --discovery it is used as well, and envstream says so on stderr"),
    ("AWS_REGION, AWS_DEFAULT_REGION", "region for KMS key ids and alias names"),
    ("AWS_PROFILE", "AWS profile (overridden by --profile); it must exist"),
    ("AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN", "AWS credentials (or a profile, SSO, or the instance role)"),
    ("AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE", "locations of the AWS config and credentials files"),
    ("AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_KMS", "custom KMS endpoint (a local emulator or a VPC endpoint): an absolute http:// or https:// URL with a host, checked before any request"),
    ("AWS_ENDPOINT_URL_S3", "custom S3 endpoint (MinIO, Ceph, a local emulator), checked the same way; s3:// locations then use path-style requests"),
];

fn after_help() -> String {
    let mut s = String::from("Exit codes:\n");
    for (code, meaning) in EXIT_CODES {
        s.push_str(&format!("  {code}  {meaning}\n"));
    }
    s.push_str("\nEnvironment:\n");
    for (name, meaning) in ENVIRONMENT {
        s.push_str(&format!("  {name}: {meaning}\n"));
    }
    s.push_str("\nRun `envstream man` for the full manual.");
    s
}

/// Streaming envelope encryption for large files and backups.
#[derive(Parser, Debug)]
#[command(name = "envstream", version, about, long_about = None, after_help = after_help())]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Create a new local key file (mode 0600; never overwrites).
    Keygen {
        /// Where to write the key file; `-` writes it to stdout.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
        /// Write an Ed25519 signing key (for `seal --sign-key`) instead, and
        /// its public key to FILE.pub (for `--signer`); prints the
        /// fingerprint.
        #[arg(long, conflicts_with = "recipient")]
        sign: bool,
        /// Write an identity (ML-KEM-768 + X25519 secret key, for `open
        /// --identity`) instead, and its public recipient to FILE.pub (for
        /// `seal --recipient`, safe to publish); prints the key id.
        #[arg(long)]
        recipient: bool,
    },
    /// Encrypt INPUT (default stdin) to OUT (default stdout).
    Seal(SealArgs),
    /// Decrypt and verify INPUT (default stdin) to OUT (default stdout).
    Open(OpenArgs),
    /// Authenticate a whole file without writing any plaintext, and summarize it.
    Verify(VerifyArgs),
    /// Rewrap the data key (add or remove wrapping keys) without decrypting the body.
    ///
    /// Rekey is not revocation: the data key and salt stay the same, so
    /// whoever kept the old file, or its unwrapped data key, can still read
    /// the rekeyed file and forge under it. After a key compromise, re-seal:
    /// `envstream open --key-file old.key f.envs | envstream seal --kms-key
    /// alias/new -o f.new.envs` (with `set -o pipefail`).
    Rekey(RekeyArgs),
    /// Print a file's header: version, suite, chunk size, context and wrapped keys. Needs no key.
    Inspect {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        aws: S3AwsArgs,
        #[command(flatten)]
        s3: S3PathArgs,
        /// The sealed file or s3://BUCKET/KEY; `-` or absent means stdin.
        #[arg(value_name = "INPUT")]
        input: Option<PathBuf>,
    },
    /// Print shell completions.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

#[derive(Args, Debug)]
pub(crate) struct KeyArgs {
    /// A local key file (repeatable). Defaults to $ENVSTREAM_KEY_FILE.
    #[arg(long = "key-file", value_name = "F")]
    pub(crate) key_files: Vec<PathBuf>,
}

/// The identities that may unwrap a file's data key (open, verify, rekey).
#[derive(Args, Debug)]
pub(crate) struct IdentityArgs {
    /// An identity file (`keygen --recipient`), the secret of a recipient
    /// the file was sealed to (repeatable).
    #[arg(long = "identity", value_name = "FILE")]
    pub(crate) identities: Vec<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct AwsArgs {
    /// AWS region for KMS key ids and alias names (key ARNs carry their
    /// own) and for S3 buckets.
    #[arg(long, value_name = "REGION", value_parser = crate::values::region)]
    pub(crate) region: Option<String>,
    /// AWS profile from ~/.aws/config and ~/.aws/credentials; it must exist.
    #[arg(long, value_name = "PROFILE", value_parser = non_empty("--profile"))]
    pub(crate) profile: Option<String>,
}

/// The AWS settings of `inspect`, which uses no key: only S3.
#[derive(Args, Debug, Clone)]
pub(crate) struct S3AwsArgs {
    /// AWS region of the bucket, for an s3:// input.
    #[arg(long, value_name = "REGION", value_parser = crate::values::region)]
    pub(crate) region: Option<String>,
    /// AWS profile from ~/.aws/config and ~/.aws/credentials, for an
    /// s3:// input; it must exist.
    #[arg(long, value_name = "PROFILE", value_parser = non_empty("--profile"))]
    pub(crate) profile: Option<String>,
}

impl From<&S3AwsArgs> for AwsArgs {
    fn from(a: &S3AwsArgs) -> AwsArgs {
        AwsArgs {
            region: a.region.clone(),
            profile: a.profile.clone(),
        }
    }
}

/// The keys that may unwrap a file's data key (open, verify, rekey).
#[derive(Args, Debug)]
pub(crate) struct UnwrapArgs {
    #[command(flatten)]
    pub(crate) keys: KeyArgs,
    #[command(flatten)]
    pub(crate) ids: IdentityArgs,
    /// AWS KMS key ARN that may be used to unwrap (repeatable; strict mode).
    #[arg(long = "kms-key", value_name = "ARN", value_parser = non_empty("--kms-key"))]
    pub(crate) kms_keys: Vec<String>,
    /// Try the KMS keys the file names (discovery mode), limited to the
    /// accounts of --discovery-account (or, explicitly, any account).
    #[arg(long, conflicts_with = "kms_keys")]
    pub(crate) discovery: bool,
    /// In discovery mode, only keys of this AWS account (repeatable; one is
    /// required unless --discovery-any-account is given).
    #[arg(long = "discovery-account", value_name = "ID", requires = "discovery")]
    pub(crate) discovery_accounts: Vec<String>,
    /// In discovery mode, let the file choose a key in any account. Then
    /// whoever wrote it chooses which KMS key is called (and sees the call),
    /// and a file sealed to a key anyone may use opens: no authenticity.
    #[arg(
        long = "discovery-any-account",
        requires = "discovery",
        conflicts_with = "discovery_accounts"
    )]
    pub(crate) discovery_any_account: bool,
    /// In discovery mode, the AWS partition of the keys (aws, aws-cn, aws-us-gov, …).
    #[arg(
        long = "discovery-partition",
        value_name = "PARTITION",
        default_value = "aws",
        requires = "discovery"
    )]
    pub(crate) discovery_partition: String,
    /// Require a signature by this writer (repeatable: any of them): a
    /// public key file (`keygen --sign` writes PATH.pub) or a KMS signing
    /// key ARN. An unsigned stream, or one signed by another key, fails.
    #[arg(long = "signer", value_name = "PUB", value_parser = crate::values::sign_key)]
    pub(crate) signers: Vec<crate::values::SignKey>,
    #[command(flatten)]
    pub(crate) aws: AwsArgs,
}

/// Path-style requests, for any command that can use S3.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct S3PathArgs {
    /// Path-style S3 requests (http://host/BUCKET/KEY). Automatic when an
    /// endpoint is set (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL): MinIO,
    /// Ceph and moto need it.
    #[arg(long = "s3-path-style", help_heading = "S3")]
    pub(crate) path_style: bool,
}

/// How many S3 requests run at once, for commands that move a body.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct S3ConcurrencyArgs {
    /// Parts uploaded, or ranged GETs of about 8 MiB of whole chunks
    /// fetched, at the same time: 1 to 64 (default 8). A restore holds
    /// N × 8 MiB.
    #[arg(long = "s3-concurrency", value_name = "N", help_heading = "S3",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) concurrency: Option<u16>,
}

/// Upload memory, for commands that write S3 objects.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct S3BufferArgs {
    /// With -o s3://…: upload memory, the sealed bytes held in parts being
    /// filled or uploaded (16M to 16G, default 192M). Peak memory is
    /// max(SIZE, one part) plus --threads × 1 MiB; parts are 8 MiB, growing
    /// to 128 MiB up to 1 TiB and 4 GiB beyond (docs/S3.md), so the default
    /// keeps streams up to 1 TiB under 256 MiB.
    #[arg(long = "s3-buffer", value_name = "SIZE", help_heading = "S3",
          value_parser = crate::values::s3_buffer)]
    pub(crate) buffer: Option<u64>,
}

/// The S3 flags of a command that reads S3 objects (`open`, `verify`).
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct S3ReadArgs {
    #[command(flatten)]
    pub(crate) path: S3PathArgs,
    #[command(flatten)]
    pub(crate) concurrency: S3ConcurrencyArgs,
}

impl S3ReadArgs {
    /// The S3 flags given.
    pub(crate) fn s3(&self) -> S3Args {
        S3Args {
            path: self.path.clone(),
            concurrency: self.concurrency.clone(),
            ..S3Args::default()
        }
    }
}

/// The S3 flags of a command that may write S3 objects (`seal`, `rekey`).
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct S3WriteArgs {
    #[command(flatten)]
    pub(crate) path: S3PathArgs,
    #[command(flatten)]
    pub(crate) concurrency: S3ConcurrencyArgs,
    #[command(flatten)]
    pub(crate) buffer: S3BufferArgs,
}

impl S3WriteArgs {
    /// The S3 flags given.
    pub(crate) fn s3(&self) -> S3Args {
        S3Args {
            path: self.path.clone(),
            concurrency: self.concurrency.clone(),
            buffer: self.buffer.clone(),
        }
    }
}

/// The S3 flags of a command (those it does not take stay unset).
#[derive(Debug, Clone, Default)]
pub(crate) struct S3Args {
    pub(crate) path: S3PathArgs,
    pub(crate) concurrency: S3ConcurrencyArgs,
    pub(crate) buffer: S3BufferArgs,
}

impl S3Args {
    /// The S3 flags given, by name, to refuse them where no S3 location is used.
    pub(crate) fn given(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.path.path_style {
            v.push("--s3-path-style");
        }
        if self.concurrency.concurrency.is_some() {
            v.push("--s3-concurrency");
        }
        if self.buffer.buffer.is_some() {
            v.push("--s3-buffer");
        }
        v
    }
}

#[derive(Args, Debug)]
pub(crate) struct PerfArgs {
    /// Worker threads for chunk crypto: 1 to 64, or 0 for one per core (at
    /// most 64). Memory is about N × max(1 MiB, chunk size).
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u16).range(0..=envstream::MAX_THREADS as i64))]
    pub(crate) threads: u16,
    /// Crypto backend: `auto` (the default) picks the fastest for this CPU
    /// by its features; a name forces one. Output is identical with every backend.
    #[arg(long, value_name = "NAME", value_parser = backend_parser())]
    pub(crate) backend: Option<Backend>,
}

/// `auto` and the backends compiled in, as clap values (so completion
/// offers them). A FIPS build also knows `ring` and `rustcrypto`, hidden,
/// to refuse them with the reason.
fn backend_parser() -> impl TypedValueParser<Value = Backend> {
    use clap::builder::PossibleValue;
    let offered = std::iter::once("auto").chain(Backend::available().iter().map(|b| b.name()));
    let refused = ["ring", "rustcrypto"]
        .into_iter()
        .filter(|n| fips_build() && Backend::from_name(n).is_none())
        .map(|n| PossibleValue::new(n).hide(true));
    PossibleValuesParser::new(offered.map(PossibleValue::new).chain(refused)).try_map(|name| {
        if name == "auto" {
            return Ok(Backend::auto());
        }
        Backend::from_name(&name).ok_or_else(|| {
            format!(
                "--backend {name} runs outside AWS-LC's FIPS module, so this FIPS build does not offer it; use --backend aws-lc (or auto)"
            )
        })
    })
}

/// Whether this is a FIPS build (feature `fips`).
pub(crate) fn fips_build() -> bool {
    cfg!(feature = "fips")
}

/// The text of `--version`: the version, then where the cryptography runs
/// (the FIPS build and mode, the AWS-LC linked), the TLS of AWS requests,
/// and the backends.
pub(crate) fn version_text() -> String {
    let st = envstream::fips_status();
    let module = st.module.as_deref().unwrap_or("no AWS-LC");
    let mode = if st.fips_mode { "on" } else { "off" };
    let crypto = if st.fips_build {
        format!("FIPS build: every primitive in {module}, FIPS mode {mode}")
    } else {
        format!("not a FIPS build ({module}, FIPS mode {mode})")
    };
    let tls = match envstream_aws::fips_tls() {
        Some(true) => "rustls with AWS-LC's FIPS provider (FIPS-approved suites only)",
        Some(false) => "rustls with AWS-LC's FIPS provider, which does NOT report FIPS",
        None => "rustls with aws-lc-rs (not the FIPS provider)",
    };
    let names: Vec<&str> = Backend::available().iter().map(|b| b.name()).collect();
    format!(
        "{}\ncrypto: {crypto}\nTLS (AWS requests): {tls}\nbackends: {} (auto: {} on this CPU)",
        env!("CARGO_PKG_VERSION"),
        names.join(", "),
        Backend::auto().name()
    )
}

/// A string value that must not be empty or blank.
fn non_empty(flag: &'static str) -> impl Fn(&str) -> Result<String, String> + Clone {
    move |s: &str| {
        if s.trim().is_empty() {
            Err(format!("{flag} needs a key; it was given an empty value"))
        } else {
            Ok(s.to_owned())
        }
    }
}

#[derive(Args, Debug, Clone)]
pub(crate) struct UiArgs {
    /// Draw a progress bar on stderr even when it is not a terminal.
    #[arg(long, conflicts_with = "quiet")]
    pub(crate) progress: bool,
    /// Never draw a progress bar.
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Write a final JSON report to FILE (`-` for stderr), on failure too.
    #[arg(long, value_name = "FILE")]
    pub(crate) report: Option<PathBuf>,
}

/// The output of `seal` and `rekey`: a file, stdout or an S3 object.
#[derive(Args, Debug)]
pub(crate) struct OutputArgs {
    /// Output file, written atomically (temporary file, renamed when
    /// complete), or s3://BUCKET/KEY (multipart upload, completed only
    /// after the final chunk); `-` or absent means stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
    /// Replace OUT if it exists (for S3: an existing object).
    #[arg(long)]
    pub(crate) force: bool,
}

/// The output of `open`: plaintext, to a file or stdout, never to S3.
#[derive(Args, Debug)]
pub(crate) struct PlainOutputArgs {
    /// Output file, written atomically (temporary file, renamed only after
    /// the final chunk verified); `-` or absent means stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Args, Debug)]
pub(crate) struct SealArgs {
    #[command(flatten)]
    pub(crate) keys: KeyArgs,
    /// Seal to this public-key recipient (repeatable): its `.pub` file
    /// (`keygen --recipient` writes one) or the `mlkem768x25519:…` string.
    /// Needs no secret; only the recipient's identity opens the file.
    #[arg(long = "recipient", value_name = "R", value_parser = crate::values::recipient)]
    pub(crate) recipients: Vec<crate::values::RecipientArg>,
    /// AWS KMS key to wrap with (repeatable): key id, key ARN, alias/NAME or alias ARN.
    /// The first calls GenerateDataKey, each further one Encrypt.
    #[arg(long = "kms-key", value_name = "KEY", value_parser = non_empty("--kms-key"))]
    pub(crate) kms_keys: Vec<String>,
    #[command(flatten)]
    pub(crate) aws: AwsArgs,
    /// Encryption context entry K=V (repeatable). Stored in clear, authenticated.
    #[arg(long = "context", value_name = "K=V", value_parser = crate::values::context_pair)]
    pub(crate) context: Vec<(String, String)>,
    /// Sign the stream: a signing key file (`keygen --sign`), or a KMS
    /// ECC_NIST_P256/P384 signing key by ARN or alias (one Sign call).
    #[arg(long = "sign-key", value_name = "KEY", value_parser = crate::values::sign_key)]
    pub(crate) sign_key: Option<crate::values::SignKey>,
    /// Plaintext bytes per chunk: 4K to 16M (suffixes K, KiB, M, MiB). Default 64K.
    #[arg(long = "chunk-size", value_name = "SIZE", value_parser = crate::values::chunk_size)]
    pub(crate) chunk_size: Option<u32>,
    /// With -o s3://…: the input's size, about (suffixes K, M, G, T). Chooses
    /// uniform parts that fit it with 10 % to spare; without it parts grow
    /// with the stream and reach 5.3 TiB.
    #[arg(long = "expected-size", value_name = "SIZE", help_heading = "S3",
          value_parser = crate::values::expected_size)]
    pub(crate) expected_size: Option<u64>,
    #[command(flatten)]
    pub(crate) s3: S3WriteArgs,
    #[command(flatten)]
    pub(crate) out: OutputArgs,
    #[command(flatten)]
    pub(crate) perf: PerfArgs,
    #[command(flatten)]
    pub(crate) ui: UiArgs,
    /// Input file; `-` or absent means stdin (a terminal is refused).
    #[arg(value_name = "INPUT", conflicts_with = "producer")]
    pub(crate) input: Option<PathBuf>,
    /// After `--`: a command whose output is sealed (`-- tar c dir`). The
    /// stream is finished, and the file or object published, only if the
    /// command exits 0; otherwise nothing is, and envstream exits 1.
    #[arg(last = true, value_name = "COMMAND")]
    pub(crate) producer: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct OpenArgs {
    #[command(flatten)]
    pub(crate) unwrap: UnwrapArgs,
    /// Require the header's context to hold K with exactly value V (repeatable).
    #[arg(long = "context", value_name = "K=V", value_parser = crate::values::context_pair)]
    pub(crate) context: Vec<(String, String)>,
    /// Output only plaintext bytes START..END (END exclusive; `START..` and
    /// `..END` allowed). On a seekable input only the chunks in the range are read.
    #[arg(long, value_name = "START..END", value_parser = crate::values::range)]
    pub(crate) range: Option<crate::values::ByteRange>,
    /// To stdout, write nothing until the whole stream, and a signed
    /// stream's signature, has verified: the plaintext is spooled first to
    /// an unlinked file (mode 0600) in $TMPDIR, which needs that much free
    /// space. (`-o FILE` always works this way.)
    #[arg(long, conflicts_with = "range")]
    pub(crate) verify_first: bool,
    #[command(flatten)]
    pub(crate) out: PlainOutputArgs,
    #[command(flatten)]
    pub(crate) s3: S3ReadArgs,
    #[command(flatten)]
    pub(crate) perf: PerfArgs,
    #[command(flatten)]
    pub(crate) ui: UiArgs,
    /// Input file or s3://BUCKET/KEY; `-` or absent means stdin.
    #[arg(value_name = "INPUT")]
    pub(crate) input: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub(crate) unwrap: UnwrapArgs,
    /// Require the header's context to hold K with exactly value V (repeatable).
    #[arg(long = "context", value_name = "K=V", value_parser = crate::values::context_pair)]
    pub(crate) context: Vec<(String, String)>,
    #[command(flatten)]
    pub(crate) s3: S3ReadArgs,
    #[command(flatten)]
    pub(crate) perf: PerfArgs,
    #[command(flatten)]
    pub(crate) ui: UiArgs,
    /// Input file or s3://BUCKET/KEY; `-` or absent means stdin.
    #[arg(value_name = "INPUT")]
    pub(crate) input: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct RekeyArgs {
    #[command(flatten)]
    pub(crate) unwrap: UnwrapArgs,
    /// Also wrap the data key with this KMS key (repeatable).
    #[arg(long = "add-kms-key", value_name = "KEY", value_parser = non_empty("--add-kms-key"))]
    pub(crate) add_kms_keys: Vec<String>,
    /// Also wrap the data key with this local key file (repeatable).
    #[arg(long = "add-key-file", value_name = "F")]
    pub(crate) add_key_files: Vec<PathBuf>,
    /// Also wrap the data key for this public-key recipient (repeatable):
    /// its `.pub` file or the `mlkem768x25519:…` string.
    #[arg(long = "add-recipient", value_name = "R", value_parser = crate::values::recipient)]
    pub(crate) add_recipients: Vec<crate::values::RecipientArg>,
    /// Remove the wrapped key with this key id or PROVIDER/KEYID (repeatable).
    #[arg(long = "remove-key", value_name = "KEYID")]
    pub(crate) remove_keys: Vec<String>,
    /// The signing key of a signed stream (its signature covers the header,
    /// so a rekey signs again; the signer cannot change).
    #[arg(long = "sign-key", value_name = "KEY", value_parser = crate::values::sign_key)]
    pub(crate) sign_key: Option<crate::values::SignKey>,
    #[command(flatten)]
    pub(crate) s3: S3WriteArgs,
    #[command(flatten)]
    pub(crate) out: OutputArgs,
    #[command(flatten)]
    pub(crate) ui: UiArgs,
    /// The sealed file or s3://BUCKET/KEY; `-` means stdin.
    #[arg(value_name = "INPUT")]
    pub(crate) input: PathBuf,
}

impl Command {
    /// The progress/report options of commands that have them.
    pub(crate) fn ui(&self) -> Option<&UiArgs> {
        match self {
            Command::Seal(a) => Some(&a.ui),
            Command::Open(a) => Some(&a.ui),
            Command::Verify(a) => Some(&a.ui),
            Command::Rekey(a) => Some(&a.ui),
            _ => None,
        }
    }

    /// Whether a closed output pipe leaves a useless, partial artefact.
    pub(crate) fn broken_pipe(&self) -> crate::error::BrokenPipe {
        use crate::error::BrokenPipe;
        match self {
            Command::Seal(_) | Command::Rekey(_) | Command::Keygen { .. } => BrokenPipe::Incomplete,
            _ => BrokenPipe::Quiet,
        }
    }

    /// The operation name used in reports.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Command::Keygen { .. } => "keygen",
            Command::Seal(_) => "seal",
            Command::Open(_) => "open",
            Command::Verify(_) => "verify",
            Command::Rekey(_) => "rekey",
            Command::Inspect { .. } => "inspect",
            Command::Completions { .. } => "completions",
            Command::Man => "man",
        }
    }
}
