//! S3 failures: one line naming the operation, the object and what went
//! wrong, with a kind that decides the caller's exit class.

use std::fmt;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use envstream_aws::{ConfigError, ConfigErrorKind, Failure, Verdict};

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
    /// The endpoint answered, but not as S3 does (an HTML page, a body
    /// that does not parse, a write acknowledged without an ETag): a wrong
    /// endpoint, a captive portal or a broken proxy.
    NotS3,
    /// Anything else the server refused.
    Other,
}

/// A multipart upload that could not be aborted: it holds storage (and is
/// billed) until it is aborted, by hand or by a lifecycle rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftoverUpload {
    /// The bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
    /// The multipart upload id.
    pub upload_id: String,
}

impl LeftoverUpload {
    /// The AWS CLI command that aborts it.
    pub fn cleanup_command(&self) -> String {
        format!(
            "aws s3api abort-multipart-upload --bucket {} --key '{}' --upload-id '{}'",
            self.bucket,
            self.key.replace('\'', "'\\''"),
            self.upload_id.replace('\'', "'\\''")
        )
    }
}

/// An S3 failure, as one line.
#[derive(Debug, Clone)]
pub struct S3Error {
    kind: S3ErrorKind,
    message: String,
    leftover: Option<Box<LeftoverUpload>>,
    /// The allow-listed facts of the SDK error behind it, if any.
    cause: Option<Box<Failure>>,
}

impl S3Error {
    /// A new error.
    pub fn new(kind: S3ErrorKind, message: impl Into<String>) -> Self {
        S3Error {
            kind,
            message: message.into(),
            leftover: None,
            cause: None,
        }
    }

    fn caused_by(mut self, f: Failure) -> Self {
        self.cause = Some(Box::new(f));
        self
    }

    /// The kind.
    pub fn kind(&self) -> S3ErrorKind {
        self.kind
    }

    /// The multipart upload this failure left behind, if aborting it failed.
    pub fn leftover_upload(&self) -> Option<&LeftoverUpload> {
        self.leftover.as_deref()
    }

    /// This error (a failed abort) leaves `upload` behind: the message
    /// names it and the command that removes it.
    pub(crate) fn left_behind(mut self, upload: LeftoverUpload) -> Self {
        self.message = format!(
            "{}; the incomplete multipart upload remains: remove it with `{}`",
            self.message,
            upload.cleanup_command()
        );
        self.leftover = Some(Box::new(upload));
        self
    }

    /// This error, and then `abort` (the failure to abort the upload it
    /// ended): one message, the leftover upload kept.
    pub fn with_failed_abort(mut self, abort: S3Error) -> Self {
        self.message = format!(
            "{}; aborting the upload failed too: {}",
            self.message, abort.message
        );
        self.leftover = abort.leftover;
        self
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

impl std::error::Error for S3Error {
    /// The allow-listed facts of the SDK error behind this one (status,
    /// S3's error code and redacted message, transport kind), never the
    /// SDK error itself, which can carry the request.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|f| f as &(dyn std::error::Error + 'static))
    }
}

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
    pub(crate) fn name(self) -> &'static str {
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
/// and the endpoint, built from the allow-listed facts of
/// [`envstream_aws::Failure`] only: the SDK error itself is never formatted.
pub(crate) fn s3_error<E>(
    op: Op,
    object: &str,
    endpoint: &str,
    err: &SdkError<E, HttpResponse>,
) -> S3Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let facts = Failure::of(err);
    describe(op, object, endpoint, &facts).caused_by(facts)
}

/// The [`S3Error`] for the facts of a failure (see [`s3_error`]).
pub(crate) fn describe(op: Op, object: &str, endpoint: &str, f: &Failure) -> S3Error {
    let what = format!("S3 {} {object}", op.name());
    if let Some((verdict, text)) =
        f.without_answer(&what, endpoint, "check the network and the endpoint")
    {
        let kind = match verdict {
            Verdict::Setup => S3ErrorKind::Configuration,
            Verdict::Unavailable => S3ErrorKind::Unavailable,
        };
        return S3Error::new(kind, text);
    }
    let status_text = f.status.map_or_else(String::new, |s| format!("HTTP {s} "));
    if f.unreadable {
        // Not an S3 answer at all: an HTML page, a body that does not parse.
        let (kind, hint) = if f.busy_status() || f.status.is_none() {
            (S3ErrorKind::Unavailable, "retry later")
        } else {
            (S3ErrorKind::NotS3, "check the endpoint and any proxy")
        };
        return S3Error::new(
            kind,
            format!("{what}: {endpoint} answered {status_text}with something that is not an S3 answer; {hint}"),
        );
    }
    let code = f.code.as_deref().unwrap_or("");
    let (kind, hint) = match (code, f.status) {
        ("NoSuchKey", _) | ("NotFound", _) | ("", Some(404)) if op != Op::Complete => {
            (S3ErrorKind::NoSuchObject, "check the bucket and key")
        }
        ("NoSuchBucket", _) => (
            S3ErrorKind::NoSuchBucket,
            "check the bucket name and region",
        ),
        ("AccessDenied", _)
        | ("Forbidden", _)
        | ("", Some(403))
        | ("InvalidAccessKeyId", _)
        | ("SignatureDoesNotMatch", _) => (
            S3ErrorKind::AccessDenied,
            "check the credentials and the bucket policy (docs/S3.md lists the IAM actions)",
        ),
        ("PreconditionFailed", _) | ("", Some(412)) if op.writes() => (
            S3ErrorKind::Exists,
            "another writer created the object meanwhile",
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
        ("SlowDown", _)
        | ("ServiceUnavailable", _)
        | ("InternalError", _)
        | ("RequestTimeout", _) => (S3ErrorKind::Unavailable, "retry later"),
        _ if f.busy_status() => (S3ErrorKind::Unavailable, "retry later"),
        ("", Some(_)) => (
            // An error status without an S3 error document: a proxy or
            // the wrong endpoint answered.
            S3ErrorKind::NotS3,
            "this is not an S3 answer; check the endpoint and any proxy",
        ),
        _ => (S3ErrorKind::Other, "check the request and the endpoint"),
    };
    // HEAD answers have no body, so no error code: name the status.
    let detail = match (&f.code, f.status) {
        (Some(_), _) | (None, None) => f.detail(),
        (None, Some(403)) => "Forbidden".to_owned(),
        (None, Some(404)) => "NotFound".to_owned(),
        (None, Some(412)) => "PreconditionFailed".to_owned(),
        (None, Some(_)) => f.detail(),
    };
    S3Error::new(
        kind,
        format!("{what} failed: {status_text}{detail} from {endpoint}; {hint}"),
    )
}

/// A configuration problem as an [`S3Error`].
pub(crate) fn config_error(e: ConfigError) -> S3Error {
    let kind = match e.kind() {
        ConfigErrorKind::Configuration => S3ErrorKind::Configuration,
        _ => S3ErrorKind::Other,
    };
    S3Error::new(kind, e.message())
}
