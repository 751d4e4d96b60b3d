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

impl KmsArn<'_> {
    /// Whether this names a multi-Region key (MRK): a `key` resource whose
    /// id starts with `mrk-`. An alias never is, even `alias/mrk-…`.
    pub fn is_mrk(&self) -> bool {
        self.resource.starts_with("key/mrk-")
    }

    /// The key id of a `key/ID` resource.
    pub fn key_id(&self) -> Option<&str> {
        self.resource.strip_prefix("key/")
    }

    /// This ARN with `region` in place of its own (the same key in another
    /// region: for a multi-Region key, its replica there).
    pub fn in_region(&self, region: &str) -> String {
        format!(
            "arn:{}:kms:{region}:{}:{}",
            self.partition, self.account, self.resource
        )
    }
}

/// Whether `s` identifies a multi-Region key: a key ARN whose key id
/// starts with `mrk-`, or such a bare key id. Aliases never do.
pub fn is_mrk(s: &str) -> bool {
    match parse_arn(s) {
        Some(a) => a.is_mrk(),
        None => s.starts_with("mrk-"),
    }
}

/// The AWS Encryption SDK's "MRK match for decrypt": a configured key ARN
/// matches a record's key ARN when they are equal, or when both are
/// multi-Region keys that differ only in their region (the same
/// partition, service, account, resource type and key id: replicas of one
/// key). Non-MRK keys match only exactly.
pub fn mrk_match(configured: &str, record: &str) -> bool {
    if configured == record {
        return true;
    }
    match (parse_arn(configured), parse_arn(record)) {
        (Some(c), Some(r)) => {
            c.is_mrk()
                && r.is_mrk()
                && c.partition == r.partition
                && c.account == r.account
                && c.resource == r.resource
        }
        _ => false,
    }
}

/// The AWS Encryption SDK's "MRKs are unique" rule: groups of the given
/// key identifiers that name one multi-Region key (the same MRK key id,
/// such as a primary and its replica), each group in the order given.
/// Configuring two of them is ambiguous, so it is a usage error.
pub fn duplicate_mrks(ids: &[String]) -> Vec<Vec<String>> {
    let mrk_id = |s: &str| -> Option<String> {
        match parse_arn(s) {
            Some(a) if a.is_mrk() => a.key_id().map(str::to_owned),
            Some(_) => None,
            None => s.starts_with("mrk-").then(|| s.to_owned()),
        }
    };
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for s in ids {
        let Some(id) = mrk_id(s) else { continue };
        match groups.iter_mut().find(|(k, _)| *k == id) {
            Some((_, g)) => {
                if !g.contains(s) {
                    g.push(s.clone());
                }
            }
            None => groups.push((id, vec![s.clone()])),
        }
    }
    groups
        .into_iter()
        .map(|(_, g)| g)
        .filter(|g| g.len() > 1)
        .collect()
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

    const EAST: &str = "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd";
    const WEST: &str = "arn:aws:kms:us-west-2:111122223333:key/mrk-1234abcd";

    #[test]
    fn what_an_mrk_is() {
        assert!(is_mrk(EAST));
        assert!(is_mrk("mrk-1234abcd"));
        assert!(!is_mrk(
            "arn:aws:kms:us-east-1:111122223333:alias/mrk-1234abcd"
        ));
        assert!(!is_mrk("alias/mrk-x"));
        assert!(!is_mrk("arn:aws:kms:us-east-1:111122223333:key/1234abcd"));
        assert_eq!(
            parse_arn(EAST).map(|a| a.in_region("us-west-2")).as_deref(),
            Some(WEST)
        );
    }

    #[test]
    fn mrk_match_for_decrypt() {
        assert!(mrk_match(WEST, EAST));
        assert!(mrk_match(EAST, EAST));
        // Another account, partition or key id: no.
        assert!(!mrk_match(
            WEST,
            "arn:aws:kms:us-east-1:444455556666:key/mrk-1234abcd"
        ));
        assert!(!mrk_match(
            WEST,
            "arn:aws-cn:kms:us-east-1:111122223333:key/mrk-1234abcd"
        ));
        assert!(!mrk_match(
            WEST,
            "arn:aws:kms:us-east-1:111122223333:key/mrk-9999"
        ));
        // Non-MRK keys match exactly only; aliases never across regions.
        assert!(!mrk_match(
            "arn:aws:kms:us-west-2:111122223333:key/1234abcd",
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd"
        ));
        assert!(!mrk_match(
            "arn:aws:kms:us-west-2:111122223333:alias/mrk-1234abcd",
            "arn:aws:kms:us-east-1:111122223333:alias/mrk-1234abcd"
        ));
        assert!(!mrk_match("mrk-1234abcd", EAST));
    }

    #[test]
    fn mrks_are_unique() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            duplicate_mrks(&ids(&[EAST, "alias/x", WEST])),
            vec![ids(&[EAST, WEST])]
        );
        assert_eq!(
            duplicate_mrks(&ids(&[EAST, "mrk-1234abcd"])),
            vec![ids(&[EAST, "mrk-1234abcd"])]
        );
        assert!(duplicate_mrks(&ids(&[EAST, EAST])).is_empty());
        assert!(duplicate_mrks(&ids(&[
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd",
            "arn:aws:kms:us-west-2:111122223333:key/1234abcd"
        ]))
        .is_empty());
    }
}
