//! The stage of a multipart upload, behind an async lock held across the
//! create and the completion, so that an abort from elsewhere (a signal
//! handler) waits for them and cannot race them; and the abort itself.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::types::ChecksumAlgorithm;

use crate::client::S3Client;
use crate::error::{LeftoverUpload, Op, S3Error, S3ErrorKind};
use crate::url::S3Url;

/// Where the multipart upload stands.
pub(crate) enum Stage {
    /// Nothing was sent yet.
    NotStarted,
    /// A multipart upload is open with this id.
    Open(String),
    /// The object exists: it was completed (or put in one request).
    Done,
    /// The upload was aborted; nothing may be sent any more.
    Aborted,
}

pub(crate) struct Control {
    pub(crate) s3: S3Client,
    pub(crate) url: S3Url,
    pub(crate) stage: tokio::sync::Mutex<Stage>,
}

impl Control {
    /// Aborts an open upload (waiting for a create or complete in
    /// progress) and stops any more from being sent. Returns whether the
    /// upload was stopped before its object was created. A failure names
    /// the upload left behind.
    pub(crate) async fn abort(&self) -> Result<bool, S3Error> {
        let mut stage = self.stage.lock().await;
        let id = match std::mem::replace(&mut *stage, Stage::Aborted) {
            Stage::Open(id) => id,
            Stage::Done => {
                *stage = Stage::Done;
                return Ok(false);
            }
            Stage::NotStarted => return Ok(true),
            Stage::Aborted => return Ok(false),
        };
        let url = &self.url;
        self.s3
            .call(Op::Abort, &url.to_string(), Duration::ZERO, |c, t| {
                c.abort_multipart_upload()
                    .bucket(url.bucket())
                    .key(url.key())
                    .upload_id(&id)
                    .customize()
                    .config_override(t)
                    .send()
            })
            .await
            .map(|_| true)
            .map_err(|e| {
                e.left_behind(LeftoverUpload {
                    bucket: url.bucket().to_owned(),
                    key: url.key().to_owned(),
                    upload_id: id,
                })
            })
    }

    /// Opens the multipart upload, under the stage lock, unless it is open.
    pub(crate) async fn open(&self) -> Result<String, S3Error> {
        let mut stage = self.stage.lock().await;
        match &*stage {
            Stage::Open(id) => return Ok(id.clone()),
            Stage::Aborted => return Err(aborted()),
            Stage::Done => {
                return Err(S3Error::new(
                    S3ErrorKind::Other,
                    "the upload is already complete",
                ))
            }
            Stage::NotStarted => {}
        }
        let url = &self.url;
        let out = self
            .s3
            .call(Op::Create, &url.to_string(), Duration::ZERO, |c, t| {
                c.create_multipart_upload()
                    .bucket(url.bucket())
                    .key(url.key())
                    .checksum_algorithm(ChecksumAlgorithm::Crc32)
                    .customize()
                    .config_override(t)
                    .send()
            })
            .await?;
        let id = out.upload_id.filter(|id| !id.is_empty()).ok_or_else(|| {
            S3Error::new(
                S3ErrorKind::NotS3,
                format!("S3 CreateMultipartUpload {url}: {} answered without an upload id, which S3 never does; check the endpoint and any proxy", self.s3.endpoint()),
            )
        })?;
        *stage = Stage::Open(id.clone());
        Ok(id)
    }
}

pub(crate) fn aborted() -> S3Error {
    S3Error::new(S3ErrorKind::Other, "the upload was aborted")
}

/// Aborts an [`Upload`](crate::Upload) from elsewhere (a signal handler): an open
/// multipart upload is aborted and nothing more is sent. A create or
/// complete in progress is waited for first.
#[derive(Clone)]
pub struct AbortHandle(pub(crate) Arc<Control>);

impl AbortHandle {
    /// Aborts the upload unless its object already exists; returns
    /// whether it was stopped before its object was created (false when
    /// it was complete, or already aborted). A failure names the upload
    /// left behind ([`S3Error::leftover_upload`]).
    pub async fn abort(&self) -> Result<bool, S3Error> {
        self.0.abort().await
    }
}
