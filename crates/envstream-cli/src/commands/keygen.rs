//! `envstream keygen`: a new local key file (mode 0600, never
//! overwritten), or the key on stdout for `-o -`; with `--sign`, an
//! Ed25519 signing key and its public key file beside it (`PATH.pub`);
//! with `--recipient`, an identity and its recipient (`PATH.pub`).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use envstream::{Backend, LocalKey, LocalSigningKey, PqIdentity, Signer};

use crate::error::UsageError;
use crate::plan::KeygenKind;

pub(super) fn run(path: &Path, kind: KeygenKind) -> Result<()> {
    crate::s3::local_only(path, "key files are written locally")?;
    match kind {
        KeygenKind::Sign => return signing_key(path),
        KeygenKind::Recipient => return identity(path),
        KeygenKind::Local => {}
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

/// `PATH.pub`, which must not exist yet.
fn public_path(path: &Path) -> Result<std::path::PathBuf> {
    let mut public = path.as_os_str().to_owned();
    public.push(".pub");
    let public = std::path::PathBuf::from(public);
    if public.exists() {
        return Err(exists(&public));
    }
    Ok(public)
}

/// Writes a secret (0600) and its public half (`.pub`, 0644), both new
/// files; if either cannot be written, neither is left.
fn write_pair(path: &Path, secret: &[u8], public_path: &Path, public: &[u8]) -> Result<()> {
    write_new(path, secret, 0o600)?;
    if let Err(e) = write_new(public_path, public, 0o644) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}

/// `keygen --recipient`: an identity (secret) and its recipient (public,
/// one line); prints the key id.
fn identity(path: &Path) -> Result<()> {
    let public = public_path(path)?;
    let (id, text) = PqIdentity::generate(Backend::default())?;
    let line = format!("{}\n", id.recipient().to_text());
    write_pair(path, text.as_bytes(), &public, line.as_bytes())?;
    eprintln!(
        "envstream: wrote an identity (ML-KEM-768 + X25519) to {} and its recipient to {}; key id {}. Seal with `--recipient {}`; keep {} off the hosts that only seal",
        path.display(),
        public.display(),
        id.key_id(),
        public.display(),
        path.display()
    );
    println!("{}", id.key_id());
    Ok(())
}

/// `keygen --sign`: the signing key (0600) and its public key (`.pub`,
/// 0644), both new files; if either cannot be written, neither is left.
fn signing_key(path: &Path) -> Result<()> {
    let public = public_path(path)?;
    let (key, text) = LocalSigningKey::generate(Backend::default())?;
    write_pair(
        path,
        text.as_bytes(),
        &public,
        key.public_file_text().as_bytes(),
    )?;
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
