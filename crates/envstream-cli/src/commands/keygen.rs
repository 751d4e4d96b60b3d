//! `envstream keygen`: a new local key file (mode 0600, never
//! overwritten), or the key on stdout for `-o -`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use envstream::{Backend, LocalKey};

use crate::error::UsageError;

pub(super) fn run(path: &Path) -> Result<()> {
    crate::s3::local_only(path, "key files are written locally")?;
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
