//! `s3://BUCKET/KEY` locations.

use std::fmt;

use crate::error::{S3Error, S3ErrorKind};

/// An object location, `s3://BUCKET/KEY`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct S3Url {
    bucket: String,
    key: String,
}

impl S3Url {
    /// Whether `s` is meant as an S3 location (starts with `s3://`).
    pub fn is_s3(s: &str) -> bool {
        s.starts_with("s3://")
    }

    /// Parses `s3://BUCKET/KEY`. The bucket must be a plausible bucket
    /// name (3 to 63 characters of lower-case letters, digits, `.` and
    /// `-`) and the key must not be empty or end in `/`: a sealed stream
    /// is one object, not a prefix.
    pub fn parse(s: &str) -> Result<S3Url, S3Error> {
        let bad = |why: &str| {
            S3Error::new(
                S3ErrorKind::InvalidLocation,
                format!("{s:?} is not a usable S3 location: {why}; write s3://BUCKET/KEY"),
            )
        };
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| bad("it does not start with s3://"))?;
        let (bucket, key) = rest
            .split_once('/')
            .ok_or_else(|| bad("there is no object key"))?;
        if bucket.len() < 3 || bucket.len() > 63 {
            return Err(bad("a bucket name has 3 to 63 characters"));
        }
        if !bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        {
            return Err(bad(
                "a bucket name has only lower-case letters, digits, '.' and '-'",
            ));
        }
        if key.is_empty() {
            return Err(bad("there is no object key"));
        }
        if key.ends_with('/') {
            return Err(bad(
                "the key ends in '/', which names a folder, not an object",
            ));
        }
        if key.len() > 1024 {
            return Err(bad("an object key has at most 1024 bytes"));
        }
        Ok(S3Url {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// `bucket/key` with the key percent-encoded, as `x-amz-copy-source` wants it.
    pub(crate) fn copy_source(&self) -> String {
        let mut s = String::with_capacity(self.bucket.len() + self.key.len() + 1);
        s.push_str(&self.bucket);
        s.push('/');
        for b in self.key.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                s.push(char::from(b));
            } else {
                s.push_str(&format!("%{b:02X}"));
            }
        }
        s
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let u = S3Url::parse("s3://my-bucket/backups/2026/b.envs").expect("valid");
        assert_eq!(u.bucket(), "my-bucket");
        assert_eq!(u.key(), "backups/2026/b.envs");
        assert_eq!(u.to_string(), "s3://my-bucket/backups/2026/b.envs");
        for bad in [
            "s3://",
            "s3://bucket",
            "s3://bucket/",
            "s3://bucket/dir/",
            "s3://ab/k",
            "s3://Upper/k",
            "s3:/bucket/k",
        ] {
            let e = S3Url::parse(bad).expect_err(bad);
            assert_eq!(e.kind(), S3ErrorKind::InvalidLocation, "{bad}");
            assert!(e.to_string().contains("s3://BUCKET/KEY"), "{e}");
        }
    }

    #[test]
    fn copy_source_is_percent_encoded() {
        let u = S3Url::parse("s3://bkt/a b/c+d.envs").expect("valid");
        assert_eq!(u.copy_source(), "bkt/a%20b/c%2Bd.envs");
    }
}
