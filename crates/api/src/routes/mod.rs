//! HTTP handlers, one module per area. Handlers stay thin: parse and validate input into
//! domain types, call one service or store operation, map the result to a response body.

pub mod accounts;
pub mod admin;
pub mod catalog;
pub mod inventory;
pub mod payments;
pub mod queue;
pub mod seed;
pub mod stream;
pub mod system;
pub mod tickets;

use crate::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use marquee_domain::ids::EventId;

/// Default and largest page sizes of every listing.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

pub fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit.unwrap_or(DEFAULT_PAGE_SIZE) {
        limit @ 1..=MAX_PAGE_SIZE => Ok(limit),
        _ => Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_PAGE_SIZE}"))),
    }
}

pub fn parse_date(date: Option<&str>) -> Result<Option<time::Date>, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    date.map(|d| {
        time::Date::parse(d, format).map_err(|_| ApiError::BadRequest("date must be YYYY-MM-DD".into()))
    })
    .transpose()
}

/// The catalog's page cursor: the last (title, id) seen, opaque to clients.
pub fn encode_event_cursor(title: &str, id: &EventId) -> String {
    URL_SAFE_NO_PAD.encode(format!("{id}\n{title}"))
}

pub fn decode_event_cursor(cursor: &str) -> Result<(String, EventId), ApiError> {
    let invalid = || ApiError::BadRequest("cursor is not one this API gave out".into());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (id, title) = text.split_once('\n').ok_or_else(invalid)?;
    Ok((title.to_owned(), EventId::from_raw(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = EventId::generate();
        let cursor = encode_event_cursor("Amélie\nII", &id);
        assert_eq!(decode_event_cursor(&cursor).unwrap(), ("Amélie\nII".to_owned(), id));
        assert!(decode_event_cursor("%%%").is_err());
    }

    #[test]
    fn page_sizes_are_capped() {
        assert_eq!(page_size(None).unwrap(), 20);
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(101)).is_err());
    }
}
