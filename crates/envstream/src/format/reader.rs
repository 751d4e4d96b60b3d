//! Reading a header from a stream, without doing the I/O: the blocking and
//! async openers drive the same steps.

use super::header::Header;
use super::limits::PREFIX_LEN;
use super::prefix::parse_prefix;
use crate::error::{Error, FormatError};

/// Reads a header from a stream without doing any I/O itself, so the
/// blocking and async openers drive the same steps: read what [`want`]
/// asks for (all of it, or up to the end of the input), report it with
/// [`got`], until a header comes back. The fixed prefix is validated
/// (magic, version, suite, chunk size, header length) before anything
/// sized by the input is allocated.
///
/// [`want`]: HeaderReader::want
/// [`got`]: HeaderReader::got
pub(crate) struct HeaderReader {
    bytes: Vec<u8>,
    filled: usize,
    prefix_done: bool,
}

impl HeaderReader {
    pub(crate) fn new() -> Self {
        HeaderReader {
            bytes: vec![0u8; PREFIX_LEN],
            filled: 0,
            prefix_done: false,
        }
    }

    /// Where the next bytes go.
    pub(crate) fn want(&mut self) -> &mut [u8] {
        &mut self.bytes[self.filled..]
    }

    /// Records `n` bytes read into [`want`](Self::want); fewer than asked
    /// means the input ended. Returns the header once it is complete.
    pub(crate) fn got(&mut self, n: usize) -> Result<Option<Header>, Error> {
        self.filled += n;
        let short = self.filled < self.bytes.len();
        if !self.prefix_done {
            if self.filled == 0 {
                return Err(Error::Format(FormatError::Truncated("the input is empty")));
            }
            let p = parse_prefix(&self.bytes[..self.filled])?;
            self.bytes.resize(p.header_len, 0);
            self.prefix_done = true;
            return Ok(None);
        }
        if short {
            return Err(Error::Format(FormatError::Truncated(
                "the input ends inside the header",
            )));
        }
        Header::parse(&self.bytes).map(|(h, _)| Some(h))
    }
}
