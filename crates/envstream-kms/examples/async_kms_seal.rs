//! Seal stdin to stdout with an AWS KMS key, asynchronously, on the
//! caller's Tokio runtime (no second runtime is created).
//!
//! It lives in `envstream-kms` because `envstream` cannot depend on its
//! own KMS keyring (that would pull the AWS SDK into every build).
//!
//! ```sh
//! export AWS_REGION=us-east-1   # plus credentials, or AWS_ENDPOINT_URL_KMS for a local KMS
//! tar c dir | cargo run -p envstream-kms --example async_kms_seal -- alias/backup > b.envs
//! ```

use envstream::{EncryptionContext, Recipient, SealOptions, Sealer};
use envstream_kms::{KmsClients, KmsKeyring, KmsSettings};
use tokio::io::AsyncWriteExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = std::env::args()
        .nth(1)
        .ok_or("usage: async_kms_seal KMS_KEY")?;
    let clients = KmsClients::load(&KmsSettings::default()).await?;
    let kms = KmsKeyring::seal(clients, key);
    let context = EncryptionContext::from_pairs([("purpose", "backup")])?;
    // The KMS key generates the data key (GenerateDataKey, on this
    // runtime); there are no further recipients here.
    let others: [&dyn Recipient; 0] = [];
    let sealer = Sealer::prepare_with(&kms, &others, SealOptions::new().context(context)).await?;
    let mut writer = sealer.seal_to_async(tokio::io::stdout());
    tokio::io::copy(&mut tokio::io::stdin(), &mut writer).await?;
    // Writes the final chunk; without it the stream would read as truncated.
    let mut stdout = writer.finish().await?;
    stdout.flush().await?;
    Ok(())
}
