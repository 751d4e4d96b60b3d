//! KMS failures as keyring errors: one line naming the operation, the key,
//! the endpoint and what went wrong, built from the allow-listed facts of
//! [`envstream_aws::Failure`] only (the SDK error itself, which can carry
//! the request and so the data key, is never formatted).

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use envstream::{KeyringError, KeyringErrorKind};
use envstream_aws::{ConfigError, ConfigErrorKind, Failure, Verdict};

/// KMS error codes that mean "busy or broken for now": retry later.
const TRANSIENT: [&str; 7] = [
    "ThrottlingException",
    "LimitExceededException",
    "KMSInternalException",
    "DependencyTimeoutException",
    "KeyUnavailableException",
    "ServiceUnavailableException",
    "InternalFailure",
];

/// Maps an SDK error to a keyring error that names the operation, the key,
/// the endpoint and what went wrong.
pub(crate) fn kms_error<E>(
    op: &str,
    key: &str,
    endpoint: &str,
    err: &SdkError<E, HttpResponse>,
) -> KeyringError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    describe(op, key, endpoint, &Failure::of(err))
}

/// The keyring error for the facts of a failure (see [`kms_error`]).
fn describe(op: &str, key: &str, endpoint: &str, f: &Failure) -> KeyringError {
    let what = format!("KMS {op} with key {key}");
    if let Some((verdict, text)) =
        f.without_answer(&what, endpoint, "check the network, region and endpoint")
    {
        let kind = match verdict {
            Verdict::Setup => KeyringErrorKind::Configuration,
            Verdict::Unavailable => KeyringErrorKind::Unavailable,
        };
        return KeyringError::new(kind, text);
    }
    let status = f
        .status
        .map_or_else(|| "an answer".to_owned(), |s| format!("HTTP {s}"));
    if f.unreadable || f.not_from_service() {
        // A proxy, a load balancer or the wrong endpoint answered.
        let (kind, hint) = if f.busy_status() || f.status.is_none() {
            (KeyringErrorKind::Unavailable, "retry later")
        } else {
            (
                KeyringErrorKind::Configuration,
                "check the endpoint and any proxy",
            )
        };
        return KeyringError::new(
            kind,
            format!("{what}: {endpoint} answered {status}, which is not a KMS answer; {hint}"),
        );
    }
    let code = f.code.as_deref().unwrap_or("");
    let kind = if TRANSIENT.contains(&code) || f.busy_status() {
        KeyringErrorKind::Unavailable
    } else {
        KeyringErrorKind::Denied
    };
    let hint = match kind {
        KeyringErrorKind::Unavailable => "retry later",
        _ => "check the key, its policy and the encryption context",
    };
    KeyringError::new(kind, format!("{what} failed: {}; {hint}", f.detail()))
}

/// A configuration problem as a keyring error.
pub(crate) fn config_error(e: ConfigError) -> KeyringError {
    let kind = match e.kind() {
        ConfigErrorKind::Configuration => KeyringErrorKind::Configuration,
        _ => KeyringErrorKind::Other,
    };
    KeyringError::new(kind, e.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, code: Option<&str>) -> Failure {
        Failure {
            status: Some(status),
            code: code.map(str::to_owned),
            ..Failure::default()
        }
    }

    #[test]
    fn kinds_follow_the_facts() {
        let kind = |f: &Failure| describe("Decrypt", "k", "http://e", f).kind();
        assert_eq!(
            kind(&answer(400, Some("AccessDeniedException"))),
            KeyringErrorKind::Denied
        );
        assert_eq!(
            kind(&answer(400, Some("ThrottlingException"))),
            KeyringErrorKind::Unavailable
        );
        assert_eq!(kind(&answer(502, None)), KeyringErrorKind::Unavailable);
        assert_eq!(kind(&answer(404, None)), KeyringErrorKind::Configuration);
        let unreadable = Failure {
            status: Some(200),
            unreadable: true,
            ..Failure::default()
        };
        assert_eq!(kind(&unreadable), KeyringErrorKind::Configuration);
        let refused = Failure {
            transport: Some(envstream_aws::Transport::Connect),
            ..Failure::default()
        };
        let e = describe("Encrypt", "k", "http://e", &refused);
        assert_eq!(e.kind(), KeyringErrorKind::Unavailable);
        assert!(e.message().contains("could not connect to http://e"), "{e}");
    }
}
