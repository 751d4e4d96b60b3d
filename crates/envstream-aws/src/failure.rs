//! One place that turns an AWS SDK error into what a message may say.
//!
//! An SDK error can carry the whole request (a KMS `Encrypt` request holds
//! the data key in its body), the raw answer, and causes whose text quotes
//! either. None of that is ever formatted. A [`Failure`] keeps only
//! allow-listed facts: the HTTP status, the service's error code and
//! message (checked and redacted, see [`crate::text`]), a transport kind,
//! and which credential problem it was. Callers add the operation, the key
//! or object, and the endpoint, which they know themselves.

use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::text;

/// How a request failed before an answer came.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// The host name did not resolve.
    Dns,
    /// The TCP connection was refused or could not be made.
    Connect,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// No connection or no answer within the timeouts.
    Timeout,
    /// The connection broke (reset, closed early, cut off).
    Io,
    /// The request never left (it could not be built or signed).
    NotSent,
}

impl Transport {
    /// The kind in words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Transport::Dns => "the host name did not resolve",
            Transport::Connect => "the connection was refused or could not be made",
            Transport::Tls => "the TLS handshake failed",
            Transport::Timeout => "no answer within the timeouts",
            Transport::Io => "the connection broke off",
            Transport::NotSent => "the request could not be built",
        }
    }
}

/// A credential problem met while signing a request.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials anywhere in the chain.
    NotFound,
    /// The credential configuration is invalid.
    Invalid,
    /// The provider timed out.
    TimedOut,
    /// The provider failed.
    Failed,
}

impl Credentials {
    /// The problem in words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Credentials::NotFound => "no AWS credentials were found (environment, profile, SSO or instance role): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or select a profile that has credentials",
            Credentials::Invalid => "the AWS credential configuration is invalid: check the profile's credential settings (~/.aws/config and ~/.aws/credentials)",
            Credentials::TimedOut => "loading AWS credentials timed out (SSO, an instance role or a credential process did not answer)",
            Credentials::Failed => "loading AWS credentials failed (SSO, an assumed role or a credential process refused or was unreachable)",
        }
    }

    /// Whether retrying later may help.
    pub fn transient(self) -> bool {
        matches!(self, Credentials::TimedOut | Credentials::Failed)
    }
}

/// Whether a failure is a setup mistake (retrying does not help) or may
/// pass (the service or the network is down or busy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A setting is wrong or missing.
    Setup,
    /// Retrying later may help.
    Unavailable,
}

/// The allow-listed facts of an SDK error (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Failure {
    /// The HTTP status of the answer, if one came.
    pub status: Option<u16>,
    /// The service's error code, if the answer was a well-formed service
    /// error with a plausible code.
    pub code: Option<String>,
    /// The service's error message, on one line, redacted.
    pub message: Option<String>,
    /// Set when no answer came.
    pub transport: Option<Transport>,
    /// Set when the request could not be signed for lack of credentials.
    pub credentials: Option<Credentials>,
    /// An answer came, but it could not be read as the service's answer
    /// (HTML, a cut-off body, a body that does not parse).
    pub unreadable: bool,
}

impl Failure {
    /// The facts of `err`; nothing of its text is kept.
    pub fn of<E>(err: &SdkError<E, HttpResponse>) -> Failure
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let mut f = Failure {
            status,
            ..Failure::default()
        };
        match err {
            SdkError::ServiceError(se) => {
                f.code = se.err().code().and_then(text::error_code);
                f.message = se
                    .err()
                    .message()
                    .map(text::server_message)
                    .filter(|m| !m.is_empty());
            }
            SdkError::TimeoutError(_) => f.transport = Some(Transport::Timeout),
            SdkError::DispatchFailure(df) => {
                if let Some(c) = find::<CredentialsError>(err) {
                    f.credentials = Some(match c {
                        CredentialsError::CredentialsNotLoaded(_) => Credentials::NotFound,
                        CredentialsError::InvalidConfiguration(_) => Credentials::Invalid,
                        CredentialsError::ProviderTimedOut(_) => Credentials::TimedOut,
                        _ => Credentials::Failed,
                    });
                } else {
                    f.transport = Some(if df.is_timeout() {
                        Transport::Timeout
                    } else if df.is_user() {
                        Transport::NotSent
                    } else {
                        transport_kind(err)
                    });
                }
            }
            SdkError::ResponseError(_) => f.unreadable = true,
            _ => {
                if let Some(c) = find::<CredentialsError>(err) {
                    f.credentials = Some(match c {
                        CredentialsError::CredentialsNotLoaded(_) => Credentials::NotFound,
                        _ => Credentials::Invalid,
                    });
                } else {
                    f.transport = Some(Transport::NotSent);
                }
            }
        }
        f
    }

    /// Whether the answer was a service error without a usable code: a
    /// proxy, a load balancer or the wrong endpoint answered.
    pub fn not_from_service(&self) -> bool {
        self.status.is_some() && self.code.is_none() && self.transport.is_none()
    }

    /// Whether the status says "busy" or "broken for now": 5xx, 429, 408.
    pub fn busy_status(&self) -> bool {
        self.status
            .is_some_and(|s| s >= 500 || s == 429 || s == 408)
    }

    /// The message of a failure without an answer (credentials that could
    /// not be loaded, or a request that never got one), and whether it is
    /// a setup mistake; `None` when an answer came. `what` names the
    /// request ("KMS Decrypt with key K"), `hint` what to check.
    pub fn without_answer(
        &self,
        what: &str,
        endpoint: &str,
        hint: &str,
    ) -> Option<(Verdict, String)> {
        if let Some(c) = self.credentials {
            let verdict = if c.transient() {
                Verdict::Unavailable
            } else {
                Verdict::Setup
            };
            return Some((verdict, format!("{what}: {}", c.describe())));
        }
        let t = self.transport?;
        Some(match t {
            Transport::Timeout => (
                Verdict::Unavailable,
                format!("{what} timed out waiting for {endpoint}; {hint}"),
            ),
            Transport::NotSent => (
                Verdict::Setup,
                format!("{what} could not be sent to {endpoint} ({}); check the endpoint and region settings", t.describe()),
            ),
            _ => (
                Verdict::Unavailable,
                format!("{what} could not connect to {endpoint} ({}); {hint}", t.describe()),
            ),
        })
    }

    /// ` (Code: message)`, ` (Code)` or nothing: the service's words.
    pub fn detail(&self) -> String {
        match (&self.code, &self.message) {
            (Some(c), Some(m)) => format!("{c} ({m})"),
            (Some(c), None) => c.clone(),
            (None, Some(m)) => format!("an error ({m})"),
            (None, None) => "an error".to_owned(),
        }
    }
}

/// The transport kind of a failure without an answer, read from the
/// causes' types and text (the text is only inspected, never printed).
fn transport_kind(err: &(dyn StdError + 'static)) -> Transport {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    let mut io_kind = None;
    let mut depth = 0;
    while let Some(e) = cur {
        // Only how a cause's text starts is looked at: a cause can quote
        // the request, where any word may appear.
        let text = e.to_string().to_ascii_lowercase();
        if text.starts_with("dns error") || text.starts_with("failed to lookup address") {
            return Transport::Dns;
        }
        const TLS: [&str; 6] = [
            "invalid peer certificate",
            "invalid certificate",
            "received fatal alert",
            "peer is incompatible",
            "peer sent no certificates",
            "tls handshake",
        ];
        if TLS.iter().any(|t| text.starts_with(t)) {
            return Transport::Tls;
        }
        if text.starts_with("tcp connect error") {
            return Transport::Connect;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        depth += 1;
        cur = if depth > 16 { None } else { e.source() };
    }
    use std::io::ErrorKind as K;
    match io_kind {
        Some(
            K::ConnectionRefused | K::AddrNotAvailable | K::HostUnreachable | K::NetworkUnreachable,
        ) => Transport::Connect,
        Some(K::TimedOut) => Transport::Timeout,
        _ => Transport::Io,
    }
}

/// The first cause of type `T` in `err`'s source chain.
fn find<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    let mut depth = 0;
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        depth += 1;
        cur = if depth > 16 { None } else { e.source() };
    }
    None
}

/// The facts, in words: what an error's `source()` shows. Only
/// allow-listed facts, so printing it, even with `{:?}`, reveals nothing
/// the message does not.
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(c) = self.credentials {
            return f.write_str(c.describe());
        }
        if let Some(t) = self.transport {
            return write!(f, "no answer: {}", t.describe());
        }
        match self.status {
            Some(s) => write!(f, "HTTP {s}")?,
            None => f.write_str("an answer")?,
        }
        if self.unreadable {
            return f.write_str(" that could not be read as the service's answer");
        }
        write!(f, ": {}", self.detail())
    }
}

impl StdError for Failure {}
