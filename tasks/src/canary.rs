//! Canary membership: which customers the CRM is shown a challenger's score for. A customer is in
//! the canary when the SHA-256 of the salt and its key, read as a number in [0, 1), falls below
//! the share: the same customers stay in the canary night after night (and across machines and
//! releases), a new salt draws a new sample, and a larger share keeps every customer of a
//! smaller one.

use polars::prelude::{BooleanChunked, DataFrame, DataType, NewChunkedArray, PolarsError};
use sha2::{Digest, Sha256};

/// Where a customer falls in [0, 1) for `salt`.
pub fn position(salt: &str, key: &str) -> f64 {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    // A separator, so that ("ab", "c") and ("a", "bc") are different inputs.
    hasher.update([0u8]);
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // The top 53 bits: every value exactly representable, the largest below 1.
    (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether the customer `key` is in a canary of `share` (0 to 1) drawn with `salt`.
pub fn in_canary(salt: &str, share: f64, key: &str) -> bool {
    position(salt, key) < share
}

/// For each row of `frame`, whether its `key_column` (cast to text) is in the canary; a row
/// without a key is not.
pub fn canary_mask(
    frame: &DataFrame,
    key_column: &str,
    salt: &str,
    share: f64,
) -> Result<BooleanChunked, PolarsError> {
    let keys = frame.column(key_column)?.cast(&DataType::String)?;
    let keys = keys.str()?;
    Ok(BooleanChunked::from_iter_values(
        "canary".into(),
        keys.iter()
            .map(|key| key.is_some_and(|key| in_canary(salt, share, key))),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{Column, DataFrame};

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("C{i:07}")).collect()
    }

    #[test]
    fn the_share_at_100k_customers_is_within_a_point_of_the_setting() {
        let keys = keys(100_000);
        for share in [0.01, 0.05, 0.1, 0.25, 0.5] {
            let members = keys
                .iter()
                .filter(|k| in_canary("spring-2027", share, k))
                .count();
            let observed = members as f64 / keys.len() as f64;
            assert!(
                (observed - share).abs() < 0.01,
                "share {share}: {observed} of 100,000"
            );
        }
    }

    #[test]
    fn membership_is_stable_and_a_new_salt_draws_a_new_sample() {
        let keys = keys(20_000);
        let members = |salt: &str, share: f64| -> Vec<&String> {
            keys.iter().filter(|k| in_canary(salt, share, k)).collect()
        };
        // Night after night, the same customers.
        assert_eq!(members("a", 0.1), members("a", 0.1));
        // A larger share keeps the customers of a smaller one.
        let small = members("a", 0.05);
        let large = members("a", 0.1);
        assert!(small.iter().all(|k| large.contains(k)));
        // Another salt: about a tenth of one sample is in the other (independent draws).
        let other = members("b", 0.1);
        let common = large.iter().filter(|k| other.contains(k)).count();
        let overlap = common as f64 / large.len() as f64;
        assert!((0.05..0.15).contains(&overlap), "{overlap}");
        // The position is fixed by the bytes of SHA-256, not by this build's hasher.
        assert_eq!(position("a", "C0000000"), position("a", "C0000000"));
        assert_ne!(position("a", "bc"), position("ab", "c"));
        assert!((0.0..1.0).contains(&position("", "")));
    }

    #[test]
    fn the_mask_reads_keys_of_any_type_and_never_takes_a_missing_one() {
        let frame = DataFrame::new(
            3,
            vec![Column::new(
                "account_no".into(),
                [Some(17_i64), None, Some(4_242)],
            )],
        )
        .unwrap();
        let mask = canary_mask(&frame, "account_no", "s", 1.0).unwrap();
        assert_eq!(
            mask.iter().collect::<Vec<_>>(),
            vec![Some(true), Some(false), Some(true)]
        );
        let mask = canary_mask(&frame, "account_no", "s", 0.0).unwrap();
        assert_eq!(mask.sum(), Some(0));
        assert!(canary_mask(&frame, "missing", "s", 0.5).is_err());
    }
}
