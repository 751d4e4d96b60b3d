//! The AWS configuration, loaded the standard way (environment, profiles,
//! endpoint overrides) and checked before any request is sent: the selected
//! profile exists, the region is a region, and every endpoint override is
//! an absolute `http` or `https` URL with a host. A bad setting is named by
//! where it came from (the environment variable, or the profile's setting).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The AWS service a configuration is for; it decides which endpoint
/// variables apply (`AWS_ENDPOINT_URL_KMS` or `AWS_ENDPOINT_URL_S3`).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// AWS KMS.
    Kms,
    /// Amazon S3 (or an S3-compatible store).
    S3,
}

impl Service {
    /// The SDK's service id, as used in `[services]` profile sections.
    fn id(self) -> &'static str {
        match self {
            Service::Kms => "KMS",
            Service::S3 => "S3",
        }
    }

    /// The service's own endpoint variable.
    pub fn endpoint_variable(self) -> &'static str {
        match self {
            Service::Kms => "AWS_ENDPOINT_URL_KMS",
            Service::S3 => "AWS_ENDPOINT_URL_S3",
        }
    }

    /// The public endpoint of the service in `region`, for messages (its
    /// FIPS endpoint with `fips`).
    fn public_endpoint(self, region: &str, fips: bool) -> String {
        let suffix = if fips { "-fips" } else { "" };
        match self {
            Service::Kms => format!("https://kms{suffix}.{region}.amazonaws.com"),
            Service::S3 => format!("https://s3{suffix}.{region}.amazonaws.com"),
        }
    }

    /// The service's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Service::Kms => "KMS",
            Service::S3 => "S3",
        }
    }
}

/// What went wrong while loading the configuration.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// A setting is missing or invalid; retrying does not help.
    Configuration,
    /// Anything else (a runtime that cannot start).
    Other,
}

/// A configuration problem, as one line naming the setting and the fix.
#[derive(Clone, Debug)]
pub struct ConfigError {
    kind: ConfigErrorKind,
    message: String,
}

impl ConfigError {
    pub(crate) fn setting(message: impl Into<String>) -> Self {
        ConfigError {
            kind: ConfigErrorKind::Configuration,
            message: message.into(),
        }
    }

    /// The kind.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// What to load. Unset fields come from the standard AWS configuration.
#[derive(Clone, Debug, Default)]
pub struct LoadSettings {
    /// Region override; otherwise `AWS_REGION`, `AWS_DEFAULT_REGION` or
    /// the profile's `region`.
    pub region: Option<String>,
    /// Profile override; otherwise `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// Endpoint override; otherwise the service's endpoint variable,
    /// `AWS_ENDPOINT_URL`, the profile's `endpoint_url`, or AWS itself.
    pub endpoint_url: Option<String>,
    /// Attempts per request (standard retry mode, with backoff).
    pub max_attempts: u32,
    /// Timeouts for every request.
    pub timeouts: Timeouts,
}

/// Timeouts for every request of a client (each may be unset).
#[derive(Clone, Copy, Debug, Default)]
pub struct Timeouts {
    /// TCP (and TLS) connect timeout for each attempt.
    pub connect: Option<Duration>,
    /// Time limit for each attempt.
    pub attempt: Option<Duration>,
    /// Time limit for a whole call, retries included.
    pub operation: Option<Duration>,
}

/// A loaded and checked configuration for one service.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The SDK configuration to build the service's client from.
    pub sdk: SdkConfig,
    /// The endpoint override in force, if any (checked: an absolute
    /// `http`/`https` URL with a host and no user name or password).
    pub endpoint_override: Option<String>,
    service: Service,
}

impl Loaded {
    /// Whether requests go to the service's FIPS endpoints
    /// (`AWS_USE_FIPS_ENDPOINT` or the profile's `use_fips_endpoint`).
    pub fn uses_fips_endpoints(&self) -> bool {
        self.sdk.use_fips() == Some(true)
    }

    /// The configured region, if any.
    pub fn region(&self) -> Option<String> {
        self.sdk.region().map(|r| r.to_string())
    }

    /// The endpoint a request in `region` (or the default region) goes to,
    /// for messages: the override, or the service's public endpoint.
    pub fn endpoint(&self, region: Option<&str>) -> String {
        match (
            &self.endpoint_override,
            region.map(str::to_owned).or_else(|| self.region()),
        ) {
            (Some(url), _) => url.clone(),
            (None, Some(r)) => self.service.public_endpoint(&r, self.uses_fips_endpoints()),
            (None, None) => format!("the {} endpoint", self.service.name()),
        }
    }
}

/// Loads the AWS configuration for `service` and checks it before any
/// request: the selected profile must exist (even when credentials come
/// from the environment: the caller asked for that profile), the region
/// must be a region, every endpoint override must be a usable URL, and
/// FIPS endpoints cannot be combined with a custom endpoint.
pub async fn load(service: Service, settings: &LoadSettings) -> Result<Loaded, ConfigError> {
    let mut timeouts = TimeoutConfig::builder();
    if let Some(t) = settings.timeouts.connect {
        timeouts = timeouts.connect_timeout(t);
    }
    if let Some(t) = settings.timeouts.attempt {
        timeouts = timeouts.operation_attempt_timeout(t);
    }
    if let Some(t) = settings.timeouts.operation {
        timeouts = timeouts.operation_timeout(t);
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts.max(1)))
        .timeout_config(timeouts.build());
    #[cfg(feature = "fips")]
    {
        // TLS in AWS-LC's FIPS module, FIPS-approved suites and groups only.
        use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
        loader = loader.http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLcFips))
                .build_https(),
        );
    }
    if let Some(p) = &settings.profile {
        if p.trim().is_empty() {
            return Err(ConfigError::setting(
                "the AWS profile name is empty; name a profile or leave it unset",
            ));
        }
        loader = loader.profile_name(p);
    }
    if let Some(r) = &settings.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(url) = &settings.endpoint_url {
        check_endpoint(url, "the endpoint URL given")?;
        loader = loader.endpoint_url(url);
    }
    let selected = match &settings.profile {
        Some(p) => Some(p.clone()),
        None => std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()),
    };
    if let Some(name) = selected.filter(|n| n != "default") {
        check_profile(&name).await?;
    }
    let sdk = loader.load().await;
    let endpoint_override = match &settings.endpoint_url {
        Some(url) => Some(url.clone()),
        None => configured_endpoint(service, &sdk)?,
    };
    if endpoint_override.is_some() && sdk.use_fips() == Some(true) {
        return Err(ConfigError::setting(format!(
            "FIPS endpoints (AWS_USE_FIPS_ENDPOINT or the profile's use_fips_endpoint) cannot be combined with a custom {} endpoint; unset one of them",
            service.name()
        )));
    }
    if let Some(region) = sdk.region() {
        let source = region_source(settings);
        check_region(region.as_ref(), &source, endpoint_override.is_none())?;
        if sdk.use_fips() == Some(true) && endpoint_override.is_none() {
            check_fips_region(service, region.as_ref(), &source)?;
        }
    }
    Ok(Loaded {
        sdk,
        endpoint_override,
        service,
    })
}

/// The endpoint override the SDK would use for `service`, checked, or
/// `None` when requests go to AWS itself.
fn configured_endpoint(service: Service, sdk: &SdkConfig) -> Result<Option<String>, ConfigError> {
    let value = sdk.service_config().and_then(|c| {
        let key = aws_types::service_config::ServiceConfigKey::builder()
            .service_id(service.id())
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .ok()?;
        c.load_config(key)
    });
    let value = value.or_else(|| sdk.endpoint_url().map(str::to_owned));
    let Some(value) = value else {
        return Ok(None);
    };
    // Name where it came from: the variables take precedence over the
    // profile, the service's own over the global one.
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| *v == value);
    let source = if from_env(service.endpoint_variable()).is_some() {
        service.endpoint_variable().to_owned()
    } else if from_env("AWS_ENDPOINT_URL").is_some() {
        "AWS_ENDPOINT_URL".to_owned()
    } else {
        format!(
            "the AWS profile's endpoint_url (or its [services] {} setting)",
            service.id().to_ascii_lowercase()
        )
    };
    check_endpoint(&value, &source)?;
    Ok(Some(value))
}

/// The regions where AWS publishes FIPS endpoints for both KMS and S3
/// (`kms-fips.REGION.amazonaws.com`, `s3-fips.REGION.amazonaws.com`): US
/// East and West, Canada (Central) and GovCloud (US). The SDK builds a
/// FIPS host name for any region, so a region outside this list would fail
/// only at the first request, as a host that does not resolve.
pub const FIPS_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "us-gov-east-1",
    "us-gov-west-1",
];

/// With FIPS endpoints asked for, `region` must have one.
pub fn check_fips_region(service: Service, region: &str, source: &str) -> Result<(), ConfigError> {
    if FIPS_REGIONS.contains(&region) {
        return Ok(());
    }
    let shown: String = region.chars().take(40).collect();
    Err(ConfigError::setting(format!(
        "FIPS endpoints (AWS_USE_FIPS_ENDPOINT or the profile's use_fips_endpoint) were asked for, but {} has no FIPS endpoint in region {shown:?} (from {source}); use one of {}, or unset AWS_USE_FIPS_ENDPOINT",
        service.name(),
        FIPS_REGIONS.join(", ")
    )))
}

/// The TLS of this build's AWS requests, for `--version` and reports: in a
/// FIPS build (feature `fips`), rustls with AWS-LC's FIPS provider, and
/// whether rustls reports that provider as FIPS; otherwise `None`.
pub fn fips_tls() -> Option<bool> {
    #[cfg(feature = "fips")]
    return Some(rustls::crypto::default_fips_provider().fips());
    #[cfg(not(feature = "fips"))]
    None
}

/// Where the region came from, for messages.
fn region_source(settings: &LoadSettings) -> String {
    if settings.region.is_some() {
        return "the region given".to_owned();
    }
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if std::env::var_os(var).is_some() {
            return var.to_owned();
        }
    }
    "the AWS profile's region".to_owned()
}

/// Whether `s` is shaped like an AWS region name: `us-east-1`,
/// `us-gov-west-1`, `eu-isoe-west-1`, `cn-north-1`.
pub fn is_aws_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let Some((num, words)) = parts.split_last() else {
        return false;
    };
    parts.len() >= 3
        && s.len() <= 32
        && (1..=2).contains(&num.len())
        && num.bytes().all(|b| b.is_ascii_digit())
        && (2..=4).contains(&words[0].len())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

/// Whether `s` can be a region at all: a DNS label (letters, digits and
/// inner hyphens, 1 to 63 characters), which is what S3-compatible stores
/// accept (Garage's default region is `garage`).
pub fn is_region_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Checks a region from `source`: an AWS region name when requests go to
/// AWS (`strict`), a DNS label for a custom endpoint.
pub fn check_region(region: &str, source: &str, strict: bool) -> Result<(), ConfigError> {
    if region.trim().is_empty() {
        return Err(ConfigError::setting(format!(
            "the AWS region from {source} is empty; set a region such as us-east-1"
        )));
    }
    let ok = if strict {
        is_aws_region(region)
    } else {
        is_region_label(region)
    };
    if !ok {
        let shown: String = region.chars().take(40).collect();
        return Err(ConfigError::setting(format!(
            "the AWS region {shown:?} from {source} is not a region name; set one such as us-east-1"
        )));
    }
    Ok(())
}

/// Checks an endpoint URL from `source`: an absolute `http://` or
/// `https://` URL with a host, an optional numeric port, no user name or
/// password (it would be printed in messages), and no white space.
pub fn check_endpoint(url: &str, source: &str) -> Result<(), ConfigError> {
    // A user name or password in the URL is never shown.
    let shown: String = match url.split_once("://") {
        Some((scheme, rest))
            if rest
                .split(['/', '?', '#'])
                .next()
                .unwrap_or("")
                .contains('@') =>
        {
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://…@{host}")
        }
        _ => url.to_owned(),
    };
    let bad = |why: &str| {
        let shown: String = shown.chars().take(80).collect();
        ConfigError::setting(format!(
            "{source} is {shown:?}, which {why}; it must be an absolute http:// or https:// URL with a host, such as http://127.0.0.1:9000 or https://kms.us-east-1.amazonaws.com"
        ))
    };
    if url.is_empty() {
        return Err(bad("is empty"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains white space"));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad("has no scheme"));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad(&format!(
            "has the unsupported scheme {:?}",
            scheme.chars().take(16).collect::<String>()
        )));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(bad("carries a user name or password"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Err(bad("has an unclosed IPv6 address")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
    {
        return Err(bad("has an invalid host"));
    }
    if let Some(p) = port {
        if p.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(bad("has an invalid port"));
        }
    }
    Ok(())
}

/// Fails unless profile `name` is defined in the AWS config or credentials file.
async fn check_profile(name: &str) -> Result<(), ConfigError> {
    use aws_types::os_shim_internal::{Env, Fs};
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let set = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &files,
        Some(std::borrow::Cow::Owned(name.to_owned())),
    )
    .await
    .map_err(|_| {
        // The parser's message can quote the file; name the files instead.
        ConfigError::setting(
            "cannot read the AWS config files (~/.aws/config and ~/.aws/credentials, or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE): one of them is unreadable or not in the AWS file format; fix or move it",
        )
    })?;
    if set.get_profile(name).is_none() {
        let shown: String = name.chars().take(64).collect();
        return Err(ConfigError::setting(format!(
            "AWS profile {shown:?} is not defined in the AWS config or credentials file (~/.aws/config, ~/.aws/credentials, or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE); define it or choose another profile"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        for ok in [
            "http://127.0.0.1:5055",
            "https://kms.us-east-1.amazonaws.com",
            "http://localhost:9000/",
            "HTTP://minio.internal",
            "http://[::1]:9000",
        ] {
            assert!(check_endpoint(ok, "X").is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("localhost:5055", "no scheme"),
            ("127.0.0.1:5055", "no scheme"),
            ("http://", "no host"),
            ("http:/host", "no scheme"),
            ("//host", "no scheme"),
            ("ftp://host", "unsupported scheme"),
            ("http://user:pw@host", "user name or password"),
            ("http://user:pw@host/x@y", "user name or password"),
            ("http://host:99999", "invalid port"),
            ("http://host:x", "invalid port"),
            ("", "is empty"),
            ("http://ho st", "white space"),
        ] {
            let e = check_endpoint(bad, "AWS_ENDPOINT_URL_KMS").expect_err(bad);
            assert!(e.message().contains(why), "{bad}: {e}");
            assert!(e.message().starts_with("AWS_ENDPOINT_URL_KMS is"), "{e}");
            assert!(!e.message().contains("pw"), "{e}");
            assert_eq!(e.kind(), ConfigErrorKind::Configuration);
        }
    }

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "eu-isoe-west-1",
            "cn-north-1",
            "ap-southeast-7",
        ] {
            assert!(is_aws_region(ok), "{ok}");
        }
        for bad in ["", "us-east", "useast1", "US-EAST-1", "us-east-1 ", "a-b-1"] {
            assert!(!is_aws_region(bad), "{bad:?}");
        }
        assert!(is_region_label("garage"));
        assert!(!is_region_label(""));
        assert!(!is_region_label("-x"));
        assert!(!is_region_label("a/b"));
        assert!(check_region("", "AWS_REGION", false).is_err());
        assert!(check_region("garage", "AWS_REGION", false).is_ok());
        assert!(check_region("garage", "AWS_REGION", true).is_err());
    }

    #[test]
    fn fips_regions() {
        for ok in ["us-east-1", "us-west-2", "us-gov-west-1", "ca-central-1"] {
            assert!(
                check_fips_region(Service::Kms, ok, "AWS_REGION").is_ok(),
                "{ok}"
            );
        }
        for bad in ["eu-west-1", "ap-southeast-2", "cn-north-1", "garage"] {
            let e = check_fips_region(Service::S3, bad, "AWS_REGION").expect_err(bad);
            assert!(e.message().contains("no FIPS endpoint"), "{e}");
            assert!(e.message().contains("AWS_USE_FIPS_ENDPOINT"), "{e}");
            assert_eq!(e.kind(), ConfigErrorKind::Configuration);
        }
    }
}
