//! Paging, the same for every list: `limit` (1 to 100, default 20) and an opaque `cursor`
//! taken from the previous page's `next_cursor`. A list is read one row past its page, so
//! `next_cursor` is given only when a next page exists; a cursor this API did not give out is
//! a 400, never a silently different page.

use crate::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Default and largest page sizes of every listing.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;
/// The longest cursor taken, in characters: the longest one given out holds an event title
/// (at most 200 characters of four bytes) and an id, base64-encoded.
pub const MAX_CURSOR_CHARS: usize = 1_200;

pub fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit.unwrap_or(DEFAULT_PAGE_SIZE) {
        limit @ 1..=MAX_PAGE_SIZE => Ok(limit),
        _ => Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_PAGE_SIZE}"))),
    }
}

/// A cursor holding the sort key of the last item shown, as text fields. Only the last field
/// may contain a line break (it is free text, such as a title).
pub fn encode_cursor(fields: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(fields.join("\n"))
}

/// The `N` fields of a cursor made by [`encode_cursor`], each checked by `valid`.
pub fn decode_cursor<const N: usize>(
    cursor: &str,
    valid: impl Fn(usize, &str) -> bool,
) -> Result<[String; N], ApiError> {
    let invalid = || ApiError::BadRequest("cursor is not one this API gave out".into());
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let fields: Vec<String> = text.splitn(N, '\n').map(str::to_owned).collect();
    let fields: [String; N] = fields.try_into().map_err(|_| invalid())?;
    if fields.iter().enumerate().all(|(index, field)| valid(index, field)) {
        Ok(fields)
    } else {
        Err(invalid())
    }
}

/// The id a cursor of one id resumes after; `prefix` is the kind of id the list holds.
pub fn decode_id_cursor(cursor: &str, prefix: &str) -> Result<String, ApiError> {
    let [id] = decode_cursor(cursor, |_, id| marquee_domain::ids::is_well_formed(prefix, id))?;
    Ok(id)
}

/// A list read with `limit + 1` rows: the page itself, and the cursor of its last item when
/// the extra row shows that more follow.
pub fn finish<T>(mut rows: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more { rows.last().map(cursor_of) } else { None };
    (rows, next_cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = encode_cursor(&["evt_1", "Amélie\nII"]);
        let fields: [String; 2] = decode_cursor(&cursor, |_, _| true).unwrap();
        assert_eq!(fields, ["evt_1".to_owned(), "Amélie\nII".to_owned()]);
        assert!(decode_cursor::<2>("%%%", |_, _| true).is_err());
        assert!(decode_cursor::<2>(&encode_cursor(&["only one"]), |_, _| true).is_err());
        assert!(decode_cursor::<2>(&cursor, |index, _| index == 0).is_err(), "a field it refuses");
        assert!(decode_cursor::<1>(&"A".repeat(MAX_CURSOR_CHARS + 4), |_, _| true).is_err());
        let order = marquee_domain::ids::OrderId::generate();
        let cursor = encode_cursor(&[order.as_str()]);
        assert_eq!(decode_id_cursor(&cursor, "ord").unwrap(), order.as_str());
        assert!(decode_id_cursor(&cursor, "usr").is_err(), "another list's cursor");
    }

    #[test]
    fn page_sizes_are_capped() {
        assert_eq!(page_size(None).unwrap(), 20);
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(101)).is_err());
    }

    #[test]
    fn a_next_cursor_is_given_only_when_the_extra_row_came() {
        assert_eq!(finish(vec![1, 2, 3], 2, |n| n.to_string()), (vec![1, 2], Some("2".to_owned())));
        assert_eq!(finish(vec![1, 2], 2, |n| n.to_string()), (vec![1, 2], None));
        assert_eq!(finish(Vec::<i32>::new(), 2, |n| n.to_string()), (vec![], None));
    }
}
