//! HTTP handlers, one module per area. Handlers stay thin: parse and validate input into
//! domain types, call one service or store operation, map the result to a response body.

pub mod accounts;
pub mod admin;
pub mod catalog;
pub mod inventory;
pub mod page;
pub mod payments;
pub mod queue;
pub mod schema;
pub mod seed;
pub mod stream;
pub mod system;
pub mod tickets;

use crate::error::ApiError;

pub fn parse_date(date: Option<&str>) -> Result<Option<time::Date>, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    date.map(|d| {
        time::Date::parse(d, format).map_err(|_| ApiError::BadRequest("date must be YYYY-MM-DD".into()))
    })
    .transpose()
}

/// The largest UTC offset of a `date` filter, in minutes either way: 18 hours, as far as
/// offsets go (RFC 3339, and the `time` crate); real zones stay within 14.
pub const MAX_UTC_OFFSET_MINUTES: i32 = 18 * 60;

/// The start of a `date` filter's day: its midnight at `utc_offset_minutes` (east of UTC,
/// e.g. 60 for Berlin in winter; default 0), so a visitor filters by their own calendar day.
pub fn day_start(
    date: Option<&str>,
    utc_offset_minutes: Option<i32>,
) -> Result<Option<time::OffsetDateTime>, ApiError> {
    let minutes = utc_offset_minutes.unwrap_or(0);
    let offset = Some(minutes)
        .filter(|minutes| minutes.unsigned_abs() <= MAX_UTC_OFFSET_MINUTES.unsigned_abs())
        .and_then(|minutes| time::UtcOffset::from_whole_seconds(minutes * 60).ok())
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "utc_offset_minutes must be between -{MAX_UTC_OFFSET_MINUTES} and {MAX_UTC_OFFSET_MINUTES}"
            ))
        })?;
    let Some(date) = parse_date(date)? else { return Ok(None) };
    // The filter spans the whole day: the next one must exist too.
    date.next_day().ok_or_else(|| ApiError::BadRequest("date is out of range".into()))?;
    Ok(Some(date.midnight().assume_offset(offset)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_date_filter_starts_at_midnight_of_the_given_offset() {
        assert_eq!(day_start(None, Some(60)).unwrap(), None);
        assert_eq!(day_start(Some("2030-01-02"), None).unwrap(), Some(datetime!(2030-01-02 00:00 UTC)));
        assert_eq!(day_start(Some("2030-01-02"), Some(60)).unwrap(), Some(datetime!(2030-01-01 23:00 UTC)));
        assert_eq!(day_start(Some("2030-01-02"), Some(-330)).unwrap(), Some(datetime!(2030-01-02 05:30 UTC)));
        for wrong in [1081, -1081, i32::MAX, i32::MIN] {
            assert!(day_start(Some("2030-01-02"), Some(wrong)).is_err(), "{wrong}");
        }
        assert!(day_start(Some("2 Jan"), Some(0)).is_err());
        assert!(day_start(Some("9999-12-31"), Some(0)).is_err(), "its day has no end");
        assert!(day_start(Some("9999-12-30"), Some(0)).is_ok());
        // The last day the document's pattern allows, at both ends of the offsets.
        for minutes in [-MAX_UTC_OFFSET_MINUTES, MAX_UTC_OFFSET_MINUTES] {
            assert!(day_start(Some("9998-12-31"), Some(minutes)).is_ok(), "{minutes}");
            assert!(day_start(Some("0000-01-01"), Some(minutes)).is_ok(), "{minutes}");
        }
    }
}
