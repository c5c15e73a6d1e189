//! Rows into domain types, and the small SQL pieces every part of the SQLite store shares.
//!
//! Instants are stored as integer milliseconds since the epoch (UTC); booleans as 0/1.

use super::db;
use crate::ShowtimeSummary;
use crate::live::InventoryChange;
use marquee_domain::Result;
use marquee_domain::account::{Email, Role, User};
use marquee_domain::catalog::{Event, EventKind, Showtime};
use marquee_domain::clock::{from_millis, to_millis};
use marquee_domain::ids::{EventId, HallId, SectionId, ShowtimeId, TicketId, UserId, VenueId};
use marquee_domain::inventory::{Ticket, effective_status};
use marquee_domain::money::Money;
use rusqlite::{Connection, Row, params};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Converts a row-mapping error (a column of the wrong type, a value out of range) into ours.
pub(crate) fn mapped<T>(value: rusqlite::Result<T>) -> Result<T> {
    value.map_err(db)
}

/// Runs `use_statement` on the cached prepared statement of `sql`, mapping errors into ours.
pub(crate) fn with_statement<T>(
    connection: &Connection,
    sql: &str,
    use_statement: impl FnOnce(&mut rusqlite::CachedStatement<'_>) -> rusqlite::Result<T>,
) -> Result<T> {
    connection.prepare_cached(sql).and_then(|mut statement| use_statement(&mut statement)).map_err(db)
}

/// The row `sql` answers with `params`, if any, mapped by `map` (cached statement).
pub(crate) fn optional_row<T>(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>> {
    with_statement(connection, sql, |statement| {
        rusqlite::OptionalExtension::optional(statement.query_row(params, map))
    })
}

/// The one row `sql` must answer with `params`, mapped by `map` (cached statement).
pub(crate) fn one_row<T>(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<T> {
    with_statement(connection, sql, |statement| statement.query_row(params, map))
}

/// Every row `sql` answers with `params`, mapped by `map` (cached statement).
pub(crate) fn all_rows<T>(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    with_statement(connection, sql, |statement| statement.query_map(params, map)?.collect())
}

/// A non-negative integer column as `u32`.
pub(crate) fn column_u32(row: &Row<'_>, column: &str) -> rusqlite::Result<u32> {
    let value: i64 = row.get(column)?;
    u32::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, value))
}

/// An instant column (milliseconds).
pub(crate) fn instant(row: &Row<'_>, column: &str) -> rusqlite::Result<OffsetDateTime> {
    Ok(from_millis(row.get(column)?))
}

/// An optional instant column (milliseconds).
pub(crate) fn optional_instant(row: &Row<'_>, column: &str) -> rusqlite::Result<Option<OffsetDateTime>> {
    Ok(row.get::<_, Option<i64>>(column)?.map(from_millis))
}

/// A text column that holds one of our enums' names, parsed by `parse`.
pub(crate) fn parsed<T>(
    row: &Row<'_>,
    column: &str,
    parse: impl FnOnce(&str) -> Result<T>,
) -> rusqlite::Result<T> {
    let text: String = row.get(column)?;
    parse(&text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error))
    })
}

/// The columns [`user_from_row`] reads, of `users u`.
pub(crate) const USER_COLUMNS: &str = "u.id, u.email, u.role, u.created_at, u.disabled_at";

pub(crate) fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId::from_raw(row.get::<_, String>("id")?),
        email: Email::from_trusted(row.get("email")?),
        role: parsed(row, "role", Role::parse)?,
        created_at: instant(row, "created_at")?,
        disabled_at: optional_instant(row, "disabled_at")?,
    })
}

/// The columns [`event_from_row`] reads, of `events e`.
pub(crate) const EVENT_COLUMNS: &str = "e.id, e.kind, e.title, e.synopsis, e.poster_url, e.genres, \
     e.runtime_minutes, e.rating, e.artist, e.published, e.created_at";

pub(crate) fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    let genres: String = row.get("genres")?;
    Ok(Event {
        id: EventId::from_raw(row.get::<_, String>("id")?),
        kind: parsed(row, "kind", EventKind::parse)?,
        title: row.get("title")?,
        synopsis: row.get("synopsis")?,
        poster_url: row.get("poster_url")?,
        genres: genres.split(',').filter(|g| !g.is_empty()).map(str::to_owned).collect(),
        runtime_minutes: row.get("runtime_minutes")?,
        rating: row.get("rating")?,
        artist: row.get("artist")?,
        published: row.get::<_, i64>("published")? != 0,
        created_at: instant(row, "created_at")?,
    })
}

/// A showtime with where it plays and what is left; `?1` is the instant (milliseconds) at
/// which availability is counted. Callers add `WHERE …`.
pub(crate) const SHOWTIME_SUMMARY_SELECT: &str = "SELECT sh.id, sh.event_id, sh.hall_id, sh.starts_at, \
     sh.on_sale_from, sh.on_sale_until, sh.currency, sh.prices, sh.cancelled_at, e.title AS event_title, \
     v.id AS venue_id, v.name AS venue_name, v.city, v.time_zone, h.name AS hall_name, \
     (SELECT COUNT(*) FROM tickets t WHERE t.showtime_id = sh.id) AS seats_total, \
     (SELECT COUNT(*) FROM tickets t WHERE t.showtime_id = sh.id AND \
        (t.status = 'available' OR (t.status = 'held' AND t.hold_expires_at <= ?1))) AS seats_available \
     FROM showtimes sh JOIN events e ON e.id = sh.event_id JOIN halls h ON h.id = sh.hall_id \
     JOIN venues v ON v.id = h.venue_id";

pub(crate) fn showtime_summary_from_row(row: &Row<'_>) -> rusqlite::Result<ShowtimeSummary> {
    let prices: String = row.get("prices")?;
    let prices: BTreeMap<String, i64> = serde_json::from_str(&prices).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error))
    })?;
    let currency: String = row.get("currency")?;
    let price_from = prices.values().min().map(|amount| Money::new(*amount, currency.clone()));
    Ok(ShowtimeSummary {
        showtime: Showtime {
            id: ShowtimeId::from_raw(row.get::<_, String>("id")?),
            event_id: EventId::from_raw(row.get::<_, String>("event_id")?),
            hall_id: HallId::from_raw(row.get::<_, String>("hall_id")?),
            starts_at: instant(row, "starts_at")?,
            on_sale_from: instant(row, "on_sale_from")?,
            on_sale_until: instant(row, "on_sale_until")?,
            currency,
            prices,
        },
        cancelled_at: optional_instant(row, "cancelled_at")?,
        event_title: row.get("event_title")?,
        venue_id: VenueId::from_raw(row.get::<_, String>("venue_id")?),
        venue_name: row.get("venue_name")?,
        city: row.get("city")?,
        time_zone: row.get("time_zone")?,
        hall_name: row.get("hall_name")?,
        seats_available: row.get("seats_available")?,
        seats_total: row.get("seats_total")?,
        price_from,
    })
}

/// A ticket's columns as [`ticket_from_row`] reads them, by position (its currency is the
/// showtime's, given separately). Prefix with a table alias through [`ticket_columns_of`].
pub(crate) const TICKET_COLUMNS: &str = "id, showtime_id, section_id, section_name, row_label, number, label, \
     category, price_amount, row_index, column_index, status, hold_expires_at, position";

/// [`TICKET_COLUMNS`] of the table alias `alias` (e.g. `t.id, t.showtime_id, …`).
pub(crate) fn ticket_columns_of(alias: &str) -> String {
    TICKET_COLUMNS.split(", ").map(|column| format!("{alias}.{column}")).collect::<Vec<_>>().join(", ")
}

/// A ticket row (selected as [`TICKET_COLUMNS`]) and its seat-map position, with its status at
/// `now`.
pub(crate) fn ticket_from_row(
    row: &Row<'_>,
    currency: &str,
    now: OffsetDateTime,
) -> rusqlite::Result<(i64, Ticket)> {
    let status: String = row.get(11)?;
    let hold_expires_at = row.get::<_, Option<i64>>(12)?.map(from_millis);
    let index = |column: usize| -> rusqlite::Result<u32> {
        let value: i64 = row.get(column)?;
        u32::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(column, value))
    };
    let ticket = Ticket {
        id: TicketId::from_raw(row.get::<_, String>(0)?),
        showtime_id: ShowtimeId::from_raw(row.get::<_, String>(1)?),
        section_id: SectionId::from_raw(row.get::<_, String>(2)?),
        section: row.get(3)?,
        row: row.get(4)?,
        number: index(5)?,
        label: row.get(6)?,
        category: row.get(7)?,
        price: Money::new(row.get(8)?, currency),
        status: effective_status(&status, hold_expires_at, now),
        hold_expires_at: hold_expires_at.filter(|at| *at > now && status == "held"),
        row_index: index(9)?,
        column_index: index(10)?,
    };
    Ok((row.get(13)?, ticket))
}

/// Tickets in seat-map order.
pub(crate) fn in_seat_map_order(mut tickets: Vec<(i64, Ticket)>) -> Vec<Ticket> {
    tickets.sort_by_key(|(position, _)| *position);
    tickets.into_iter().map(|(_, ticket)| ticket).collect()
}

/// `?first, ?first+1, …` for `count` values.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("?{n}")).collect::<Vec<_>>().join(", ")
}

/// Escapes `%`, `_` and `\\` for a `LIKE … ESCAPE '\\'` pattern matching `fragment` anywhere,
/// case-insensitively (the caller compares with `LOWER(…)`).
pub(crate) fn like_pattern(fragment: &str) -> String {
    let escaped = fragment.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{}%", escaped.to_lowercase())
}

/// Whether an error is a violated `UNIQUE` constraint or primary key.
pub(crate) fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// Whether an error is a violated foreign key.
pub(crate) fn is_foreign_key_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
    )
}

/// Appends a change to the inventory feed, in the command's transaction (the feed can never
/// show a change that did not happen, nor miss one that did).
pub(crate) fn record_change(
    connection: &Connection,
    showtime_id: &str,
    change: InventoryChange,
    ticket_ids: &[String],
    now: OffsetDateTime,
) -> Result<()> {
    if ticket_ids.is_empty() {
        return Ok(());
    }
    connection
        .prepare_cached(
            "INSERT INTO inventory_events (showtime_id, kind, ticket_ids, at) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut insert| {
            insert.execute(params![showtime_id, change.as_str(), ticket_ids.join(" "), to_millis(now)])
        })
        .map_err(db)?;
    Ok(())
}
