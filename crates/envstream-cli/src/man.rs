//! `envstream man`: one complete man page, built from the clap definitions
//! (so every command and option is in it, with the same help text as
//! `--help`), plus the exit codes, the environment and examples.

use std::fmt::Write as _;

use clap::{Arg, ArgAction, Command};

use crate::cli::{ENVIRONMENT, EXIT_CODES};

/// Escapes text for roff: backslashes, and a leading `.` or `'`.
fn esc(s: &str) -> String {
    let t = s.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// `-o, --output <OUT>` in bold and italics.
fn arg_label(a: &Arg) -> String {
    let mut names = Vec::new();
    if let Some(s) = a.get_short() {
        names.push(format!("\\fB\\-{s}\\fR"));
    }
    if let Some(l) = a.get_long() {
        names.push(format!("\\fB\\-\\-{}\\fR", esc(l)));
    }
    let takes_value = matches!(a.get_action(), ArgAction::Set | ArgAction::Append);
    let value = a
        .get_value_names()
        .and_then(|v| v.first())
        .map(|v| format!(" \\fI{}\\fR", esc(v)))
        .filter(|_| takes_value)
        .unwrap_or_default();
    if names.is_empty() {
        // A positional argument.
        let v = a
            .get_value_names()
            .and_then(|v| v.first())
            .map_or_else(|| a.get_id().to_string(), |v| v.to_string());
        return format!("\\fI{}\\fR", esc(&v));
    }
    format!("{}{value}", names.join(", "))
}

fn arg_help(a: &Arg) -> String {
    let mut h = a
        .get_long_help()
        .or_else(|| a.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    if !h.is_empty() && !h.ends_with('.') {
        h.push('.');
    }
    let takes_value = matches!(a.get_action(), ArgAction::Set | ArgAction::Append);
    let values: Vec<String> = a
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_owned())
        .collect();
    if !values.is_empty() && takes_value {
        let _ = write!(h, " Values: {}.", values.join(", "));
    }
    let defaults: Vec<String> = a
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() && takes_value {
        let _ = write!(h, " Default: {}.", defaults.join(", "));
    }
    esc(h.trim())
}

fn command_section(out: &mut String, name: &str, cmd: &Command) {
    let _ = writeln!(out, ".SS \"envstream {}\"", esc(name));
    let mut usage = cmd.clone().bin_name(format!("envstream {name}"));
    let usage = usage.render_usage().to_string();
    let usage = usage.trim_start_matches("Usage: ");
    let _ = writeln!(out, ".nf\n\\fB{}\\fR\n.fi", esc(usage));
    if let Some(about) = cmd.get_long_about().or_else(|| cmd.get_about()) {
        let _ = writeln!(out, ".PP\n{}", esc(&about.to_string()));
    }
    for a in cmd.get_arguments() {
        if a.is_hide_set() || a.get_id() == "help" || a.get_id() == "version" {
            continue;
        }
        let _ = writeln!(out, ".TP\n{}\n{}", arg_label(a), arg_help(a));
    }
}

const OUTPUT_RULES: &[&str] = &[
    "-o OUT is written to a temporary file .OUT.envstream-partial.* beside OUT and renamed into place when complete; \
     an existing OUT is replaced only with --force, and OUT may never be the input or a key file. \
     If a killed run left a partial file, the next run writing OUT says so.",
    "--report FILE writes a JSON summary (operation, bytes_in, bytes_out, chunks, chunk_size, key_ids as \
     provider/key-id, context, backend, duration_ms, outcome) atomically, on failure too. It is checked before any \
     work: it may not be the input, the output or a key file under any name (exit 2), and its directory must take \
     a new file (exit 1). An existing report is replaced without --force: it is a log of the last run.",
    "ENVSTREAM_KEY_FILE is used when no --key-file is given, together with any KMS key (and said so on stderr). \
     A key named twice, or a KMS alias and its ARN, is wrapped once. A key file that group or others can access \
     is used with a warning.",
    "--threads is 1 to 64 (0: one per core, at most 64); memory is about threads x max(1 MiB, chunk size). \
     open --range from a pipe reads and discards the rest of the pipe after the range, without decrypting it, \
     so the writer upstream is not killed by SIGPIPE.",
    "s3://BUCKET/KEY is accepted by seal -o, open, verify, inspect and rekey (and rekey -o). An upload is a \
     multipart upload completed only after the final chunk, conditional on the key being absent (If-None-Match) \
     unless --force; any failure or SIGINT, SIGTERM or SIGHUP aborts it, so no object and no incomplete upload is \
     left. Parts grow from 8 MiB to 128 MiB up to 1 TiB and to 4 GiB beyond (5.3 TiB); --expected-size chooses \
     uniform parts. Upload memory is max(--s3-buffer, one part); a restore holds --s3-concurrency x 8 MiB. \
     Restores pin the object with If-Match on its ETag. With AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) set, \
     requests are path-style. docs/S3.md lists the IAM actions.",
    "Signed streams (docs/FORMAT.md section 15): seal --sign-key KEY signs with a keygen --sign key file (Ed25519) \
     or a KMS ECC_NIST_P256/ECC_NIST_P384 key (one GetPublicKey and one Sign per stream). open, verify and rekey \
     --signer PUB (a .pub file or a KMS key ARN, repeatable) require a valid signature by one of them: unsigned or \
     another signer is exit 4, a missing, cut or invalid signature or a changed body exit 3, each saying the output \
     is NOT from the expected writer. Without --signer a signed stream is still verified against the key it names \
     (\"signer not pinned\"). With -o nothing appears unless the signature verified; to stdout verified chunks \
     flow and a bad signature is a non-zero exit (use set -o pipefail), and open --verify-first writes nothing to \
     stdout before the whole stream and its signature verified (it spools the plaintext to an unlinked 0600 file \
     in $TMPDIR). A --range is authenticated by the AEAD only. rekey of a signed stream needs --sign-key with the \
     same key (exit 2 otherwise) and never drops a signature.",
    "Public-key recipients (docs/FORMAT.md section 16): keygen --recipient -o F writes an identity F (secret, 0600) \
     and its recipient F.pub (one line, mlkem768x25519:..., safe to publish) and prints the key id. seal --recipient R \
     (a .pub file or the string, repeatable, with --key-file and --kms-key) needs no secret; open, verify and rekey \
     take --identity F; rekey --add-recipient R adds one. The wrap is X-Wing (ML-KEM-768 + X25519) through HPKE, \
     post-quantum hybrid. A file holding a secret given as a recipient is refused (exit 1). A host that seals only \
     to recipients cannot open what it sealed (exit 4, naming the record's key id).",
];

const EXAMPLES: &[(&str, &str)] = &[
    ("Create a local key file (mode 0600):", "envstream keygen -o backup.key"),
    (
        "Back up a directory with a KMS key and a break-glass key file:",
        "tar c dir | envstream seal --kms-key alias/backup --key-file backup.key -o b.envs",
    ),
    (
        "Restore; pipefail makes a failure anywhere in the pipe visible:",
        "set -o pipefail; envstream open --key-file backup.key < b.envs | tar x",
    ),
    ("Check a backup without writing any plaintext:", "envstream verify --key-file backup.key b.envs"),
    (
        "Take 1 MiB out of the middle, reading only the chunks it needs:",
        "envstream open --key-file backup.key --range 5368709120..5369757696 -o part.bin b.envs",
    ),
    (
        "Add a KMS key and drop a local key without decrypting the body:",
        "envstream rekey --key-file backup.key --add-kms-key alias/new --remove-key local/KEYID -o b2.envs b.envs",
    ),
    ("Show the header (no key needed):", "envstream inspect --json b.envs"),
    (
        "An encrypt-only backup host: it holds only the recipient (.pub), so it cannot open its backups:",
        "envstream keygen --recipient -o backup.id; tar c dir | envstream seal --recipient backup.id.pub -o b.envs; \
         envstream open --identity backup.id b.envs | tar x",
    ),
    (
        "Sign backups and restore only what the backup host signed:",
        "envstream keygen --sign -o host.sign; tar c dir | envstream seal --kms-key alias/backup --sign-key host.sign \
         -o b.envs; set -o pipefail; envstream open --kms-key ARN --signer host.sign.pub --verify-first b.envs | tar x",
    ),
    (
        "Back up straight to S3, and restore from it with parallel ranged GETs:",
        "tar c dir | envstream seal --kms-key alias/backup -o s3://backups/b.envs; \
         envstream open --kms-key ARN s3://backups/b.envs | tar x",
    ),
    (
        "Rekey on S3: only the first 8 MiB cross the network, the body is copied inside S3:",
        "envstream rekey --kms-key ARN --add-kms-key alias/new -o s3://backups/b2.envs s3://backups/b.envs",
    ),
];

/// The whole page, in roff.
pub(crate) fn render(cmd: &Command) -> String {
    let mut out = String::new();
    let version = cmd.get_version().unwrap_or("");
    let _ = writeln!(
        out,
        ".TH ENVSTREAM 1 \"\" \"envstream {}\" \"User Commands\"",
        esc(version)
    );
    let _ = writeln!(
        out,
        ".SH NAME\nenvstream \\- streaming envelope encryption for large files and backups"
    );
    let _ = writeln!(out, ".SH SYNOPSIS\n.nf");
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let _ = writeln!(
            out,
            "\\fBenvstream {}\\fR [\\fIOPTIONS\\fR]",
            esc(sub.get_name())
        );
    }
    let _ = writeln!(out, ".fi");
    let _ = writeln!(
        out,
        ".SH DESCRIPTION\n{}",
        esc(
            "envstream encrypts a stream in constant memory with one data key per stream, \
             wrapped by one or more keys: AWS KMS keys in any region, or local key files. \
             The output is a sequence of fixed-size AES-256-GCM chunks after an authenticated, \
             key-committing header (docs/FORMAT.md). open releases a chunk only after its tag \
             verifies; with -o the output appears only once the whole stream has verified, \
             and a failed run leaves no output file. Every flag that writes a file (-o, \
             --report, keygen -o) writes a temporary file and renames it into place, and never \
             writes over the input, the output or a key file."
        )
    );
    let _ = writeln!(out, ".SH COMMANDS");
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        command_section(&mut out, sub.get_name(), sub);
    }
    let _ = writeln!(out, ".SH \"OUTPUT, REPORTS AND KEYS\"");
    for para in OUTPUT_RULES {
        let _ = writeln!(out, ".PP\n{}", esc(para));
    }
    let _ = writeln!(out, ".SH \"EXIT STATUS\"");
    for (code, meaning) in EXIT_CODES {
        let _ = writeln!(out, ".TP\n\\fB{code}\\fR\n{}", esc(meaning));
    }
    let _ = writeln!(
        out,
        ".PP\n{}",
        esc("A closed pipe after open, verify or inspect (open | head) exits 0: the reader took what it wanted. \
             After seal, rekey or keygen -o - it exits 1, because the output is incomplete.")
    );
    let _ = writeln!(out, ".SH ENVIRONMENT");
    for (name, meaning) in ENVIRONMENT {
        let _ = writeln!(out, ".TP\n\\fB{}\\fR\n{}", esc(name), esc(meaning));
    }
    let _ = writeln!(out, ".SH EXAMPLES");
    for (what, example) in EXAMPLES {
        let _ = writeln!(
            out,
            ".PP\n{}\n.PP\n.nf\n.RS 4\n{}\n.RE\n.fi",
            esc(what),
            esc(example)
        );
    }
    let _ = writeln!(
        out,
        ".SH \"SEE ALSO\"\n\\fBtar\\fR(1), \\fBage\\fR(1), \\fBaws\\fR(1)"
    );
    out
}
