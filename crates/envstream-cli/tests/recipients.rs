//! Public-key recipients end to end (docs/FORMAT.md section 16): `keygen
//! --recipient`, the encrypt-only backup host (it holds only the `.pub`
//! file, seals, and cannot open what it sealed), `--identity` on open,
//! verify and rekey, `rekey --add-recipient`, `inspect`, a secret given as
//! a recipient, and recipients combined with key files, KMS keys and S3.
//! The KMS and S3 parts run against moto (started by `scripts/test.sh`,
//! which exports `ENVSTREAM_TEST_KMS_ENDPOINT`; without it they FAIL),
//! through a counting proxy.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::lab::Lab;
use support::setup::{bucket, create_key};
use support::{code, data, feed, stderr, stdout};

/// Two hosts in one scratch directory: the backup host (`host/`, which
/// gets only the `.pub` file) and the restore side (`vault/`, which holds
/// the identity). `run`/`ok` run in the vault.
struct Env {
    lab: Lab,
}

impl Env {
    fn new() -> Env {
        let lab = Lab::new();
        std::fs::create_dir(lab.p("host")).expect("mkdir");
        std::fs::create_dir(lab.p("vault")).expect("mkdir");
        Env { lab }
    }

    fn p(&self, name: &str) -> PathBuf {
        self.lab.p(name)
    }

    fn cmd_in(&self, sub: &str) -> Command {
        self.lab.cmd_in(sub)
    }

    fn run_in(&self, sub: &str, args: &[&str]) -> Output {
        self.lab.run_in(sub, args)
    }

    fn ok_in(&self, sub: &str, args: &[&str]) -> Output {
        self.lab.ok_in(sub, args)
    }

    fn run(&self, args: &[&str]) -> Output {
        self.lab.run_in("vault", args)
    }

    fn ok(&self, args: &[&str]) -> Output {
        self.lab.ok_in("vault", args)
    }

    /// `keygen --recipient -o vault/NAME`; the `.pub` copied to the host.
    fn identity(&self, name: &str) -> String {
        let o = self.ok(&["keygen", "--recipient", "-o", name]);
        let pub_name = format!("{name}.pub");
        std::fs::copy(
            self.p(&format!("vault/{pub_name}")),
            self.p(&format!("host/{pub_name}")),
        )
        .expect("copy .pub");
        stdout(&o).trim().to_owned()
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn keygen_recipient_writes_identity_and_one_line_recipient() {
    let env = Env::new();
    let kid = env.identity("backup.id");
    assert_eq!(kid.len(), 32, "the key id on stdout: {kid:?}");
    assert!(kid.bytes().all(|b| b.is_ascii_hexdigit()));
    let id = env.p("vault/backup.id");
    let public = env.p("vault/backup.id.pub");
    assert_eq!(mode(&id), 0o600);
    assert_eq!(mode(&public), 0o644);
    let text = std::fs::read_to_string(&public).expect("pub");
    assert_eq!(text.lines().count(), 1, "one line: {text:?}");
    assert!(text.starts_with("mlkem768x25519:") && text.ends_with('\n'));
    assert_eq!(text.trim().len(), 1639);
    let secret = std::fs::read_to_string(&id).expect("id");
    assert!(secret.contains(&format!("# key id: {kid}")));
    assert!(
        !text.contains("ENVSTREAM-IDENTITY"),
        "the .pub holds no secret"
    );

    // Never overwrites either file; nothing is written when one exists.
    let before = std::fs::read(&id).expect("read");
    let o = env.run(&["keygen", "--recipient", "-o", "backup.id"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("already exists"));
    assert_eq!(std::fs::read(&id).expect("read"), before);
    std::fs::remove_file(&id).expect("rm");
    let o = env.run(&["keygen", "--recipient", "-o", "backup.id"]);
    assert_eq!(code(&o), 2, ".pub exists: {}", stderr(&o));
    assert!(!id.exists(), "no identity without its recipient");
    // Needs a path (the .pub goes beside it); not with --sign.
    let o = env.run(&["keygen", "--recipient", "-o", "-"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("PATH.pub"), "{}", stderr(&o));
    let o = env.run(&["keygen", "--recipient", "--sign", "-o", "x"]);
    assert_eq!(code(&o), 2);
}

/// The encrypt-only backup host: it holds only `backup.id.pub`, seals a
/// pipe (as `tar c dir | envstream seal --recipient …` would), and cannot
/// open what it sealed: exit 4, naming the identity it lacks. The vault
/// opens it with the identity and no key service.
#[test]
fn encrypt_only_host_seals_and_cannot_open() {
    let env = Env::new();
    let kid = env.identity("backup.id");
    let names: Vec<String> = std::fs::read_dir(env.p("host"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["backup.id.pub".to_owned()],
        "the host holds no secret"
    );

    let plain = data(300_000, 22);
    let mut c = env.cmd_in("host");
    c.args(["seal", "--recipient", "backup.id.pub", "-o", "b.envs"]);
    let o = feed(c, &plain);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    for args in [
        vec!["open", "-o", "out", "b.envs"],
        vec!["open", "--key-file", "/dev/null", "b.envs"],
        vec!["verify", "b.envs"],
    ] {
        let o = env.run_in("host", &args);
        let want = if args.contains(&"--key-file") { 1 } else { 2 };
        assert_eq!(code(&o), want, "{args:?}: {}", stderr(&o));
    }
    // With some other key (a key file of its own, or an identity of its
    // own): exit 4, naming the record's key id and --identity.
    env.ok_in("host", &["keygen", "-o", "own.key"]);
    env.ok_in("host", &["keygen", "--recipient", "-o", "own.id"]);
    for key in [["--key-file", "own.key"], ["--identity", "own.id"]] {
        let o = env.run_in("host", &["open", key[0], key[1], "-o", "out", "b.envs"]);
        assert_eq!(code(&o), 4, "{key:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(&format!("mlkem768x25519/{kid}")), "{err}");
        assert!(err.contains("--identity"), "{err}");
        assert!(!env.p("host/out").exists(), "nothing written");
    }

    std::fs::copy(env.p("host/b.envs"), env.p("vault/b.envs")).expect("copy");
    let o = env.ok(&["open", "--identity", "backup.id", "b.envs"]);
    assert_eq!(o.stdout, plain);
    env.ok(&["verify", "--identity", "backup.id", "b.envs"]);
    assert_eq!(env.lab.proxy.total(), 0, "no key service was asked");
}

#[test]
fn a_secret_given_as_recipient_is_refused() {
    let env = Env::new();
    env.identity("backup.id");
    env.ok(&["keygen", "-o", "k.key"]);
    std::fs::write(env.p("vault/plain"), b"data").expect("write");
    for secret in ["backup.id", "k.key"] {
        let o = env.run(&["seal", "--recipient", secret, "-o", "s.envs", "plain"]);
        assert_eq!(code(&o), 1, "{secret}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("SECRET") && err.contains(".pub"), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(!env.p("vault/s.envs").exists());
        assert!(
            !err.contains("ENVSTREAM-IDENTITY"),
            "the secret is not echoed"
        );
    }
    // A recipient where an identity belongs.
    let o = env.run(&["keygen", "--recipient", "-o", "other.id"]);
    assert_eq!(code(&o), 0);
    std::fs::write(env.p("vault/s.envs"), b"").expect("touch");
    let o = env.run(&["open", "--identity", "other.id.pub", "s.envs"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("recipient"), "{}", stderr(&o));
    // A bad recipient string is a usage error before any work.
    let o = env.run(&[
        "seal",
        "--recipient",
        "mlkem768x25519:AAAA",
        "-o",
        "t.envs",
        "plain",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(!stderr(&o).contains("invalid key file"), "{}", stderr(&o));
}

/// `--recipient` is repeatable and combines with `--key-file` and
/// `--kms-key`; the recipient string works as well as the file; each key
/// alone opens the file, the identity without any KMS call.
#[test]
fn recipients_combine_with_key_files_and_kms() {
    let env = Env::new();
    env.identity("a.id");
    env.identity("b.id");
    env.ok(&["keygen", "-o", "bg.key"]);
    let arn = create_key();
    let b_text = std::fs::read_to_string(env.p("vault/b.id.pub")).expect("pub");
    let plain = data(200_000, 5);
    std::fs::write(env.p("vault/plain"), &plain).expect("write");
    env.ok(&[
        "seal",
        "--kms-key",
        &arn,
        "--recipient",
        "a.id.pub",
        "--recipient",
        b_text.trim(),
        "--recipient",
        "a.id.pub",
        "--key-file",
        "bg.key",
        "-o",
        "s.envs",
        "plain",
    ]);
    let ins = env.ok(&["inspect", "--json", "s.envs"]);
    let v: serde_json::Value = serde_json::from_slice(&ins.stdout).expect("json");
    let keys = v["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 4, "a.id.pub twice is one record: {v}");
    assert_eq!(
        keys.iter().filter(|k| k["recipient"] == true).count(),
        2,
        "{v}"
    );
    let text = stdout(&env.ok(&["inspect", "s.envs"]));
    assert_eq!(
        text.matches("(recipient: its identity opens it)").count(),
        2,
        "{text}"
    );

    let before = env.lab.proxy.count("Decrypt");
    for key in [
        ["--identity", "a.id"],
        ["--identity", "b.id"],
        ["--key-file", "bg.key"],
    ] {
        let o = env.ok(&["open", key[0], key[1], "s.envs"]);
        assert_eq!(o.stdout, plain, "{key:?}");
    }
    assert_eq!(
        env.lab.proxy.count("Decrypt"),
        before,
        "identities need no KMS"
    );
    let o = env.ok(&["open", "--kms-key", &arn, "s.envs"]);
    assert_eq!(o.stdout, plain);
    assert_eq!(env.lab.proxy.count("Decrypt"), before + 1);
}

/// `rekey --add-recipient` adds a record (opened by --identity after);
/// `rekey --identity` unwraps with an identity; `--remove-key KEYID`
/// removes a recipient's record.
#[test]
fn rekey_adds_and_removes_recipients() {
    let env = Env::new();
    let kid = env.identity("r.id");
    env.ok(&["keygen", "-o", "k.key"]);
    let plain = data(70_000, 9);
    std::fs::write(env.p("vault/plain"), &plain).expect("write");
    env.ok(&["seal", "--key-file", "k.key", "-o", "s.envs", "plain"]);
    let o = env.run(&["open", "--identity", "r.id", "s.envs"]);
    assert_eq!(code(&o), 4);

    env.ok(&[
        "rekey",
        "--key-file",
        "k.key",
        "--add-recipient",
        "r.id.pub",
        "-o",
        "s2.envs",
        "s.envs",
    ]);
    assert_eq!(
        env.ok(&["open", "--identity", "r.id", "s2.envs"]).stdout,
        plain
    );

    // The identity alone rekeys: drop the key file's record.
    let local_id = stdout(&env.ok(&["inspect", "--json", "s.envs"]));
    let v: serde_json::Value = serde_json::from_str(&local_id).expect("json");
    let local_kid = v["keys"][0]["key_id"].as_str().expect("kid").to_owned();
    env.ok(&[
        "rekey",
        "--identity",
        "r.id",
        "--remove-key",
        &local_kid,
        "-o",
        "s3.envs",
        "s2.envs",
    ]);
    assert_eq!(
        env.ok(&["open", "--identity", "r.id", "s3.envs"]).stdout,
        plain
    );
    assert_eq!(
        code(&env.run(&["open", "--key-file", "k.key", "s3.envs"])),
        4
    );
    // And the recipient's record removed by its key id.
    env.ok(&[
        "rekey",
        "--key-file",
        "k.key",
        "--remove-key",
        &format!("mlkem768x25519/{kid}"),
        "-o",
        "s4.envs",
        "s2.envs",
    ]);
    assert_eq!(
        code(&env.run(&["open", "--identity", "r.id", "s4.envs"])),
        4
    );
}

/// A tampered record is an integrity failure (exit 3) that writes nothing;
/// -o never overwrites an identity or recipient file.
#[test]
fn tampered_record_and_protected_files() {
    let env = Env::new();
    env.identity("r.id");
    let plain = data(10_000, 3);
    std::fs::write(env.p("vault/plain"), &plain).expect("write");
    env.ok(&["seal", "--recipient", "r.id.pub", "-o", "s.envs", "plain"]);
    let mut bytes = std::fs::read(env.p("vault/s.envs")).expect("read");
    let (h, hl) = envstream::Header::parse(&bytes).expect("header");
    let wk_len = h.wrapped_keys()[0].ciphertext().len();
    bytes[hl - 64 - wk_len + 500] ^= 0x10; // inside the encapsulation
    std::fs::write(env.p("vault/t.envs"), &bytes).expect("write");
    let o = env.run(&["open", "--identity", "r.id", "-o", "out", "t.envs"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("wrapped key failed authentication"),
        "{}",
        stderr(&o)
    );
    assert!(!env.p("vault/out").exists());

    for (args, file) in [
        (
            vec![
                "open",
                "--identity",
                "r.id",
                "-o",
                "r.id",
                "--force",
                "s.envs",
            ],
            "r.id",
        ),
        (
            vec![
                "seal",
                "--recipient",
                "r.id.pub",
                "-o",
                "r.id.pub",
                "--force",
                "plain",
            ],
            "r.id.pub",
        ),
    ] {
        let before = std::fs::read(env.p(&format!("vault/{file}"))).expect("read");
        let o = env.run(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert_eq!(
            std::fs::read(env.p(&format!("vault/{file}"))).expect("read"),
            before
        );
    }
}

/// Seal to S3 with a recipient (multipart), restore from S3 with the
/// identity.
#[test]
fn s3_seal_and_restore_with_a_recipient() {
    let env = Env::new();
    env.identity("r.id");
    let b = bucket("pq");
    let plain = data(12 * 1024 * 1024, 77);
    let url = format!("s3://{b}/backup.envs");
    let mut c = env.cmd_in("host");
    c.args(["seal", "--recipient", "r.id.pub", "-o", &url]);
    let o = feed(c, &plain);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = env.ok(&["open", "--identity", "r.id", &url]);
    assert!(o.stdout == plain, "S3 round trip");
    let o = env.run_in("host", &["open", "--identity", "../vault/r.id.pub", &url]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
}
