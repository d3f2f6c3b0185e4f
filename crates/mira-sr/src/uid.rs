//! UID generation and checks.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::SrError;

/// A new UID: under `root` when given (root, then time and a counter, so two processes on
/// one root differ only if they start in the same nanosecond with the same counter, which
/// the random component below rules out), otherwise `2.25.` followed by a random version-4
/// UUID as an integer (PS3.5 B.2).
pub fn generate_uid(root: Option<&str>) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // std's RandomState is seeded from the operating system's random source; two hashers
    // give 128 random bits without another dependency.
    let random = |salt: u64| {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.finish()
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    match root {
        Some(root) => {
            let suffix = format!("{}.{}", nanos, random(nanos as u64) % 1_000_000_000_000);
            // A UID has at most 64 characters: keep the root, shorten the suffix.
            let room = 64usize.saturating_sub(root.len() + 1);
            let suffix = &suffix[suffix.len().saturating_sub(room)..];
            let suffix = suffix.trim_start_matches(['.', '0']);
            format!("{root}.{suffix}")
        }
        None => {
            let mut uuid = (u128::from(random(nanos as u64)) << 64) | u128::from(random(1));
            // Version 4, variant 10 (RFC 4122 4.4), so the integer is a real UUID.
            uuid = (uuid & !(0xF << 76)) | (0x4 << 76);
            uuid = (uuid & !(0x3 << 62)) | (0x2 << 62);
            format!("2.25.{uuid}")
        }
    }
}

/// Checks a UID's syntax (PS3.5 9.1): 1 to 64 characters, components of digits separated by
/// dots, no leading zero in a component of more than one digit.
pub(crate) fn check_uid(field: &'static str, uid: &str) -> Result<(), SrError> {
    let valid = !uid.is_empty()
        && uid.len() <= 64
        && uid.split('.').all(|component| {
            !component.is_empty()
                && component.bytes().all(|b| b.is_ascii_digit())
                && (component == "0" || !component.starts_with('0'))
        });
    if valid {
        Ok(())
    } else {
        Err(SrError::InvalidUid {
            field,
            uid: uid.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_uids_are_valid_and_distinct() {
        for root in [None, Some("1.2.826.0.1.3680043.10.1234")] {
            let first = generate_uid(root);
            let second = generate_uid(root);
            check_uid("test", &first).unwrap();
            check_uid("test", &second).unwrap();
            assert_ne!(first, second);
        }
        let long_root = "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23";
        let uid = generate_uid(Some(long_root));
        check_uid("test", &uid).unwrap();
        assert!(uid.starts_with(long_root));
    }

    #[test]
    fn malformed_uids_are_refused() {
        for uid in ["", "1..2", "1.02", "1.2.a", &"1.".repeat(40)] {
            assert!(check_uid("test", uid).is_err(), "{uid}");
        }
    }
}
