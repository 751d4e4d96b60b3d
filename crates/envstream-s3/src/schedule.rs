//! Multipart part sizes. S3 allows at most 10,000 parts, each 5 MiB to
//! 5 GiB (the last may be smaller), and objects up to 48.8 TiB.
//!
//! Without a size hint the parts grow with the stream: small parts keep a
//! small upload's memory small, and the schedule still reaches 5.3 TiB.
//! Every byte of the first 1 TiB lies in a part of at most 128 MiB, which
//! bounds memory for streams up to 1 TiB. With a size hint the parts are
//! uniform, sized to reach the hint with 10 % to spare.

use crate::error::{S3Error, S3ErrorKind};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The most parts one multipart upload may have.
pub const MAX_PARTS: u32 = 10_000;
/// The smallest part S3 accepts (except the last).
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// The largest part S3 accepts.
pub const MAX_PART_SIZE: u64 = 5 * GIB;
/// The largest object S3 stores: 10,000 parts of 5 GiB (48.8 TiB).
pub const MAX_OBJECT_SIZE: u64 = MAX_PARTS as u64 * MAX_PART_SIZE;

/// The growing schedule: (last part number of the tier, part size).
const GROWING: [(u32, u64); 5] = [
    (256, 8 * MIB),    // up to 2 GiB
    (512, 32 * MIB),   // up to 10 GiB
    (1024, 64 * MIB),  // up to 42 GiB
    (8900, 128 * MIB), // up to 1026.5 GiB
    (10_000, 4 * GIB), // up to 5426.5 GiB (5.3 TiB)
];

/// How large each part of an upload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartSchedule {
    /// Parts that grow with the stream (no size known in advance): 8 MiB,
    /// then 32, 64 and 128 MiB, then 4 GiB after about 1 TiB.
    Growing,
    /// Every part (but the last) has this size.
    Uniform(u64),
}

impl PartSchedule {
    /// Uniform parts for a sealed stream of about `expected` bytes: the
    /// smallest whole number of MiB (at least 8 MiB) that reaches
    /// `expected` within 9,000 parts, so a stream up to about 10 % larger
    /// still fits; capped at 5 GiB. Refuses sizes beyond S3's maximum.
    pub fn for_expected_size(expected: u64) -> Result<PartSchedule, S3Error> {
        if expected > MAX_OBJECT_SIZE {
            return Err(S3Error::new(
                S3ErrorKind::TooLarge,
                format!(
                    "an expected size of {expected} bytes is more than the largest S3 object ({MAX_OBJECT_SIZE} bytes, 10,000 parts of 5 GiB)"
                ),
            ));
        }
        let per_part = expected.div_ceil(9_000).div_ceil(MIB) * MIB;
        Ok(PartSchedule::Uniform(
            per_part.clamp(8 * MIB, MAX_PART_SIZE),
        ))
    }

    /// The size of part `number` (1-based; 0 is treated as 1).
    pub fn part_size(&self, number: u32) -> u64 {
        match *self {
            PartSchedule::Uniform(size) => size,
            PartSchedule::Growing => GROWING
                .iter()
                .find(|(last, _)| number <= *last)
                .map_or(GROWING[GROWING.len() - 1].1, |(_, size)| *size),
        }
    }

    /// How many bytes the 10,000 parts of this schedule hold.
    pub fn capacity(&self) -> u64 {
        (1..=MAX_PARTS).map(|n| self.part_size(n)).sum()
    }

    /// The size of the part that holds byte offset `offset` of the object,
    /// or `None` beyond the capacity.
    pub fn part_size_at(&self, offset: u64) -> Option<u64> {
        let mut start = 0u64;
        for n in 1..=MAX_PARTS {
            let size = self.part_size(n);
            if offset < start + size {
                return Some(size);
            }
            start += size;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIB: u64 = 1 << 40;

    fn check_limits(s: PartSchedule) {
        let mut prev = 0;
        for n in 1..=MAX_PARTS {
            let size = s.part_size(n);
            assert!(size >= MIN_PART_SIZE, "part {n} of {s:?} is {size}");
            assert!(size <= MAX_PART_SIZE, "part {n} of {s:?} is {size}");
            assert!(size >= prev, "parts never shrink");
            prev = size;
        }
    }

    #[test]
    fn growing_reaches_5_tib_and_keeps_parts_small_up_to_1_tib() {
        let s = PartSchedule::Growing;
        check_limits(s);
        assert!(s.capacity() >= 5 * TIB, "capacity {}", s.capacity());
        assert_eq!(s.capacity(), 5426 * GIB + 512 * MIB);
        assert_eq!(s.part_size(1), 8 * MIB);
        assert_eq!(s.part_size(MAX_PARTS), 4 * GIB);
        // Every byte up to 1 TiB is in a part of at most 128 MiB.
        assert_eq!(s.part_size_at(TIB - 1), Some(128 * MIB));
        assert_eq!(s.part_size_at(2 * GIB - 1), Some(8 * MIB));
        assert_eq!(s.part_size_at(2 * GIB), Some(32 * MIB));
        assert_eq!(s.part_size_at(s.capacity() - 1), Some(4 * GIB));
        assert_eq!(s.part_size_at(s.capacity()), None);
    }

    #[test]
    fn uniform_reaches_the_hint_up_to_the_largest_object() {
        for expected in [
            0,
            1,
            100 * MIB,
            80 * GIB,
            TIB,
            5 * TIB,
            20 * TIB,
            48 * TIB,
            MAX_OBJECT_SIZE,
        ] {
            let s = PartSchedule::for_expected_size(expected).expect("within the maximum");
            check_limits(s);
            assert!(s.capacity() >= expected, "{expected}: {s:?}");
            if expected <= 45 * TIB {
                // At least 10 % to spare.
                assert!(
                    s.capacity() >= expected + expected / 10,
                    "{expected}: {s:?}"
                );
            }
        }
        assert_eq!(
            PartSchedule::for_expected_size(100 * MIB).expect("small"),
            PartSchedule::Uniform(8 * MIB)
        );
        assert_eq!(
            PartSchedule::for_expected_size(MAX_OBJECT_SIZE).expect("max"),
            PartSchedule::Uniform(MAX_PART_SIZE)
        );
        let e = PartSchedule::for_expected_size(MAX_OBJECT_SIZE + 1).expect_err("too large");
        assert_eq!(e.kind(), S3ErrorKind::TooLarge);
    }
}
