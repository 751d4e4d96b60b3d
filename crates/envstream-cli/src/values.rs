//! Typed values for clap: each flag's text is parsed (and its limits
//! checked) when the arguments are parsed, so a bad value is a usage
//! error before any work, and `--help` shows one place to look.

use envstream::format::{MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};

/// A byte count: `65536`, `64K`, `64KiB`, `1M`, `2G`, `1T` (binary
/// units; `KiB`, `MiB`, `GiB`, `TiB` also accepted).
fn bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let units: [(&[&str], u64); 4] = [
        (&["KiB", "K", "k"], 1 << 10),
        (&["MiB", "M", "m"], 1 << 20),
        (&["GiB", "G", "g"], 1 << 30),
        (&["TiB", "T", "t"], 1 << 40),
    ];
    let (num, mult) = units
        .iter()
        .find_map(|(suffixes, m)| {
            suffixes
                .iter()
                .find_map(|suf| t.strip_suffix(suf))
                .map(|n| (n, *m))
        })
        .unwrap_or((t, 1));
    let bad = || format!("{s:?} is not a size such as 65536, 64K, 8M or 2T");
    let n: u64 = num.trim().parse().map_err(|_| bad())?;
    n.checked_mul(mult).ok_or_else(bad)
}

/// `--chunk-size`: from 4 KiB to 16 MiB, as the library checks it.
pub(crate) fn chunk_size(s: &str) -> Result<u32, String> {
    let v = bytes(s)?;
    let out_of_range = || {
        format!(
            "chunk size {v} is out of range: it must be between {MIN_CHUNK_SIZE} (4K) and {MAX_CHUNK_SIZE} (16M) bytes"
        )
    };
    let v = u32::try_from(v).map_err(|_| out_of_range())?;
    envstream::SealOptions::new()
        .chunk_size(v)
        .map(|_| v)
        .map_err(|_| out_of_range())
}

/// `--expected-size`: the plaintext size, up to what one S3 object holds.
pub(crate) fn expected_size(s: &str) -> Result<u64, String> {
    let v = bytes(s)?;
    if v > envstream_s3::MAX_OBJECT_SIZE {
        return Err(format!(
            "{v} bytes is more than one S3 object holds ({} bytes, 48.8 TiB)",
            envstream_s3::MAX_OBJECT_SIZE
        ));
    }
    Ok(v)
}

/// `--s3-buffer`: 16 MiB to 16 GiB.
pub(crate) fn s3_buffer(s: &str) -> Result<u64, String> {
    let v = bytes(s)?;
    if !(16 << 20..=16 << 30).contains(&v) {
        return Err(format!("{v} bytes is outside 16M..=16G"));
    }
    Ok(v)
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

/// `--region`: a region name (a DNS label such as `us-east-1`, or the
/// name an S3-compatible store uses, such as `garage`).
pub(crate) fn region(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err(
            "--region needs a region name such as us-east-1; it was given an empty value".into(),
        );
    }
    if !envstream_aws::is_region_label(s) {
        let shown: String = s.chars().take(40).collect();
        return Err(format!(
            "{shown:?} is not a region name (letters, digits and hyphens, such as us-east-1)"
        ));
    }
    Ok(s.to_owned())
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
        assert_eq!(expected_size("2T"), Ok(2 << 40));
        assert_eq!(expected_size("3GiB"), Ok(3 << 30));
        assert!(expected_size("49T").is_err(), "above 48.8 TiB");
        assert_eq!(s3_buffer("192M"), Ok(192 << 20));
        assert!(s3_buffer("1M").is_err());
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

/// A signing key: a local key file, or a KMS key by ARN or alias.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SignKey {
    File(std::path::PathBuf),
    Kms(String),
}

/// `--sign-key`: `arn:…` and `alias/…` name KMS keys, anything else a file.
pub(crate) fn sign_key(s: &str) -> Result<SignKey, String> {
    if s.is_empty() {
        return Err("a signing key file or a KMS key ARN or alias is required".into());
    }
    if s.starts_with("arn:") || s.starts_with("alias/") {
        Ok(SignKey::Kms(s.to_owned()))
    } else {
        Ok(SignKey::File(s.into()))
    }
}

/// A `--recipient` / `--add-recipient` value: the recipient string itself
/// or the `.pub` file that holds it.
#[derive(Debug, Clone)]
pub(crate) enum RecipientArg {
    Text(String),
    File(std::path::PathBuf),
}

/// `--recipient`: a string starting `mlkem768x25519:` is checked here (a
/// bad one is a usage error before any work); anything else is a file.
pub(crate) fn recipient(s: &str) -> Result<RecipientArg, String> {
    if s.is_empty() {
        return Err("a recipient (`mlkem768x25519:…`) or its .pub file is required".into());
    }
    if s.starts_with(envstream::RECIPIENT_PREFIX) {
        envstream::PqRecipient::parse(s, envstream::Backend::default()).map_err(|e| match e {
            envstream::Error::Local(envstream::LocalError::InvalidKeyFile(m)) => m,
            other => other.to_string(),
        })?;
        return Ok(RecipientArg::Text(s.to_owned()));
    }
    Ok(RecipientArg::File(s.into()))
}
