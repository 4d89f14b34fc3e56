//! Timer arithmetic: ISO-8601 durations and wall-clock due times in a time zone.
//!
//! Durations are calendar-aware (`P1M` from 31 January is the last day of February, `P1D`
//! across a DST change is the same wall-clock time the next day), because case work deadlines
//! are counted in days and months, not seconds. Results are always stored as UTC.

use chrono::{DateTime, Days, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The longest duration a definition or a scenario may name.
const MAX_YEARS: u64 = 1_000;
const MAX_MILLIS: u64 = MAX_YEARS * 366 * 86_400 * 1000;

/// A parsed ISO-8601 duration such as `P5D`, `PT10S` or `P1M2DT3H`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IsoDuration {
    pub months: u32,
    pub days: u32,
    /// The time part (hours, minutes, seconds and fractions), in milliseconds.
    pub millis: u64,
}

impl IsoDuration {
    pub fn parse(text: &str) -> Result<Self, String> {
        let parsed = iso8601::duration(text).map_err(|e| {
            format!("`{text}` is not an ISO-8601 duration ({e}); write e.g. P5D or PT30M")
        })?;
        let duration = match parsed {
            iso8601::Duration::Weeks(w) => Self {
                days: w * 7,
                ..Self::default()
            },
            iso8601::Duration::YMDHMS {
                year,
                month,
                day,
                hour,
                minute,
                second,
                millisecond,
            } => {
                let months = u64::from(year) * 12 + u64::from(month);
                Self {
                    months: u32::try_from(months).unwrap_or(u32::MAX),
                    days: day,
                    millis: (u64::from(hour) * 3600 + u64::from(minute) * 60 + u64::from(second))
                        * 1000
                        + u64::from(millisecond),
                }
            }
        };
        // Beyond any deadline of case work, and the arithmetic on dates stays in range.
        if duration.approx_millis() > MAX_MILLIS {
            return Err(format!(
                "`{text}` is longer than {MAX_YEARS} years; no deadline is that far away"
            ));
        }
        Ok(duration)
    }

    /// `from + self`, counting months and days on the wall clock of `zone`.
    pub fn after(&self, from: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        let local = from.with_timezone(&zone).naive_local();
        let shifted = local
            .checked_add_months(Months::new(self.months))
            .and_then(|d| d.checked_add_days(Days::new(u64::from(self.days))))
            .unwrap_or(local);
        let base = resolve_local(zone, shifted.date(), shifted.time());
        base + chrono::Duration::milliseconds(i64::try_from(self.millis).unwrap_or(i64::MAX / 2))
    }

    /// Approximate length, for backoff arithmetic where calendar precision does not matter.
    pub fn approx_millis(&self) -> u64 {
        (u64::from(self.months) * 30 * 86_400 + u64::from(self.days) * 86_400)
            .saturating_mul(1000)
            .saturating_add(self.millis)
    }
}

/// The instant a local date and time happen in `zone`. A time skipped by a DST change moves
/// forward by the gap; an ambiguous time takes its first occurrence, so a timer fires once.
pub fn resolve_local(zone: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let naive = date.and_time(time);
    match zone.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        chrono::LocalResult::None => {
            let later = naive + chrono::Duration::hours(1);
            zone.from_local_datetime(&later)
                .earliest()
                .map_or_else(|| Utc.from_utc_datetime(&naive), |t| t.with_timezone(&Utc))
        }
    }
}

/// Parses `HH:MM`.
pub fn parse_time_of_day(text: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(text, "%H:%M")
        .map_err(|_| format!("`{text}` is not a time of day; write HH:MM, e.g. 04:00"))
}

/// The due instant of an `until` value: a date (`2025-06-03`, then at `at` in `zone`) or an
/// RFC 3339 date-time.
pub fn until_instant(value: &str, at: NaiveTime, zone: Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(resolve_local(zone, date, at));
    }
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{value}` is neither a date (YYYY-MM-DD) nor an RFC 3339 date-time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn a_day_across_spring_dst_keeps_the_wall_clock() {
        let d = IsoDuration::parse("P1D").expect("valid");
        // 2025-03-30 is the spring change in Copenhagen: 04:00 local stays 04:00 local.
        let from = utc("2025-03-29T03:00:00Z"); // 04:00 CET
        assert_eq!(
            d.after(from, chrono_tz::Europe::Copenhagen),
            utc("2025-03-30T02:00:00Z")
        );
    }

    #[test]
    fn a_month_from_the_31st_ends_in_the_shorter_month() {
        let d = IsoDuration::parse("P1M").expect("valid");
        let from = utc("2025-01-31T11:00:00Z");
        assert_eq!(d.after(from, chrono_tz::UTC), utc("2025-02-28T11:00:00Z"));
    }

    #[test]
    fn time_parts_and_weeks_parse() {
        assert_eq!(
            IsoDuration::parse("PT1H30M").expect("valid").millis,
            5_400_000
        );
        assert_eq!(IsoDuration::parse("PT0.5S").expect("valid").millis, 500);
        assert_eq!(IsoDuration::parse("P2W").expect("valid").days, 14);
        assert!(IsoDuration::parse("5 days").is_err());
        // Far beyond any deadline: refused, rather than overflowing a date later.
        assert!(IsoDuration::parse("PT4000000000H").is_err());
        assert!(IsoDuration::parse("P1000000Y").is_err());
        assert!(IsoDuration::parse("P999Y").is_ok());
    }

    #[test]
    fn a_skipped_local_time_moves_forward_and_an_ambiguous_one_takes_the_first() {
        let cph = chrono_tz::Europe::Copenhagen;
        let t = parse_time_of_day("02:30").expect("valid");
        let spring = NaiveDate::from_ymd_opt(2025, 3, 30).expect("date");
        assert_eq!(resolve_local(cph, spring, t), utc("2025-03-30T01:30:00Z"));
        let autumn = NaiveDate::from_ymd_opt(2025, 10, 26).expect("date");
        assert_eq!(resolve_local(cph, autumn, t), utc("2025-10-26T00:30:00Z"));
    }

    #[test]
    fn until_accepts_dates_and_instants() {
        let cph = chrono_tz::Europe::Copenhagen;
        let midnight = NaiveTime::MIN;
        assert_eq!(
            until_instant("2025-06-03", midnight, cph).expect("date"),
            utc("2025-06-02T22:00:00Z")
        );
        assert_eq!(
            until_instant("2025-06-03T10:00:00+02:00", midnight, cph).expect("instant"),
            utc("2025-06-03T08:00:00Z")
        );
        assert!(until_instant("3rd of June", midnight, cph).is_err());
    }
}
