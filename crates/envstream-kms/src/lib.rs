//! AWS KMS keyring for envstream.
//!
//! Sealing: a [`KmsKeyring`] is a recipient (`Encrypt`) and, passed to
//! `Sealer::prepare_with`, the data-key generator (`GenerateDataKey`,
//! `KeySpec=AES_256`), always with the stream's encryption context. The
//! header records the key ARN that KMS returned.
//!
//! Opening uses a [`KmsIdentity`], which cannot seal. It is strict by
//! default: `Decrypt` is called only for wrapped keys
//! whose ARN is on the allow-list, always with `KeyId` and the header's
//! encryption context, and the `KeyId` in the response must equal the
//! expected ARN. Discovery mode allows any key of a partition and a set of
//! AWS accounts (a [`DiscoveryFilter`]), or, asked for explicitly, of any
//! account.
//!
//! Configuration follows the AWS conventions through `aws-config`: the
//! environment, `~/.aws` profiles, `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_KMS`. Tokio lives here and in the CLI only; the chunk
//! pipeline stays synchronous.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod arn;
mod clients;
mod errors;
mod keyring;
mod signer;

pub use arn::{duplicate_mrks, is_account_id, is_mrk, mrk_match, parse_arn, KmsArn};
pub use clients::{KmsClients, KmsSettings};
pub use keyring::{DiscoveryFilter, KmsIdentity, KmsKeyring, KMS_PROVIDER};
pub use signer::KmsSigner;
