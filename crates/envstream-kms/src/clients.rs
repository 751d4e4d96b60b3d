//! Where KMS requests go: the AWS configuration (credentials, region,
//! profile, endpoint overrides, timeouts, retries), one client per region,
//! and the runtime the requests run on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::Region;
use aws_sdk_kms::Client;
use envstream::{KeyringError, KeyringErrorKind};
use envstream_aws::{LoadSettings, Service, Timeouts};

use crate::errors::config_error;

/// How to reach KMS. Unset fields come from the standard AWS configuration.
#[derive(Clone, Debug)]
pub struct KmsSettings {
    /// Region override; otherwise `AWS_REGION` or the profile's.
    pub region: Option<String>,
    /// Profile override (`--profile`); otherwise `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// TCP connect timeout for each attempt.
    pub connect_timeout: Duration,
    /// Time limit for each attempt.
    pub attempt_timeout: Duration,
    /// Time limit for a whole call, retries included.
    pub operation_timeout: Duration,
    /// Attempts per call (standard retry mode, with backoff).
    pub max_attempts: u32,
}

impl Default for KmsSettings {
    fn default() -> Self {
        KmsSettings {
            region: None,
            profile: None,
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(20),
            max_attempts: 3,
        }
    }
}

/// KMS clients, one per region, sharing one loaded AWS configuration, and
/// the Tokio runtime their requests run on.
///
/// Every KMS request is spawned onto that runtime and its result awaited,
/// so a keyring's futures can be driven by any executor: the blocking API
/// (`Sealer::prepare_blocking`, `Opener::unlock_blocking`) works with a
/// KMS keyring without the caller owning a runtime.
pub struct KmsClients {
    /// The checked AWS configuration.
    loaded: envstream_aws::Loaded,
    /// Where requests run: the caller's runtime ([`KmsClients::load`]) or
    /// one of our own ([`KmsClients::load_blocking`]).
    handle: tokio::runtime::Handle,
    /// Our own runtime, when there is one (kept alive as long as the clients).
    own: Option<tokio::runtime::Runtime>,
    by_region: Mutex<HashMap<String, Client>>,
}

impl Drop for KmsClients {
    fn drop(&mut self) {
        // Dropping a runtime blocks; this may run inside an async context,
        // where that is forbidden, so let the worker wind down on its own.
        if let Some(rt) = self.own.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for KmsClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsClients")
            .field("region", &self.loaded.region())
            .finish_non_exhaustive()
    }
}

impl KmsClients {
    /// Loads the AWS configuration (environment, profiles, endpoint
    /// overrides) with explicit timeouts and standard retries, and checks
    /// it before any request (see [`envstream_aws::load`]): a selected
    /// profile that is defined in neither AWS file, a region that is not a
    /// region, or an endpoint override that is not an absolute `http` or
    /// `https` URL is a [`KeyringErrorKind::Configuration`] error naming
    /// the setting.
    ///
    /// Clients loaded this way run their requests on the runtime that
    /// called `load` (its handle is kept): use them through the async
    /// keyring methods on that runtime. The blocking sealing and opening
    /// APIs wait on the calling thread, so on a current-thread runtime's
    /// own thread they would wait for a task that runtime cannot run;
    /// blocking callers use [`KmsClients::load_blocking`].
    pub async fn load(settings: &KmsSettings) -> Result<Arc<Self>, KeyringError> {
        Self::configure(settings).await.map(Arc::new)
    }

    /// The clients, on the runtime this runs on (its handle is kept).
    async fn configure(settings: &KmsSettings) -> Result<Self, KeyringError> {
        let loaded = envstream_aws::load(
            Service::Kms,
            &LoadSettings {
                region: settings.region.clone(),
                profile: settings.profile.clone(),
                endpoint_url: None,
                max_attempts: settings.max_attempts,
                timeouts: Timeouts {
                    connect: Some(settings.connect_timeout),
                    attempt: Some(settings.attempt_timeout),
                    operation: Some(settings.operation_timeout),
                },
            },
        )
        .await
        .map_err(config_error)?;
        Ok(KmsClients {
            loaded,
            handle: tokio::runtime::Handle::current(),
            own: None,
            by_region: Mutex::new(HashMap::new()),
        })
    }

    /// [`KmsClients::load`] for callers without a Tokio runtime: starts a
    /// small runtime of its own (one worker thread) that the clients keep
    /// and run every request on.
    pub fn load_blocking(settings: &KmsSettings) -> Result<Arc<Self>, KeyringError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("envstream-kms")
            .enable_all()
            .build()
            .map_err(|e| {
                KeyringError::new(
                    KeyringErrorKind::Other,
                    format!("cannot start the KMS runtime: {e}"),
                )
            })?;
        // `configure` runs inside our runtime and keeps its handle; the
        // runtime itself lives as long as the clients.
        let mut clients = rt.block_on(Self::configure(settings))?;
        clients.own = Some(rt);
        Ok(Arc::new(clients))
    }

    /// Runs `fut` (a KMS request) on the clients' runtime and waits for it
    /// from whatever executor polls the returned future.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, KeyringError> {
        self.handle.spawn(fut).await.map_err(|_| {
            KeyringError::new(
                KeyringErrorKind::Other,
                "the KMS request task failed (it panicked or was cancelled)",
            )
        })
    }

    /// Sends one KMS request for `key` (built by `make` from the client of
    /// the key's region) on the clients' runtime, and maps its failure to a
    /// one-line keyring error naming `op`, the key and the endpoint.
    pub(crate) async fn call<T, E, F>(
        &self,
        op: &str,
        key: &str,
        make: impl FnOnce(aws_sdk_kms::Client) -> F,
    ) -> Result<T, KeyringError>
    where
        F: std::future::Future<
                Output = Result<
                    T,
                    aws_sdk_kms::error::SdkError<E, aws_sdk_kms::config::http::HttpResponse>,
                >,
            > + Send
            + 'static,
        T: Send + 'static,
        E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let region = crate::arn::parse_arn(key).map(|a| a.region);
        let client = self.client(region, key)?;
        let endpoint = self.endpoint(region);
        self.run(make(client))
            .await?
            .map_err(|e| crate::errors::kms_error(op, key, &endpoint, &e))
    }

    /// The endpoint a call in `region` goes to, for messages: the
    /// configured override, or the public KMS endpoint of the region.
    pub(crate) fn endpoint(&self, region: Option<&str>) -> String {
        self.loaded.endpoint(region)
    }

    /// The configured default region, if any.
    pub fn default_region(&self) -> Option<String> {
        self.loaded.region()
    }

    /// A client for `region`, or for the default region; a
    /// [`KeyringErrorKind::Configuration`] error naming `key` when neither
    /// is known.
    pub(crate) fn client(&self, region: Option<&str>, key: &str) -> Result<Client, KeyringError> {
        let Some(region) = region.map(str::to_owned).or_else(|| self.default_region()) else {
            return Err(KeyringError::new(
                KeyringErrorKind::Configuration,
                format!("no AWS region is configured for KMS key {key}: set AWS_REGION (or a region in the AWS profile), or name the key by its ARN, which carries its region"),
            ));
        };
        let mut map = match self.by_region.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        Ok(map
            .entry(region.clone())
            .or_insert_with(|| {
                let b = aws_sdk_kms::config::Builder::from(&self.loaded.sdk)
                    .region(Region::new(region));
                Client::from_conf(b.build())
            })
            .clone())
    }
}
