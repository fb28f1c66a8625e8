//! Judging one column: what its name says, what share of its sampled values validate, and
//! from both a kind and a confidence. Values are tallied as they are read and never kept.

use super::kind::Kind;
use super::names::NameMatch;
use super::values;
use chrono::NaiveDate;
use serde::Serialize;

/// Findings below this confidence are left out of the report.
pub const THRESHOLD: f64 = 0.5;

/// The shape of a column's declared type, as far as detection cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Character data, or a column without a declared type: anything may be in it.
    Text,
    /// Numbers.
    Number,
    /// Dates and timestamps.
    Time,
    /// Booleans: never personal data on their own.
    Bool,
    /// Binary data, not sampled.
    Binary,
}

/// Counts over a column's sampled values: how many validate as each kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Rows sampled.
    pub sampled: u64,
    /// Values that are neither NULL nor blank.
    pub values: u64,
    email: u64,
    phone: u64,
    phone_digits: u64,
    iban: u64,
    bsn: u64,
    card: u64,
    ip: u64,
    postcode: u64,
    birth: u64,
    adult_birth: u64,
    person_name: u64,
    letters: u64,
    plate: u64,
    /// Values with an e-mail address inside.
    pub embedded_email: u64,
    /// Values with a telephone number inside.
    pub embedded_phone: u64,
    /// Values with an e-mail address or a telephone number inside.
    pub embedded: u64,
}

impl Tally {
    /// Counts one sampled value (`None` for NULL). The value itself is not kept.
    pub fn add(&mut self, value: Option<&str>, today: NaiveDate) {
        self.sampled += 1;
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return;
        };
        self.values += 1;
        let count = |n: &mut u64, yes: bool| *n += u64::from(yes);
        count(&mut self.email, values::email(v));
        count(&mut self.phone, values::phone(v));
        count(&mut self.phone_digits, values::phone_digits(v));
        count(&mut self.iban, values::iban(v));
        count(&mut self.bsn, values::bsn(v));
        count(&mut self.card, values::card(v));
        count(&mut self.ip, values::ip(v));
        count(&mut self.postcode, values::postcode(v));
        count(&mut self.birth, values::birth_date(v, today));
        count(&mut self.adult_birth, values::adult_birth_date(v, today));
        count(&mut self.person_name, values::person_name(v));
        count(&mut self.letters, values::has_letters(v));
        count(&mut self.plate, plate(v));
        let found = values::embedded(v);
        count(&mut self.embedded_email, found.email);
        count(&mut self.embedded_phone, found.phone);
        count(&mut self.embedded, found.email || found.phone);
    }

    /// Values that validate as `kind` (for kinds without a validator: that are plausible).
    fn matched(&self, kind: Kind, shape: Shape) -> u64 {
        match kind {
            Kind::Email => self.email,
            // A number column loses a telephone number's leading 0 or +.
            Kind::Phone if shape == Shape::Number => self.phone_digits,
            Kind::Phone => self.phone,
            Kind::Iban => self.iban,
            Kind::NationalId => self.bsn,
            Kind::PaymentCard => self.card,
            Kind::IpAddress => self.ip,
            Kind::Postcode => self.postcode,
            Kind::BirthDate => self.birth,
            Kind::Name => self.person_name,
            Kind::Address if shape == Shape::Number => self.values,
            Kind::Address => self.letters,
            Kind::LicensePlate => self.plate,
            Kind::FreeText => self.embedded,
            Kind::Gender | Kind::Special | Kind::Document => self.values,
        }
    }

    fn share(&self, n: u64) -> f64 {
        if self.values == 0 {
            0.0
        } else {
            n as f64 / self.values as f64
        }
    }
}

/// A Dutch licence plate as written: six letters and digits, both present, in groups.
fn plate(s: &str) -> bool {
    let compact: String = s.trim().chars().filter(|c| *c != '-').collect();
    compact.len() == 6
        && compact.chars().all(|c| c.is_ascii_alphanumeric())
        && compact.chars().any(|c| c.is_ascii_digit())
        && compact.chars().any(|c| c.is_ascii_alphabetic())
}

/// What a finding rests on: counts, never a value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// The column's name points to the kind.
    pub name: bool,
    /// Rows sampled.
    pub sampled: u64,
    /// Sampled values that are neither NULL nor blank.
    pub values: u64,
    /// Of those, how many validate as the kind (for free text: hold an e-mail address or a
    /// telephone number).
    pub matched: u64,
}

/// A column judged to hold personal data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// What it holds.
    pub kind: Kind,
    /// How sure, 0 to 1, in hundredths.
    pub confidence: f64,
    /// The counts it rests on.
    pub evidence: Evidence,
}

/// How much a validator's pass on its own says: a checksum says more than a date range.
fn value_weight(kind: Kind) -> f64 {
    match kind {
        Kind::Email | Kind::Iban | Kind::PaymentCard => 1.0,
        Kind::Phone | Kind::IpAddress | Kind::Postcode | Kind::NationalId => 0.95,
        _ => 0.75,
    }
}

/// Kinds a column of this shape can hold.
fn fits(kind: Kind, shape: Shape) -> bool {
    match shape {
        Shape::Text | Shape::Binary => true,
        Shape::Number => matches!(
            kind,
            Kind::NationalId
                | Kind::PaymentCard
                | Kind::Phone
                | Kind::Address
                | Kind::Gender
                | Kind::Special
                | Kind::Document
        ),
        Shape::Time => kind == Kind::BirthDate,
        Shape::Bool => false,
    }
}

/// The kind the values alone point to: the validated kind most values pass, when at least
/// half of them and at least three (or all, when fewer) do.
fn by_values(t: &Tally, shape: Shape) -> Option<(Kind, u64, f64)> {
    let candidates = [
        (Kind::Email, t.email),
        (Kind::Phone, t.phone),
        (Kind::Iban, t.iban),
        (Kind::NationalId, t.bsn),
        (Kind::PaymentCard, t.card),
        (Kind::IpAddress, t.ip),
        (Kind::Postcode, t.postcode),
        // On values alone a date is a birth date only when it makes an adult.
        (Kind::BirthDate, t.adult_birth),
    ];
    let enough = t.values.clamp(1, 3);
    candidates
        .into_iter()
        .filter(|(k, n)| fits(*k, shape) && *n >= enough && t.share(*n) >= 0.5)
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(k, n)| (k, n, value_weight(k) * (0.4 + 0.5 * t.share(n))))
}

fn round(c: f64) -> f64 {
    (c.clamp(0.0, 1.0) * 100.0).round() / 100.0
}

/// Judges a column from what its name says and the tally of its sampled values. `None` when
/// the confidence stays below [`THRESHOLD`].
pub fn judge(name: Option<NameMatch>, tally: &Tally, shape: Shape) -> Option<Detection> {
    if shape == Shape::Bool {
        return None;
    }
    let name = name.filter(|m| fits(m.kind, shape) || m.kind == Kind::FreeText);
    let evidence = |kind: Kind, by_name: bool| Evidence {
        name: by_name,
        sampled: tally.sampled,
        values: tally.values,
        matched: tally.matched(kind, shape),
    };
    let detection = |kind: Kind, by_name: bool, confidence: f64| Detection {
        kind,
        confidence: round(confidence),
        evidence: evidence(kind, by_name),
    };
    let by_values = by_values(tally, shape);
    let embedded = tally.share(tally.embedded);
    let found = match name {
        Some(m) if m.kind == Kind::FreeText => match by_values {
            Some((k, _, c)) => Some(detection(k, false, c)),
            None if tally.embedded > 0 => Some(detection(
                Kind::FreeText,
                true,
                0.6 + 0.2 * m.strength + 0.2 * embedded,
            )),
            None => None,
        },
        Some(m) if tally.values == 0 => Some(detection(m.kind, true, 0.4 + 0.2 * m.strength)),
        Some(m) => {
            let s = tally.share(tally.matched(m.kind, shape));
            match by_values {
                // The values say something else than the name: the values win.
                Some((k, _, c)) if k != m.kind && s < 0.5 => Some(detection(k, false, c)),
                _ if m.kind.validated() && s >= 0.5 => {
                    Some(detection(m.kind, true, 0.6 + 0.2 * m.strength + 0.2 * s))
                }
                _ if m.kind.validated() => {
                    Some(detection(m.kind, true, 0.25 + 0.2 * m.strength + 0.5 * s))
                }
                _ => Some(detection(m.kind, true, 0.25 + 0.2 * m.strength + 0.45 * s)),
            }
        }
        None => match by_values {
            Some((k, _, c)) => Some(detection(k, false, c)),
            None if tally.embedded > 0 && shape == Shape::Text => {
                Some(detection(Kind::FreeText, false, 0.55 + 0.35 * embedded))
            }
            None => None,
        },
    };
    found.filter(|d| d.confidence >= THRESHOLD)
}

#[cfg(test)]
mod tests {
    use super::super::names;
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 15).unwrap()
    }

    fn judge_values(column: &str, shape: Shape, vals: &[Option<&str>]) -> Option<Detection> {
        let mut t = Tally::default();
        for v in vals {
            t.add(*v, today());
        }
        judge(names::read(column, "klanten"), &t, shape)
    }

    #[test]
    fn telephone_numbers_in_a_number_column_are_found_without_their_leading_zero() {
        let vals = [Some("612345678"), Some("31612345679"), Some("201234567")];
        let d = judge_values("telefoon", Shape::Number, &vals).unwrap();
        assert_eq!(d.kind, Kind::Phone);
        assert!(d.confidence >= 0.8, "{d:?}");
        assert_eq!(d.evidence.matched, 3);
        // Nine digits alone are as likely an order number.
        assert_eq!(judge_values("ordernummer", Shape::Number, &vals), None);
    }

    #[test]
    fn a_name_confirmed_by_its_values_is_near_certain() {
        let d = judge_values(
            "email",
            Shape::Text,
            &[Some("a@example.nl"), Some("b@example.nl"), None],
        )
        .unwrap();
        assert_eq!(d.kind, Kind::Email);
        assert_eq!(d.confidence, 1.0);
        assert_eq!(
            d.evidence,
            Evidence {
                name: true,
                sampled: 3,
                values: 2,
                matched: 2
            }
        );
    }

    #[test]
    fn values_find_what_a_neutral_name_hides() {
        let ibans = [Some("NL91ABNA0417164300"), Some("DE89370400440532013000")];
        let d = judge_values("ref", Shape::Text, &ibans).unwrap();
        assert_eq!((d.kind, d.evidence.name), (Kind::Iban, false));
        assert!(d.confidence >= 0.8, "{d:?}");
        let bsns = [Some("111222333"), Some("123456782"), Some("12345672")];
        assert_eq!(
            judge_values("extra", Shape::Text, &bsns).map(|d| d.kind),
            Some(Kind::NationalId)
        );
    }

    #[test]
    fn a_personal_name_over_other_data_is_not_found() {
        let models = [Some("iPhone 12"), Some("Galaxy S21"), Some("Pixel 7")];
        assert_eq!(judge_values("phone", Shape::Text, &models), None);
        assert_eq!(
            judge_values("email_verified", Shape::Bool, &[Some("true")]),
            None
        );
        assert_eq!(
            judge_values("name", Shape::Text, &[Some("X-100"), Some("Y-200")]),
            None
        );
    }

    #[test]
    fn an_empty_column_is_found_on_its_name_alone() {
        let d = judge_values("iban", Shape::Text, &[None, None]).unwrap();
        assert_eq!((d.kind, d.confidence), (Kind::Iban, 0.6));
        assert_eq!(d.evidence.values, 0);
        assert_eq!(judge_values("notes", Shape::Text, &[None]), None);
    }

    #[test]
    fn free_text_is_scanned_for_contact_details() {
        let notes = [
            Some("Klant belde, terugbellen op 06-12345678"),
            Some("Factuur verstuurd"),
            Some("Nieuw adres doorgegeven via jan@example.nl"),
            Some("Geen bijzonderheden"),
        ];
        let d = judge_values("notes", Shape::Text, &notes).unwrap();
        assert_eq!((d.kind, d.evidence.matched), (Kind::FreeText, 2));
        let d = judge_values("omschrijving", Shape::Text, &notes).unwrap();
        assert_eq!((d.kind, d.evidence.name), (Kind::FreeText, false));
        let plain = [Some("Factuur verstuurd"), Some("Geen bijzonderheden")];
        assert_eq!(judge_values("omschrijving", Shape::Text, &plain), None);
    }

    #[test]
    fn dates_of_records_are_not_birth_dates() {
        let recent = [Some("2024-01-15"), Some("2023-03-02"), Some("2025-07-30")];
        assert_eq!(judge_values("created_on", Shape::Time, &recent), None);
        let births = [Some("1980-04-01"), Some("1975-12-24"), Some("1990-07-30")];
        assert_eq!(
            judge_values("d1", Shape::Time, &births).map(|d| d.kind),
            Some(Kind::BirthDate)
        );
        let moments = [Some("1980-04-01 13:20:00"), Some("1975-12-24 08:01:00")];
        assert_eq!(judge_values("geboortedatum", Shape::Time, &moments), None);
    }
}
