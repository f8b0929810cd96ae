//! Version-4 UUIDs (RFC 4122): the one way this crate makes a UUID, for
//! status updates, stream ids, container ids and the local cluster's ids.
//! Mesos (`id::UUID::fromBytes`) refuses 16 bytes whose version nibble is
//! not 1-5, so random bytes alone are not enough.
//! Imports nothing of the crate.

/// 16 random bytes with the version (4) and variant (10xx) bits set.
pub fn v4() -> [u8; 16] {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

/// The canonical 8-4-4-4-12 lower-case form.
pub fn to_string(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// True when Mesos would take these bytes as a UUID: 16 of them, with a
/// version nibble of 1 to 5 (what boost's `uuid::version()` recognises).
pub fn is_valid(b: &[u8]) -> bool {
    b.len() == 16 && (1..=5).contains(&(b[6] >> 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_uuid_is_version_4_rfc_4122() {
        for _ in 0..1000 {
            let u = v4();
            assert_eq!(u[6] >> 4, 4);
            assert_eq!(u[8] >> 6, 0b10);
            assert!(is_valid(&u));
        }
    }

    #[test]
    fn validity_is_what_mesos_checks() {
        let mut u = v4();
        u[6] = 0x0a;
        assert!(!is_valid(&u), "version 0");
        u[6] = 0x6a;
        assert!(!is_valid(&u), "version 6");
        assert!(!is_valid(&[0x40; 15]));
        assert!(is_valid(&[0x11; 16]));
    }

    #[test]
    fn canonical_text() {
        let b: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(to_string(&b), "00010203-0405-0607-0809-0a0b0c0d0e0f");
    }
}
