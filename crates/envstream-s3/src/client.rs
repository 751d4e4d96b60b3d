//! Where S3 requests go: the AWS configuration (credentials, region,
//! profile, endpoint overrides), the addressing style, timeouts, retries,
//! transfer sizes, and the runtime the requests run on.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::Client;
use envstream_aws::{LoadSettings, Service, Timeouts};

use crate::error::{config_error, S3Error, S3ErrorKind};

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

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) down: AtomicU64,
    pub(crate) up: AtomicU64,
    pub(crate) copied: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// What a request task needs, cloned to move into it: the SDK client, the
/// endpoint (for messages) and the counters.
pub(crate) struct Req {
    pub(crate) client: Client,
    pub(crate) endpoint: String,
    pub(crate) counters: Arc<Counters>,
}

/// An S3 client, its settings, and the Tokio runtime its requests run on.
///
/// Every request is spawned onto that runtime and waited for from the
/// calling thread, so the blocking adapters ([`crate::Upload`],
/// [`crate::RangeReader`]) can be driven from any thread, including the
/// envstream engine's workers.
pub struct S3Client {
    pub(crate) client: Client,
    pub(crate) settings: S3Settings,
    handle: tokio::runtime::Handle,
    own: Option<tokio::runtime::Runtime>,
    endpoint: String,
    pub(crate) counters: Arc<Counters>,
}

impl Drop for S3Client {
    fn drop(&mut self) {
        if let Some(rt) = self.own.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Client")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl S3Client {
    /// Loads the AWS configuration and starts a small runtime of its own
    /// (two worker threads) that every request runs on.
    pub fn load_blocking(settings: S3Settings) -> Result<Arc<S3Client>, S3Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("envstream-s3")
            .enable_all()
            .build()
            .map_err(|e| {
                S3Error::new(
                    S3ErrorKind::Other,
                    format!("cannot start the S3 runtime: {e}"),
                )
            })?;
        let mut client = rt.block_on(Self::configure(settings))?;
        client.own = Some(rt);
        Ok(Arc::new(client))
    }

    /// Like [`S3Client::load_blocking`], on the caller's Tokio runtime.
    pub async fn load(settings: S3Settings) -> Result<Arc<S3Client>, S3Error> {
        Self::configure(settings).await.map(Arc::new)
    }

    async fn configure(settings: S3Settings) -> Result<S3Client, S3Error> {
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
            client: Client::from_conf(s3_config),
            settings,
            handle: tokio::runtime::Handle::current(),
            own: None,
            endpoint,
            counters: Arc::new(Counters::default()),
        })
    }

    /// The endpoint requests go to, for messages.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The SDK client, for requests this crate does not make (creating
    /// buckets, listing uploads).
    pub fn sdk(&self) -> &Client {
        &self.client
    }

    /// Runs `fut` on the client's runtime and waits for it on this thread.
    pub fn block_on<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, S3Error> {
        join(envstream::block_on(
            self.spawn(async move { Ok(fut.await) }),
        ))
    }

    /// The settings in force.
    pub fn settings(&self) -> &S3Settings {
        &self.settings
    }

    /// Requests and bytes so far.
    pub fn stats(&self) -> TransferStats {
        let c = &self.counters;
        TransferStats {
            requests: c.requests.load(Ordering::Relaxed),
            bytes_down: c.down.load(Ordering::Relaxed),
            bytes_up: c.up.load(Ordering::Relaxed),
            bytes_copied: c.copied.load(Ordering::Relaxed),
        }
    }

    /// The pieces a request task takes along.
    pub(crate) fn req(&self) -> Req {
        Req {
            client: self.client.clone(),
            endpoint: self.endpoint.clone(),
            counters: self.counters.clone(),
        }
    }

    /// Starts `fut` on the clients' runtime.
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.handle.spawn(fut)
    }

    /// Runs `fut` on the clients' runtime and waits for it on this thread.
    pub(crate) fn wait<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, S3Error>> + Send + 'static,
    ) -> Result<T, S3Error> {
        join(envstream::block_on(self.spawn(fut)))
    }

    /// Timeouts for a request whose answer should start within the
    /// answer timeout once `upload` bytes are sent (at 1 MiB/s or faster).
    pub(crate) fn timeouts(&self, upload: u64) -> aws_sdk_s3::config::Builder {
        self.timeouts_plus(Duration::from_secs(upload / MIB))
    }

    /// Timeouts with `extra` time for the answer to start.
    pub(crate) fn timeouts_plus(&self, extra: Duration) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::config::Builder::default().timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(self.settings.connect_timeout)
                .read_timeout(self.settings.answer_timeout + extra)
                .build(),
        )
    }
}

/// A task's result, or the error that it panicked or was cancelled.
pub(crate) fn join<T>(r: Result<Result<T, S3Error>, tokio::task::JoinError>) -> Result<T, S3Error> {
    r.unwrap_or_else(|_| {
        Err(S3Error::new(
            S3ErrorKind::Other,
            "an S3 request task failed (it panicked or was cancelled)",
        ))
    })
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
