//! FIPS status: whether this is a FIPS build (feature `fips`: every
//! primitive in AWS-LC's FIPS module), whether AWS-LC reports FIPS mode,
//! and which AWS-LC is linked; and the refusal of what runs outside the
//! module in a FIPS build.

use crate::error::{Error, UsageError};

/// Where envstream's cryptography runs (see [`fips_status`]).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FipsStatus {
    /// Built with the `fips` feature: AWS-LC's FIPS module supplies every
    /// primitive (AES-GCM, HKDF, HMAC, the random numbers), `aws-lc` is the
    /// only backend, and what runs outside the module is refused.
    pub fips_build: bool,
    /// `aws_lc_rs::try_fips_mode()` succeeded: the linked AWS-LC is the FIPS
    /// module and it is in FIPS mode (its power-on self-tests passed).
    pub fips_mode: bool,
    /// The AWS-LC linked in (`AWS-LC FIPS 3.0.0`, `AWS-LC 1.66.2`), if any.
    pub module: Option<String>,
}

/// This build's FIPS status. Cheap after the first call (AWS-LC's
/// initialisation, with the module's self-tests in a FIPS build, runs once).
pub fn fips_status() -> FipsStatus {
    #[cfg(feature = "aws-lc")]
    {
        let mode = aws_lc_rs::try_fips_mode().is_ok();
        let name = if cfg!(feature = "fips") {
            "AWS-LC FIPS"
        } else {
            "AWS-LC"
        };
        FipsStatus {
            fips_build: cfg!(feature = "fips"),
            fips_mode: mode,
            module: Some(format!("{name} {}", aws_lc_rs::awslc_version())),
        }
    }
    #[cfg(not(feature = "aws-lc"))]
    FipsStatus {
        fips_build: false,
        fips_mode: false,
        module: None,
    }
}

/// In a FIPS build, refuses `what`, whose `primitive` runs outside the
/// module (a usage error); in any other build, allows it.
pub(crate) fn outside_module(what: &'static str, primitive: &'static str) -> Result<(), Error> {
    if cfg!(feature = "fips") {
        return Err(Error::Usage(UsageError::NotInFipsModule {
            what,
            primitive,
        }));
    }
    Ok(())
}
