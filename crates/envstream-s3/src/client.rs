//! Where S3 requests go: the checked AWS configuration, the addressing
//! style, timeouts, retries, transfer sizes, and the one helper every
//! request goes through. The client holds no runtime: its requests run on
//! whatever runtime awaits them (the caller's, or the blocking facade's).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::Client;
use envstream_aws::{LoadSettings, Service, Timeouts};

use crate::error::{config_error, s3_error, Op, S3Error, S3ErrorKind};

const MIB: u64 = 1 << 20;

/// Bytes the first GET asks for by default: enough for any ordinary
/// header (a few hundred bytes per wrapped key). A longer header costs one
/// more GET.
pub const FIRST_READ: u64 = 16 * 1024;

/// Path-style (`https://host/bucket/key`) or virtual-hosted-style
/// (`https://bucket.host/key`) requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Addressing {
    /// Path style when an endpoint is configured (`AWS_ENDPOINT_URL`,
    /// `AWS_ENDPOINT_URL_S3`, or the profile's `endpoint_url`): MinIO,
    /// Ceph, moto and most S3-compatible stores need it. Virtual-hosted
    /// style on AWS itself.
    #[default]
    Auto,
    /// Always path style.
    Path,
    /// Always virtual-hosted style.
    Virtual,
}

/// How to reach S3 and how much to move at once. Unset fields come from
/// the standard AWS configuration.
#[derive(Clone, Debug)]
pub struct S3Settings {
    /// Region override; otherwise `AWS_REGION` or the profile's.
    pub region: Option<String>,
    /// Profile override; otherwise `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// Endpoint override; otherwise `AWS_ENDPOINT_URL_S3`,
    /// `AWS_ENDPOINT_URL`, the profile's `endpoint_url`, or AWS.
    pub endpoint_url: Option<String>,
    /// Addressing style.
    pub addressing: Addressing,
    /// Parts uploaded, or ranges downloaded, at the same time.
    pub concurrency: usize,
    /// Upload memory: sealed bytes held in parts being filled or
    /// uploaded, at most this or one part, whichever is larger.
    pub upload_buffer: u64,
    /// Bytes the first GET of an object asks for (its size, ETag and
    /// header come from it); a longer header costs one more GET.
    pub first_read: u64,
    /// Bytes per ranged GET when restoring (rounded down to whole chunks,
    /// at least one chunk).
    pub range_size: u64,
    /// Bytes per server-side copied part when rekeying (raised when the
    /// object needs more than 10,000 parts).
    pub copy_part_size: u64,
    /// TCP connect timeout for each attempt.
    pub connect_timeout: Duration,
    /// How long a request may wait for the first byte of its answer
    /// (uploads get more, in proportion to their size).
    pub answer_timeout: Duration,
    /// Attempts per request (standard retry mode, with backoff).
    pub max_attempts: u32,
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            region: None,
            profile: None,
            endpoint_url: None,
            addressing: Addressing::Auto,
            concurrency: 8,
            upload_buffer: 192 * MIB,
            first_read: FIRST_READ,
            range_size: 8 * MIB,
            copy_part_size: 1 << 30,
            connect_timeout: Duration::from_secs(3),
            answer_timeout: Duration::from_secs(8),
            max_attempts: 3,
        }
    }
}

/// Requests sent and bytes moved, for reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransferStats {
    /// Requests made (the SDK's own retries inside one request are not
    /// counted; envstream's retries of a broken-off GET body are).
    pub requests: u64,
    /// Object bytes downloaded.
    pub bytes_down: u64,
    /// Object bytes uploaded.
    pub bytes_up: u64,
    /// Object bytes copied inside S3 (UploadPartCopy): never on the wire.
    pub bytes_copied: u64,
}

impl TransferStats {
    /// What moved since `before`.
    pub fn since(&self, before: &TransferStats) -> TransferStats {
        TransferStats {
            requests: self.requests - before.requests,
            bytes_down: self.bytes_down - before.bytes_down,
            bytes_up: self.bytes_up - before.bytes_up,
            bytes_copied: self.bytes_copied - before.bytes_copied,
        }
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    down: AtomicU64,
    up: AtomicU64,
    copied: AtomicU64,
}

/// Which counter a transfer adds to.
#[derive(Clone, Copy)]
pub(crate) enum Moved {
    Down,
    Up,
    Copied,
}

struct Inner {
    client: Client,
    settings: S3Settings,
    endpoint: String,
    counters: Counters,
    /// The region of the configuration.
    region: String,
    /// Buckets that S3 said live in another region (`x-amz-bucket-region`
    /// on a 301 or 400 answer): their requests go there.
    bucket_regions: std::sync::Mutex<Vec<(String, String)>>,
    /// Requests go to FIPS endpoints (`AWS_USE_FIPS_ENDPOINT`).
    fips: bool,
}

/// An S3 client: the checked configuration, the settings and the counters.
/// Cheap to clone. Its operations are async and run on the runtime that
/// awaits them; [`crate::blocking::S3Client`] is the facade for callers
/// without one.
#[derive(Clone)]
pub struct S3Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Client")
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

impl S3Client {
    /// Loads the AWS configuration, checked before any request
    /// ([`envstream_aws::load`]: the profile exists, the region is a
    /// region, an endpoint override is an `http(s)` URL with a host).
    pub async fn load(settings: S3Settings) -> Result<S3Client, S3Error> {
        let loaded = envstream_aws::load(
            Service::S3,
            &LoadSettings {
                region: settings.region.clone(),
                profile: settings.profile.clone(),
                endpoint_url: settings.endpoint_url.clone(),
                max_attempts: settings.max_attempts,
                timeouts: Timeouts {
                    connect: Some(settings.connect_timeout),
                    ..Timeouts::default()
                },
            },
        )
        .await
        .map_err(config_error)?;
        let Some(region) = loaded.region() else {
            return Err(S3Error::new(
                S3ErrorKind::Configuration,
                "no AWS region is configured for S3: set AWS_REGION (or a region in the AWS profile)",
            ));
        };
        let path_style = match settings.addressing {
            Addressing::Path => true,
            Addressing::Virtual => false,
            Addressing::Auto => loaded.endpoint_override.is_some(),
        };
        let s3_config = aws_sdk_s3::config::Builder::from(&loaded.sdk)
            .force_path_style(path_style)
            .build();
        let endpoint = loaded.endpoint(Some(&region));
        Ok(S3Client {
            inner: Arc::new(Inner {
                client: Client::from_conf(s3_config),
                settings,
                endpoint,
                counters: Counters::default(),
                region: region.to_string(),
                bucket_regions: std::sync::Mutex::new(Vec::new()),
                fips: loaded.uses_fips_endpoints(),
            }),
        })
    }

    /// The region the configuration names (requests to a bucket that S3
    /// placed elsewhere go to that bucket's region; see
    /// [`S3Client::bucket_regions`]).
    pub fn region(&self) -> &str {
        &self.inner.region
    }

    /// Buckets whose requests went to another region than the
    /// configuration's, because S3 said the bucket lives there (a 301 or
    /// 400 answer with `x-amz-bucket-region`): `(bucket, region)`.
    pub fn bucket_regions(&self) -> Vec<(String, String)> {
        self.inner
            .bucket_regions
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// The region requests for `bucket` go to: the one S3 named for it,
    /// or the configuration's.
    fn region_of(&self, bucket: Option<&str>) -> String {
        let known = bucket.and_then(|b| {
            self.inner
                .bucket_regions
                .lock()
                .ok()
                .and_then(|v| v.iter().find(|(name, _)| name == b).map(|(_, r)| r.clone()))
        });
        known.unwrap_or_else(|| self.inner.region.clone())
    }

    fn remember_region(&self, bucket: &str, region: &str) {
        if let Ok(mut v) = self.inner.bucket_regions.lock() {
            v.retain(|(name, _)| name != bucket);
            v.push((bucket.to_owned(), region.to_owned()));
        }
    }

    /// The endpoint requests go to, for messages.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// The settings in force.
    pub fn settings(&self) -> &S3Settings {
        &self.inner.settings
    }

    /// Requests and bytes so far.
    pub fn stats(&self) -> TransferStats {
        let c = &self.inner.counters;
        TransferStats {
            requests: c.requests.load(Ordering::Relaxed),
            bytes_down: c.down.load(Ordering::Relaxed),
            bytes_up: c.up.load(Ordering::Relaxed),
            bytes_copied: c.copied.load(Ordering::Relaxed),
        }
    }

    /// Counts object bytes moved.
    pub(crate) fn moved(&self, which: Moved, n: u64) {
        let c = &self.inner.counters;
        let counter = match which {
            Moved::Down => &c.down,
            Moved::Up => &c.up,
            Moved::Copied => &c.copied,
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Sends one request, built by `make` from the SDK client and the
    /// per-request configuration (the timeouts for an answer `extra` later
    /// than usual, and the bucket's region), and maps its failure to a
    /// one-line [`S3Error`] naming `op`, `object` and the endpoint
    /// (allow-listed facts only). Every request goes through here, so every
    /// request is counted. `object` starts with the `s3://BUCKET/` URL.
    ///
    /// A bucket in another region than the configuration's: S3 answers 301
    /// (or 400) with `x-amz-bucket-region`; the request is made again,
    /// once, in that region, and the bucket's later requests go there too.
    pub(crate) async fn call<T, E, F>(
        &self,
        op: Op,
        object: &str,
        extra: Duration,
        make: impl Fn(&Client, aws_sdk_s3::config::Builder) -> F,
    ) -> Result<T, S3Error>
    where
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let bucket = bucket_of(object);
        let mut followed = false;
        loop {
            self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
            let region = self.region_of(bucket);
            let config = aws_sdk_s3::config::Builder::default()
                .region(aws_sdk_s3::config::Region::new(region.clone()))
                .timeout_config(
                    TimeoutConfig::builder()
                        .connect_timeout(self.inner.settings.connect_timeout)
                        .read_timeout(self.inner.settings.answer_timeout + extra)
                        .build(),
                );
            match make(&self.inner.client, config).await {
                Ok(out) => return Ok(out),
                Err(e) => match (bucket, redirect_region(&e)) {
                    (Some(b), Some(r)) if !followed && r != region => {
                        // With FIPS endpoints, only to a region that has one.
                        if self.inner.fips {
                            envstream_aws::check_fips_region(
                                Service::S3,
                                &r,
                                &format!("S3's answer for bucket {b}"),
                            )
                            .map_err(config_error)?;
                        }
                        self.remember_region(b, &r);
                        followed = true;
                    }
                    _ => return Err(s3_error(op, object, &self.inner.endpoint, &e)),
                },
            }
        }
    }
}

/// The bucket of a request's label (`s3://BUCKET/KEY…`).
fn bucket_of(object: &str) -> Option<&str> {
    object
        .strip_prefix("s3://")
        .and_then(|rest| rest.split('/').next())
        .filter(|b| !b.is_empty())
}

/// The region S3 names for the bucket in a wrong-region answer: a 301,
/// 307 or 400 with an `x-amz-bucket-region` header holding a region.
fn redirect_region<E>(e: &SdkError<E, HttpResponse>) -> Option<String> {
    let resp = e.raw_response()?;
    if !matches!(resp.status().as_u16(), 301 | 307 | 400) {
        return None;
    }
    let r = resp.headers().get("x-amz-bucket-region")?.trim();
    envstream_aws::is_aws_region(r).then(|| r.to_owned())
}

/// Extra answer time for a request that uploads `bytes` (at 1 MiB/s or faster).
pub(crate) fn upload_time(bytes: u64) -> Duration {
    Duration::from_secs(bytes / MIB)
}

/// A buffer for `len` bytes that goes back to the system when it is
/// freed. glibc serves requests of up to 32 MiB from its heap once a freed
/// block has raised its mmap threshold, and freed heap blocks stay
/// resident: part and range buffers allocated and freed in turn then grew
/// peak RSS to about twice the bytes in flight (measured). A capacity above
/// 32 MiB is always mapped and unmapped; pages are touched only as the
/// buffer fills, so the unused capacity costs address space, not memory.
pub(crate) fn transfer_buffer(len: usize) -> Result<Vec<u8>, S3Error> {
    const ALWAYS_MAPPED: usize = (32 << 20) + (64 << 10);
    let mut buf = Vec::new();
    if buf.try_reserve_exact(len.max(ALWAYS_MAPPED)).is_err() {
        buf.try_reserve_exact(len).map_err(|_| {
            S3Error::new(
                S3ErrorKind::Other,
                format!("cannot allocate a {len}-byte transfer buffer"),
            )
        })?;
    }
    Ok(buf)
}

/// A task's result, or the error that it panicked or was cancelled.
pub(crate) fn joined<T>(
    r: Result<Result<T, S3Error>, tokio::task::JoinError>,
) -> Result<T, S3Error> {
    r.unwrap_or_else(|_| {
        Err(S3Error::new(
            S3ErrorKind::Other,
            "an S3 request task failed (it panicked or was cancelled)",
        ))
    })
}
