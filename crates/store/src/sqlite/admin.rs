//! [`AdminStore`] on SQLite: box-office changes, reports, users, the audit log and login
//! throttling.
//!
//! Reads run on a reader ([`SqliteStore::read`]); every change runs as one command of the
//! writer ([`SqliteStore::write`]), so a change that takes several statements (deleting a hall
//! and its sections, regenerating a hall's tickets) is all or nothing without a transaction of
//! its own, and needs no row locks: only the writer writes. An error returned from a command
//! rolls back everything that command wrote.

use super::rows::{
    EVENT_COLUMNS, SHOWTIME_SUMMARY_SELECT, USER_COLUMNS, all_rows, event_from_row, instant,
    is_foreign_key_violation, optional_row, showtime_summary_from_row, user_from_row,
};
use super::tickets::{insert_sections, insert_tickets, refresh_statistics};
use super::{SqliteStore, db};
use crate::{AdminStore, AuditFilter, CategorySales, Sale, ShowtimeSummary};
use async_trait::async_trait;
use marquee_domain::account::{Role, User};
use marquee_domain::audit::AuditEntry;
use marquee_domain::catalog::{Event, Hall, HallLayout, Showtime, Venue};
use marquee_domain::clock::{from_millis, to_millis};
use marquee_domain::ids::{EventId, HallId, ShowtimeId, UserId, VenueId};
use marquee_domain::{Error, Result};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// The columns of `users` that [`user_from_row`] reads, as a `RETURNING` clause names them (it
/// cannot use the table alias of [`USER_COLUMNS`]).
const RETURNED_USER_COLUMNS: &str = "id, email, role, created_at, disabled_at";

/// The columns of `venues` that [`venue_from_row`] reads.
const VENUE_COLUMNS: &str = "id, name, city, time_zone";

/// The columns of `halls` that [`hall_from_row`] reads.
const HALL_COLUMNS: &str = "id, venue_id, name, layout";

/// The columns of `audit_log` that [`audit_from_row`] reads.
const AUDIT_COLUMNS: &str = "id, at, actor_id, actor_email, ip, action, target, details";

/// The showtimes (of a hall) the venue's halls have, for [`AdminStore::delete_venue`]: any row
/// means the venue is still in use.
const VENUE_IN_USE: &str =
    "SELECT id FROM showtimes WHERE hall_id IN (SELECT id FROM halls WHERE venue_id = ?1) LIMIT 1";

/// What deleting a venue deletes, in an order the foreign keys accept; the last statement
/// deletes the venue itself.
const VENUE_DELETES: [&str; 3] = [
    "DELETE FROM sections WHERE hall_id IN (SELECT id FROM halls WHERE venue_id = ?1)",
    "DELETE FROM halls WHERE venue_id = ?1",
    "DELETE FROM venues WHERE id = ?1",
];

/// Why a venue whose halls have showtimes cannot be deleted.
const VENUE_REFUSAL: &str =
    "a venue whose halls have showtimes cannot be deleted; delete or keep its showtimes first";

/// A showtime of the hall, for [`AdminStore::delete_hall`]: any row means the hall is in use.
const HALL_IN_USE: &str = "SELECT id FROM showtimes WHERE hall_id = ?1 LIMIT 1";

/// What deleting a hall deletes, in an order the foreign keys accept; the last statement
/// deletes the hall itself.
const HALL_DELETES: [&str; 2] =
    ["DELETE FROM sections WHERE hall_id = ?1", "DELETE FROM halls WHERE id = ?1"];

/// Why a hall with showtimes cannot be deleted.
const HALL_REFUSAL: &str =
    "a hall with showtimes cannot be deleted; delete its showtimes first (cancelled and past ones too)";

/// The tickets of every showtime of the hall `?1`, as a condition on `tickets t`.
const HALL_TICKETS: &str = "t.showtime_id IN (SELECT id FROM showtimes WHERE hall_id = ?1)";

/// The showtimes of the hall `?1`, as a condition on `showtimes`.
const HALL_SHOWTIMES: &str = "hall_id = ?1";

/// The tickets of the showtime `?1`, as a condition on `tickets t`.
const SHOWTIME_TICKETS: &str = "t.showtime_id = ?1";

/// The showtime `?1` itself, as a condition on `showtimes`.
const THE_SHOWTIME: &str = "id = ?1";

/// A venue row, selected as [`VENUE_COLUMNS`].
fn venue_from_row(row: &Row<'_>) -> rusqlite::Result<Venue> {
    Ok(Venue {
        id: VenueId::from_raw(row.get::<_, String>("id")?),
        name: row.get("name")?,
        city: row.get("city")?,
        time_zone: row.get("time_zone")?,
    })
}

/// A hall row, selected as [`HALL_COLUMNS`], with its layout parsed from the stored JSON. A
/// layout that does not parse is an internal error (the store only ever writes valid ones).
fn hall_from_row(row: &Row<'_>) -> rusqlite::Result<Hall> {
    let layout: String = row.get("layout")?;
    let column = row.as_ref().column_index("layout")?;
    let layout = serde_json::from_str(&layout).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Text,
            Box::new(Error::internal(format!("bad layout JSON: {error}"))),
        )
    })?;
    Ok(Hall {
        id: HallId::from_raw(row.get::<_, String>("id")?),
        venue_id: VenueId::from_raw(row.get::<_, String>("venue_id")?),
        name: row.get("name")?,
        layout,
    })
}

/// An audit log row, selected as [`AUDIT_COLUMNS`].
fn audit_from_row(row: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.get("id")?,
        at: instant(row, "at")?,
        actor_id: row.get::<_, Option<String>>("actor_id")?.map(UserId::from_raw),
        actor_email: row.get("actor_email")?,
        ip: row.get("ip")?,
        action: row.get("action")?,
        target: row.get("target")?,
        details: row.get("details")?,
    })
}

/// A statement built at run time (a listing's optional filters), with the values its numbered
/// placeholders stand for.
struct DynamicQuery {
    /// The statement so far.
    sql: String,
    /// The values of `?1`, `?2`, … in order.
    values: Vec<Value>,
}

impl DynamicQuery {
    /// A statement that starts with `sql` and has no values yet.
    fn new(sql: impl Into<String>) -> Self {
        Self { sql: sql.into(), values: Vec::new() }
    }

    /// Appends SQL text.
    fn push(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }

    /// Adds a value and returns its placeholder (`?N`), to be written into the SQL.
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        format!("?{}", self.values.len())
    }

    /// Runs the statement and maps every row it returns. The statement is cached on the
    /// connection: a listing's filters combine into a handful of shapes only.
    fn fetch_all<T>(
        self,
        connection: &Connection,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        all_rows(connection, &self.sql, params_from_iter(self.values), map)
    }
}

/// Deletes a venue or hall (`what`) that no showtime refers to, inside a write command:
/// `in_use` (taking `?1`, bound to `id`) finds a showtime that still does, in which case
/// nothing changes and `Conflict(refusal)` is the answer. Then `deletes` run in order, the last
/// one deleting the row itself; if it deleted nothing, the answer is `NotFound(what)` and the
/// error rolls back whatever the statements before it deleted. A foreign key that refuses a
/// delete (something else still refers to the row) is the same conflict.
fn delete_unused(
    connection: &Connection,
    what: &'static str,
    id: &str,
    in_use: &str,
    deletes: &[&str],
    refusal: &str,
) -> Result<()> {
    let used = optional_row(connection, in_use, [id], |_| Ok(()))?;
    if used.is_some() {
        return Err(Error::Conflict(refusal.to_owned()));
    }
    let mut deleted = 0;
    for sql in deletes {
        deleted = match connection.prepare_cached(sql).and_then(|mut delete| delete.execute([id])) {
            Ok(deleted) => deleted,
            Err(error) if is_foreign_key_violation(&error) => {
                return Err(Error::Conflict(refusal.to_owned()));
            }
            Err(error) => return Err(db(error)),
        };
    }
    if deleted == 0 {
        return Err(Error::NotFound(what));
    }
    Ok(())
}

/// Refuses with `Conflict` when any ticket matched by `scope` (a condition on `tickets t`, with
/// `?1` bound to `scope_id`) is sold, or held by a hold that has not expired at `now`
/// (milliseconds): changing what was sold or is being bought would break it. `what` says what
/// was refused, and the answer adds how many tickets stand in the way. Any order of those
/// showtimes refuses too: orders keep their holds and tickets as records.
fn ensure_untouched(
    connection: &Connection,
    scope: &str,
    scope_id: &str,
    now: i64,
    what: &str,
) -> Result<()> {
    let sql = format!(
        "SELECT COUNT(*) FROM tickets t WHERE {scope} AND \
         (t.status = 'sold' OR (t.status = 'held' AND t.hold_expires_at > ?2))"
    );
    let touched: i64 = connection
        .prepare_cached(&sql)
        .and_then(|mut count| count.query_row(params![scope_id, now], |row| row.get(0)))
        .map_err(db)?;
    if touched > 0 {
        return Err(Error::Conflict(format!("{what}: {touched} tickets are sold or held")));
    }
    // Orders keep their hold and tickets as the record of what was bought or tried, even once
    // refunded, expired or failed: a showtime with any cannot lose its tickets.
    let sql = format!(
        "SELECT COUNT(*) FROM orders o WHERE o.showtime_id IN (SELECT t.showtime_id FROM tickets t WHERE {scope})"
    );
    let orders: i64 = connection
        .prepare_cached(&sql)
        .and_then(|mut count| count.query_row(params![scope_id], |row| row.get(0)))
        .map_err(db)?;
    if orders > 0 {
        return Err(Error::Conflict(format!(
            "{what}: it has {orders} orders (paid, refunded, unpaid or expired), which keep their tickets"
        )));
    }
    Ok(())
}

/// Removes the tickets of the showtimes matched by `showtime_scope` (a condition on
/// `showtimes`, with `?1` bound to `scope_id`), which [`ensure_untouched`] found unsold, with
/// what refers to them: the showtimes' queues and waiting rooms, their inventory feed, and
/// their finished holds with those holds' items.
fn purge_tickets(connection: &Connection, showtime_scope: &str, scope_id: &str) -> Result<()> {
    let showtimes = format!("SELECT id FROM showtimes WHERE {showtime_scope}");
    for statement in [
        format!("DELETE FROM queue_entries WHERE showtime_id IN ({showtimes})"),
        format!("DELETE FROM waiting_rooms WHERE showtime_id IN ({showtimes})"),
        format!("DELETE FROM inventory_events WHERE showtime_id IN ({showtimes})"),
        format!(
            "DELETE FROM hold_items WHERE hold_id IN (SELECT id FROM holds WHERE showtime_id IN ({showtimes}))"
        ),
        format!("DELETE FROM holds WHERE showtime_id IN ({showtimes})"),
        format!("DELETE FROM tickets WHERE showtime_id IN ({showtimes})"),
    ] {
        connection
            .prepare_cached(&statement)
            .and_then(|mut delete| delete.execute([scope_id]))
            .map_err(db)?;
    }
    Ok(())
}

#[async_trait]
impl AdminStore for SqliteStore {
    async fn list_users(&self, limit: u32, after: Option<&UserId>) -> Result<Vec<User>> {
        let after = after.map_or_else(String::new, |id| id.as_str().to_owned());
        self.read(move |connection| {
            let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id > ?1 ORDER BY u.id LIMIT ?2");
            all_rows(connection, &sql, params![after, i64::from(limit)], user_from_row)
        })
        .await
    }

    async fn set_user_role(&self, id: &UserId, role: Role) -> Result<User> {
        let id = id.clone();
        self.write(move |connection| {
            let sql = format!("UPDATE users SET role = ?2 WHERE id = ?1 RETURNING {RETURNED_USER_COLUMNS}");
            connection
                .prepare_cached(&sql)
                .and_then(|mut update| {
                    update.query_row(params![id.as_str(), role.as_str()], user_from_row).optional()
                })
                .map_err(db)?
                .ok_or(Error::NotFound("user"))
        })
        .await
    }

    async fn set_user_disabled(&self, id: &UserId, disabled: bool, now: OffsetDateTime) -> Result<User> {
        let id = id.clone();
        let disabled_at = disabled.then(|| to_millis(now));
        self.write(move |connection| {
            let sql =
                format!("UPDATE users SET disabled_at = ?2 WHERE id = ?1 RETURNING {RETURNED_USER_COLUMNS}");
            let user = connection
                .prepare_cached(&sql)
                .and_then(|mut update| {
                    update.query_row(params![id.as_str(), disabled_at], user_from_row).optional()
                })
                .map_err(db)?
                .ok_or(Error::NotFound("user"))?;
            if disabled {
                // In the same command: no session of a disabled account outlives the change.
                connection
                    .prepare_cached("DELETE FROM sessions WHERE user_id = ?1")
                    .and_then(|mut delete| delete.execute([id.as_str()]))
                    .map_err(db)?;
            }
            Ok(user)
        })
        .await
    }

    async fn login_failures(&self, key: &str) -> Result<(i64, Option<OffsetDateTime>)> {
        let key = key.to_owned();
        self.read(move |connection| {
            let found: Option<(i64, i64)> = optional_row(
                connection,
                "SELECT failures, last_failure_at FROM login_failures WHERE key = ?1",
                [key],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            Ok(found.map_or((0, None), |(failures, last)| (failures, Some(from_millis(last)))))
        })
        .await
    }

    async fn record_login_failure(
        &self,
        key: &str,
        now: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> Result<i64> {
        let key = key.to_owned();
        let (now, forget_before) = (to_millis(now), to_millis(forget_before));
        self.write(move |connection| {
            connection
                .prepare_cached(
                    "INSERT INTO login_failures (key, failures, last_failure_at) VALUES (?1, 1, ?2) \
                     ON CONFLICT (key) DO UPDATE SET \
                       failures = CASE WHEN login_failures.last_failure_at < ?3 THEN 1 \
                                  ELSE login_failures.failures + 1 END, \
                       last_failure_at = ?2 \
                     RETURNING failures",
                )
                .and_then(|mut upsert| upsert.query_row(params![key, now, forget_before], |row| row.get(0)))
                .map_err(db)
        })
        .await
    }

    async fn clear_login_failures(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.write(move |connection| {
            connection
                .prepare_cached("DELETE FROM login_failures WHERE key = ?1")
                .and_then(|mut delete| delete.execute([key]))
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        let entry = entry.clone();
        self.write(move |connection| insert_audit(connection, &entry)).await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let mut query = DynamicQuery::new(format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE 1 = 1"));
        if let Some(action) = &filter.action {
            let action = query.bind(action.clone());
            query.push(&format!(" AND action = {action}"));
        }
        if let Some(actor) = &filter.actor_id {
            let actor = query.bind(actor.as_str().to_owned());
            query.push(&format!(" AND actor_id = {actor}"));
        }
        if let Some(target) = &filter.target {
            let target = query.bind(target.clone());
            query.push(&format!(" AND target = {target}"));
        }
        if let Some(before) = &filter.before {
            let before = query.bind(before.clone());
            query.push(&format!(" AND id < {before}"));
        }
        let limit = query.bind(i64::from(filter.limit));
        query.push(&format!(" ORDER BY id DESC LIMIT {limit}"));
        self.read(move |connection| query.fetch_all(connection, audit_from_row)).await
    }

    async fn list_venues(&self) -> Result<Vec<Venue>> {
        self.read(|connection| {
            let sql = format!("SELECT {VENUE_COLUMNS} FROM venues ORDER BY name, id");
            all_rows(connection, &sql, [], venue_from_row)
        })
        .await
    }

    async fn get_venue(&self, id: &VenueId) -> Result<Option<Venue>> {
        let id = id.clone();
        self.read(move |connection| {
            let sql = format!("SELECT {VENUE_COLUMNS} FROM venues WHERE id = ?1");
            optional_row(connection, &sql, [id.as_str()], venue_from_row)
        })
        .await
    }

    async fn get_hall(&self, id: &HallId) -> Result<Option<Hall>> {
        let id = id.clone();
        self.read(move |connection| {
            let sql = format!("SELECT {HALL_COLUMNS} FROM halls WHERE id = ?1");
            optional_row(connection, &sql, [id.as_str()], hall_from_row)
        })
        .await
    }

    async fn list_halls(&self, venue_id: &VenueId) -> Result<Vec<Hall>> {
        let venue_id = venue_id.clone();
        self.read(move |connection| {
            let sql = format!("SELECT {HALL_COLUMNS} FROM halls WHERE venue_id = ?1 ORDER BY name, id");
            all_rows(connection, &sql, [venue_id.as_str()], hall_from_row)
        })
        .await
    }

    async fn update_venue(&self, venue: &Venue) -> Result<()> {
        let venue = venue.clone();
        self.write(move |connection| {
            let changed = connection
                .prepare_cached("UPDATE venues SET name = ?2, city = ?3, time_zone = ?4 WHERE id = ?1")
                .and_then(|mut update| {
                    update.execute(params![venue.id.as_str(), venue.name, venue.city, venue.time_zone])
                })
                .map_err(db)?;
            if changed == 0 { Err(Error::NotFound("venue")) } else { Ok(()) }
        })
        .await
    }

    async fn delete_venue(&self, id: &VenueId) -> Result<()> {
        let id = id.clone();
        self.write(move |connection| {
            delete_unused(connection, "venue", id.as_str(), VENUE_IN_USE, &VENUE_DELETES, VENUE_REFUSAL)
        })
        .await
    }

    async fn rename_hall(&self, id: &HallId, name: &str) -> Result<()> {
        let (id, name) = (id.clone(), name.to_owned());
        self.write(move |connection| {
            let changed = connection
                .prepare_cached("UPDATE halls SET name = ?2 WHERE id = ?1")
                .and_then(|mut update| update.execute(params![id.as_str(), name]))
                .map_err(db)?;
            if changed == 0 { Err(Error::NotFound("hall")) } else { Ok(()) }
        })
        .await
    }

    async fn delete_hall(&self, id: &HallId) -> Result<()> {
        let id = id.clone();
        self.write(move |connection| {
            delete_unused(connection, "hall", id.as_str(), HALL_IN_USE, &HALL_DELETES, HALL_REFUSAL)
        })
        .await
    }

    async fn replace_hall_layout(&self, id: &HallId, layout: &HallLayout, now: OffsetDateTime) -> Result<()> {
        let stored_layout = serde_json::to_string(layout).map_err(Error::internal)?;
        let (hall_id, layout, now) = (id.clone(), layout.clone(), to_millis(now));
        let showtimes = self
            .write(move |connection| {
                let exists = optional_row(
                    connection,
                    "SELECT id FROM halls WHERE id = ?1",
                    [hall_id.as_str()],
                    |_| Ok(()),
                )?;
                if exists.is_none() {
                    return Err(Error::NotFound("hall"));
                }
                ensure_untouched(
                    connection,
                    HALL_TICKETS,
                    hall_id.as_str(),
                    now,
                    "the layout cannot change under showtimes with sales",
                )?;
                purge_tickets(connection, HALL_SHOWTIMES, hall_id.as_str())?;
                connection
                    .prepare_cached("DELETE FROM sections WHERE hall_id = ?1")
                    .and_then(|mut delete| delete.execute([hall_id.as_str()]))
                    .map_err(db)?;
                connection
                    .prepare_cached("UPDATE halls SET layout = ?2 WHERE id = ?1")
                    .and_then(|mut update| update.execute(params![hall_id.as_str(), stored_layout]))
                    .map_err(db)?;
                insert_sections(connection, &hall_id, &layout)?;
                let sql = format!("{SHOWTIME_SUMMARY_SELECT} WHERE sh.hall_id = ?2");
                let showtimes: Vec<Showtime> = connection
                    .prepare_cached(&sql)
                    .and_then(|mut select| {
                        select
                            .query_map(params![now, hall_id.as_str()], |row| {
                                showtime_summary_from_row(row).map(|summary| summary.showtime)
                            })?
                            .collect()
                    })
                    .map_err(db)?;
                // The new tickets are written in the same command as the new layout.
                let mut tickets = 0;
                for showtime in &showtimes {
                    tickets += insert_tickets(connection, showtime, &layout)?;
                }
                refresh_statistics(connection, tickets);
                Ok(showtimes.len())
            })
            .await?;
        tracing::info!(hall = %id, showtimes, "hall layout replaced; tickets regenerated");
        Ok(())
    }

    async fn list_all_events(&self, limit: u32, after: Option<(String, EventId)>) -> Result<Vec<Event>> {
        let mut query = DynamicQuery::new(format!("SELECT {EVENT_COLUMNS} FROM events e"));
        if let Some((title, id)) = after {
            let title = query.bind(title);
            let id = query.bind(id.into_string());
            query.push(&format!(" WHERE (e.title > {title} OR (e.title = {title} AND e.id > {id}))"));
        }
        let limit = query.bind(i64::from(limit));
        query.push(&format!(" ORDER BY e.title, e.id LIMIT {limit}"));
        self.read(move |connection| query.fetch_all(connection, event_from_row)).await
    }

    async fn update_event(&self, event: &Event) -> Result<()> {
        let event = event.clone();
        let genres = format!(",{},", event.genres.join(","));
        self.write(move |connection| {
            let changed = connection
                .prepare_cached(
                    "UPDATE events SET kind = ?2, title = ?3, synopsis = ?4, poster_url = ?5, genres = ?6, \
                     runtime_minutes = ?7, rating = ?8, artist = ?9, published = ?10 WHERE id = ?1",
                )
                .and_then(|mut update| {
                    update.execute(params![
                        event.id.as_str(),
                        event.kind.as_str(),
                        event.title,
                        event.synopsis,
                        event.poster_url,
                        genres,
                        event.runtime_minutes,
                        event.rating,
                        event.artist,
                        i64::from(event.published)
                    ])
                })
                .map_err(db)?;
            if changed == 0 { Err(Error::NotFound("event")) } else { Ok(()) }
        })
        .await
    }

    async fn list_event_showtimes(
        &self,
        event_id: &EventId,
        now: OffsetDateTime,
    ) -> Result<Vec<ShowtimeSummary>> {
        let (event_id, now) = (event_id.clone(), to_millis(now));
        self.read(move |connection| {
            let sql =
                format!("{SHOWTIME_SUMMARY_SELECT} WHERE sh.event_id = ?2 ORDER BY sh.starts_at, sh.id");
            all_rows(connection, &sql, params![now, event_id.as_str()], showtime_summary_from_row)
        })
        .await
    }

    async fn update_showtime_prices(&self, id: &ShowtimeId, prices: &BTreeMap<String, i64>) -> Result<()> {
        let stored_prices = serde_json::to_string(prices).map_err(Error::internal)?;
        let (id, prices) = (id.clone(), prices.clone());
        self.write(move |connection| {
            let changed = connection
                .prepare_cached("UPDATE showtimes SET prices = ?2 WHERE id = ?1")
                .and_then(|mut update| update.execute(params![id.as_str(), stored_prices]))
                .map_err(db)?;
            if changed == 0 {
                return Err(Error::NotFound("showtime"));
            }
            // Sold tickets keep the price that was paid; held ones take the new price.
            let mut reprice = connection
                .prepare_cached(
                    "UPDATE tickets SET price_amount = ?3 \
                     WHERE showtime_id = ?1 AND category = ?2 AND status <> 'sold'",
                )
                .map_err(db)?;
            for (category, amount) in &prices {
                reprice.execute(params![id.as_str(), category, amount]).map_err(db)?;
            }
            Ok(())
        })
        .await
    }

    async fn cancel_showtime(&self, id: &ShowtimeId, now: OffsetDateTime) -> Result<()> {
        let (id, now) = (id.clone(), to_millis(now));
        self.write(move |connection| {
            // Cancelling again keeps the first cancellation's instant.
            let changed = connection
                .prepare_cached(
                    "UPDATE showtimes SET cancelled_at = COALESCE(cancelled_at, ?2) WHERE id = ?1",
                )
                .and_then(|mut update| update.execute(params![id.as_str(), now]))
                .map_err(db)?;
            if changed == 0 { Err(Error::NotFound("showtime")) } else { Ok(()) }
        })
        .await
    }

    async fn delete_showtime(&self, id: &ShowtimeId, now: OffsetDateTime) -> Result<()> {
        let (id, now) = (id.clone(), to_millis(now));
        self.write(move |connection| {
            let exists = optional_row(
                connection,
                "SELECT id FROM showtimes WHERE id = ?1",
                [id.as_str()],
                |_| Ok(()),
            )?;
            if exists.is_none() {
                return Err(Error::NotFound("showtime"));
            }
            ensure_untouched(
                connection,
                SHOWTIME_TICKETS,
                id.as_str(),
                now,
                "a showtime with sales cannot be deleted; cancel it instead",
            )?;
            purge_tickets(connection, THE_SHOWTIME, id.as_str())?;
            connection
                .prepare_cached("DELETE FROM showtimes WHERE id = ?1")
                .and_then(|mut delete| delete.execute([id.as_str()]))
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn sales_report(&self, id: &ShowtimeId, now: OffsetDateTime) -> Result<Vec<CategorySales>> {
        let (id, now) = (id.clone(), to_millis(now));
        self.read(move |connection| {
            connection
                .prepare_cached(
                    "SELECT t.category, \
                       COALESCE(SUM(CASE WHEN t.status = 'sold' THEN 1 ELSE 0 END), 0) AS sold, \
                       COALESCE(SUM(CASE WHEN t.status = 'held' AND t.hold_expires_at > ?2 THEN 1 ELSE 0 END), 0) \
                         AS held, \
                       COUNT(*) AS total, \
                       CAST(COALESCE(SUM(CASE WHEN t.status = 'sold' THEN \
                         (SELECT oi.price_amount FROM order_items oi WHERE oi.ticket_id = t.id AND oi.live = 1) \
                         ELSE 0 END), 0) AS BIGINT) AS gross \
                     FROM tickets t WHERE t.showtime_id = ?1 GROUP BY t.category ORDER BY t.category",
                )
                .and_then(|mut select| {
                    select
                        .query_map(params![id.as_str(), now], |row| {
                            let (sold, held, total): (i64, i64, i64) =
                                (row.get("sold")?, row.get("held")?, row.get("total")?);
                            Ok(CategorySales {
                                category: row.get("category")?,
                                sold,
                                held,
                                available: total - sold - held,
                                gross_amount: row.get("gross")?,
                            })
                        })?
                        .collect()
                })
                .map_err(db)
        })
        .await
    }

    async fn sales_timeline(&self, id: &ShowtimeId) -> Result<Vec<Sale>> {
        let id = id.clone();
        self.read(move |connection| {
            connection
                .prepare_cached(
                    "SELECT o.created_at, COUNT(*) AS tickets, CAST(SUM(oi.price_amount) AS BIGINT) AS amount \
                     FROM orders o JOIN order_items oi ON oi.order_id = o.id AND oi.live = 1 \
                     WHERE o.showtime_id = ?1 AND o.status IN ('confirmed', 'partially_refunded') \
                     GROUP BY o.id, o.created_at ORDER BY o.created_at, o.id",
                )
                .and_then(|mut select| {
                    select
                        .query_map([id.as_str()], |row| {
                            Ok(Sale {
                                at: instant(row, "created_at")?,
                                tickets: row.get("tickets")?,
                                amount: row.get("amount")?,
                            })
                        })?
                        .collect()
                })
                .map_err(db)
        })
        .await
    }
}

/// Appends an audit entry in the running command (its own, or the operation it records).
pub(crate) fn insert_audit(connection: &Connection, entry: &AuditEntry) -> Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO audit_log (id, at, actor_id, actor_email, ip, action, target, details) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                entry.id,
                to_millis(entry.at),
                entry.actor_id.as_ref().map(UserId::as_str),
                entry.actor_email,
                entry.ip,
                entry.action,
                entry.target,
                entry.details
            ])
        })
        .map_err(db)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::tickets::STATISTICS_REFRESH_THRESHOLD;
    use crate::testing::TestDatabase;
    use crate::{AccountStore, Store, StoreOptions};

    /// The instant every test acts at, in milliseconds.
    const NOW: i64 = 1_700_000_000_000;

    /// A hall layout with one general-admission section of `capacity` standard places.
    fn floor(capacity: u32) -> HallLayout {
        let json = format!(
            r#"{{"sections":[{{"name":"Floor","kind":"general_admission","capacity":{capacity},"category":"standard"}}]}}"#
        );
        serde_json::from_str(&json).expect("a valid layout")
    }

    /// A hall layout with a seated row of four (the fourth VIP) and two standing places.
    fn stalls_and_floor() -> HallLayout {
        serde_json::from_str(
            r#"{"sections":[
                {"name":" Stalls ","kind":"seated","rows":[
                    {"label":"A","category":"standard","seats":4,"overrides":[{"number":4,"category":"vip"}]}]},
                {"name":"Floor","kind":"general_admission","capacity":2,"category":"standard"}]}"#,
        )
        .expect("a valid layout")
    }

    /// A migrated store on a fresh file, and a plain connection to the same file to arrange rows
    /// with and look at what the store wrote.
    struct Fixture {
        /// The store under test.
        store: SqliteStore,
        /// A connection of the test's own to the store's file.
        connection: Connection,
        /// The temporary folder of the file, removed when the test ends (after the store).
        _database: TestDatabase,
    }

    impl Fixture {
        /// A store with one customer `u1`, venue `v1`, hall `h1` (no sections yet), event `e1`
        /// and showtime `s1` of `e1` in `h1` priced standard 1000 and VIP 5000 (no tickets yet).
        async fn new() -> Self {
            let database = TestDatabase::sqlite();
            let store = SqliteStore::open(&database.url, &StoreOptions::default()).expect("open the store");
            store.migrate().await.expect("migrate");
            let connection = crate::sqlite::writer::open(store.path()).expect("open a connection");
            let layout = serde_json::to_string(&floor(1)).expect("layout JSON");
            connection
                .execute_batch(&format!(
                    "INSERT INTO users (id, email, password_hash, role, created_at) \
                       VALUES ('u1', 'u1@example.com', 'x', 'customer', {NOW});
                     INSERT INTO venues (id, name, city, time_zone) VALUES ('v1', 'Odeon', 'Berlin', 'Europe/Berlin');
                     INSERT INTO halls (id, venue_id, name, layout) VALUES ('h1', 'v1', 'One', '{layout}');
                     INSERT INTO events (id, kind, title, synopsis, genres, published, created_at) \
                       VALUES ('e1', 'movie', 'Alpha', '', ',drama,', 1, {NOW});
                     INSERT INTO showtimes (id, event_id, hall_id, starts_at, on_sale_from, on_sale_until, currency, \
                       prices, created_at) VALUES ('s1', 'e1', 'h1', {NOW} + 86400000, {NOW} - 1000, {NOW} + 86400000, \
                       'EUR', '{{\"standard\":1000,\"vip\":5000}}', {NOW});"
                ))
                .expect("arrange the catalog");
            Self { store, connection, _database: database }
        }

        /// One number the SQL `query` answers.
        fn count(&self, query: &str) -> i64 {
            self.connection.query_row(query, [], |row| row.get(0)).expect("count")
        }

        /// The ids of showtime `s1`'s tickets, in seat-map order.
        fn tickets(&self) -> Vec<String> {
            let mut select = self
                .connection
                .prepare("SELECT id FROM tickets WHERE showtime_id = 's1' ORDER BY position")
                .expect("select");
            select.query_map([], |row| row.get(0)).and_then(Iterator::collect).expect("tickets")
        }

        /// Holds `ticket` until `expires_at` (milliseconds), as a hold of `u1` would.
        fn hold(&self, ticket: &str, expires_at: i64) {
            self.connection
                .execute_batch(&format!(
                    "INSERT INTO holds (id, user_id, showtime_id, status, created_at, expires_at) \
                       VALUES ('hold-{ticket}', 'u1', 's1', 'active', {NOW}, {expires_at});
                     INSERT INTO hold_items (hold_id, ticket_id) VALUES ('hold-{ticket}', '{ticket}');
                     UPDATE tickets SET status = 'held', hold_id = 'hold-{ticket}', hold_expires_at = {expires_at} \
                       WHERE id = '{ticket}';"
                ))
                .expect("hold a ticket");
        }

        /// Sells `tickets` to a confirmed order `order` of `u1` placed at `created_at`, each at
        /// its ticket's price.
        fn sell(&self, order: &str, created_at: i64, tickets: &[&str]) {
            self.connection
                .execute_batch(&format!(
                    "INSERT INTO holds (id, user_id, showtime_id, status, created_at, expires_at, order_id) \
                       VALUES ('hold-{order}', 'u1', 's1', 'purchased', {created_at}, {created_at} + 1, '{order}');
                     INSERT INTO orders (id, user_id, showtime_id, hold_id, status, total_amount, currency, \
                       payment_provider, payment_reference, created_at, updated_at) \
                       VALUES ('{order}', 'u1', 's1', 'hold-{order}', 'confirmed', 0, 'EUR', 'test', 'ref', \
                       {created_at}, {created_at});"
                ))
                .expect("an order");
            for ticket in tickets {
                self.connection
                    .execute_batch(&format!(
                        "INSERT INTO order_items (order_id, ticket_id, price_amount, live) \
                           SELECT '{order}', id, price_amount, 1 FROM tickets WHERE id = '{ticket}';
                         UPDATE tickets SET status = 'sold', order_id = '{order}' WHERE id = '{ticket}';"
                    ))
                    .expect("sell a ticket");
            }
        }

        /// Refunds `ticket` of `order`: the sale stops counting and the ticket is on sale again.
        fn refund(&self, order: &str, ticket: &str) {
            self.connection
                .execute_batch(&format!(
                    "UPDATE order_items SET live = 0 WHERE order_id = '{order}' AND ticket_id = '{ticket}';
                     UPDATE tickets SET status = 'available', order_id = NULL WHERE id = '{ticket}';
                     UPDATE orders SET status = 'partially_refunded' WHERE id = '{order}';"
                ))
                .expect("refund a ticket");
        }
    }

    /// An audit entry `id` of `action` by `actor` on `target`.
    fn entry(id: &str, action: &str, actor: Option<&str>, target: Option<&str>) -> AuditEntry {
        AuditEntry {
            id: id.to_owned(),
            at: from_millis(NOW),
            actor_id: actor.map(UserId::from_raw),
            actor_email: actor.map(|actor| format!("{actor}@example.com")),
            ip: Some("192.0.2.1".to_owned()),
            action: action.to_owned(),
            target: target.map(str::to_owned),
            details: "{}".to_owned(),
        }
    }

    /// The ids of audit entries.
    fn ids(entries: &[AuditEntry]) -> Vec<&str> {
        entries.iter().map(|entry| entry.id.as_str()).collect()
    }

    #[tokio::test]
    async fn the_audit_log_filters_and_pages_newest_first() {
        let fixture = Fixture::new().await;
        let store = &fixture.store;
        for entry in [
            entry("a1", "login.failed", None, None),
            entry("a2", "user.role", Some("u1"), Some("u2")),
            entry("a3", "showtime.create", Some("u1"), Some("s1")),
            entry("a4", "user.role", Some("u2"), Some("u1")),
            entry("a5", "user.role", Some("u1"), Some("u3")),
        ] {
            store.append_audit(&entry).await.expect("append");
        }
        let all = store.list_audit(&AuditFilter { limit: 10, ..AuditFilter::default() }).await.expect("list");
        assert_eq!(ids(&all), ["a5", "a4", "a3", "a2", "a1"]);
        assert_eq!(all[4], entry("a1", "login.failed", None, None), "every field comes back as written");
        let first =
            store.list_audit(&AuditFilter { limit: 2, ..AuditFilter::default() }).await.expect("page");
        assert_eq!(ids(&first), ["a5", "a4"]);
        let second = store
            .list_audit(&AuditFilter { limit: 2, before: Some("a4".into()), ..AuditFilter::default() })
            .await
            .expect("next page");
        assert_eq!(ids(&second), ["a3", "a2"]);
        let roles = AuditFilter { action: Some("user.role".into()), limit: 10, ..AuditFilter::default() };
        assert_eq!(ids(&store.list_audit(&roles).await.expect("by action")), ["a5", "a4", "a2"]);
        let by_u1 =
            AuditFilter { action: Some("user.role".into()), actor_id: Some(UserId::from_raw("u1")), ..roles };
        assert_eq!(ids(&store.list_audit(&by_u1).await.expect("by action and actor")), ["a5", "a2"]);
        let on_u1 = AuditFilter { target: Some("u1".into()), limit: 10, ..AuditFilter::default() };
        assert_eq!(ids(&store.list_audit(&on_u1).await.expect("by target")), ["a4"]);
        let duplicate = store.append_audit(&entry("a1", "login.failed", None, None)).await;
        assert!(matches!(duplicate, Err(Error::Internal(_))), "an id is written once: {duplicate:?}");
    }

    #[tokio::test]
    async fn login_failures_count_recent_attempts_until_cleared() {
        let fixture = Fixture::new().await;
        let store = &fixture.store;
        assert_eq!(store.login_failures("email:a").await.expect("none yet"), (0, None));
        let forget_before = from_millis(NOW - 60_000);
        for (offset, expected) in [(0, 1), (1_000, 2), (2_000, 3)] {
            let failures = store
                .record_login_failure("email:a", from_millis(NOW + offset), forget_before)
                .await
                .expect("record");
            assert_eq!(failures, expected);
        }
        assert_eq!(
            store.login_failures("email:a").await.expect("three"),
            (3, Some(from_millis(NOW + 2_000)))
        );
        assert_eq!(store.login_failures("ip:192.0.2.1").await.expect("another key"), (0, None));
        // The last failure is older than what is remembered: counting starts again.
        let later = from_millis(NOW + 600_000);
        let failures = store
            .record_login_failure("email:a", later, from_millis(NOW + 300_000))
            .await
            .expect("after a while");
        assert_eq!(failures, 1);
        assert_eq!(store.login_failures("email:a").await.expect("restarted"), (1, Some(later)));
        store.clear_login_failures("email:a").await.expect("clear");
        assert_eq!(store.login_failures("email:a").await.expect("cleared"), (0, None));
    }

    #[tokio::test]
    async fn disabling_a_user_ends_every_session_and_roles_change() {
        let fixture = Fixture::new().await;
        let store = &fixture.store;
        fixture
            .connection
            .execute_batch(&format!(
                "INSERT INTO users (id, email, password_hash, role, created_at) \
                   VALUES ('u2', 'u2@example.com', 'x', 'customer', {NOW});
                 INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES \
                   ('t1', 'u1', {NOW}, {NOW} + 1000), ('t2', 'u1', {NOW}, {NOW} + 1000), ('t3', 'u2', {NOW}, {NOW} + 1000);"
            ))
            .expect("users and sessions");
        let u1 = UserId::from_raw("u1");
        let now = from_millis(NOW + 5);
        let disabled = store.set_user_disabled(&u1, true, now).await.expect("disable");
        assert_eq!(disabled.disabled_at, Some(now));
        assert_eq!(fixture.count("SELECT COUNT(*) FROM sessions WHERE user_id = 'u1'"), 0);
        assert_eq!(fixture.count("SELECT COUNT(*) FROM sessions"), 1, "other users keep their sessions");
        assert_eq!(store.get_user(&u1).await.expect("read").expect("u1").disabled_at, Some(now));
        let enabled = store.set_user_disabled(&u1, false, now).await.expect("enable");
        assert_eq!(enabled.disabled_at, None);
        let staff = store.set_user_role(&u1, Role::Staff).await.expect("promote");
        assert_eq!((staff.role, staff.email.as_str()), (Role::Staff, "u1@example.com"));
        let nobody = UserId::from_raw("nobody");
        assert!(matches!(store.set_user_role(&nobody, Role::Admin).await, Err(Error::NotFound("user"))));
        assert!(matches!(store.set_user_disabled(&nobody, true, now).await, Err(Error::NotFound("user"))));
        assert!(store.get_user(&nobody).await.expect("read").is_none());
        let users = store.list_users(10, None).await.expect("list");
        assert_eq!(users.iter().map(|user| user.id.as_str()).collect::<Vec<_>>(), ["u1", "u2"]);
        let after = store.list_users(10, Some(&u1)).await.expect("next page");
        assert_eq!(after.iter().map(|user| user.id.as_str()).collect::<Vec<_>>(), ["u2"]);
    }

    #[tokio::test]
    async fn venues_and_halls_with_showtimes_are_not_deleted() {
        let fixture = Fixture::new().await;
        let store = &fixture.store;
        let (venue, hall, showtime) =
            (VenueId::from_raw("v1"), HallId::from_raw("h1"), ShowtimeId::from_raw("s1"));
        store.replace_hall_layout(&hall, &floor(3), from_millis(NOW)).await.expect("tickets");
        let refused = store.delete_hall(&hall).await;
        assert!(matches!(&refused, Err(Error::Conflict(message)) if message == HALL_REFUSAL), "{refused:?}");
        let refused = store.delete_venue(&venue).await;
        assert!(matches!(&refused, Err(Error::Conflict(message)) if message == VENUE_REFUSAL), "{refused:?}");
        assert_eq!(fixture.count("SELECT COUNT(*) FROM sections"), 1, "a refusal deletes nothing");
        // An expired hold and its feed entries go with the showtime.
        fixture.hold(&fixture.tickets()[0], NOW - 1);
        fixture
            .connection
            .execute_batch(&format!(
                "INSERT INTO inventory_events (showtime_id, kind, ticket_ids, at) VALUES ('s1', 'held', 'x', {NOW})"
            ))
            .expect("a feed entry");
        store.delete_showtime(&showtime, from_millis(NOW)).await.expect("delete the unsold showtime");
        for table in ["showtimes", "tickets", "holds", "hold_items", "inventory_events"] {
            assert_eq!(fixture.count(&format!("SELECT COUNT(*) FROM {table}")), 0, "{table}");
        }
        assert!(matches!(
            store.delete_showtime(&showtime, from_millis(NOW)).await,
            Err(Error::NotFound("showtime"))
        ));
        store.delete_hall(&hall).await.expect("delete the unused hall");
        assert_eq!(fixture.count("SELECT COUNT(*) FROM sections"), 0);
        assert!(matches!(store.delete_hall(&hall).await, Err(Error::NotFound("hall"))));
        store.delete_venue(&venue).await.expect("delete the unused venue");
        assert!(matches!(store.delete_venue(&venue).await, Err(Error::NotFound("venue"))));
        assert!(store.list_venues().await.expect("venues").is_empty());
    }

    #[tokio::test]
    async fn a_layout_is_replaced_only_while_nothing_is_sold_or_held() {
        let fixture = Fixture::new().await;
        let store = &fixture.store;
        let hall = HallId::from_raw("h1");
        let now = from_millis(NOW);
        assert!(matches!(
            store.replace_hall_layout(&HallId::from_raw("nowhere"), &floor(1), now).await,
            Err(Error::NotFound("hall"))
        ));
        store.replace_hall_layout(&hall, &stalls_and_floor(), now).await.expect("first layout");
        let stored = store.get_hall(&hall).await.expect("read").expect("the hall");
        assert_eq!(stored.layout, stalls_and_floor());
        let (labels, prices): (Vec<String>, Vec<i64>) = {
            let mut select = fixture
                .connection
                .prepare("SELECT label, price_amount FROM tickets WHERE showtime_id = 's1' ORDER BY position")
                .expect("select");
            let rows: Vec<(String, i64)> = select
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .and_then(Iterator::collect)
                .expect("rows");
            rows.into_iter().unzip()
        };
        assert_eq!(labels, ["Stalls A1", "Stalls A2", "Stalls A3", "Stalls A4", "Floor GA 1", "Floor GA 2"]);
        assert_eq!(prices, [1000, 1000, 1000, 5000, 1000, 1000]);
        assert_eq!(
            fixture.count("SELECT COUNT(*) FROM sections WHERE hall_id = 'h1' AND name = 'Stalls'"),
            1
        );

        let tickets = fixture.tickets();
        fixture.hold(&tickets[0], NOW + 60_000);
        let refused = store.replace_hall_layout(&hall, &floor(2), now).await;
        assert!(
            matches!(&refused, Err(Error::Conflict(message))
                if message == "the layout cannot change under showtimes with sales: 1 tickets are sold or held"),
            "{refused:?}"
        );
        assert_eq!(fixture.tickets(), tickets, "a refusal changes nothing");
        // Once the hold has expired the layout may change again.
        let later = from_millis(NOW + 60_000);
        store.replace_hall_layout(&hall, &floor(2), later).await.expect("second layout");
        let regenerated = fixture.tickets();
        assert_eq!(regenerated.len(), 2);
        assert!(regenerated.iter().all(|id| !tickets.contains(id)), "new tickets");
        assert_eq!(fixture.count("SELECT COUNT(*) FROM holds"), 0, "the finished hold went with its tickets");

        fixture.sell("o1", NOW, &[regenerated[1].as_str()]);
        let refused = store.replace_hall_layout(&hall, &floor(3), later).await;
        assert!(
            matches!(&refused, Err(Error::Conflict(message)) if message.ends_with(": 1 tickets are sold or held"))
        );
        assert_eq!(store.get_hall(&hall).await.expect("read").expect("the hall").layout, floor(2));
    }

    #[tokio::test]
    async fn a_layout_with_an_unpriced_category_changes_nothing() {
        let fixture = Fixture::new().await;
        let store = &fixture.store;
        let hall = HallId::from_raw("h1");
        store.replace_hall_layout(&hall, &floor(2), from_millis(NOW)).await.expect("first layout");
        let tickets = fixture.tickets();
        let mut unpriced = stalls_and_floor();
        unpriced.sections.push(floor(1).sections.remove(0));
        unpriced.sections[2].name = "Balcony".into();
        if let marquee_domain::catalog::SectionKind::GeneralAdmission { category, .. } =
            &mut unpriced.sections[2].kind
        {
            *category = "balcony".into();
        }
        let refused = store.replace_hall_layout(&hall, &unpriced, from_millis(NOW)).await;
        assert!(
            matches!(&refused, Err(Error::Invalid(message)) if message == "no price for category \"balcony\""),
            "{refused:?}"
        );
        assert_eq!(fixture.tickets(), tickets, "the old tickets are still there");
        assert_eq!(fixture.count("SELECT COUNT(*) FROM sections"), 1, "and the old sections");
        assert_eq!(store.get_hall(&hall).await.expect("read").expect("the hall").layout, floor(2));
    }

    #[tokio::test]
    async fn only_a_large_layout_refreshes_the_statistics() {
        let fixture = Fixture::new().await;
        let hall = HallId::from_raw("h1");
        let analyzed = "SELECT COUNT(*) FROM sqlite_master WHERE name = 'sqlite_stat1'";
        let below = STATISTICS_REFRESH_THRESHOLD as u32 - 1;
        fixture.store.replace_hall_layout(&hall, &floor(below), from_millis(NOW)).await.expect("a layout");
        assert_eq!(fixture.count(analyzed), 0, "too few new tickets to refresh the statistics");
        fixture
            .store
            .replace_hall_layout(&hall, &floor(2_500), from_millis(NOW))
            .await
            .expect("a large layout");
        assert_eq!(fixture.count("SELECT COUNT(*) FROM tickets WHERE showtime_id = 's1'"), 2_500);
        assert_eq!(fixture.count("SELECT MAX(position) FROM tickets"), 2_499);
        assert_eq!(fixture.count(analyzed), 1, "PRAGMA optimize analyzed the tables");
    }

    #[tokio::test]
    async fn the_sales_report_counts_live_sales_and_holds() {
        let fixture = Fixture::new().await;
        let store = &fixture.store;
        let showtime = ShowtimeId::from_raw("s1");
        store
            .replace_hall_layout(&HallId::from_raw("h1"), &stalls_and_floor(), from_millis(NOW))
            .await
            .expect("tickets");
        let t = fixture.tickets();
        // Stalls A1..A4 (A4 VIP), Floor GA 1..2.
        fixture.sell("o1", NOW + 10, &[t[0].as_str(), t[3].as_str()]);
        fixture.sell("o2", NOW + 20, &[t[4].as_str(), t[5].as_str()]);
        fixture.refund("o2", &t[5]);
        fixture.hold(&t[1], NOW + 60_000);
        fixture.hold(&t[2], NOW - 1);
        let report = store.sales_report(&showtime, from_millis(NOW)).await.expect("report");
        assert_eq!(
            report,
            [
                CategorySales {
                    category: "standard".into(),
                    sold: 2,
                    held: 1,
                    available: 2,
                    gross_amount: 2000
                },
                CategorySales { category: "vip".into(), sold: 1, held: 0, available: 0, gross_amount: 5000 },
            ]
        );
        let timeline = store.sales_timeline(&showtime).await.expect("timeline");
        assert_eq!(
            timeline,
            [
                Sale { at: from_millis(NOW + 10), tickets: 2, amount: 6000 },
                Sale { at: from_millis(NOW + 20), tickets: 1, amount: 1000 },
            ]
        );
        assert!(
            store
                .sales_report(&ShowtimeId::from_raw("none"), from_millis(NOW))
                .await
                .expect("empty")
                .is_empty()
        );
        let refused = store.delete_showtime(&showtime, from_millis(NOW)).await;
        assert!(
            matches!(&refused, Err(Error::Conflict(message))
                if message == "a showtime with sales cannot be deleted; cancel it instead: 4 tickets are sold or held"),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn showtimes_are_repriced_and_cancelled_once() {
        let fixture = Fixture::new().await;
        let store = &fixture.store;
        let showtime = ShowtimeId::from_raw("s1");
        store
            .replace_hall_layout(&HallId::from_raw("h1"), &floor(3), from_millis(NOW))
            .await
            .expect("tickets");
        let t = fixture.tickets();
        fixture.sell("o1", NOW, &[t[0].as_str()]);
        fixture.hold(&t[1], NOW + 60_000);
        let prices = BTreeMap::from([("standard".to_owned(), 1500), ("vip".to_owned(), 6000)]);
        store.update_showtime_prices(&showtime, &prices).await.expect("reprice");
        assert_eq!(fixture.count(&format!("SELECT price_amount FROM tickets WHERE id = '{}'", t[0])), 1000);
        assert_eq!(fixture.count(&format!("SELECT price_amount FROM tickets WHERE id = '{}'", t[1])), 1500);
        assert_eq!(fixture.count(&format!("SELECT price_amount FROM tickets WHERE id = '{}'", t[2])), 1500);
        assert!(matches!(
            store.update_showtime_prices(&ShowtimeId::from_raw("none"), &prices).await,
            Err(Error::NotFound("showtime"))
        ));
        store.cancel_showtime(&showtime, from_millis(NOW + 1)).await.expect("cancel");
        store.cancel_showtime(&showtime, from_millis(NOW + 2)).await.expect("cancel again");
        let listed =
            store.list_event_showtimes(&EventId::from_raw("e1"), from_millis(NOW)).await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].cancelled_at, Some(from_millis(NOW + 1)), "the first cancellation counts");
        assert_eq!(listed[0].showtime.prices, prices);
        assert_eq!((listed[0].seats_total, listed[0].seats_available), (3, 1));
        assert!(matches!(
            store.cancel_showtime(&ShowtimeId::from_raw("none"), from_millis(NOW)).await,
            Err(Error::NotFound("showtime"))
        ));
    }

    #[tokio::test]
    async fn catalog_administration_reads_and_updates() {
        let fixture = Fixture::new().await;
        let store = &fixture.store;
        fixture
            .connection
            .execute_batch(&format!(
                "INSERT INTO events (id, kind, title, synopsis, genres, published, created_at) VALUES \
                   ('e2', 'concert', 'Beta', '', ',', 0, {NOW}), ('e3', 'movie', 'Alpha', '', ',', 1, {NOW});
                 INSERT INTO halls (id, venue_id, name, layout) VALUES ('h0', 'v1', 'Annex', '{}');",
                serde_json::to_string(&floor(1)).expect("layout JSON")
            ))
            .expect("more events and a hall");
        let titles =
            |events: &[Event]| events.iter().map(|event| event.id.as_str().to_owned()).collect::<Vec<_>>();
        let first = store.list_all_events(2, None).await.expect("first page");
        assert_eq!(titles(&first), ["e1", "e3"]);
        let rest = store
            .list_all_events(2, Some(("Alpha".into(), EventId::from_raw("e3"))))
            .await
            .expect("next page");
        assert_eq!(titles(&rest), ["e2"], "unpublished events are listed too");

        let mut event = rest[0].clone();
        event.title = "Gamma".into();
        event.genres = vec!["jazz".into(), "live".into()];
        event.published = true;
        store.update_event(&event).await.expect("update");
        let events = store.list_all_events(10, None).await.expect("all");
        assert_eq!(events[2], event);
        event.id = EventId::from_raw("none");
        assert!(matches!(store.update_event(&event).await, Err(Error::NotFound("event"))));

        let venue = VenueId::from_raw("v1");
        let halls = store.list_halls(&venue).await.expect("halls");
        assert_eq!(halls.iter().map(|hall| hall.name.as_str()).collect::<Vec<_>>(), ["Annex", "One"]);
        store.rename_hall(&HallId::from_raw("h0"), "Zeta").await.expect("rename");
        assert_eq!(store.get_hall(&HallId::from_raw("h0")).await.expect("read").expect("hall").name, "Zeta");
        assert!(matches!(
            store.rename_hall(&HallId::from_raw("none"), "x").await,
            Err(Error::NotFound("hall"))
        ));
        let moved = Venue {
            id: venue.clone(),
            name: "Odeon Mitte".into(),
            city: "Hamburg".into(),
            time_zone: "Europe/Berlin".into(),
        };
        store.update_venue(&moved).await.expect("update the venue");
        assert_eq!(store.get_venue(&venue).await.expect("read"), Some(moved.clone()));
        assert_eq!(store.list_venues().await.expect("venues"), std::slice::from_ref(&moved));
        let missing = Venue { id: VenueId::from_raw("none"), ..moved };
        assert!(matches!(store.update_venue(&missing).await, Err(Error::NotFound("venue"))));
    }
}
