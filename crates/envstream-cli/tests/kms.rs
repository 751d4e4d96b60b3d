//! AWS KMS tests against a real KMS-compatible server (moto), started by
//! `scripts/test.sh`, which exports `ENVSTREAM_TEST_KMS_ENDPOINT`. Without
//! it these tests FAIL: they never pass vacuously.
//!
//! Each test talks to moto through its own small HTTP proxy that counts
//! requests per KMS operation and can inject KMS error responses (moto does
//! not emulate disabled keys, pending deletion or IncorrectKeyException).
//! Everything runs on 127.0.0.1.

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::proxy::{http_page, kms_error, Fault, Proxy, KMS_JSON};
use support::setup::{create_alias, create_key, create_key_in, ACCOUNT};
use support::{aws_cmd, code, stderr};

struct Env {
    dir: tempfile::TempDir,
    proxy: Proxy,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
            proxy: Proxy::start(),
        }
    }

    fn p(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, endpoint: &str) -> Command {
        let mut c = aws_cmd(self.dir.path());
        c.env("AWS_ENDPOINT_URL", endpoint);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(&self.proxy.url)
            .args(args)
            .output()
            .expect("spawn")
    }

    fn write(&self, name: &str, data: &[u8]) {
        std::fs::write(self.p(name), data).expect("write");
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.p(name)).expect("read")
    }

    fn no_output_left(&self, name: &str) {
        assert!(!self.p(name).exists(), "{name} was left behind");
        let stray: Vec<_> = std::fs::read_dir(self.dir.path())
            .expect("readdir")
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .contains("envstream-partial")
            })
            .collect();
        assert!(stray.is_empty(), "temporary files left");
    }
}

fn plain() -> Vec<u8> {
    (0..200_000u32).map(|i| (i % 253) as u8).collect()
}

fn inspect_keys(env: &Env, file: &str) -> Vec<(String, String)> {
    let o = env.run(&["inspect", "--json", file]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    v["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            (
                k["provider"].as_str().expect("p").to_owned(),
                k["key_id"].as_str().expect("id").to_owned(),
            )
        })
        .collect()
}

#[test]
fn round_trip_with_key_id_arn_alias_and_alias_arn() {
    let env = Env::new();
    let arn = create_key();
    let alias = format!("alias/envstream-{}", &arn[arn.len() - 12..]);
    create_alias(&alias, &arn);
    let key_id = arn.rsplit('/').next().expect("id").to_owned();
    let alias_arn = format!("arn:aws:kms:us-east-1:{ACCOUNT}:{alias}");
    env.write("p", &plain());
    for (i, key) in [&arn, &key_id, &alias, &alias_arn].iter().enumerate() {
        let out = format!("c{i}");
        let o = env.run(&[
            "seal",
            "--kms-key",
            key,
            "--context",
            "purpose=backup",
            "-o",
            &out,
            "p",
        ]);
        assert_eq!(code(&o), 0, "{key}: {}", stderr(&o));
        assert_eq!(
            inspect_keys(&env, &out),
            vec![("aws-kms".to_owned(), arn.clone())],
            "header records the key ARN"
        );
        let o = env.run(&[
            "open",
            "--kms-key",
            &arn,
            "--context",
            "purpose=backup",
            "-o",
            &format!("q{i}"),
            &out,
        ]);
        assert_eq!(code(&o), 0, "{key}: {}", stderr(&o));
        assert_eq!(env.read(&format!("q{i}")), plain());
    }
    // inspect shows the ARN and the context in text form too.
    let o = env.run(&["inspect", "c0"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&arn) && text.contains("purpose=backup"),
        "{text}"
    );
}

#[test]
fn two_kms_keys_each_opens_alone_with_exact_call_counts() {
    let env = Env::new();
    let (a, b) = (create_key(), create_key());
    env.write("p", &plain());
    env.proxy.reset();
    let o = env.run(&[
        "seal",
        "--kms-key",
        &a,
        "--kms-key",
        &b,
        "--context",
        "env=prod",
        "-o",
        "c",
        "p",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(env.proxy.count("GenerateDataKey"), 1);
    assert_eq!(env.proxy.count("Encrypt"), 1);
    assert_eq!(env.proxy.total(), 2, "seal makes one call per KMS key");
    let ids: Vec<String> = inspect_keys(&env, "c")
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(ids, vec![a.clone(), b.clone()]);
    for (listed, name) in [(vec![&a], "qa"), (vec![&b], "qb"), (vec![&a, &b], "qab")] {
        env.proxy.reset();
        let mut args = vec!["open"];
        for k in &listed {
            args.extend(["--kms-key", k.as_str()]);
        }
        args.extend(["-o", name, "c"]);
        let o = env.run(&args);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(env.read(name), plain());
        assert_eq!(
            env.proxy.count("Decrypt"),
            1,
            "open stops at the first key that works"
        );
        assert_eq!(env.proxy.total(), 1);
    }
}

#[test]
fn kms_plus_break_glass_key_file() {
    let env = Env::new();
    let arn = create_key();
    assert_eq!(code(&env.run(&["keygen", "-o", "bg.key"])), 0);
    env.write("p", &plain());
    let o = env.run(&[
        "seal",
        "--kms-key",
        &arn,
        "--key-file",
        "bg.key",
        "-o",
        "c",
        "p",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let providers: Vec<String> = inspect_keys(&env, "c")
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(providers, vec!["aws-kms", "local"]);
    // The key file alone opens it with no network call at all.
    env.proxy.reset();
    let o = env
        .cmd("http://127.0.0.1:9")
        .args(["open", "--key-file", "bg.key", "-o", "q1", "c"])
        .output()
        .expect("spawn");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(env.read("q1"), plain());
    // Key file listed together with KMS: the file is tried first, KMS is never called.
    let o = env.run(&[
        "open",
        "--kms-key",
        &arn,
        "--key-file",
        "bg.key",
        "-o",
        "q2",
        "c",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        env.proxy.total(),
        0,
        "local key files are tried before any network call"
    );
    // KMS alone opens it too.
    let o = env.run(&["open", "--kms-key", &arn, "-o", "q3", "c"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(env.read("q3"), plain());
}

#[test]
fn context_mismatch_exits_4() {
    let env = Env::new();
    let arn = create_key();
    env.write("p", b"ctx");
    assert_eq!(
        code(&env.run(&[
            "seal",
            "--kms-key",
            &arn,
            "--context",
            "env=prod",
            "-o",
            "c",
            "p"
        ])),
        0
    );
    // Required context differs from the header: refused before any KMS call.
    env.proxy.reset();
    let o = env.run(&[
        "open",
        "--kms-key",
        &arn,
        "--context",
        "env=dev",
        "-o",
        "q",
        "c",
    ]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert_eq!(env.proxy.total(), 0);
    env.no_output_left("q");
    // The header's context altered: KMS refuses the Decrypt (InvalidCiphertextException).
    let mut bytes = env.read("c");
    let pos = bytes
        .windows(4)
        .position(|w| w == b"prod")
        .expect("context value in header");
    bytes[pos..pos + 4].copy_from_slice(b"dev!");
    env.write("t", &bytes);
    let o = env.run(&["open", "--kms-key", &arn, "-o", "q", "t"]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("InvalidCiphertextException") && stderr(&o).contains(&arn),
        "{}",
        stderr(&o)
    );
    env.no_output_left("q");
}

#[test]
fn unlisted_key_exits_4_without_calling_kms() {
    let env = Env::new();
    let (a, other) = (create_key(), create_key());
    env.write("p", b"x");
    assert_eq!(
        code(&env.run(&["seal", "--kms-key", &a, "-o", "c", "p"])),
        0
    );
    env.proxy.reset();
    let o = env.run(&["open", "--kms-key", &other, "-o", "q", "c"]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&a),
        "names the key the file is sealed to: {}",
        stderr(&o)
    );
    assert_eq!(
        env.proxy.count("Decrypt"),
        0,
        "Decrypt only for listed ARNs"
    );
    env.no_output_left("q");
    // Not an ARN on open: a usage error that points at inspect.
    let o = env.run(&["open", "--kms-key", "alias/backup", "c"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("inspect"));
}

#[test]
fn discovery_with_and_without_account_filter() {
    let env = Env::new();
    let arn = create_key();
    env.write("p", &plain());
    assert_eq!(
        code(&env.run(&["seal", "--kms-key", &arn, "-o", "c", "p"])),
        0
    );
    // Review finding W3: discovery without an account filter gives no
    // authenticity, so it must be asked for explicitly, and is warned about.
    env.proxy.reset();
    let o = env.run(&["open", "--discovery", "-o", "q1", "c"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--discovery-any-account"),
        "{}",
        stderr(&o)
    );
    assert_eq!(env.proxy.total(), 0);
    env.no_output_left("q1");
    let o = env.run(&[
        "open",
        "--discovery",
        "--discovery-any-account",
        "-o",
        "q1",
        "c",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: --discovery-any-account"),
        "{}",
        stderr(&o)
    );
    assert_eq!(env.read("q1"), plain());
    let o = env.run(&[
        "open",
        "--discovery",
        "--discovery-account",
        ACCOUNT,
        "-o",
        "q2",
        "c",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    env.proxy.reset();
    let o = env.run(&[
        "open",
        "--discovery",
        "--discovery-account",
        "999999999999",
        "-o",
        "q3",
        "c",
    ]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert_eq!(
        env.proxy.total(),
        0,
        "keys of other accounts are never sent to KMS"
    );
    env.no_output_left("q3");
    let o = env.run(&["open", "--discovery-account", ACCOUNT, "c"]);
    assert_eq!(
        code(&o),
        2,
        "--discovery-account requires --discovery: {}",
        stderr(&o)
    );
}

#[test]
fn tampered_key_id_in_header_exits_3() {
    let env = Env::new();
    let (a, b) = (create_key(), create_key());
    env.write("p", &plain());
    assert_eq!(
        code(&env.run(&["seal", "--kms-key", &a, "--kms-key", &b, "-o", "c", "p"])),
        0
    );
    let mut bytes = env.read("c");
    // Change one character of the second ARN (same length).
    let pos = bytes
        .windows(b.len())
        .position(|w| w == b.as_bytes())
        .expect("ARN in header");
    let last = pos + b.len() - 1;
    bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
    env.write("t", &bytes);
    let o = env.run(&["open", "--kms-key", &a, "-o", "q", "t"]);
    assert_eq!(
        code(&o),
        3,
        "the header tag catches the altered key id: {}",
        stderr(&o)
    );
    env.no_output_left("q");
}

#[test]
fn stopped_server_exits_5_quickly_and_leaves_nothing() {
    let env = Env::new();
    let arn = create_key();
    env.write("p", b"data");
    assert_eq!(
        code(&env.run(&["seal", "--kms-key", &arn, "-o", "c", "p"])),
        0
    );
    // A port with nothing listening: connection refused.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    for args in [
        vec!["seal", "--kms-key", arn.as_str(), "-o", "c2", "p"],
        vec!["open", "--kms-key", arn.as_str(), "-o", "q", "c"],
    ] {
        let start = Instant::now();
        let o = env.cmd(&dead).args(&args).output().expect("spawn");
        let took = start.elapsed();
        assert_eq!(code(&o), 5, "{args:?}: {}", stderr(&o));
        assert!(took < Duration::from_secs(15), "{args:?} took {took:?}");
        assert_eq!(
            stderr(&o).lines().count(),
            1,
            "one-line error: {}",
            stderr(&o)
        );
        env.no_output_left(args[4]);
    }
}

#[test]
fn injected_kms_errors_map_to_exit_codes() {
    let env = Env::new();
    let (a, b) = (create_key(), create_key());
    env.write("p", &plain());
    assert_eq!(
        code(&env.run(&["seal", "--kms-key", &a, "-o", "c", "p"])),
        0
    );
    for code_name in [
        "DisabledException",
        "KMSInvalidStateException",
        "IncorrectKeyException",
        "NotFoundException",
        "AccessDeniedException",
        "InvalidCiphertextException",
    ] {
        env.proxy.reset();
        env.proxy.inject(kms_error("Decrypt", code_name));
        let o = env.run(&["open", "--kms-key", &a, "-o", "q", "c"]);
        assert_eq!(code(&o), 4, "{code_name}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(code_name) && stderr(&o).contains(&a),
            "names code and key: {}",
            stderr(&o)
        );
        env.no_output_left("q");
    }
    // Sealing with a disabled key.
    env.proxy.reset();
    env.proxy
        .inject(kms_error("GenerateDataKey", "DisabledException"));
    let o = env.run(&["seal", "--kms-key", &b, "-o", "c2", "p"]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(stderr(&o).contains("DisabledException"), "{}", stderr(&o));
    env.no_output_left("c2");
    // Throttling that outlasts the retries: exit 5, after exactly 3 attempts.
    env.proxy.reset();
    env.proxy
        .inject(kms_error("Decrypt", "ThrottlingException"));
    let o = env.run(&["open", "--kms-key", &a, "-o", "q", "c"]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert_eq!(
        env.proxy.count("Decrypt"),
        3,
        "standard retries: 3 attempts"
    );
    env.no_output_left("q");
    // Throttled once, then fine: retried transparently.
    env.proxy.reset();
    env.proxy.inject(Fault {
        times: Some(1),
        ..kms_error("Decrypt", "ThrottlingException")
    });
    let o = env.run(&["open", "--kms-key", &a, "-o", "q", "c"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(env.proxy.count("Decrypt"), 2);
}

#[test]
fn first_wrapped_key_refused_second_opens_with_one_successful_decrypt() {
    let env = Env::new();
    let (a, b) = (create_key(), create_key());
    env.write("p", &plain());
    assert_eq!(
        code(&env.run(&["seal", "--kms-key", &a, "--kms-key", &b, "-o", "c", "p"])),
        0
    );
    env.proxy.reset();
    env.proxy.inject(Fault {
        times: Some(1),
        ..kms_error("Decrypt", "DisabledException")
    });
    let o = env.run(&["open", "--kms-key", &a, "--kms-key", &b, "-o", "q", "c"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(env.read("q"), plain());
    assert_eq!(env.proxy.count("Decrypt"), 2, "one refused, one successful");
}

#[test]
fn decrypt_answer_for_another_key_is_refused() {
    let env = Env::new();
    let (a, other) = (create_key(), create_key());
    env.write("p", b"x");
    assert_eq!(
        code(&env.run(&["seal", "--kms-key", &a, "-o", "c", "p"])),
        0
    );
    env.proxy.inject(Fault {
        target: "Decrypt",
        content_type: KMS_JSON,
        status: 200,
        body: format!("{{\"KeyId\":\"{other}\",\"Plaintext\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}}"),
        times: None,
        ..Fault::default()
    });
    let o = env.run(&["open", "--kms-key", &a, "-o", "q", "c"]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(stderr(&o).contains("not the expected"), "{}", stderr(&o));
    env.no_output_left("q");
}

#[test]
fn endpoint_from_aws_endpoint_url_kms_and_region_flag() {
    let env = Env::new();
    let arn = create_key();
    env.write("p", b"svc endpoint");
    // The service-specific variable wins over the general one (which points nowhere).
    let o = env
        .cmd("http://127.0.0.1:9")
        .env("AWS_ENDPOINT_URL_KMS", &env.proxy.url)
        .args(["seal", "--kms-key", &arn, "-o", "c", "p"])
        .output()
        .expect("spawn");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // A key in another region is not found there.
    let id = arn.rsplit('/').next().expect("id");
    let o = env.run(&[
        "seal",
        "--region",
        "eu-west-1",
        "--kms-key",
        id,
        "-o",
        "c2",
        "p",
    ]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(stderr(&o).contains("NotFoundException"), "{}", stderr(&o));
}

#[test]
fn open_without_any_key_is_a_usage_error() {
    let env = Env::new();
    let o = env.run(&["open", "nothing"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let _ = Path::new("unused");
}

#[test]
fn unresponsive_server_times_out_with_exit_5() {
    let env = Env::new();
    env.write("p", b"data");
    // Accepts connections and never answers: the attempt and operation
    // timeouts must end the run in seconds, not minutes.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    let held = Arc::new(Mutex::new(Vec::new()));
    let h = held.clone();
    std::thread::spawn(move || {
        for c in silent.incoming().flatten() {
            h.lock().expect("lock").push(c);
        }
    });
    let arn = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000");
    let start = Instant::now();
    let o = env
        .cmd(&url)
        .args(["seal", "--kms-key", &arn, "-o", "c", "p"])
        .output()
        .expect("spawn");
    let took = start.elapsed();
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(stderr(&o).contains("timed out"), "{}", stderr(&o));
    assert!(took < Duration::from_secs(25), "took {took:?}");
    env.no_output_left("c");
}

#[test]
fn keys_in_two_regions_each_open_alone() {
    let env = Env::new();
    let (east, west) = (create_key_in("us-east-1"), create_key_in("eu-west-1"));
    env.write("p", &plain());
    env.proxy.reset();
    let o = env.run(&[
        "seal",
        "--kms-key",
        &west,
        "--kms-key",
        &east,
        "-o",
        "c",
        "p",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(env.proxy.total(), 2);
    for (arn, out) in [(&east, "qe"), (&west, "qw")] {
        let o = env.run(&["open", "--kms-key", arn, "-o", out, "c"]);
        assert_eq!(code(&o), 0, "{arn}: {}", stderr(&o));
        assert_eq!(env.read(out), plain());
    }
}

#[test]
fn profile_flag_selects_region_from_aws_config_file() {
    let env = Env::new();
    let west = create_key_in("eu-west-1");
    let key_id = west.rsplit('/').next().expect("id").to_owned();
    env.write("p", b"profile");
    env.write("aws-config", b"[profile backup]\nregion = eu-west-1\n");
    // A bare key id resolves in the profile's region (the environment says us-east-1).
    let o = env
        .cmd(&env.proxy.url)
        .env("AWS_CONFIG_FILE", env.p("aws-config"))
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .args([
            "seal",
            "--profile",
            "backup",
            "--kms-key",
            &key_id,
            "-o",
            "c",
            "p",
        ])
        .output()
        .expect("spawn");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        inspect_keys(&env, "c"),
        vec![("aws-kms".to_owned(), west.clone())]
    );
    // --region overrides it.
    let o = env
        .cmd(&env.proxy.url)
        .env("AWS_CONFIG_FILE", env.p("aws-config"))
        .args([
            "seal",
            "--profile",
            "backup",
            "--region",
            "us-east-1",
            "--kms-key",
            &key_id,
            "-o",
            "c2",
            "p",
        ])
        .output()
        .expect("spawn");
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(stderr(&o).contains("NotFoundException"), "{}", stderr(&o));
}

#[test]
fn rekey_adds_and_removes_kms_keys_without_touching_the_body() {
    let env = Env::new();
    let (a, b) = (create_key(), create_key());
    assert_eq!(code(&env.run(&["keygen", "-o", "local.key"])), 0);
    env.write("p", &plain());
    assert_eq!(
        code(&env.run(&[
            "seal",
            "--key-file",
            "local.key",
            "--context",
            "env=prod",
            "-o",
            "c",
            "p"
        ])),
        0
    );
    // Add a KMS key using the local key to unwrap: exactly one Encrypt, no Decrypt.
    env.proxy.reset();
    let o = env.run(&[
        "rekey",
        "--key-file",
        "local.key",
        "--add-kms-key",
        &a,
        "-o",
        "r1",
        "c",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!((env.proxy.count("Encrypt"), env.proxy.total()), (1, 1));
    let o = env.run(&[
        "open",
        "--kms-key",
        &a,
        "--context",
        "env=prod",
        "-o",
        "q1",
        "r1",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(env.read("q1"), plain());
    // Unwrap with KMS, add a second KMS key, drop the local key.
    let local_id = inspect_keys(&env, "r1")
        .into_iter()
        .find(|(p, _)| p == "local")
        .expect("local")
        .1;
    let o = env.run(&[
        "rekey",
        "--kms-key",
        &a,
        "--add-kms-key",
        &b,
        "--remove-key",
        &local_id,
        "-o",
        "r2",
        "r1",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let keys = inspect_keys(&env, "r2");
    assert_eq!(
        keys,
        vec![
            ("aws-kms".to_owned(), a.clone()),
            ("aws-kms".to_owned(), b.clone())
        ]
    );
    assert_eq!(
        code(&env.run(&["open", "--key-file", "local.key", "-o", "x", "r2"])),
        4
    );
    let o = env.run(&["open", "--kms-key", &b, "-o", "q2", "r2"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(env.read("q2"), plain());
    // Bodies are byte-identical throughout.
    let body = |name: &str| {
        let bytes = env.read(name);
        let h = envstream::Header::parse(&bytes).expect("header").1;
        bytes[h..].to_vec()
    };
    assert_eq!(body("c"), body("r1"));
    assert_eq!(body("c"), body("r2"));
    // A KMS failure while adding leaves no output.
    env.proxy.inject(kms_error("Encrypt", "DisabledException"));
    let o = env.run(&[
        "rekey",
        "--kms-key",
        &a,
        "--add-kms-key",
        &b,
        "-o",
        "r3",
        "r2",
    ]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    env.no_output_left("r3");
}

#[test]
fn server_dying_before_decrypt_exits_5() {
    let env = Env::new();
    let arn = create_key();
    env.write("p", &plain());
    assert_eq!(
        code(&env.run(&["seal", "--kms-key", &arn, "-o", "c", "p"])),
        0
    );
    // The connection is accepted, then closed with no answer, on every attempt.
    env.proxy.inject(Fault {
        target: "Decrypt",
        content_type: KMS_JSON,
        status: 0,
        body: String::new(),
        times: None,
        ..Fault::default()
    });
    let start = Instant::now();
    let o = env.run(&["open", "--kms-key", &arn, "-o", "q", "c"]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(start.elapsed() < Duration::from_secs(25));
    assert!(
        stderr(&o).contains("Decrypt") && stderr(&o).contains(&arn),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    env.no_output_left("q");
}

// ---- Issue 10: setup mistakes, non-KMS answers, empty keys, duplicates ----

#[test]
fn item05_setup_mistakes_exit_2_naming_the_missing_setting() {
    let env = Env::new();
    env.write("p", b"x");
    // No region, for an alias (which carries none).
    let o = env
        .cmd(&env.proxy.url)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .args(["seal", "--kms-key", "alias/x", "-o", "c", "p"])
        .output()
        .expect("spawn");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no AWS region") && stderr(&o).contains("AWS_REGION"),
        "{}",
        stderr(&o)
    );
    // No credentials anywhere.
    let o = env
        .cmd(&env.proxy.url)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["seal", "--kms-key", "alias/x", "-o", "c", "p"])
        .output()
        .expect("spawn");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert_eq!(
        stderr(&o).lines().count(),
        1,
        "one line, not six: {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("no AWS credentials"), "{}", stderr(&o));
    // A missing profile, by flag and by AWS_PROFILE.
    for how in ["flag", "env"] {
        let mut c = env.cmd(&env.proxy.url);
        c.args(["seal", "--kms-key", "alias/x", "-o", "c", "p"]);
        if how == "flag" {
            c.args(["--profile", "nosuch"]);
        } else {
            c.env("AWS_PROFILE", "nosuch");
        }
        let o = c.output().expect("spawn");
        assert_eq!(code(&o), 2, "{how}: {}", stderr(&o));
        assert!(stderr(&o).contains("profile \"nosuch\""), "{}", stderr(&o));
    }
    assert_eq!(env.proxy.total(), 0, "no request was sent");
    env.no_output_left("c");
}

#[test]
fn item06_nonexistent_profile_fails_even_with_credentials_in_the_environment() {
    let env = Env::new();
    let arn = create_key();
    env.write("p", b"x");
    let o = env.run(&[
        "seal",
        "--kms-key",
        &arn,
        "--profile",
        "nosuch",
        "-o",
        "c",
        "p",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("nosuch"), "{}", stderr(&o));
    env.no_output_left("c");
    // A profile that exists is accepted.
    env.write("no-aws-config", b"[profile backup]\nregion = us-east-1\n");
    let o = env.run(&[
        "seal",
        "--kms-key",
        &arn,
        "--profile",
        "backup",
        "-o",
        "c",
        "p",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn item07_non_kms_http_answers_show_the_status_and_endpoint() {
    let env = Env::new();
    let arn = create_key();
    env.write("p", b"x");
    for (status, exit) in [(404, 2), (403, 2), (502, 5), (503, 5)] {
        env.proxy.reset();
        env.proxy.inject(http_page("GenerateDataKey", status));
        let o = env.run(&["seal", "--kms-key", &arn, "-o", "c", "p"]);
        assert_eq!(code(&o), exit, "HTTP {status}: {}", stderr(&o));
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains(&format!("HTTP {status}")), "{e}");
        assert!(e.contains(&env.proxy.url), "names the endpoint: {e}");
        assert!(!e.contains("UnknownError"), "{e}");
        env.no_output_left("c");
    }
}

#[test]
fn item08_empty_kms_key_is_a_usage_error_before_any_request() {
    let env = Env::new();
    env.write("p", b"x");
    for args in [
        vec!["seal", "--kms-key", "", "-o", "c", "p"],
        vec!["seal", "--kms-key", "  ", "-o", "c", "p"],
        vec!["open", "--kms-key", "", "-o", "c", "p"],
        vec![
            "rekey",
            "--key-file",
            "k",
            "--add-kms-key",
            "",
            "-o",
            "c",
            "p",
        ],
    ] {
        let o = env.run(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    assert_eq!(env.proxy.total(), 0);
    env.no_output_left("c");
}

#[test]
fn item10_duplicate_kms_keys_and_alias_with_its_arn_take_one_slot() {
    let env = Env::new();
    let arn = create_key();
    // Unique per run: the same moto may serve several test runs.
    let alias = format!("alias/dup-{}", arn.rsplit('/').next().expect("key id"));
    create_alias(&alias, &arn);
    env.write("p", &plain());
    for args in [
        vec!["--kms-key", arn.as_str(), "--kms-key", arn.as_str()],
        vec!["--kms-key", alias.as_str(), "--kms-key", arn.as_str()],
    ] {
        let mut all = vec!["seal"];
        all.extend(&args);
        all.extend(["-o", "c", "--force", "p"]);
        let o = env.run(&all);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(
            stderr(&o).contains("once"),
            "the merge is noted: {}",
            stderr(&o)
        );
        if args[1] != args[3] {
            // An alias and its ARN: merged by the library, in good grammar.
            assert!(
                stderr(&o).contains("2 keys were named but only 1 is distinct"),
                "{}",
                stderr(&o)
            );
        }
        assert_eq!(
            inspect_keys(&env, "c"),
            vec![("aws-kms".to_owned(), arn.clone())]
        );
    }
    // rekey adding the key the file already has (by its alias): the key is
    // noted as already there, and a rekey that changes nothing is refused
    // (exit 2, no output), so an operator never believes a rotation
    // happened that did not.
    let o = env.run(&[
        "rekey",
        "--kms-key",
        &arn,
        "--add-kms-key",
        &alias,
        "-o",
        "r",
        "c",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("aws-kms/{arn} already wraps the data key")),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("nothing to change"), "{}", stderr(&o));
    assert!(!env.dir.path().join("r").exists());
    // With a real change beside it, the rekey runs and says which key was
    // already there.
    assert_eq!(code(&env.run(&["keygen", "-o", "extra.key"])), 0);
    let o = env.run(&[
        "rekey",
        "--kms-key",
        &arn,
        "--add-kms-key",
        &arn,
        "--add-key-file",
        "extra.key",
        "-o",
        "r",
        "c",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("already wraps the data key"),
        "{}",
        stderr(&o)
    );
    assert_eq!(inspect_keys(&env, "r").len(), 2);
    let o = env.run(&["open", "--kms-key", &arn, "r"]);
    assert_eq!(o.stdout, plain());
}

#[test]
fn item11_envstream_key_file_is_added_to_kms_keys_and_announced() {
    let env = Env::new();
    let arn = create_key();
    assert_eq!(code(&env.run(&["keygen", "-o", "bg.key"])), 0);
    env.write("p", &plain());
    let o = env
        .cmd(&env.proxy.url)
        .env("ENVSTREAM_KEY_FILE", "bg.key")
        .args(["seal", "--kms-key", &arn, "-o", "c", "p"])
        .output()
        .expect("spawn");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("also using key file bg.key from ENVSTREAM_KEY_FILE"),
        "{}",
        stderr(&o)
    );
    let providers: Vec<String> = inspect_keys(&env, "c")
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(providers, vec!["aws-kms", "local"]);
    // The break-glass key opens it with the KMS endpoint unreachable.
    let o = env
        .cmd("http://127.0.0.1:9")
        .args(["open", "--key-file", "bg.key", "-o", "q", "c"])
        .output()
        .expect("spawn");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn item13_kms_errors_are_printed_once_on_one_line() {
    let env = Env::new();
    let arn = create_key();
    env.write("p", b"x");
    env.proxy
        .inject(kms_error("GenerateDataKey", "AccessDeniedException"));
    let o = env.run(&["seal", "--kms-key", &arn, "-o", "c", "p"]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert_eq!(
        e.matches("AccessDeniedException").count(),
        1,
        "printed once: {e}"
    );
    env.no_output_left("c");
}

/// Replaces every occurrence of `from` in `bytes` with `to` (same length).
fn replace_bytes(bytes: &mut [u8], from: &str, to: &str) -> usize {
    assert_eq!(from.len(), to.len());
    let (f, t) = (from.as_bytes(), to.as_bytes());
    let mut n = 0;
    let mut i = 0;
    while i + f.len() <= bytes.len() {
        if &bytes[i..i + f.len()] == f {
            bytes[i..i + f.len()].copy_from_slice(t);
            n += 1;
            i += f.len();
        } else {
            i += 1;
        }
    }
    n
}

/// Review finding W3: in discovery, each record is checked before any
/// call (partition, account, a region that is a region), each distinct
/// key is asked once, and one open stops after MAX_FAILED_UNWRAPS (4)
/// failing calls, however many records a hostile header holds.
#[test]
fn w3_discovery_checks_records_asks_each_key_once_and_caps_its_calls() {
    let env = Env::new();
    let keys: Vec<String> = (0..6).map(|_| create_key()).collect();
    env.write("p", &plain());
    let mut args = vec!["seal".to_owned()];
    for k in &keys {
        args.extend(["--kms-key".to_owned(), k.clone()]);
    }
    args.extend(["-o".into(), "six".into(), "p".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(code(&env.run(&args)), 0);
    let filtered = [
        "open",
        "--discovery",
        "--discovery-account",
        ACCOUNT,
        "-o",
        "q",
    ];
    // Another partition: nothing is sent to KMS.
    env.proxy.reset();
    let mut a = filtered.to_vec();
    a.extend(["--discovery-partition", "aws-cn", "six"]);
    let o = env.run(&a);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert_eq!(
        env.proxy.total(),
        0,
        "keys of another partition are never called"
    );
    // Every key refuses: 4 calls, not 6.
    env.proxy.reset();
    env.proxy
        .inject(kms_error("Decrypt", "AccessDeniedException"));
    let mut a = filtered.to_vec();
    a.push("six");
    let o = env.run(&a);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert_eq!(env.proxy.count("Decrypt"), envstream::MAX_FAILED_UNWRAPS);
    env.no_output_left("q");
    // Two records naming one key (the format allows it): asked once.
    let o = env.run(&[
        "seal",
        "--kms-key",
        &keys[0],
        "--kms-key",
        &keys[1],
        "-o",
        "two",
        "p",
    ]);
    assert_eq!(code(&o), 0);
    let mut two = env.read("two");
    assert_eq!(replace_bytes(&mut two, &keys[1], &keys[0]), 1);
    std::fs::write(env.p("dup"), &two).expect("write");
    env.proxy.reset();
    env.proxy
        .inject(kms_error("Decrypt", "AccessDeniedException"));
    let mut a = filtered.to_vec();
    a.push("dup");
    let o = env.run(&a);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert_eq!(env.proxy.count("Decrypt"), 1, "{}", stderr(&o));
    // A record whose region is not a region is never sent to KMS.
    let one = keys[0].clone();
    let mut bad = Vec::new();
    let o = env.run(&["seal", "--kms-key", &one, "-o", "one", "p"]);
    assert_eq!(code(&o), 0);
    bad.extend_from_slice(&env.read("one"));
    assert_eq!(replace_bytes(&mut bad, "us-east-1", "us_east_1"), 1);
    std::fs::write(env.p("badregion"), &bad).expect("write");
    env.proxy.reset();
    let mut a = filtered.to_vec();
    a.push("badregion");
    let o = env.run(&a);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert_eq!(
        env.proxy.total(),
        0,
        "no call for a region that is not a region"
    );
}
