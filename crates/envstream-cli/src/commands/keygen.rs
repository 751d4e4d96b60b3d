//! `envstream keygen`: a new local key file (mode 0600, never
//! overwritten), or the key on stdout for `-o -`; with `--sign`, an
//! Ed25519 signing key and its public key file beside it (`PATH.pub`).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use envstream::{Backend, LocalKey, LocalSigningKey, Signer};

use crate::error::UsageError;

pub(super) fn run(path: &Path, sign: bool) -> Result<()> {
    crate::s3::local_only(path, "key files are written locally")?;
    if sign {
        return signing_key(path);
    }
    let (key, text) = LocalKey::generate(Backend::default())?;
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .context("cannot write the key to stdout")?;
        eprintln!("envstream: wrote key {} to stdout", key.key_id());
        return Ok(());
    }
    write_new(path, text.as_bytes(), 0o600)?;
    eprintln!(
        "envstream: wrote key {} to {}",
        key.key_id(),
        path.display()
    );
    Ok(())
}

/// `keygen --sign`: the signing key (0600) and its public key (`.pub`,
/// 0644), both new files; if either cannot be written, neither is left.
fn signing_key(path: &Path) -> Result<()> {
    let mut public = path.as_os_str().to_owned();
    public.push(".pub");
    let public = std::path::PathBuf::from(public);
    if public.exists() {
        return Err(exists(&public));
    }
    let (key, text) = LocalSigningKey::generate(Backend::default())?;
    write_new(path, text.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&public, key.public_file_text().as_bytes(), 0o644) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    let signer = key.signer_key();
    eprintln!(
        "envstream: wrote an ed25519 signing key to {} and its public key to {}; fingerprint {}",
        path.display(),
        public.display(),
        signer.fingerprint()
    );
    println!("{}", signer.fingerprint());
    Ok(())
}

fn exists(path: &Path) -> anyhow::Error {
    UsageError(format!(
        "{} already exists; keygen never overwrites a key file, choose another path",
        path.display()
    ))
    .into()
}

/// Writes a new file (never an existing one) with `mode`, synced; a
/// failed write removes it.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists(path)),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot create key file {}", path.display()))
        }
    };
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(path);
        return Err(e).with_context(|| format!("cannot write key file {}", path.display()));
    }
    Ok(())
}
