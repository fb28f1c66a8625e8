//! Validators for sampled values: each says whether one value is what it looks like, with the
//! checksum or range the kind has (mod-97 for IBAN, the elfproef for BSN, Luhn for payment
//! cards), not only a pattern. Pure functions over text; nothing here keeps a value.

use chrono::{Datelike, NaiveDate};

/// An e-mail address: one `@`, a local part of allowed characters, a domain of at least two
/// labels ending in a letters-only top-level domain.
pub fn email(s: &str) -> bool {
    let s = s.trim();
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-'".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()));
    local_ok && domain_ok
}

/// A telephone number: Dutch (`06…`, `020…`, `+31…`, `0031…`) or international E.164
/// (`+` and 8 to 15 digits). Spaces, dashes, dots and brackets between digits are allowed.
pub fn phone(s: &str) -> bool {
    let s = s.trim();
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || " -.()+/".contains(c))
    {
        return false;
    }
    let plus = s.starts_with('+');
    if s.chars().skip(1).any(|c| c == '+') {
        return false;
    }
    let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    let first_after = |n: usize| digits.chars().nth(n).is_some_and(|c| c != '0');
    if plus {
        if let Some(rest) = digits.strip_prefix("31") {
            return rest.len() == 9 && first_after(2);
        }
        return (8..=15).contains(&digits.len()) && first_after(0);
    }
    if let Some(rest) = digits.strip_prefix("0031") {
        return rest.len() == 9 && first_after(4);
    }
    // Dutch national numbers: a 0 and nine digits, the first of them not 0.
    digits.len() == 10 && digits.starts_with('0') && first_after(1)
}

/// A telephone number kept in a number column, which lost its leading `0` or `+`: nine digits
/// not starting with 0 (a Dutch number without its 0, `612345678`), or `31` and nine such
/// digits. Only asked of a column whose name says telephone: on their own, nine digits are as
/// likely an order number.
pub fn phone_digits(s: &str) -> bool {
    let s = s.trim();
    let digits =
        |d: &str| d.len() == 9 && d.chars().all(|c| c.is_ascii_digit()) && !d.starts_with('0');
    digits(s) || s.strip_prefix("31").is_some_and(digits)
}

/// An IBAN: country letters, check digits and account, the right length for the Dutch and
/// neighbouring countries, and the mod-97 checksum.
pub fn iban(s: &str) -> bool {
    let compact: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !(15..=34).contains(&compact.len()) || !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
        return false;
    }
    let (country, rest) = compact.split_at(2);
    if !country.chars().all(|c| c.is_ascii_alphabetic())
        || !rest.chars().take(2).all(|c| c.is_ascii_digit())
    {
        return false;
    }
    let expected = match country {
        "NL" => Some(18),
        "BE" => Some(16),
        "DE" | "GB" => Some(22),
        "FR" => Some(27),
        "LU" => Some(20),
        _ => None,
    };
    if expected.is_some_and(|n| n != compact.len()) {
        return false;
    }
    // Move the first four characters to the end, letters to numbers (A = 10), mod 97 == 1.
    let rotated = compact[4..].chars().chain(compact[..4].chars());
    let mut rem: u32 = 0;
    for c in rotated {
        let Some(v) = c.to_digit(36) else {
            return false;
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A Dutch citizen service number (BSN): nine digits (eight with the leading 0 left out)
/// that pass the elfproef.
pub fn bsn(s: &str) -> bool {
    let s = s.trim();
    if !s
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == ' ')
    {
        return false;
    }
    let mut digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() == 8 {
        digits.insert(0, 0);
    }
    if digits.len() != 9 || digits.iter().all(|d| *d == 0) {
        return false;
    }
    let sum: i64 = digits
        .iter()
        .take(8)
        .enumerate()
        .map(|(i, d)| (9 - i as i64) * i64::from(*d))
        .sum::<i64>()
        - i64::from(digits[8]);
    sum % 11 == 0
}

/// A payment card number: 13 to 19 digits (spaces and dashes allowed) starting as the card
/// networks do (2 to 6), passing the Luhn check.
pub fn card(s: &str) -> bool {
    let s = s.trim();
    if !s
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return false;
    }
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) || !(2..=6).contains(&digits[0]) {
        return false;
    }
    luhn(&digits)
}

/// The Luhn checksum over digits, the check digit last.
pub fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                *d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// An IPv4 or IPv6 address, optionally with a prefix length (`/24`), as databases write `inet`.
pub fn ip(s: &str) -> bool {
    let s = s.trim();
    let addr = match s.split_once('/') {
        Some((a, len)) if !len.is_empty() && len.chars().all(|c| c.is_ascii_digit()) => a,
        Some(_) => return false,
        None => s,
    };
    addr.parse::<std::net::IpAddr>().is_ok()
}

/// A Dutch postcode: four digits not starting with 0, two letters other than SA, SD and SS.
pub fn postcode(s: &str) -> bool {
    let compact: String = s.trim().chars().filter(|c| *c != ' ').collect();
    let b = compact.as_bytes();
    if b.len() != 6 || b[0] == b'0' {
        return false;
    }
    let letters = compact[4..].to_ascii_uppercase();
    b[..4].iter().all(u8::is_ascii_digit)
        && b[4..].iter().all(u8::is_ascii_alphabetic)
        && !["SA", "SD", "SS"].contains(&letters.as_str())
        && s.trim().chars().filter(|c| *c == ' ').count() <= 1
}

/// How old a birth date would make someone, when the value is a date (not a moment of a
/// day): `YYYY-MM-DD`, `DD-MM-YYYY` or `DD/MM/YYYY`, a midnight time allowed. `None` when the
/// value is no date, or a moment with a time of day, or in the future.
pub fn age(s: &str, today: NaiveDate) -> Option<i32> {
    let s = s.trim();
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    if let Some(t) = time {
        let clock = t.trim_end_matches('Z');
        let clock = clock.split(['+', '-']).next().unwrap_or(clock);
        if !clock.chars().all(|c| c == '0' || c == ':' || c == '.') {
            return None;
        }
    }
    let d = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(date, "%d-%m-%Y"))
        .or_else(|_| NaiveDate::parse_from_str(date, "%d/%m/%Y"))
        .ok()?;
    if d > today {
        return None;
    }
    let mut years = today.year() - d.year();
    if (today.month(), today.day()) < (d.month(), d.day()) {
        years -= 1;
    }
    Some(years)
}

/// A plausible birth date: a date (no time of day) of someone between 0 and 120 years old.
pub fn birth_date(s: &str, today: NaiveDate) -> bool {
    age(s, today).is_some_and(|a| (0..=120).contains(&a))
}

/// A plausible birth date of an adult (14 to 110 years old): what a date column must hold to
/// be taken for birth dates on its values alone, without a name saying so.
pub fn adult_birth_date(s: &str, today: NaiveDate) -> bool {
    age(s, today).is_some_and(|a| (14..=110).contains(&a))
}

/// Something a person could be called: one to five words of letters (with `-`, `'` and `.`),
/// no digits, no `@`.
pub fn person_name(s: &str) -> bool {
    let s = s.trim();
    let words = s.split_whitespace().count();
    (1..=5).contains(&words)
        && s.len() <= 80
        && s.chars().any(char::is_alphabetic)
        && s.chars()
            .all(|c| c.is_alphabetic() || c.is_whitespace() || "-'.".contains(c))
}

/// Text with at least one letter: what an address, a licence plate or a note holds.
pub fn has_letters(s: &str) -> bool {
    s.chars().any(char::is_alphabetic)
}

/// What a piece of free text holds: e-mail addresses and telephone numbers inside it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Embedded {
    /// An e-mail address appears in it.
    pub email: bool,
    /// A telephone number appears in it.
    pub phone: bool,
}

/// Scans free text for e-mail addresses (words with an `@`) and telephone numbers (runs of
/// digits and separators that make a number [`phone`] accepts).
pub fn embedded(text: &str) -> Embedded {
    let trim = |w: &str| -> String {
        w.trim_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_string()
    };
    let email = text
        .split(|c: char| c.is_whitespace() || "<>(),;:\"[]".contains(c))
        .any(|w| w.contains('@') && self::email(&trim(w)));
    let mut phone = false;
    let mut run = String::new();
    // A run of phone characters, ended by anything else; each run is tried whole.
    for c in text.chars().chain(std::iter::once('\n')) {
        if c.is_ascii_digit() || (c == '+' && run.trim().is_empty()) || " -.()/".contains(c) {
            run.push(c);
            continue;
        }
        let candidate = run.trim_matches(|c: char| !c.is_ascii_digit() && c != '+');
        if candidate.chars().filter(char::is_ascii_digit).count() >= 9 && self::phone(candidate) {
            phone = true;
        }
        run.clear();
    }
    Embedded { email, phone }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn email_addresses() {
        for ok in [
            "jan.jansen@example.nl",
            "a+b@mail.example.com",
            "X_Y@sub.d-o.org",
        ] {
            assert!(email(ok), "{ok}");
        }
        for bad in [
            "jan@",
            "@example.nl",
            "jan@localhost",
            "jan jansen@example.nl",
            "jan@example.c0m",
            "info(at)example.nl",
            "a@b@c.nl",
            "",
        ] {
            assert!(!email(bad), "{bad}");
        }
    }

    #[test]
    fn dutch_and_international_phone_numbers() {
        for ok in [
            "0612345678",
            "06-12345678",
            "06 1234 5678",
            "020-1234567",
            "+31612345678",
            "+31 6 12345678",
            "0031 20 123 4567",
            "+44 20 7946 0958",
            "+1 (415) 555-2671",
        ] {
            assert!(phone(ok), "{ok}");
        }
        for bad in [
            "612345678",
            "061234567",
            "00612345678",
            "+3106123456",
            "+31 0612345678",
            "1234567890",
            "06123456789",
            "+0123456789",
            "12:30",
            "2024-01-15",
            "06-1234567a",
        ] {
            assert!(!phone(bad), "{bad}");
        }
    }

    #[test]
    fn iban_mod_97() {
        for ok in [
            "NL91ABNA0417164300",
            "nl91 abna 0417 1643 00",
            "DE89370400440532013000",
            "BE68539007547034",
            "GB82WEST12345698765432",
        ] {
            assert!(iban(ok), "{ok}");
        }
        for bad in [
            "NL91ABNA0417164301",
            "NL91ABNA041716430",
            "DE8937040044053201300",
            "0417164300",
            "NLXXABNA0417164300",
        ] {
            assert!(!iban(bad), "{bad}");
        }
    }

    #[test]
    fn bsn_elfproef() {
        for ok in ["111222333", "123456782", "12345672", "999.999.990"] {
            assert!(bsn(ok), "{ok}");
        }
        for bad in [
            "111222334",
            "123456789",
            "000000000",
            "12345678a",
            "1234567821",
        ] {
            assert!(!bsn(bad), "{bad}");
        }
    }

    #[test]
    fn payment_cards_luhn() {
        for ok in [
            "4111111111111111",
            "5500 0000 0000 0004",
            "3782 8224 6310 005",
        ] {
            assert!(card(ok), "{ok}");
        }
        for bad in [
            "4111111111111112",
            "1111111111111117",
            "411111111111",
            "4111x11111111111",
        ] {
            assert!(!card(bad), "{bad}");
        }
        assert!(luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3]));
    }

    #[test]
    fn ip_addresses() {
        for ok in [
            "192.168.1.20",
            "10.0.0.0/8",
            "2001:db8::1",
            "::1",
            "fe80::1/64",
        ] {
            assert!(ip(ok), "{ok}");
        }
        for bad in [
            "256.1.1.1",
            "1.2.3",
            "192.168.1.20/",
            "2001:db8:::1",
            "host",
        ] {
            assert!(!ip(bad), "{bad}");
        }
    }

    #[test]
    fn dutch_postcodes() {
        for ok in ["1012 AB", "1012AB", "9999zz", "3511 CE"] {
            assert!(postcode(ok), "{ok}");
        }
        for bad in [
            "0123 AB", "1012 SA", "1012 SS", "1012 A", "10123 AB", "1012  AB", "AB 1012",
        ] {
            assert!(!postcode(bad), "{bad}");
        }
    }

    #[test]
    fn plausible_birth_dates() {
        let today = day("2026-06-15");
        assert!(birth_date("1980-04-01", today));
        assert!(birth_date("01-04-1980", today));
        assert!(birth_date("1980-04-01 00:00:00", today));
        assert!(birth_date("2020-01-01", today));
        assert!(
            !birth_date("1980-04-01 13:45:10", today),
            "a moment of a day"
        );
        assert!(!birth_date("1890-01-01", today), "older than 120");
        assert!(!birth_date("2027-01-01", today), "in the future");
        assert!(!birth_date("not a date", today));
        assert!(adult_birth_date("1980-04-01", today));
        assert!(
            !adult_birth_date("2020-01-01", today),
            "a child, or a record date"
        );
        assert_eq!(age("2000-06-16", today), Some(25));
        assert_eq!(age("2000-06-15", today), Some(26));
    }

    #[test]
    fn names_and_free_text() {
        assert!(person_name("Jan van der Berg"));
        assert!(person_name("Anne-Marie O'Neill"));
        assert!(!person_name("Widget 3000"));
        assert!(!person_name("jan@example.nl"));
        let found = embedded("Bel mevrouw terug op 06-12345678 of mail naar p.devries@example.nl.");
        assert_eq!(
            found,
            Embedded {
                email: true,
                phone: true
            }
        );
        let plain = embedded("Order 2024-01-15 12:00 verzonden, factuur 123456 betaald.");
        assert_eq!(plain, Embedded::default());
        assert!(embedded("contact: +31 6 12345678").phone);
        assert!(embedded("(jan@example.nl)").email);
    }
}
