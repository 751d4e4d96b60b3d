//! What the key files share (local key files, signing key files and
//! public key files, identity and recipient files): a bounded read of the
//! text, the lines that are not blank or comments, and hex.

use std::fmt::Write as _;
use std::path::Path;

use zeroize::Zeroizing;

use crate::crypto::KEY_LEN;

/// Largest key file accepted, so a wrong path cannot make us read a huge
/// file.
pub(super) const MAX_KEY_FILE_LEN: u64 = 16 * 1024;

/// Why a key file could not be read; each caller words its own message.
pub(super) enum ReadError {
    /// The file did not open.
    Open(std::io::Error),
    /// It opened but did not read (not UTF-8, or an I/O error).
    Read(std::io::Error),
    /// It is larger than [`MAX_KEY_FILE_LEN`].
    TooLarge,
}

/// Reads a key file's text, at most [`MAX_KEY_FILE_LEN`] bytes, into a
/// zeroizing string.
pub(super) fn read_key_file(path: &Path) -> Result<Zeroizing<String>, ReadError> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(ReadError::Open)?;
    let mut text = Zeroizing::new(String::new());
    f.take(MAX_KEY_FILE_LEN + 1)
        .read_to_string(&mut text)
        .map_err(ReadError::Read)?;
    if text.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(ReadError::TooLarge);
    }
    Ok(text)
}

/// The lines of a key file that are neither blank nor `#` comments,
/// trimmed (FORMAT.md section 11.1).
pub(super) fn content_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Lowercase hex.
pub(super) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Exactly 64 lowercase hex digits as 32 bytes.
pub(super) fn unhex(s: &str) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    let b = s.as_bytes();
    if b.len() != KEY_LEN * 2 {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    for (i, pair) in b.chunks(2).enumerate() {
        out[i] = (nib(pair[0])? << 4) | nib(pair[1])?;
    }
    Some(out)
}
