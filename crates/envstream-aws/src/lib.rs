//! What envstream's AWS crates (`envstream-kms`, `envstream-s3`) share:
//!
//! - [`load`]: the AWS configuration, loaded the standard way and checked
//!   before any request (profile, region, endpoint overrides, FIPS).
//! - [`Failure`]: the one place an AWS SDK error is turned into facts a
//!   message may carry. An SDK error, request, response or raw body is
//!   never formatted: a KMS `Encrypt` request carries the data key.
//! - [`text`]: server-supplied text (error codes and messages, values in
//!   answers) made printable, short, and free of anything that could be
//!   key material.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod failure;
pub mod text;

pub use config::{
    check_endpoint, check_fips_region, check_region, fips_tls, is_aws_region, is_region_label,
    load, ConfigError, ConfigErrorKind, LoadSettings, Loaded, Service, Timeouts, FIPS_REGIONS,
};
pub use failure::{Credentials, Failure, Transport, Verdict};
