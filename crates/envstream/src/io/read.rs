//! Blocking reads shared by the readers: whole buffers, and the header.

use std::io::{self, Read};

use crate::error::Error;
use crate::format::{header_buffer, header_from_buffer, Header, PREFIX_LEN};

/// Reads exactly `buf.len()` bytes unless EOF comes first; returns the count.
pub(crate) fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads and parses a header from the start of `inner`, leaving `inner`
/// at the first chunk. The fixed prefix is validated (magic, version,
/// suite, chunk size, header length) before anything sized by the input
/// is allocated.
pub(crate) fn read_header<R: Read>(inner: &mut R) -> Result<Header, Error> {
    let mut prefix = [0u8; PREFIX_LEN];
    let n = read_full(inner, &mut prefix)?;
    let mut bytes = header_buffer(&prefix, n)?;
    let m = read_full(inner, &mut bytes[PREFIX_LEN..])?;
    header_from_buffer(&bytes, m)
}
