//! Whether an object is there, and whether a write really stored what was
//! sent. An answer is never taken on trust: a proxy that answers 200 with
//! an empty body, or an endpoint that answers an HTML page to everything (a
//! captive portal, a wrong URL), must not read as "stored" or "exists".
//!
//! A write counts as stored when its answer carries the ETag S3 gives
//! those bytes (the MD5 of a single object, the MD5 of the part MD5s of a
//! multipart one) or echoes the CRC32 that was sent. On any doubt the
//! object is looked at (HeadObject): it must be there, look like an S3
//! object, and have the size and ETag (or checksum) of what was sent.

use std::time::Duration;

use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::types::{ChecksumMode, CompletedPart};
use md5::{Digest, Md5};

use crate::client::S3Client;
use crate::error::{Op, S3Error, S3ErrorKind};
use crate::url::S3Url;

/// What a HeadObject found.
#[derive(Clone, Debug)]
pub(crate) struct Head {
    /// The ETag, without quotes.
    pub(crate) etag: String,
    pub(crate) len: Option<u64>,
    pub(crate) crc32: Option<String>,
}

/// What a write sent, to compare answers with.
pub(crate) struct Sent<'a> {
    pub(crate) op: Op,
    pub(crate) len: u64,
    /// The ETag S3 gives these bytes, when it can be computed.
    pub(crate) etag: Option<&'a str>,
    /// The CRC32 sent with a single object (a multipart object's checksum
    /// is composite and not compared).
    pub(crate) crc32: Option<&'a str>,
}

fn unquote(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// One HeadObject: `None` when there is no such object. An answer without
/// an ETag, or an HTML page without S3's request id, is not an S3 object
/// ([`S3ErrorKind::NotS3`]).
pub(crate) async fn head(s3: &S3Client, url: &S3Url) -> Result<Option<Head>, S3Error> {
    let name = url.to_string();
    let out = s3
        .call(Op::Head, &name, Duration::ZERO, |c, timeouts| {
            c.head_object()
                .bucket(url.bucket())
                .key(url.key())
                .checksum_mode(ChecksumMode::Enabled)
                .customize()
                .config_override(timeouts)
                .send()
        })
        .await;
    let out = match out {
        Ok(out) => out,
        Err(e) if e.kind() == S3ErrorKind::NoSuchObject => return Ok(None),
        Err(e) => return Err(e),
    };
    let html = out
        .content_type()
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let etag = out.e_tag().map(unquote).filter(|t| !t.is_empty());
    match etag {
        Some(etag) if !html || out.request_id().is_some() => Ok(Some(Head {
            etag: etag.to_owned(),
            len: out.content_length().and_then(|l| u64::try_from(l).ok()),
            crc32: out.checksum_crc32().map(str::to_owned),
        })),
        _ => Err(S3Error::new(
            S3ErrorKind::NotS3,
            format!(
                "S3 HeadObject {url}: {} answered, but not as S3 does ({}); check the endpoint and any proxy",
                s3.endpoint(),
                if etag.is_none() { "no ETag" } else { "an HTML page" }
            ),
        )),
    }
}

/// Fails with [`S3ErrorKind::Exists`] if `url` exists (one HeadObject).
/// A 403 passes: without s3:ListBucket (or s3:GetObject) S3 answers 403
/// for a missing key too, so a write-only backup role cannot tell, and the
/// final conditional write decides.
pub(crate) async fn check_absent(s3: &S3Client, url: &S3Url) -> Result<(), S3Error> {
    match head(s3, url).await {
        Ok(None) => Ok(()),
        Err(e) if e.kind() == S3ErrorKind::AccessDenied => Ok(()),
        Err(e) => Err(e),
        Ok(Some(_)) => Err(S3Error::new(
            S3ErrorKind::Exists,
            format!("{url} already exists"),
        )),
    }
}

/// Checks that a write whose answer carried `etag` and `crc32` stored what
/// was `sent` (see the module docs); a HeadObject settles any doubt.
pub(crate) async fn confirm(
    s3: &S3Client,
    url: &S3Url,
    sent: &Sent<'_>,
    etag: Option<&str>,
    crc32: Option<&str>,
) -> Result<(), S3Error> {
    let etag = etag.map(unquote).filter(|t| !t.is_empty());
    if etag.is_some() && etag == sent.etag {
        return Ok(());
    }
    if crc32.is_some() && crc32 == sent.crc32 {
        return Ok(());
    }
    let doubt = match (etag, sent.etag) {
        (None, _) => "its answer has no ETag",
        (Some(_), Some(_)) => "its answer's ETag is not that of the bytes sent",
        (Some(_), None) => "its answer could not be compared with the bytes sent",
    };
    let what = format!("S3 {} {url}", sent.op.name());
    let endpoint = s3.endpoint();
    match head(s3, url).await? {
        None => Err(S3Error::new(
            S3ErrorKind::NotS3,
            format!("{what}: {endpoint} acknowledged the write, but {doubt} and the object is not there; nothing was stored: check the endpoint and any proxy"),
        )),
        Some(h) => {
            let same_size = h.len == Some(sent.len);
            let same_bytes = sent.etag == Some(h.etag.as_str())
                || etag == Some(h.etag.as_str())
                || (sent.crc32.is_some() && h.crc32.as_deref() == sent.crc32);
            if same_size && same_bytes {
                return Ok(());
            }
            let size = h.len.map_or_else(|| "unknown".to_owned(), |n| n.to_string());
            Err(S3Error::new(
                S3ErrorKind::NotS3,
                format!("{what}: {endpoint} acknowledged the write, but {doubt} and the object there is not what was sent ({size} bytes, {} sent); check the endpoint and any proxy, and inspect the object", sent.len),
            ))
        }
    }
}

/// The ETag of `url` (without quotes), or `None` when there is no such object.
pub(crate) async fn head_etag(s3: &S3Client, url: &S3Url) -> Result<Option<String>, S3Error> {
    Ok(head(s3, url).await?.map(|h| h.etag))
}

/// S3's ETag of a multipart object made of `parts`: the MD5 of the parts'
/// binary MD5s, then `-` and the part count. `None` when a part's ETag is
/// not an MD5 (SSE-KMS buckets, some stores): nothing to compare then.
pub(crate) fn multipart_etag(parts: &[CompletedPart]) -> Option<String> {
    let mut md5s = Vec::with_capacity(parts.len() * 16);
    for p in parts {
        let tag = unquote(p.e_tag()?);
        if tag.len() != 32 {
            return None;
        }
        for i in (0..32).step_by(2) {
            md5s.push(u8::from_str_radix(tag.get(i..i + 2)?, 16).ok()?);
        }
    }
    Some(format!("{}-{}", md5_hex(&md5s), parts.len()))
}

/// The hex MD5 of `data`: S3's ETag of a single (unencrypted) object.
pub(crate) fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The base64 CRC32 of `data`, as `x-amz-checksum-crc32` carries it.
pub(crate) fn crc32(data: &[u8]) -> String {
    aws_smithy_types::base64::encode(crc32fast::hash(data).to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: i32, etag: &str) -> CompletedPart {
        CompletedPart::builder().part_number(n).e_tag(etag).build()
    }

    #[test]
    fn the_multipart_etag_is_the_md5_of_the_part_md5s() {
        // Parts "a" and "b" (their ETags are their MD5s, quoted as S3 sends them).
        let parts = [
            part(1, "\"0cc175b9c0f1b6a831c399e269772661\""),
            part(2, "92eb5ffee6ae2fec3ad71c777531578f"),
        ];
        assert_eq!(
            multipart_etag(&parts).as_deref(),
            Some("96e024ba2074fe77e8e965ba43a704be-2")
        );
        // Not MD5s (SSE-KMS): nothing to compare.
        assert_eq!(multipart_etag(&[part(1, "\"abc\"")]), None);
        assert_eq!(md5_hex(b"a"), "0cc175b9c0f1b6a831c399e269772661");
    }
}
