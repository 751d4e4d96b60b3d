//! `AWS_USE_FIPS_ENDPOINT` and the profile's `use_fips_endpoint` reach the
//! S3 client: a request built from envstream's checked configuration goes
//! to `s3-fips.REGION.amazonaws.com`. An interceptor reads the request's
//! URI just before it would be sent and stops it there, so nothing leaves
//! the machine. One test per binary: it sets process environment variables.

use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use envstream_aws::{LoadSettings, Service};

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

async fn uri_of_a_request() -> String {
    let loaded = envstream_aws::load(
        Service::S3,
        &LoadSettings {
            max_attempts: 1,
            ..LoadSettings::default()
        },
    )
    .await
    .expect("the configuration loads");
    let capture = Capture::default();
    let conf = aws_sdk_s3::config::Builder::from(&loaded.sdk)
        .interceptor(capture.clone())
        .build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    assert!(
        client
            .get_object()
            .bucket("backups")
            .key("b.envs")
            .send()
            .await
            .is_err(),
        "stopped"
    );
    let uris = capture.0.lock().expect("lock").clone();
    uris.first().cloned().expect("one request was built")
}

#[tokio::test]
async fn use_fips_endpoint_sends_s3_requests_to_the_fips_endpoint() {
    let dir = std::env::temp_dir().join(format!("envstream-s3-fips-{}", std::process::id()));
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
        "AWS_ENDPOINT_URL_S3",
        "AWS_PROFILE",
        "AWS_USE_FIPS_ENDPOINT",
        "AWS_DEFAULT_REGION",
    ] {
        std::env::remove_var(k);
    }
    // No FIPS setting: the regional endpoint.
    std::fs::write(&config, "[default]\n").expect("config");
    std::env::set_var("AWS_CONFIG_FILE", &config);
    assert!(uri_of_a_request()
        .await
        .starts_with("https://backups.s3.us-west-2.amazonaws.com/b.envs"));
    // The profile's use_fips_endpoint.
    std::fs::write(&config, "[default]\nuse_fips_endpoint = true\n").expect("config");
    assert!(uri_of_a_request()
        .await
        .starts_with("https://backups.s3-fips.us-west-2.amazonaws.com/b.envs"));
    // The environment variable.
    std::fs::write(&config, "[default]\n").expect("config");
    std::env::set_var("AWS_USE_FIPS_ENDPOINT", "true");
    assert!(uri_of_a_request()
        .await
        .starts_with("https://backups.s3-fips.us-west-2.amazonaws.com/b.envs"));
    // A region without FIPS endpoints, and a custom endpoint: refused
    // before any request, naming the setting.
    std::env::set_var("AWS_REGION", "eu-west-1");
    let e = envstream_aws::load(Service::S3, &LoadSettings::default())
        .await
        .expect_err("eu-west-1 has no FIPS endpoint");
    assert!(e.message().contains("no FIPS endpoint"), "{e}");
    std::env::set_var("AWS_REGION", "us-west-2");
    std::env::set_var("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9");
    let e = envstream_aws::load(Service::S3, &LoadSettings::default())
        .await
        .expect_err("a custom endpoint");
    assert!(e.message().contains("cannot be combined"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
