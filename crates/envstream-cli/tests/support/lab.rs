//! A scratch directory and a counting proxy in front of moto, with the
//! binary run in it (or in a folder of it) against the proxy: what the
//! end-to-end test files over moto share.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::proxy::{any_op, Proxy};
use super::{aws_cmd, code, stderr};

pub struct Lab {
    pub dir: tempfile::TempDir,
    pub proxy: Proxy,
}

impl Lab {
    /// A new scratch directory and a proxy counting every KMS and S3 call.
    pub fn new() -> Lab {
        Lab {
            dir: tempfile::tempdir().expect("tempdir"),
            proxy: Proxy::start_with(any_op),
        }
    }

    /// A path in the scratch directory.
    pub fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary in folder `sub` of the scratch directory (`""`: the
    /// directory itself), talking to AWS through the proxy.
    pub fn cmd_in(&self, sub: &str) -> Command {
        let mut c = aws_cmd(&self.p(sub));
        c.env("AWS_ENDPOINT_URL", &self.proxy.url);
        c
    }

    pub fn cmd(&self) -> Command {
        self.cmd_in("")
    }

    pub fn run_in(&self, sub: &str, args: &[&str]) -> Output {
        self.cmd_in(sub).args(args).output().expect("spawn")
    }

    /// Runs and requires exit 0.
    pub fn ok_in(&self, sub: &str, args: &[&str]) -> Output {
        let o = self.run_in(sub, args);
        assert_eq!(code(&o), 0, "{sub}: {args:?}: {}", stderr(&o));
        o
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_in("", args)
    }

    pub fn ok(&self, args: &[&str]) -> Output {
        self.ok_in("", args)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.p(name), bytes).expect("write");
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.p(name)).expect("read")
    }

    pub fn json(&self, name: &str) -> serde_json::Value {
        serde_json::from_slice(&self.read(name)).expect("json")
    }
}
