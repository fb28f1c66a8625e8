//! The masking strategies computed in lethe itself (the others are SQL expressions, built in
//! `store`). Each strategy is labelled anonymizing or pseudonymizing in `model::Strategy`.

use crate::model::Strategy;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a value could not be masked. Never carries the value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MaskError {
    /// `truncate-ip` found something that is not an IP address.
    #[error("value is not an IP address")]
    NotAnIp,
    /// No key for `hmac`.
    #[error("no hmac key configured")]
    NoKey,
}

/// The length of a pseudonym: `hmac:` and 32 hex digits.
pub const HMAC_LEN: usize = 37;

/// True when `value` is already in the form `strategy` leaves, so that masking it again would
/// mask a masked value (a pseudonym of a pseudonym). The same test as the SQL that finds the
/// rows still to mask (`store`), so both agree on what is done.
pub fn is_masked(strategy: &Strategy, value: &str) -> bool {
    match strategy {
        Strategy::Hmac => value.starts_with("hmac:") && value.chars().count() == HMAC_LEN,
        Strategy::TruncateIp => {
            value.ends_with(".0") || (value.ends_with("::") && value.matches(':').count() < 5)
        }
        Strategy::Null => false,
        Strategy::Redact(t) => value == t,
        // Computed by the database, which compares the value with its truncation.
        Strategy::Year | Strategy::Month => false,
    }
}

/// Computes the masked value of one column. `None` stays `None`; a value already in its
/// masked form (see [`is_masked`]) stays as it is: masked is per column, never twice.
pub fn mask(
    strategy: &Strategy,
    key: Option<&[u8]>,
    value: Option<&str>,
) -> Result<Option<String>, MaskError> {
    let Some(v) = value else { return Ok(None) };
    if is_masked(strategy, v) {
        return Ok(Some(v.to_string()));
    }
    match strategy {
        Strategy::Hmac => Ok(Some(hmac(key.ok_or(MaskError::NoKey)?, v))),
        Strategy::TruncateIp => truncate_ip(v).map(Some).ok_or(MaskError::NotAnIp),
        Strategy::Null => Ok(None),
        Strategy::Redact(t) => Ok(Some(t.clone())),
        // Computed by the database.
        Strategy::Year | Strategy::Month => Ok(Some(v.to_string())),
    }
}

/// Keyed HMAC-SHA256, shown as `hmac:` and the first 16 bytes in hex. The same input and key
/// always give the same output, so pseudonymized records can still be joined.
pub fn hmac(key: &[u8], value: &str) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return "hmac:".to_string();
    };
    mac.update(value.as_bytes());
    let out = mac.finalize().into_bytes();
    format!("hmac:{}", hex::encode(&out[..16]))
}

/// The network part of an address: IPv4 /24, IPv6 /48, in canonical text form.
pub fn truncate_ip(value: &str) -> Option<String> {
    let ip: IpAddr = value.trim().parse().ok()?;
    Some(match ip {
        IpAddr::V4(v4) => truncate_v4(v4).to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => truncate_v4(v4).to_string(),
            None => {
                let s = v6.segments();
                Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).to_string()
            }
        },
    })
}

fn truncate_v4(v4: Ipv4Addr) -> Ipv4Addr {
    let o = v4.octets();
    Ipv4Addr::new(o[0], o[1], o[2], 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_addresses() {
        assert_eq!(truncate_ip("192.0.2.123").unwrap(), "192.0.2.0");
        assert_eq!(
            truncate_ip("2001:db8:abcd:12:1:2:3:4").unwrap(),
            "2001:db8:abcd::"
        );
        assert_eq!(truncate_ip("::ffff:198.51.100.7").unwrap(), "198.51.100.0");
        assert!(truncate_ip("not an ip").is_none());
        // Already truncated values stay as they are (idempotent).
        for v in ["192.0.2.0", "2001:db8:abcd::", "2001:db8::"] {
            assert_eq!(truncate_ip(v).unwrap(), v);
        }
    }

    #[test]
    fn hmac_is_keyed_and_stable() {
        let a = hmac(b"k1-0123456789abcdef0123456789abcdef", "jan@example.nl");
        let b = hmac(b"k2-0123456789abcdef0123456789abcdef", "jan@example.nl");
        assert_ne!(a, b);
        assert_eq!(
            a,
            hmac(b"k1-0123456789abcdef0123456789abcdef", "jan@example.nl")
        );
        assert!(a.starts_with("hmac:") && a.len() == 37);
        assert!(!a.contains("jan"));
    }

    #[test]
    fn a_masked_value_is_never_masked_again() {
        let key = b"k1-0123456789abcdef0123456789abcdef";
        let once = hmac(key, "jan@example.nl");
        assert!(is_masked(&Strategy::Hmac, &once));
        assert_eq!(
            mask(&Strategy::Hmac, Some(key), Some(&once)).unwrap(),
            Some(once.clone())
        );
        // Only a pseudonym's exact shape counts: a short `hmac:` text is masked as any value.
        assert!(!is_masked(&Strategy::Hmac, "hmac:jan@example.nl"));
        assert_eq!(
            mask(&Strategy::Hmac, Some(key), Some("hmac:jan@example.nl")).unwrap(),
            Some(hmac(key, "hmac:jan@example.nl"))
        );
        for v in ["192.0.2.0", "2001:db8:abcd::"] {
            assert!(is_masked(&Strategy::TruncateIp, v), "{v}");
        }
        assert!(!is_masked(&Strategy::TruncateIp, "192.0.2.7"));
        assert!(!is_masked(&Strategy::TruncateIp, "2001:db8:abcd:12::"));
        let redact = Strategy::Redact("[redacted]".into());
        assert!(is_masked(&redact, "[redacted]"));
        assert!(!is_masked(&redact, "+31 6 12345678"));
    }
}
