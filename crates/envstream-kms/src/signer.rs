//! KMS asymmetric keys as stream signers (`docs/FORMAT.md` section 15):
//! `ECC_NIST_P256` and `ECC_NIST_P384` keys with `SIGN_VERIFY` usage. The
//! public key comes from one `GetPublicKey` per run and signatures are
//! verified locally; a stream costs one `Sign` call, over the 111-byte
//! signed message with `MessageType=RAW` (KMS hashes it with the
//! algorithm's hash; `DIGEST` is not used).

use std::sync::Arc;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use envstream::format::ecdsa_der_to_fixed;
use envstream::{
    KeyringError, KeyringErrorKind, KeyringFuture, SignatureAlgorithm, Signer, SignerKey,
};

use crate::arn::parse_arn;
use crate::clients::KmsClients;

/// A KMS signing key (ECDSA P-256 or P-384) as a [`Signer`].
pub struct KmsSigner {
    clients: Arc<KmsClients>,
    /// The key ARN KMS returned.
    arn: String,
    key: SignerKey,
    algorithm: SigningAlgorithmSpec,
}

impl std::fmt::Debug for KmsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsSigner")
            .field("arn", &self.arn)
            .finish_non_exhaustive()
    }
}

impl KmsSigner {
    /// Looks the key up (`GetPublicKey`; `key` is a key id, key ARN, alias
    /// name or alias ARN) and checks that it can sign for a stream: usage
    /// `SIGN_VERIFY`, spec `ECC_NIST_P256` (signing with `ECDSA_SHA_256`)
    /// or `ECC_NIST_P384` (`ECDSA_SHA_384`), and a public key of that curve.
    pub async fn new(clients: Arc<KmsClients>, key: &str) -> Result<KmsSigner, KeyringError> {
        let id = key.to_owned();
        let out = clients
            .call("GetPublicKey", key, move |c| {
                c.get_public_key().key_id(id).send()
            })
            .await?;
        let refuse = |why: String| {
            KeyringError::new(
                KeyringErrorKind::Configuration,
                format!("KMS key {key} cannot sign envstream streams: {why}"),
            )
        };
        // KMS answers with the key ARN. An answer with the bare key id
        // (moto 5 does this) keeps the name as configured (an alias, or a
        // key id or ARN naming that id), which then also picks the region
        // of the Sign call; anything else is refused.
        let answered = out.key_id.clone().unwrap_or_default();
        let arn = if parse_arn(&answered).is_some_and(|a| a.resource.starts_with("key/")) {
            answered
        } else if is_bare_key_id(&answered) && names_key(key, &answered) {
            key.to_owned()
        } else {
            return Err(KeyringError::new(
                KeyringErrorKind::Other,
                format!("KMS GetPublicKey for {key} returned no key ARN"),
            ));
        };
        if out.key_usage != Some(KeyUsageType::SignVerify) {
            return Err(refuse("its key usage is not SIGN_VERIFY".into()));
        }
        // `KeySpec` is the current field; `CustomerMasterKeySpec`, its
        // deprecated twin, is what moto 5 answers with.
        let key_spec = out.key_spec.clone().or_else(|| {
            #[allow(deprecated)]
            out.customer_master_key_spec
                .as_ref()
                .map(|s| KeySpec::from(s.as_str()))
        });
        let (alg, spec) = match key_spec {
            Some(KeySpec::EccNistP256) => (
                SignatureAlgorithm::EcdsaP256,
                SigningAlgorithmSpec::EcdsaSha256,
            ),
            Some(KeySpec::EccNistP384) => (
                SignatureAlgorithm::EcdsaP384,
                SigningAlgorithmSpec::EcdsaSha384,
            ),
            _ => {
                return Err(refuse(
                    "its key spec is not ECC_NIST_P256 or ECC_NIST_P384".into(),
                ))
            }
        };
        if !out
            .signing_algorithms
            .as_deref()
            .is_some_and(|list| list.contains(&spec))
        {
            return Err(refuse(format!("it does not offer {}", spec.as_str())));
        }
        let der = out.public_key.map(Blob::into_inner).unwrap_or_default();
        let signer_key = SignerKey::from_spki(alg, &der).ok_or_else(|| {
            refuse("its public key is not an uncompressed point of its curve".into())
        })?;
        Ok(KmsSigner {
            clients,
            arn,
            key: signer_key,
            algorithm: spec,
        })
    }

    /// Blocking form of [`KmsSigner::new`] (for clients made with
    /// [`KmsClients::load_blocking`]).
    pub fn new_blocking(clients: Arc<KmsClients>, key: &str) -> Result<KmsSigner, KeyringError> {
        envstream::block_on(Self::new(clients, key))
    }

    /// The key ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }
}

/// A KMS key id (`1234abcd-…` or `mrk-…`): letters, digits and dashes.
fn is_bare_key_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Whether the configured `key` may name the key with id `id`: an alias
/// (which cannot be checked against an id), the id itself, or a key ARN
/// ending in `key/ID`.
fn names_key(key: &str, id: &str) -> bool {
    match parse_arn(key) {
        Some(a) => match a.resource.strip_prefix("key/") {
            Some(k) => k == id,
            None => a.resource.starts_with("alias/"),
        },
        None => key == id || key.starts_with("alias/"),
    }
}

impl Signer for KmsSigner {
    fn signer_key(&self) -> &SignerKey {
        &self.key
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> KeyringFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let (arn, spec, msg) = (self.arn.clone(), self.algorithm.clone(), message.to_vec());
            let out = self
                .clients
                .call("Sign", &self.arn, move |c| {
                    c.sign()
                        .key_id(arn)
                        .message(Blob::new(msg))
                        .message_type(MessageType::Raw)
                        .signing_algorithm(spec)
                        .send()
                })
                .await?;
            let der = out.signature.map(Blob::into_inner).unwrap_or_default();
            let field = self.key.algorithm().signature_len() / 2;
            ecdsa_der_to_fixed(&der, field).ok_or_else(|| {
                KeyringError::new(
                    KeyringErrorKind::Other,
                    format!(
                        "KMS Sign with key {} returned a signature that is not DER ECDSA",
                        self.arn
                    ),
                )
            })
        })
    }

    fn description(&self) -> String {
        format!("KMS signing key {}", self.arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_key_id_answer_must_match_the_key_configured() {
        let id = "e7d5027f-feda-4df3-9a48-56e8f6cfd190";
        assert!(is_bare_key_id(id));
        assert!(!is_bare_key_id("arn:aws:kms:us-east-1:1:key/x"));
        assert!(!is_bare_key_id(""));
        assert!(names_key(id, id));
        assert!(names_key(
            &format!("arn:aws:kms:us-east-1:123456789012:key/{id}"),
            id
        ));
        assert!(names_key("alias/sign", id));
        assert!(names_key(
            "arn:aws:kms:us-east-1:123456789012:alias/sign",
            id
        ));
        assert!(!names_key(
            "arn:aws:kms:us-east-1:123456789012:key/other",
            id
        ));
        assert!(!names_key("other", id));
    }
}
