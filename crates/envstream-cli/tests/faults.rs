//! Fault injection through the real binary: full devices and filesystems,
//! signals, early-closing readers, slow writers, hostile files, concurrency.

mod support;

use support::*;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 11 + i / 5) as u8).collect()
}

fn setup(plain: &[u8]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    assert_eq!(code(&run(d.path(), &["keygen", "-o", "k.key"])), 0);
    std::fs::write(d.path().join("p"), plain).expect("write");
    assert_eq!(
        code(&run(
            d.path(),
            &["seal", "--key-file", "k.key", "-o", "c", "p"]
        )),
        0
    );
    d
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("readdir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("envstream-partial"))
        .collect()
}

#[test]
fn writing_to_dev_full_is_a_clear_exit_1() {
    let d = setup(&data(300_000));
    for args in [
        ["seal", "--key-file", "k.key", "-o", "/dev/full", "p"],
        ["open", "--key-file", "k.key", "-o", "/dev/full", "c"],
    ] {
        let o = run(d.path(), &args);
        assert_eq!(code(&o), 1, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("No space left on device"),
            "{}",
            stderr(&o)
        );
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    // Through stdout as well.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let o = cmd(d.path())
        .args(["open", "--key-file", "k.key", "c"])
        .stdout(full)
        .output()
        .expect("spawn");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
}

/// A small tmpfs mounted for the test, unmounted on drop.
struct SmallFs(PathBuf);

impl SmallFs {
    fn mount(size: &str) -> SmallFs {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount(8) is needed for this test");
        assert!(
            st.success(),
            "mounting a tmpfs failed: this test needs root (CI and the dev machines run as root)"
        );
        SmallFs(dir)
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn full_filesystem_leaves_no_output_or_temporary_file() {
    let d = setup(&data(3_000_000));
    let fs = SmallFs::mount("1m");
    for (args, name) in [
        (["seal", "--key-file", "k.key", "p"], "sealed"),
        (["open", "--key-file", "k.key", "c"], "opened"),
    ] {
        let out = fs.0.join(name);
        let o = cmd(d.path())
            .args(args)
            .arg("-o")
            .arg(&out)
            .output()
            .expect("spawn");
        assert_eq!(code(&o), 1, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("No space left on device"),
            "{}",
            stderr(&o)
        );
        assert!(!out.exists(), "{name} left behind");
        assert!(
            leftovers(&fs.0).is_empty(),
            "temporary files left: {:?}",
            leftovers(&fs.0)
        );
    }
}

#[test]
fn signals_remove_the_partial_output() {
    // A slow producer keeps seal busy; the signal arrives mid-stream.
    let d = setup(&data(100_000));
    for (sig, name) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        for op in ["seal", "open"] {
            let mut child = cmd(d.path())
                .args([op, "--key-file", "k.key", "-o", "out"])
                .stdin(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn");
            let mut stdin = child.stdin.take().expect("stdin");
            // Enough for a header and some chunks, then hold the pipe open.
            let first = if op == "seal" {
                data(300_000)
            } else {
                std::fs::read(d.path().join("c")).expect("c")[..50_000].to_vec()
            };
            stdin.write_all(&first).expect("feed");
            let deadline = Instant::now() + Duration::from_secs(10);
            while leftovers(d.path()).is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(
                !leftovers(d.path()).is_empty(),
                "{op}: the temporary file should exist mid-stream"
            );
            let st = Command::new("kill")
                .args([&format!("-{sig}"), &child.id().to_string()])
                .status()
                .expect("kill");
            assert!(st.success());
            let o = child.wait_with_output().expect("wait");
            drop(stdin);
            assert_eq!(o.status.code(), Some(name), "{op} SIG{sig}: {}", stderr(&o));
            assert!(!d.path().join("out").exists(), "{op} SIG{sig}: OUT exists");
            assert!(
                leftovers(d.path()).is_empty(),
                "{op} SIG{sig}: {:?}",
                leftovers(d.path())
            );
        }
    }
}

#[test]
fn slow_upstream_gives_correct_output() {
    let plain = data(400_000);
    let d = setup(&plain);
    let mut child = cmd(d.path())
        .args(["seal", "--key-file", "k.key"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let feed = plain.clone();
    let t = std::thread::spawn(move || {
        for piece in feed.chunks(7_919) {
            stdin.write_all(piece).expect("feed");
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let mut sealed = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut sealed)
        .expect("read");
    t.join().expect("feeder");
    assert!(child.wait().expect("wait").success());
    let mut child = cmd(d.path())
        .args(["open", "--key-file", "k.key"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let t = std::thread::spawn(move || {
        for piece in sealed.chunks(5_003) {
            stdin.write_all(piece).expect("feed");
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let mut opened = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut opened)
        .expect("read");
    t.join().expect("feeder");
    assert!(child.wait().expect("wait").success());
    assert_eq!(opened, plain);
}

#[test]
fn reader_closing_early_is_quiet() {
    let d = setup(&data(5_000_000));
    let o = Command::new("bash")
        .args(["-c", &format!("set -o pipefail; {BIN} open --key-file k.key c | head -c 1 > /dev/null; echo \"rc=${{PIPESTATUS[0]}}\"")])
        .current_dir(d.path())
        .output()
        .expect("bash");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("rc=0"), "{out} {}", stderr(&o));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

#[test]
fn hostile_files_fail_fast_with_exit_3() {
    let d = tempfile::tempdir().expect("tempdir");
    assert_eq!(code(&run(d.path(), &["keygen", "-o", "k.key"])), 0);
    let prefix = |chunk: u32, header_len: u32| {
        let mut v = b"ENVSTRM\0\x01\x00\x01".to_vec();
        v.extend_from_slice(&chunk.to_be_bytes());
        v.extend_from_slice(&header_len.to_be_bytes());
        v
    };
    // A real header claiming 16 MiB chunks, then one body byte.
    let mut big_chunk = {
        let dd = setup(b"x");
        let o = run(
            dd.path(),
            &[
                "seal",
                "--key-file",
                "k.key",
                "--chunk-size",
                "16M",
                "-o",
                "c16",
                "p",
            ],
        );
        assert_eq!(code(&o), 0);
        std::fs::copy(dd.path().join("k.key"), d.path().join("k16.key")).expect("copy");
        let bytes = std::fs::read(dd.path().join("c16")).expect("read");
        let hl = envstream::Header::parse(&bytes).expect("header").1;
        bytes[..hl].to_vec()
    };
    big_chunk.push(0x42);
    // 10^6 wrapped keys cannot even be expressed (the count is one byte): claim 255.
    let mut many_keys = prefix(65536, 200);
    many_keys.extend_from_slice(&[0u8; 32]);
    many_keys.extend_from_slice(&[0, 0, 255]);
    many_keys.resize(200, 0);
    // A context claiming 4 GiB: the header length field is the only u32 that could.
    let mut huge_context = prefix(65536, u32::MAX);
    huge_context.extend_from_slice(&[0xFFu8; 64]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("16 MiB chunk then 1 byte", big_chunk, "k16.key"),
        ("255 wrapped keys", many_keys, "k.key"),
        ("4 GiB header/context", huge_context, "k.key"),
        ("only the magic", b"ENVSTRM\0".to_vec(), "k.key"),
    ];
    for (what, bytes, key) in cases {
        std::fs::write(d.path().join("h"), &bytes).expect("write");
        let start = Instant::now();
        let o = run(d.path(), &["open", "--key-file", key, "-o", "out", "h"]);
        assert_eq!(code(&o), 3, "{what}: {}", stderr(&o));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what} took {:?}",
            start.elapsed()
        );
        assert!(!d.path().join("out").exists());
        let o = run(d.path(), &["inspect", "h"]);
        assert!(matches!(code(&o), 0 | 3), "{what}: inspect {}", stderr(&o));
    }
}

#[test]
fn concurrent_seals_into_one_directory_do_not_clobber() {
    let d = setup(&data(10));
    let n = 16;
    for i in 0..n {
        std::fs::write(d.path().join(format!("in{i}")), data(100_000 + i * 997)).expect("write");
    }
    // Distinct outputs in parallel, plus racers on one shared name without --force.
    let mut children = Vec::new();
    for i in 0..n {
        let c = cmd(d.path())
            .args([
                "seal",
                "--key-file",
                "k.key",
                "-o",
                &format!("out{i}.envs"),
                &format!("in{i}"),
            ])
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        children.push((format!("out{i}"), c));
        let c = cmd(d.path())
            .args([
                "seal",
                "--key-file",
                "k.key",
                "-o",
                "shared.envs",
                &format!("in{i}"),
            ])
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        children.push(("shared".into(), c));
    }
    let mut shared_winners = 0;
    for (name, c) in children {
        let o = c.wait_with_output().expect("wait");
        if name == "shared" {
            if o.status.success() {
                shared_winners += 1;
            } else {
                assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
            }
        } else {
            assert!(o.status.success(), "{name}: {}", stderr(&o));
        }
    }
    assert_eq!(
        shared_winners, 1,
        "exactly one racer creates the shared output"
    );
    for i in 0..n {
        let o = run(
            d.path(),
            &["open", "--key-file", "k.key", &format!("out{i}.envs")],
        );
        assert_eq!(o.stdout, data(100_000 + i * 997), "out{i}");
    }
    let o = run(d.path(), &["open", "--key-file", "k.key", "shared.envs"]);
    assert_eq!(code(&o), 0, "the shared output opens: {}", stderr(&o));
    assert!(leftovers(d.path()).is_empty());
}
