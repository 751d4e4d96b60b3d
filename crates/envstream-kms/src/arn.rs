//! KMS ARN and account-id syntax.

/// The parts of a KMS key ARN: `arn:PARTITION:kms:REGION:ACCOUNT:key/ID`
/// (or `alias/NAME`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsArn<'a> {
    /// The partition: `aws`, `aws-cn`, `aws-us-gov`, …
    pub partition: &'a str,
    /// The region.
    pub region: &'a str,
    /// The 12-digit account id.
    pub account: &'a str,
    /// `key/ID` or `alias/NAME`.
    pub resource: &'a str,
}

/// Whether `s` is a 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a KMS ARN; `None` for key ids, alias names and anything malformed.
pub fn parse_arn(s: &str) -> Option<KmsArn<'_>> {
    let mut parts = s.splitn(6, ':');
    let (arn, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let ok = arn == "arn"
        && partition.starts_with("aws")
        && service == "kms"
        && !region.is_empty()
        && is_account_id(account)
        && (resource.starts_with("key/") || resource.starts_with("alias/"))
        && resource.len() > 6;
    ok.then_some(KmsArn {
        partition,
        region,
        account,
        resource,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns() {
        let a = parse_arn(
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        )
        .expect("arn");
        assert_eq!(a.region, "eu-west-1");
        assert_eq!(a.partition, "aws");
        assert_eq!(a.account, "123456789012");
        assert!(parse_arn("arn:aws:kms:us-east-1:123456789012:alias/backup").is_some());
        for bad in [
            "alias/backup",
            "1234abcd",
            "arn:aws:s3:::bucket",
            "arn:aws:kms:us-east-1:12345:key/x",
            "arn:aws:kms::123456789012:key/x",
        ] {
            assert!(parse_arn(bad).is_none(), "{bad}");
        }
    }
}
