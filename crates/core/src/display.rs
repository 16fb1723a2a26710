//! How people read Kaika's numbers and times: money in yuan (`¥100.00`, never cents), points as
//! integers, and times in the admin's time zone (`admin.time_zone`, Asia/Shanghai by default), never
//! Unix seconds. The admin pages, the CSV export and the CLI all format through here, so that a
//! merchant reads the same value everywhere.

use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
use chrono_tz::Tz;

/// Cents as yuan with the sign before the currency symbol: `¥100.00`, `-¥12.34`.
pub fn yuan(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}¥{}.{:02}", abs / 100, abs % 100)
}

/// Cents as a plain decimal number of yuan, `100.00` (a spreadsheet column that sums).
pub fn yuan_number(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// A ledger amount or total of `kind`: `balance` (stored in cents) in yuan, `points` as an integer.
pub fn amount(kind: &str, value: i64) -> String {
    if kind == "balance" {
        yuan(value)
    } else {
        value.to_string()
    }
}

/// A ledger change with its sign: `+¥100.00`, `-30` (points).
pub fn signed_amount(kind: &str, value: i64) -> String {
    let text = amount(kind, value);
    if value > 0 {
        format!("+{text}")
    } else {
        text
    }
}

/// A value for a spreadsheet column that Excel would otherwise read as a number: an all-digit string
/// of 6 or more digits (a mobile, a card code, a numeric membership number) becomes the formula
/// `="…"`, which Excel and LibreOffice show as exactly that text. Read as a number, a 12-digit code
/// shows as `1.23457E+11` and a leading zero is lost. A leading tab would keep it as text too, but the
/// tab stays in the value for every other program that reads the file; the formula holds only digits,
/// so it cannot run anything. Anything else is returned as it is.
pub fn spreadsheet_text(value: &str) -> String {
    if value.len() >= 6 && value.bytes().all(|b| b.is_ascii_digit()) {
        format!("=\"{value}\"")
    } else {
        value.to_owned()
    }
}

/// A percentage with one decimal, `33.3%`; `—` when there is nothing to divide by.
pub fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}%"))
}

/// The time zone the admin, its CSV export and the CLI show times in (`admin.time_zone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(Tz);

impl Default for Zone {
    /// Asia/Shanghai: Kaika's merchants are in China.
    fn default() -> Self {
        Self(Tz::Asia__Shanghai)
    }
}

impl Zone {
    /// An IANA time zone name such as `Asia/Shanghai` or `UTC`.
    pub fn parse(name: &str) -> Result<Self, String> {
        name.trim().parse::<Tz>().map(Self).map_err(|_| {
            format!("{name:?} is not an IANA time zone name such as Asia/Shanghai or UTC")
        })
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// `2026-11-28 20:05`, in this zone.
    pub fn minute(&self, time: &DateTime<Utc>) -> String {
        time.with_timezone(&self.0)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    /// `2026-11-28 20:05:09`, in this zone.
    pub fn second(&self, time: &DateTime<Utc>) -> String {
        time.with_timezone(&self.0)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    /// `2026-11-28 20:05:09 +08:00`: the offset too, for the CLI, whose output is pasted elsewhere.
    pub fn with_offset(&self, time: &DateTime<Utc>) -> String {
        time.with_timezone(&self.0)
            .format("%Y-%m-%d %H:%M:%S %:z")
            .to_string()
    }

    /// `2026-11-28`, the day in this zone.
    pub fn day(&self, time: &DateTime<Utc>) -> String {
        time.with_timezone(&self.0).format("%Y-%m-%d").to_string()
    }

    /// Unix seconds (WeChat's `CreateTime`) as [`Zone::second`]; out of range as the number itself.
    pub fn unix(&self, seconds: i64) -> String {
        DateTime::from_timestamp(seconds, 0)
            .map_or_else(|| seconds.to_string(), |time| self.second(&time))
    }

    /// The first instant of `day` in this zone (a day that starts in a DST gap starts at its first
    /// existing minute).
    pub fn start_of(&self, day: NaiveDate) -> DateTime<Utc> {
        let midnight = day.and_time(chrono::NaiveTime::MIN);
        match self.0.from_local_datetime(&midnight) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                t.with_timezone(&Utc)
            }
            chrono::LocalResult::None => (1..=180)
                .find_map(|minutes| {
                    self.0
                        .from_local_datetime(&(midnight + chrono::Duration::minutes(minutes)))
                        .earliest()
                })
                .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc)),
        }
    }

    /// Today's date in this zone at `now`.
    pub fn today(&self, now: &DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.0).date_naive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn cents_read_as_yuan_with_two_decimals() {
        assert_eq!(yuan(10_000), "¥100.00");
        assert_eq!(yuan(5), "¥0.05");
        assert_eq!(yuan(0), "¥0.00");
        assert_eq!(yuan(-1234), "-¥12.34");
        assert_eq!(yuan(i64::MIN), "-¥92233720368547758.08");
        assert_eq!(yuan_number(-1234), "-12.34");
        assert_eq!(yuan_number(10_000), "100.00");
    }

    #[test]
    fn amounts_are_yuan_for_balance_and_integers_for_points() {
        assert_eq!(amount("balance", 10_000), "¥100.00");
        assert_eq!(amount("points", 10_000), "10000");
        assert_eq!(signed_amount("balance", 250), "+¥2.50");
        assert_eq!(signed_amount("balance", -250), "-¥2.50");
        assert_eq!(signed_amount("points", -30), "-30");
        assert_eq!(signed_amount("points", 30), "+30");
    }

    #[test]
    fn long_digit_strings_stay_text_in_spreadsheets() {
        assert_eq!(spreadsheet_text("13800138000"), "=\"13800138000\"");
        assert_eq!(spreadsheet_text("012345678901"), "=\"012345678901\"");
        assert_eq!(
            spreadsheet_text("12345"),
            "12345",
            "short numbers stay numbers"
        );
        assert_eq!(spreadsheet_text("KK00000042"), "KK00000042");
        assert_eq!(spreadsheet_text("+8613800138000"), "+8613800138000");
        assert_eq!(spreadsheet_text(""), "");
    }

    #[test]
    fn percentages_have_one_decimal_and_a_dash_for_nothing() {
        assert_eq!(percent(Some(100.0 / 3.0)), "33.3%");
        assert_eq!(percent(Some(100.0)), "100.0%");
        assert_eq!(percent(None), "—");
    }

    #[test]
    fn times_are_shown_in_the_zone_not_utc() {
        let shanghai = Zone::default();
        assert_eq!(shanghai.name(), "Asia/Shanghai");
        let t = at("2026-11-28T18:30:05Z");
        assert_eq!(shanghai.minute(&t), "2026-11-29 02:30");
        assert_eq!(shanghai.second(&t), "2026-11-29 02:30:05");
        assert_eq!(shanghai.day(&t), "2026-11-29");
        assert_eq!(shanghai.with_offset(&t), "2026-11-29 02:30:05 +08:00");
        assert_eq!(shanghai.unix(t.timestamp()), "2026-11-29 02:30:05");
        let utc = Zone::parse("UTC").unwrap();
        assert_eq!(utc.minute(&t), "2026-11-28 18:30");
    }

    #[test]
    fn a_day_starts_at_midnight_of_the_zone() {
        let shanghai = Zone::default();
        let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        assert_eq!(shanghai.start_of(day), at("2026-11-28T16:00:00Z"));
        assert_eq!(shanghai.today(&at("2026-11-28T16:00:00Z")), day);
        assert_eq!(
            shanghai.today(&at("2026-11-28T15:59:59Z")),
            day.pred_opt().unwrap()
        );
        // São Paulo skipped midnight on 2018-11-04: the day began at 01:00 local (03:00 UTC).
        let sao_paulo = Zone::parse("America/Sao_Paulo").unwrap();
        let gap = NaiveDate::from_ymd_opt(2018, 11, 4).unwrap();
        assert_eq!(sao_paulo.start_of(gap), at("2018-11-04T03:00:00Z"));
    }

    #[test]
    fn unknown_zones_are_refused_with_an_example() {
        let err = Zone::parse("Beijing").unwrap_err();
        assert!(err.contains("\"Beijing\""), "{err}");
        assert!(err.contains("Asia/Shanghai"), "{err}");
        assert!(Zone::parse("Europe/Berlin").is_ok());
    }
}
