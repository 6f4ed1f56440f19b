//! Shoptet date-times: `2025-03-14T09:41:07+0100` (offset without a colon, shop-local time).
//!
//! Strict RFC 3339 parsers reject the colon-less offset, so parsing goes through a `%z`
//! format that accepts `+0100` and `+01:00` alike; values are converted to UTC on ingest.
//! Outgoing filter values are written in Europe/Prague local time, the form Shoptet emits,
//! and must be percent-encoded in queries (`+` → `%2B`, otherwise it arrives as a space).

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use chrono_tz::Europe::Prague;
use serde::{Deserialize, Deserializer};

/// The format Shoptet uses for date-times on the wire.
pub const SHOPTET_DATETIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%z";

/// Parses a Shoptet date-time (`+0100`, `+01:00`, optional fractional seconds, or `Z`) into UTC.
pub fn parse_datetime(text: &str) -> Result<DateTime<Utc>, String> {
    let trimmed = text.trim();
    // `%.f` accepts an absent fraction; `%z` accepts the offset with or without a colon.
    DateTime::<FixedOffset>::parse_from_str(trimmed, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(trimmed))
        .map(|parsed| parsed.with_timezone(&Utc))
        .map_err(|err| format!("invalid Shoptet date-time {trimmed:?}: {err}"))
}

/// Formats a UTC instant as Shoptet does: Prague local time with a colon-less offset.
pub fn format_datetime(instant: DateTime<Utc>) -> String {
    instant
        .with_timezone(&Prague)
        .format(SHOPTET_DATETIME_FORMAT)
        .to_string()
}

/// Percent-encodes one query value or path segment: everything except RFC 3986 unreserved
/// characters is escaped, so `+` becomes `%2B`, `/` becomes `%2F` and a space `%20`.
pub fn encode_component(raw: &str) -> String {
    let mut encoded = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Serde adapter: a required Shoptet date-time.
pub fn de_datetime<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_datetime(&text).map_err(serde::de::Error::custom)
}

/// Serde adapter: a nullable/absent Shoptet date-time (an empty string counts as absent).
pub fn de_opt_datetime<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        Some(text) if !text.trim().is_empty() => parse_datetime(&text)
            .map(Some)
            .map_err(serde::de::Error::custom),
        _ => Ok(None),
    }
}

/// Serde adapter: a nullable `YYYY-MM-DD` date (a date-time is accepted and cut to its date).
pub fn de_opt_date<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<NaiveDate>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        Some(text) if !text.trim().is_empty() => {
            let text = text.trim();
            let date_part = text.get(..10).unwrap_or(text);
            NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
                .map(Some)
                .map_err(|err| serde::de::Error::custom(format!("invalid date {text:?}: {err}")))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parses_offset_without_colon_into_utc() {
        let parsed = parse_datetime("2025-03-14T09:41:07+0100").unwrap();
        assert_eq!(parsed, Utc.with_ymd_and_hms(2025, 3, 14, 8, 41, 7).unwrap());
    }

    #[test]
    fn parses_offset_with_colon_and_summer_time() {
        let parsed = parse_datetime("2024-08-14T15:20:11+02:00").unwrap();
        assert_eq!(
            parsed,
            Utc.with_ymd_and_hms(2024, 8, 14, 13, 20, 11).unwrap()
        );
        let no_colon = parse_datetime("2024-08-14T15:20:11+0200").unwrap();
        assert_eq!(parsed, no_colon);
    }

    #[test]
    fn parses_fraction_and_zulu() {
        let parsed = parse_datetime("2025-01-02T03:04:05.250+0100").unwrap();
        assert_eq!(parsed.timestamp_millis() % 1000, 250);
        let zulu = parse_datetime("2025-01-02T02:04:05Z").unwrap();
        assert_eq!(zulu, Utc.with_ymd_and_hms(2025, 1, 2, 2, 4, 5).unwrap());
    }

    #[test]
    fn rejects_garbage_with_the_value_in_the_message() {
        let err = parse_datetime("14.3.2025 09:41").unwrap_err();
        assert!(err.contains("14.3.2025 09:41"), "{err}");
        assert!(parse_datetime("2025-03-14T09:41:07").is_err());
    }

    #[test]
    fn formats_in_prague_time_winter_and_summer() {
        let winter = Utc.with_ymd_and_hms(2025, 3, 14, 8, 41, 7).unwrap();
        assert_eq!(format_datetime(winter), "2025-03-14T09:41:07+0100");
        let summer = Utc.with_ymd_and_hms(2024, 8, 14, 13, 20, 11).unwrap();
        assert_eq!(format_datetime(summer), "2024-08-14T15:20:11+0200");
        // Round trip.
        assert_eq!(parse_datetime(&format_datetime(summer)).unwrap(), summer);
    }

    #[test]
    fn encodes_plus_slash_and_space() {
        assert_eq!(
            encode_component("2025-03-14T09:41:07+0100"),
            "2025-03-14T09%3A41%3A07%2B0100"
        );
        assert_eq!(encode_component("TRI-042/M"), "TRI-042%2FM");
        assert_eq!(encode_component("a b"), "a%20b");
        assert_eq!(encode_component("Žluť"), "%C5%BDlu%C5%A5");
    }
}
