//! KMS failures as keyring errors: one line naming the operation, the key
//! and what went wrong, with a kind that decides the exit class.

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use envstream::{KeyringError, KeyringErrorKind};

/// Maps an SDK error to a keyring error that names the operation, the key,
/// and what went wrong: the KMS error code, the HTTP status and endpoint of
/// an answer that is not from KMS, or the missing credentials.
pub(crate) fn kms_error<E>(
    op: &str,
    key: &str,
    endpoint: &str,
    err: SdkError<E, HttpResponse>,
) -> KeyringError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_credential_types::provider::error::CredentialsError;
    let status = http_status(&err);
    let unavailable_status = status.is_some_and(|s| s >= 500 || s == 429 || s == 408);
    match &err {
        SdkError::ServiceError(se) => {
            let Some(code) = se.err().code().map(str::to_owned) else {
                // No KMS error shape: a proxy, a load balancer or the wrong
                // endpoint answered.
                let status = status.map_or_else(|| "an HTTP error".to_owned(), |s| format!("HTTP {s}"));
                let (kind, hint) = if unavailable_status {
                    (KeyringErrorKind::Unavailable, "retry later")
                } else {
                    (KeyringErrorKind::Configuration, "check the endpoint and any proxy")
                };
                return KeyringError::new(
                    kind,
                    format!("KMS {op} with key {key}: {endpoint} answered {status}, which is not a KMS answer; {hint}"),
                );
            };
            let msg = one_line(se.err().message().unwrap_or(""));
            let kind = match code.as_str() {
                "ThrottlingException"
                | "LimitExceededException"
                | "KMSInternalException"
                | "DependencyTimeoutException"
                | "KeyUnavailableException"
                | "ServiceUnavailableException"
                | "InternalFailure" => KeyringErrorKind::Unavailable,
                _ if unavailable_status => KeyringErrorKind::Unavailable,
                _ => KeyringErrorKind::Denied,
            };
            let detail = if msg.is_empty() {
                String::new()
            } else {
                format!(" ({msg})")
            };
            let hint = match kind {
                KeyringErrorKind::Unavailable => "retry later",
                _ => "check the key, its policy and the encryption context",
            };
            KeyringError::new(
                kind,
                format!("KMS {op} with key {key} failed: {code}{detail}; {hint}"),
            )
        }
        SdkError::TimeoutError(_) => KeyringError::new(
            KeyringErrorKind::Unavailable,
            format!("KMS {op} with key {key} timed out waiting for {endpoint}; check the network, region and endpoint"),
        ),
        SdkError::DispatchFailure(df) => {
            if let Some(ce) = find_cause::<CredentialsError>(&err) {
                let (kind, what) = match ce {
                    CredentialsError::CredentialsNotLoaded(_) => (
                        KeyringErrorKind::Configuration,
                        "no AWS credentials were found (environment, profile, SSO or instance role): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or select a profile that has credentials".to_owned(),
                    ),
                    CredentialsError::InvalidConfiguration(_) => (
                        KeyringErrorKind::Configuration,
                        format!("the AWS credential configuration is invalid ({})", describe_chain(ce)),
                    ),
                    _ => (
                        KeyringErrorKind::Unavailable,
                        format!("AWS credentials could not be loaded ({})", describe_chain(ce)),
                    ),
                };
                return KeyringError::new(kind, format!("KMS {op} with key {key}: {what}"));
            }
            let what = if df.is_timeout() {
                "timed out connecting to"
            } else if df.is_io() {
                "could not connect to"
            } else {
                "could not be sent to"
            };
            KeyringError::new(
                KeyringErrorKind::Unavailable,
                format!(
                    "KMS {op} with key {key} {what} {endpoint} ({}); check the network, region and endpoint",
                    describe_chain(&err)
                ),
            )
        }
        SdkError::ResponseError(_) => {
            let status = status.map_or_else(String::new, |s| format!(" (HTTP {s})"));
            let (kind, hint) = if unavailable_status || status.is_empty() {
                (KeyringErrorKind::Unavailable, "retry later")
            } else {
                (KeyringErrorKind::Configuration, "check the endpoint and any proxy")
            };
            KeyringError::new(
                kind,
                format!("KMS {op} with key {key}: unreadable answer{status} from {endpoint}; {hint}"),
            )
        }
        _ => KeyringError::new(
            KeyringErrorKind::Other,
            format!(
                "KMS {op} with key {key} could not be built: {}",
                describe_chain(&err)
            ),
        ),
    }
}

/// The HTTP status of the answer behind an SDK error, if there was one.
fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
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

fn describe_chain(err: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cur = err.source();
    while let Some(e) = cur {
        parts.push(e.to_string());
        cur = e.source();
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        one_line(&parts.join(": "))
    }
}

/// Folds a possibly multi-line message onto one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
