//! The secret that makes pseudonyms consistent across a data set and unlinkable without it.
//!
//! Every replacement value is HMAC-SHA256(key, domain ‖ 0 ‖ original), never a bare hash: a
//! bare hash of a patient ID or UID can be reversed by hashing candidate values, a keyed one
//! cannot without the key. The same key gives the same pseudonyms, UIDs and date shifts in
//! every run, so a data set de-identified in several batches stays consistent.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Shortest key accepted, in bytes (128 bits).
pub const MIN_KEY_LEN: usize = 16;

/// Longest date shift, in days (about 10 years); the shift is at least one day.
pub const MAX_DATE_SHIFT_DAYS: u64 = 3652;

/// Why a key is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Fewer than [`MIN_KEY_LEN`] bytes.
    #[error("de-identification key too short: {0} bytes, at least {MIN_KEY_LEN} needed")]
    TooShort(usize),
}

/// The de-identification key. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct DeidKey {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for DeidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeidKey(..)")
    }
}

impl DeidKey {
    /// A key from raw bytes (a key file's contents, trailing newline trimmed by the caller).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<DeidKey, KeyError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort(bytes.len()));
        }
        Ok(DeidKey { bytes })
    }

    fn mac(&self, domain: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.bytes).expect("HMAC accepts keys of any length");
        mac.update(domain.as_bytes());
        for part in parts {
            mac.update(&[0]);
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The replacement for `uid`: `2.25.` and the decimal of 128 bits of the HMAC (PS3.5 B.2).
    pub fn remap_uid(&self, uid: &str) -> String {
        let digest = self.mac("uid", &[uid.trim_end_matches(['\0', ' ']).as_bytes()]);
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        format!("2.25.{}", u128::from_be_bytes(first))
    }

    /// The pseudonymous Patient ID (also used as Patient's Name) for a patient, keyed by the
    /// original Patient ID and its issuer: `ANON` and 20 hexadecimal digits.
    pub fn patient_pseudonym(&self, patient_id: &str, issuer: &str) -> String {
        let digest = self.mac(
            "patient-id",
            &[patient_id.trim().as_bytes(), issuer.trim().as_bytes()],
        );
        format!("ANON{}", hex::encode_upper(&digest[..10]))
    }

    /// How many days this patient's dates move back: 1 to [`MAX_DATE_SHIFT_DAYS`].
    pub fn date_shift_days(&self, patient_id: &str, issuer: &str) -> u64 {
        let digest = self.mac(
            "date-shift",
            &[patient_id.trim().as_bytes(), issuer.trim().as_bytes()],
        );
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        1 + u64::from_be_bytes(first) % MAX_DATE_SHIFT_DAYS
    }

    /// Whether `value` (a descriptor's text) is replaced consistently elsewhere: a short keyed
    /// tag used in summaries, never the value.
    pub fn fingerprint(&self, value: &str) -> String {
        hex::encode(&self.mac("fingerprint", &[value.as_bytes()])[..6])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DeidKey {
        DeidKey::new(*b"0123456789abcdef0123456789abcdef").unwrap()
    }

    #[test]
    fn uids_are_consistent_valid_and_keyed() {
        let a = key().remap_uid("1.2.3.4");
        assert_eq!(a, key().remap_uid("1.2.3.4\0"));
        assert_ne!(a, key().remap_uid("1.2.3.5"));
        assert!(a.starts_with("2.25.") && a.len() <= 64);
        assert!(a[5..].bytes().all(|b| b.is_ascii_digit()) && !a[5..].starts_with('0'));
        let other = DeidKey::new(*b"another key of 32 bytes, really!").unwrap();
        assert_ne!(a, other.remap_uid("1.2.3.4"));
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(matches!(
            DeidKey::new(*b"short"),
            Err(KeyError::TooShort(5))
        ));
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn date_shift_is_per_patient_and_bounded() {
        let days = key().date_shift_days("P1", "");
        assert!((1..=MAX_DATE_SHIFT_DAYS).contains(&days));
        assert_eq!(days, key().date_shift_days("P1", ""));
    }
}
