//! S3 failures: one line naming the operation, the object and what went
//! wrong, with a kind that decides the caller's exit class.

use std::fmt;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// What kind of S3 failure happened; decides the caller's exit class.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S3ErrorKind {
    /// Not an `s3://BUCKET/KEY` location.
    InvalidLocation,
    /// The AWS setup is incomplete (no region, no credentials, missing profile).
    Configuration,
    /// The object does not exist.
    NoSuchObject,
    /// The bucket does not exist.
    NoSuchBucket,
    /// The credentials may not do this (403).
    AccessDenied,
    /// The destination object exists and replacing it was not allowed.
    Exists,
    /// The object changed while it was being read (its ETag no longer matches).
    Changed,
    /// The endpoint is down, does not answer, or keeps failing (5xx,
    /// throttling) beyond the retries.
    Unavailable,
    /// The stream is larger than S3 or the chosen part sizes allow.
    TooLarge,
    /// The object is not what a sealed stream needs (empty, or the server
    /// returned other bytes than asked for).
    BadObject,
    /// Anything else the server refused.
    Other,
}

/// An S3 failure, as one line.
#[derive(Debug, Clone)]
pub struct S3Error {
    kind: S3ErrorKind,
    message: String,
}

impl S3Error {
    /// A new error.
    pub fn new(kind: S3ErrorKind, message: impl Into<String>) -> Self {
        S3Error {
            kind,
            message: message.into(),
        }
    }

    /// The kind.
    pub fn kind(&self) -> S3ErrorKind {
        self.kind
    }

    /// Wraps this error in an `io::Error` (for `Read`/`Write` adapters);
    /// [`S3Error::from_io_ref`] finds it again.
    pub fn into_io(self) -> std::io::Error {
        std::io::Error::other(self)
    }

    /// The S3 error inside an `io::Error` made by [`S3Error::into_io`].
    pub fn from_io_ref(e: &std::io::Error) -> Option<&S3Error> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<S3Error>())
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for S3Error {}

/// What the request was doing, for messages and for telling a failed
/// condition on a write (the object exists) from one on a read (it changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Head,
    Get,
    Put,
    Create,
    UploadPart,
    CopyPart,
    Complete,
    Abort,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Head => "HeadObject",
            Op::Get => "GetObject",
            Op::Put => "PutObject",
            Op::Create => "CreateMultipartUpload",
            Op::UploadPart => "UploadPart",
            Op::CopyPart => "UploadPartCopy",
            Op::Complete => "CompleteMultipartUpload",
            Op::Abort => "AbortMultipartUpload",
        }
    }

    fn writes(self) -> bool {
        matches!(self, Op::Put | Op::Complete)
    }
}

/// Maps an SDK error to an [`S3Error`] naming the operation, the object
/// and the endpoint.
pub(crate) fn s3_error<E>(
    op: Op,
    object: &str,
    endpoint: &str,
    err: SdkError<E, HttpResponse>,
) -> S3Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_credential_types::provider::error::CredentialsError;
    let status = err.raw_response().map(|r| r.status().as_u16());
    let what = format!("S3 {} {object}", op.name());
    let busy = status.is_some_and(|s| s >= 500 || s == 429 || s == 408);
    match &err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("").to_owned();
            let msg = fold(se.err().message().unwrap_or(""));
            let detail = if msg.is_empty() { String::new() } else { format!(" ({msg})") };
            let status_text = status.map_or_else(String::new, |s| format!("HTTP {s} "));
            let (kind, hint) = match (code.as_str(), status) {
                ("NoSuchKey", _) | ("NotFound", _) | ("", Some(404)) if op != Op::Complete => (
                    S3ErrorKind::NoSuchObject,
                    "check the bucket and key",
                ),
                ("NoSuchBucket", _) => (S3ErrorKind::NoSuchBucket, "check the bucket name and region"),
                ("AccessDenied", _) | ("Forbidden", _) | ("", Some(403)) | ("InvalidAccessKeyId", _)
                | ("SignatureDoesNotMatch", _) => (
                    S3ErrorKind::AccessDenied,
                    "check the credentials and the bucket policy (docs/S3.md lists the IAM actions)",
                ),
                ("PreconditionFailed", _) | ("", Some(412)) if op.writes() => (
                    S3ErrorKind::Exists,
                    "the object exists; choose another key or replace it deliberately",
                ),
                ("PreconditionFailed", _) | ("", Some(412)) => (
                    S3ErrorKind::Changed,
                    "the object was replaced while it was read; run again",
                ),
                ("NoSuchUpload", _) => (
                    S3ErrorKind::Other,
                    "the multipart upload was aborted (another process, or a lifecycle rule); run again",
                ),
                ("InvalidRange", _) | ("", Some(416)) => (
                    S3ErrorKind::BadObject,
                    "the object is empty, so it is not a sealed stream",
                ),
                ("SlowDown", _) | ("ServiceUnavailable", _) | ("InternalError", _)
                | ("RequestTimeout", _) => (S3ErrorKind::Unavailable, "retry later"),
                _ if busy => (S3ErrorKind::Unavailable, "retry later"),
                _ => (S3ErrorKind::Other, "check the request and the endpoint"),
            };
            // HEAD answers have no body, so no error code: name the status.
            let code = match (code.is_empty(), status) {
                (false, _) => code,
                (true, Some(403)) => "Forbidden".to_owned(),
                (true, Some(404)) => "NotFound".to_owned(),
                (true, Some(412)) => "PreconditionFailed".to_owned(),
                (true, _) => "an error".to_owned(),
            };
            S3Error::new(kind, format!("{what} failed: {status_text}{code}{detail} from {endpoint}; {hint}"))
        }
        SdkError::TimeoutError(_) => S3Error::new(
            S3ErrorKind::Unavailable,
            format!("{what} timed out waiting for {endpoint}; check the network and the endpoint"),
        ),
        SdkError::DispatchFailure(df) => {
            if let Some(ce) = find_cause::<CredentialsError>(&err) {
                let (kind, why) = match ce {
                    CredentialsError::CredentialsNotLoaded(_) => (
                        S3ErrorKind::Configuration,
                        "no AWS credentials were found (environment, profile, SSO or instance role): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or select a profile that has credentials".to_owned(),
                    ),
                    CredentialsError::InvalidConfiguration(_) => (
                        S3ErrorKind::Configuration,
                        format!("the AWS credential configuration is invalid ({})", causes(ce)),
                    ),
                    _ => (S3ErrorKind::Unavailable, format!("AWS credentials could not be loaded ({})", causes(ce))),
                };
                return S3Error::new(kind, format!("{what}: {why}"));
            }
            let verb = if df.is_timeout() {
                // A connect timeout, or no answer after the request was sent.
                "timed out waiting for"
            } else if df.is_io() {
                "could not connect to"
            } else {
                "could not be sent to"
            };
            S3Error::new(
                S3ErrorKind::Unavailable,
                format!("{what} {verb} {endpoint} ({}); check the network and the endpoint", causes(&err)),
            )
        }
        SdkError::ResponseError(_) => S3Error::new(
            if busy || status.is_none() { S3ErrorKind::Unavailable } else { S3ErrorKind::Other },
            format!(
                "{what}: unreadable answer{} from {endpoint} ({}); check the endpoint and any proxy",
                status.map_or_else(String::new, |s| format!(" (HTTP {s})")),
                causes(&err)
            ),
        ),
        _ => S3Error::new(
            S3ErrorKind::Other,
            format!("{what} could not be built: {}", causes(&err)),
        ),
    }
}

/// The first cause of type `T` in `err`'s source chain.
fn find_cause<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        cur = e.source();
    }
    None
}

/// The causes under `err`, joined on one line (or `err` itself).
pub(crate) fn causes(err: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cur = err.source();
    while let Some(e) = cur {
        let t = e.to_string();
        if !parts.iter().any(|p: &String| p.contains(&t)) {
            parts.push(t);
        }
        cur = e.source();
    }
    if parts.is_empty() {
        fold(&err.to_string())
    } else {
        fold(&parts.join(": "))
    }
}

/// Folds a possibly multi-line message onto one line.
pub(crate) fn fold(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
