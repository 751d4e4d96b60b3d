//! Issue 10, item 9: the exit-code table in the README, in `--help` and in
//! the man page is one table, and every row of it is exercised here by a
//! command that exits with that code.

mod support;

use support::*;

use std::path::Path;

/// `(code, meaning)` rows of the README's "Exit codes" table.
fn readme_table() -> Vec<(i32, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let start = readme
        .find("### Exit codes")
        .expect("README has an exit-code table");
    readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            let code = cells.first()?.parse().ok()?;
            Some((code, cells.get(1)?.to_string()))
        })
        .collect()
}

/// `(code, meaning)` rows of `envstream --help`.
fn help_table(dir: &Path) -> Vec<(i32, String)> {
    let help = stdout(&run(dir, &["--help"]));
    let start = help
        .find("Exit codes:")
        .expect("--help lists the exit codes");
    help[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let (code, meaning) = l.trim().split_once("  ")?;
            Some((code.parse().ok()?, meaning.trim().to_owned()))
        })
        .collect()
}

#[test]
fn item09_readme_help_and_man_page_show_the_same_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let readme = readme_table();
    let help = help_table(dir.path());
    assert_eq!(readme.len(), 6, "codes 0 to 5: {readme:?}");
    // The README escapes the pipe-free text as it is; compare the words.
    let norm = |s: &str| s.replace('`', "");
    for ((a, ma), (b, mb)) in readme.iter().zip(&help) {
        assert_eq!(a, b);
        assert_eq!(norm(ma), norm(mb), "row {a}");
    }
    let man = stdout(&run(dir.path(), &["man"]));
    for (code, meaning) in &help {
        let roff = meaning.replace('-', "\\-");
        assert!(
            man.contains(&format!(".TP\n\\fB{code}\\fR\n{roff}")),
            "man row {code}"
        );
    }
}

#[test]
fn item09_every_row_of_the_exit_code_table_is_exercised() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut seen = std::collections::BTreeSet::new();
    let mut expect = |want: i32, o: std::process::Output, what: &str| {
        assert_eq!(code(&o), want, "{what}: {}", stderr(&o));
        if want != 0 {
            let e = stderr(&o);
            assert_eq!(e.lines().count(), 1, "{what}: one line: {e:?}");
        }
        seen.insert(want);
    };
    expect(0, run(d, &["keygen", "-o", "k.key"]), "keygen");
    expect(0, run(d, &["keygen", "-o", "other.key"]), "keygen");
    std::fs::write(d.join("p"), vec![7u8; 100_000]).expect("write");
    expect(
        0,
        run(d, &["seal", "--key-file", "k.key", "-o", "c", "p"]),
        "seal",
    );
    // 1: unreadable input; a report that cannot be written.
    expect(
        1,
        run(d, &["seal", "--key-file", "k.key", "-o", "x", "missing"]),
        "missing input",
    );
    expect(
        1,
        run(
            d,
            &["verify", "--key-file", "k.key", "--report", "nodir/r", "c"],
        ),
        "report dir",
    );
    // 2: bad flags; output exists without --force; no key.
    expect(2, run(d, &["seal", "--no-such-flag"]), "bad flag");
    expect(
        2,
        run(d, &["seal", "--key-file", "k.key", "-o", "c", "p"]),
        "output exists",
    );
    expect(2, run(d, &["open", "c"]), "no key");
    // 3: tampered chunk; not an envstream file.
    let mut c = std::fs::read(d.join("c")).expect("c");
    let n = c.len();
    c[n - 100] ^= 1;
    std::fs::write(d.join("bad"), &c).expect("write");
    expect(
        3,
        run(d, &["open", "--key-file", "k.key", "-o", "y", "bad"]),
        "tampered",
    );
    expect(3, run(d, &["inspect", "p"]), "not envstream");
    // 4: the wrong key; a context mismatch.
    expect(
        4,
        run(d, &["open", "--key-file", "other.key", "-o", "y", "c"]),
        "wrong key",
    );
    expect(
        4,
        run(
            d,
            &[
                "open",
                "--key-file",
                "k.key",
                "--context",
                "a=b",
                "-o",
                "y",
                "c",
            ],
        ),
        "context",
    );
    // 5: a KMS endpoint that refuses connections (nothing listens on port 1).
    let o = cmd(d)
        .args([
            "seal",
            "--kms-key",
            "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
            "-o",
            "z",
            "p",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_CONFIG_FILE", d.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", d.join("none"))
        .env_remove("AWS_PROFILE")
        .output()
        .expect("spawn");
    expect(5, o, "KMS unreachable");
    assert!(!d.join("z").exists() && !d.join("y").exists() && !d.join("x").exists());
    let table: std::collections::BTreeSet<i32> =
        readme_table().into_iter().map(|(c, _)| c).collect();
    assert_eq!(seen, table, "every row was exercised");
}
