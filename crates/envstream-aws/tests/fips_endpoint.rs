//! `AWS_USE_FIPS_ENDPOINT` and the profile's `use_fips_endpoint` reach the
//! KMS and S3 clients: a request built from envstream's checked
//! configuration goes to `kms-fips.REGION.amazonaws.com` and
//! `s3-fips.REGION.amazonaws.com`. An interceptor reads the request's URI
//! just before it would be sent and stops it there, so nothing leaves the
//! machine. One test in this binary: it sets process environment variables.

use std::sync::{Arc, Mutex};

use aws_sdk_kms::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_kms::config::{ConfigBag, Intercept, RuntimeComponents};
use envstream_aws::{LoadSettings, Service};

/// Records the URI of each request and stops it (both SDKs share the
/// interceptor trait).
#[derive(Debug, Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "capture the URI, send nothing"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let Ok(mut v) = self.0.lock() {
            v.push(ctx.request().uri().to_owned());
        }
        Err("stopped before the network".into())
    }
}

impl Capture {
    fn first(&self) -> String {
        let uris = self.0.lock().expect("lock").clone();
        uris.first().cloned().expect("one request was built")
    }
}

async fn loaded(service: Service) -> envstream_aws::Loaded {
    let settings = LoadSettings {
        max_attempts: 1,
        ..LoadSettings::default()
    };
    envstream_aws::load(service, &settings)
        .await
        .expect("the configuration loads")
}

/// Where a KMS and an S3 request would go.
async fn uris() -> (String, String) {
    let kms = Capture::default();
    let conf = aws_sdk_kms::config::Builder::from(&loaded(Service::Kms).await.sdk)
        .interceptor(kms.clone())
        .build();
    let sent = aws_sdk_kms::Client::from_conf(conf)
        .list_keys()
        .send()
        .await;
    assert!(sent.is_err(), "stopped");
    let s3 = Capture::default();
    let conf = aws_sdk_s3::config::Builder::from(&loaded(Service::S3).await.sdk)
        .interceptor(s3.clone())
        .build();
    let sent = aws_sdk_s3::Client::from_conf(conf)
        .get_object()
        .bucket("backups")
        .key("b.envs")
        .send()
        .await;
    assert!(sent.is_err(), "stopped");
    (kms.first(), s3.first())
}

#[tokio::test]
async fn use_fips_endpoint_sends_kms_and_s3_requests_to_the_fips_endpoints() {
    let dir = std::env::temp_dir().join(format!("envstream-fips-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("config");
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-west-2"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
    ] {
        std::env::set_var(k, v);
    }
    for k in [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_KMS",
        "AWS_ENDPOINT_URL_S3",
        "AWS_PROFILE",
        "AWS_USE_FIPS_ENDPOINT",
        "AWS_DEFAULT_REGION",
    ] {
        std::env::remove_var(k);
    }
    std::env::set_var("AWS_CONFIG_FILE", &config);
    let regional = (
        "https://kms.us-west-2.amazonaws.com/",
        "https://backups.s3.us-west-2.amazonaws.com/b.envs",
    );
    let fips = (
        "https://kms-fips.us-west-2.amazonaws.com/",
        "https://backups.s3-fips.us-west-2.amazonaws.com/b.envs",
    );
    let check = |(kms, s3): (String, String), want: (&str, &str)| {
        assert!(kms.starts_with(want.0), "{kms}");
        assert!(s3.starts_with(want.1), "{s3}");
    };
    // No FIPS setting: the regional endpoints.
    std::fs::write(&config, "[default]\n").expect("config");
    check(uris().await, regional);
    // The profile's use_fips_endpoint.
    std::fs::write(&config, "[default]\nuse_fips_endpoint = true\n").expect("config");
    check(uris().await, fips);
    // The environment variable.
    std::fs::write(&config, "[default]\n").expect("config");
    std::env::set_var("AWS_USE_FIPS_ENDPOINT", "true");
    check(uris().await, fips);
    // A region without FIPS endpoints, and a custom endpoint: refused
    // before any request, naming the setting.
    std::env::set_var("AWS_REGION", "eu-west-1");
    for service in [Service::Kms, Service::S3] {
        let e = envstream_aws::load(service, &LoadSettings::default())
            .await
            .expect_err("eu-west-1 has no FIPS endpoint");
        assert!(e.message().contains("no FIPS endpoint"), "{e}");
    }
    std::env::set_var("AWS_REGION", "us-west-2");
    std::env::set_var("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    for service in [Service::Kms, Service::S3] {
        let e = envstream_aws::load(service, &LoadSettings::default())
            .await
            .expect_err("a custom endpoint");
        assert!(e.message().contains("cannot be combined"), "{e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
