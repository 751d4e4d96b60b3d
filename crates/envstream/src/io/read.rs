//! Blocking reads shared by the readers: whole buffers, and the header.

use std::io::{self, Read};

use crate::error::Error;
use crate::format::{Header, HeaderReader};

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
/// at the first chunk (the steps are `HeaderReader`'s).
pub(crate) fn read_header<R: Read>(inner: &mut R) -> Result<Header, Error> {
    let mut reader = HeaderReader::new();
    loop {
        let n = read_full(inner, reader.want())?;
        if let Some(header) = reader.got(n)? {
            return Ok(header);
        }
    }
}
