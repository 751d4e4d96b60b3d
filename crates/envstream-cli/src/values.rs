//! Typed values for clap: each flag's text is parsed (and its limits
//! checked) when the arguments are parsed, so a bad value is a usage
//! error before any work, and `--help` shows one place to look.

use envstream::format::{MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};

/// `--chunk-size`: `65536`, `64K`, `64KiB`, `1M`, `1MiB` (binary units),
/// from 4 KiB to 16 MiB.
pub(crate) fn chunk_size(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t
        .strip_suffix("KiB")
        .or_else(|| t.strip_suffix('K'))
        .or_else(|| t.strip_suffix('k'))
    {
        (n, 1024u64)
    } else if let Some(n) = t
        .strip_suffix("MiB")
        .or_else(|| t.strip_suffix('M'))
        .or_else(|| t.strip_suffix('m'))
    {
        (n, 1024 * 1024)
    } else {
        (t, 1)
    };
    let bad = || format!("{s:?} is not a size such as 65536, 64K or 1M");
    let n: u64 = num.trim().parse().map_err(|_| bad())?;
    let v = n.checked_mul(mult).ok_or_else(bad)?;
    u32::try_from(v)
        .ok()
        .filter(|v| (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(v))
        .ok_or_else(|| {
            format!(
                "chunk size {v} is out of range: it must be between {MIN_CHUNK_SIZE} (4K) and {MAX_CHUNK_SIZE} (16M) bytes"
            )
        })
}

/// A plaintext byte range: `START..END` (END exclusive), `START..` or `..END`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ByteRange {
    pub(crate) start: u64,
    pub(crate) end: Option<u64>,
}

/// `--range`.
pub(crate) fn range(s: &str) -> Result<ByteRange, String> {
    let bad = || format!("{s:?} must look like START..END, START.. or ..END (byte offsets)");
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let start = if a.trim().is_empty() {
        0
    } else {
        a.trim().parse::<u64>().map_err(|_| bad())?
    };
    let end = if b.trim().is_empty() {
        None
    } else {
        Some(b.trim().parse::<u64>().map_err(|_| bad())?)
    };
    if end.is_some_and(|e| e < start) {
        return Err(format!("{s:?}: END is before START"));
    }
    Ok(ByteRange { start, end })
}

/// `--context K=V`: a non-empty key, any value.
pub(crate) fn context_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!(
            "{s:?} must have the form KEY=VALUE with a non-empty KEY"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(chunk_size("65536"), Ok(65536));
        assert_eq!(chunk_size("64K"), Ok(65536));
        assert_eq!(chunk_size("64KiB"), Ok(65536));
        assert_eq!(chunk_size("16M"), Ok(16 << 20));
        assert!(chunk_size("abc").is_err());
        assert!(chunk_size("99999999M").is_err());
        assert!(chunk_size("1K").is_err(), "below 4 KiB");
        assert!(chunk_size("17M").is_err(), "above 16 MiB");
    }

    #[test]
    fn ranges_and_pairs() {
        assert_eq!(
            range("5..9"),
            Ok(ByteRange {
                start: 5,
                end: Some(9)
            })
        );
        assert_eq!(
            range("5.."),
            Ok(ByteRange {
                start: 5,
                end: None
            })
        );
        assert_eq!(
            range("..9"),
            Ok(ByteRange {
                start: 0,
                end: Some(9)
            })
        );
        assert!(range("9..5").is_err());
        assert!(range("x").is_err());
        assert_eq!(context_pair("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(context_pair("=b").is_err());
        assert!(context_pair("ab").is_err());
    }
}
