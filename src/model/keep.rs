//! Retention periods such as `90d`, `18M` and `7y`.

use chrono::{DateTime, Duration, Months, Utc};
use serde::Serialize;
use std::fmt;

/// How long a record is kept after its clock: an amount of hours, days, weeks, months or years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Keep {
    amount: u32,
    unit: Unit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

impl Keep {
    /// Parses `<number><unit>` with unit `h`, `d`, `w`, `M` (months) or `y`.
    pub fn parse(s: &str) -> Result<Keep, String> {
        let expected = "expected a number and a unit: `h` hours, `d` days, `w` weeks, `M` months, `y` years (e.g. `90d`, `18M`, `7y`)";
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let amount: u32 = num
            .parse()
            .map_err(|_| format!("invalid duration `{}`; {expected}", crate::util::shorten(s)))?;
        let unit = match unit {
            "h" => Unit::Hours,
            "d" => Unit::Days,
            "w" => Unit::Weeks,
            "M" => Unit::Months,
            "y" => Unit::Years,
            "m" => {
                return Err(format!(
                    "ambiguous duration unit `m` in `{s}`; write `M` for months (minutes are not supported)"
                ))
            }
            _ => return Err(format!("invalid duration `{}`; {expected}", crate::util::shorten(s))),
        };
        let keep = Keep { amount, unit };
        let now = Utc::now();
        let within = keep
            .checked_cutoff(now)
            .is_some_and(|c| now - c <= Duration::days(36_525));
        if amount == 0 || !within {
            return Err(format!(
                "duration `{s}` is out of range; expected at least 1 and at most 100 years"
            ));
        }
        Ok(keep)
    }

    /// The instant before which a clock value must lie for its record to be due at `as_of`:
    /// `clock + keep < as_of` is evaluated as `clock < as_of - keep`, calendar-aware
    /// (one month before 31 March is 28 or 29 February).
    ///
    /// The one rule for a cutoff out of range, wherever a cutoff is used: it fails closed as
    /// the earliest instant, before which nothing lies. A policy then makes nothing due, and a
    /// hold's clock window then holds everything it selects.
    pub fn cutoff(&self, as_of: DateTime<Utc>) -> DateTime<Utc> {
        self.checked_cutoff(as_of)
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The instant `keep` after `clock`: when a record with that clock becomes due (the
    /// latest instant, if out of range).
    pub fn after(&self, clock: DateTime<Utc>) -> DateTime<Utc> {
        let n = self.amount;
        match self.unit {
            Unit::Hours => clock.checked_add_signed(Duration::hours(n.into())),
            Unit::Days => clock.checked_add_signed(Duration::days(n.into())),
            Unit::Weeks => clock.checked_add_signed(Duration::weeks(n.into())),
            Unit::Months => clock.checked_add_months(Months::new(n)),
            Unit::Years => n
                .checked_mul(12)
                .and_then(|m| clock.checked_add_months(Months::new(m))),
        }
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn checked_cutoff(&self, as_of: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let n = self.amount;
        match self.unit {
            Unit::Hours => as_of.checked_sub_signed(Duration::hours(n.into())),
            Unit::Days => as_of.checked_sub_signed(Duration::days(n.into())),
            Unit::Weeks => as_of.checked_sub_signed(Duration::weeks(n.into())),
            Unit::Months => as_of.checked_sub_months(Months::new(n)),
            Unit::Years => as_of.checked_sub_months(Months::new(n.checked_mul(12)?)),
        }
    }
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = match self.unit {
            Unit::Hours => "h",
            Unit::Days => "d",
            Unit::Weeks => "w",
            Unit::Months => "M",
            Unit::Years => "y",
        };
        write!(f, "{}{u}", self.amount)
    }
}

impl From<Keep> for String {
    fn from(k: Keep) -> String {
        k.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parses_units() {
        for s in ["90d", "18M", "7y", "12h", "2w"] {
            assert_eq!(Keep::parse(s).unwrap().to_string(), s);
        }
        for s in [
            "", "d", "90", "90x", "-3d", "6m", "0d", "1.5y", "500y", "40000d",
        ] {
            assert!(Keep::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn cutoff_is_calendar_aware() {
        let leap = Utc.with_ymd_and_hms(2028, 2, 29, 12, 0, 0).unwrap();
        let y = Keep::parse("1y").unwrap().checked_cutoff(leap).unwrap();
        assert_eq!(y, Utc.with_ymd_and_hms(2027, 2, 28, 12, 0, 0).unwrap());
        let end_march = Utc.with_ymd_and_hms(2026, 3, 31, 0, 0, 0).unwrap();
        let m = Keep::parse("1M")
            .unwrap()
            .checked_cutoff(end_march)
            .unwrap();
        assert_eq!(m, Utc.with_ymd_and_hms(2026, 2, 28, 0, 0, 0).unwrap());
        let d = Keep::parse("90d")
            .unwrap()
            .checked_cutoff(end_march)
            .unwrap();
        assert_eq!(end_march - d, Duration::days(90));
    }

    #[test]
    fn a_cutoff_out_of_range_fails_closed() {
        let keep = Keep::parse("100y").unwrap();
        let early = DateTime::<Utc>::MIN_UTC + Duration::days(1);
        assert_eq!(keep.cutoff(early), DateTime::<Utc>::MIN_UTC);
        let now = Utc::now();
        assert_eq!(Some(keep.cutoff(now)), keep.checked_cutoff(now));
    }
}
