//! Reading what a server says about its rate limits. `Retry-After` comes as seconds or as an
//! HTTP date; both mean "do not ask again before then".

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Longest wait we accept from a server: a bogus far-future date must not park a source for years.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Parses a `Retry-After` value (delay-seconds or HTTP-date) relative to `now`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    let wait = if let Ok(secs) = v.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64()))
    } else {
        let when = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
        (when - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// `Retry-After` from a reply's headers, if present and readable.
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn seconds_and_dates() {
        let cases: &[(&str, Option<u64>)] = &[
            ("120", Some(120)),
            (" 5 ", Some(5)),
            ("1.5", Some(1)),
            ("Fri, 01 May 2026 12:01:00 GMT", Some(60)),
            ("Fri, 01 May 2026 11:00:00 GMT", Some(0)),
            ("999999999", Some(MAX_RETRY_AFTER.as_secs())),
            ("-3", None),
            ("soon", None),
            ("", None),
        ];
        for (input, want) in cases {
            let got = parse_retry_after(input, now()).map(|d| d.as_secs());
            assert_eq!(got, *want, "Retry-After {input:?}");
        }
    }
}
