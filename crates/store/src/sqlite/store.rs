//! [`Store`]'s own operations on SQLite: accounts, the catalog, seat maps, holds and orders,
//! idempotency keys. Writes are commands of the writer thread; reads run on the readers.

use super::orders::{ORDER_COLUMNS, order_from_row};
use super::rows::{
    EVENT_COLUMNS, SHOWTIME_SUMMARY_SELECT, USER_COLUMNS, event_from_row, in_seat_map_order, instant,
    is_unique_violation, like_pattern, mapped, optional_row, showtime_summary_from_row, ticket_columns_of,
    ticket_from_row, user_from_row, with_statement,
};
use super::tickets::{insert_sections, insert_tickets, refresh_statistics};
use super::{SqliteStore, db, inventory, keys, migrate};
use crate::{
    AccountStore, Backend, CatalogStore, CommitStats, EventFilter, EventSummary, InventoryCounts,
    InventoryStore, KeyClaim, KeyRecord, KeyStore, NewHold, PoolStats, ShowtimeFilter, ShowtimeSummary,
    Store, TicketStatuses,
};
use async_trait::async_trait;
use marquee_domain::account::{Email, User};
use marquee_domain::catalog::{Event, Hall, HallLayout, Showtime, Venue};
use marquee_domain::clock::{from_millis, to_millis};
use marquee_domain::ids::{EventId, HoldId, OrderId, ShowtimeId, TicketId, UserId};
use marquee_domain::inventory::{Hold, Order, Ticket};
use marquee_domain::{Error, Result};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use time::OffsetDateTime;

/// The conditions every public catalog read shares (published, upcoming, on sale at `?1`).
const ON_SALE: &str = " WHERE e.published = 1 AND sh.cancelled_at IS NULL AND sh.starts_at > ?1 \
     AND sh.on_sale_from <= ?1 AND sh.on_sale_until > ?1";

/// A query assembled from optional filters: its SQL and its values, `?1` first.
struct Filtered {
    sql: String,
    values: Vec<Value>,
}

impl Filtered {
    fn new(sql: &str, now: OffsetDateTime) -> Self {
        Self { sql: sql.to_owned(), values: vec![Value::Integer(to_millis(now))] }
    }

    /// Adds `condition`, where `{}` stands for the placeholder of `value`.
    fn and(&mut self, condition: &str, value: impl Into<Value>) {
        self.values.push(value.into());
        let placeholder = format!("?{}", self.values.len());
        self.sql.push_str(&condition.replace("{}", &placeholder));
    }

    /// The city and day filters shared by events and showtimes.
    fn city_and_day(&mut self, city: Option<&str>, day: Option<OffsetDateTime>) {
        if let Some(city) = city {
            self.and(" AND LOWER(v.city) = {}", city.to_lowercase());
        }
        if let Some(start) = day {
            self.and(" AND sh.starts_at >= {}", to_millis(start));
            self.and(" AND sh.starts_at < {}", to_millis(start + time::Duration::days(1)));
        }
    }

    fn rows<T>(
        &self,
        connection: &Connection,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut statement = connection.prepare_cached(&self.sql).map_err(db)?;
        statement.query_map(params_from_iter(&self.values), map).and_then(Iterator::collect).map_err(db)
    }
}

/// Tickets with their showtime's currency, selected by `condition` on `tickets t` (with `?1`).
fn tickets_where(
    connection: &Connection,
    condition: &str,
    value: &str,
    now: OffsetDateTime,
) -> Result<Vec<Ticket>> {
    let sql = format!(
        "SELECT {}, sh.currency FROM tickets t JOIN showtimes sh ON sh.id = t.showtime_id WHERE {condition}",
        ticket_columns_of("t")
    );
    let tickets: Vec<(i64, Ticket)> = connection
        .prepare_cached(&sql)
        .and_then(|mut select| {
            select
                .query_map([value], |row| {
                    let currency: String = row.get(14)?;
                    ticket_from_row(row, &currency, now)
                })?
                .collect()
        })
        .map_err(db)?;
    Ok(in_seat_map_order(tickets))
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn ping(&self) -> Result<()> {
        self.read(|connection| mapped(connection.query_row("SELECT 1", [], |_| Ok(())))).await
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        let (size, idle, max) = self.readers.stats();
        // The writer is one connection, always open; busy while a batch runs.
        vec![
            PoolStats { pool: "writer", size: 1, idle: 1, max: 1 },
            PoolStats { pool: "readers", size, idle, max },
        ]
    }

    fn commit_stats(&self) -> Option<CommitStats> {
        Some(self.writer.stats().snapshot())
    }

    async fn migrate(&self) -> Result<()> {
        self.writer.exclusive(migrate::run).await
    }

    async fn unapplied_migrations(&self) -> Result<Vec<i64>> {
        self.read(migrate::unapplied).await
    }

    async fn close(&self) {
        self.writer.close().await;
        self.readers.close();
    }
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn get_user(&self, id: &UserId) -> Result<Option<User>> {
        let id = id.clone();
        self.read(move |connection| {
            let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?1");
            optional_row(connection, &sql, [id.as_str()], user_from_row)
        })
        .await
    }

    async fn create_user(&self, user: &User, password_hash: &str) -> Result<()> {
        let (user, password_hash) = (user.clone(), password_hash.to_owned());
        self.write(move |connection| {
            connection
                .prepare_cached(
                    "INSERT INTO users (id, email, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut insert| {
                    insert.execute(params![
                        user.id.as_str(),
                        user.email.as_str(),
                        password_hash,
                        user.role.as_str(),
                        to_millis(user.created_at)
                    ])
                })
                .map_err(|error| if is_unique_violation(&error) { Error::EmailTaken } else { db(error) })?;
            Ok(())
        })
        .await
    }

    async fn user_credentials(&self, email: &Email) -> Result<Option<(User, String)>> {
        let email = email.as_str().to_owned();
        self.read(move |connection| {
            let sql = format!(
                "SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.email = ?1 AND u.disabled_at IS NULL"
            );
            with_statement(connection, &sql, |statement| statement.query_row([email], |row| Ok((user_from_row(row)?, row.get("password_hash")?)))
                    .optional(),
            )
        })
        .await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: &UserId,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let (token_hash, user_id) = (token_hash.to_owned(), user_id.clone());
        self.write(move |connection| {
            connection
                .prepare_cached(
                    "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut insert| {
                    insert.execute(params![token_hash, user_id.as_str(), to_millis(now), to_millis(expires_at)])
                })
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn session_user(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<User>> {
        let token_hash = token_hash.to_owned();
        self.read(move |connection| {
            let sql = format!(
                "SELECT {USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.disabled_at IS NULL"
            );
            with_statement(connection, &sql, |statement| {
                statement.query_row(params![token_hash, to_millis(now)], user_from_row).optional()
            })
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let token_hash = token_hash.to_owned();
        self.write(move |connection| {
            with_statement(connection, "DELETE FROM sessions WHERE token_hash = ?1", |statement| {
                statement.execute([token_hash])
            })?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl CatalogStore for SqliteStore {
    async fn create_venue(&self, venue: &Venue) -> Result<()> {
        let venue = venue.clone();
        self.write(move |connection| {
            with_statement(
                connection,
                "INSERT INTO venues (id, name, city, time_zone) VALUES (?1, ?2, ?3, ?4)",
                |statement| {
                    statement.execute(params![venue.id.as_str(), venue.name, venue.city, venue.time_zone])
                },
            )?;
            Ok(())
        })
        .await
    }

    async fn create_hall(&self, hall: &Hall) -> Result<()> {
        let layout = serde_json::to_string(&hall.layout).map_err(Error::internal)?;
        let hall = hall.clone();
        self.write(move |connection| {
            with_statement(
                connection,
                "INSERT INTO halls (id, venue_id, name, layout) VALUES (?1, ?2, ?3, ?4)",
                |statement| {
                    statement.execute(params![hall.id.as_str(), hall.venue_id.as_str(), hall.name, layout])
                },
            )?;
            insert_sections(connection, &hall.id, &hall.layout)?;
            Ok(())
        })
        .await
    }

    async fn create_event(&self, event: &Event) -> Result<()> {
        let event = event.clone();
        self.write(move |connection| {
            let genres = format!(",{},", event.genres.join(","));
            with_statement(
                connection,
                        "INSERT INTO events (id, kind, title, synopsis, poster_url, genres, runtime_minutes, rating, \
                         artist, published, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    |statement| statement.execute(params![
                        event.id.as_str(),
                        event.kind.as_str(),
                        event.title,
                        event.synopsis,
                        event.poster_url,
                        genres,
                        event.runtime_minutes,
                        event.rating,
                        event.artist,
                        i64::from(event.published),
                        to_millis(event.created_at)
                    ]),
            )?;
            Ok(())
        })
        .await
    }

    async fn create_showtime(&self, showtime: &Showtime) -> Result<()> {
        let showtime = showtime.clone();
        let prices = serde_json::to_string(&showtime.prices).map_err(Error::internal)?;
        self.write(move |connection| {
            let layout: String =
                with_statement(connection, "SELECT layout FROM halls WHERE id = ?1", |statement| {
                    statement.query_row([showtime.hall_id.as_str()], |row| row.get(0)).optional()
                })?
                .ok_or(Error::NotFound("hall"))?;
            let layout: HallLayout = serde_json::from_str(&layout)
                .map_err(|error| Error::internal(format!("bad layout JSON: {error}")))?;
            with_statement(
                connection,
                "INSERT INTO showtimes (id, event_id, hall_id, starts_at, on_sale_from, on_sale_until, \
                         currency, prices, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                |statement| {
                    statement.execute(params![
                        showtime.id.as_str(),
                        showtime.event_id.as_str(),
                        showtime.hall_id.as_str(),
                        to_millis(showtime.starts_at),
                        to_millis(showtime.on_sale_from),
                        to_millis(showtime.on_sale_until),
                        showtime.currency,
                        prices,
                        to_millis(OffsetDateTime::now_utc())
                    ])
                },
            )?;
            let tickets = insert_tickets(connection, &showtime, &layout)?;
            refresh_statistics(connection, tickets);
            Ok(())
        })
        .await
    }

    async fn catalog_is_empty(&self) -> Result<bool> {
        self.read(|connection| {
            mapped(connection.query_row("SELECT NOT EXISTS (SELECT 1 FROM events)", [], |row| row.get(0)))
        })
        .await
    }

    async fn list_events(&self, filter: &EventFilter, now: OffsetDateTime) -> Result<Vec<EventSummary>> {
        let mut query = Filtered::new(
            &format!(
                "SELECT {EVENT_COLUMNS}, MIN(sh.starts_at) AS next_starts_at FROM events e \
                 JOIN showtimes sh ON sh.event_id = e.id JOIN halls h ON h.id = sh.hall_id \
                 JOIN venues v ON v.id = h.venue_id{ON_SALE}"
            ),
            now,
        );
        if let Some(kind) = filter.kind {
            query.and(" AND e.kind = {}", kind.as_str().to_owned());
        }
        if let Some(text) = filter.query.as_deref().filter(|text| !text.trim().is_empty()) {
            query.and(" AND LOWER(e.title) LIKE {} ESCAPE '\\'", like_pattern(text.trim()));
        }
        if let Some(genre) = &filter.genre {
            query.and(" AND e.genres LIKE {} ESCAPE '\\'", like_pattern(&format!(",{},", genre.trim())));
        }
        query.city_and_day(filter.city.as_deref(), filter.day);
        if let Some((title, id)) = &filter.after {
            query.values.push(Value::Text(title.clone()));
            let title = format!("?{}", query.values.len());
            query.and(
                &format!(" AND (e.title > {title} OR (e.title = {title} AND e.id > {{}}))"),
                id.as_str().to_owned(),
            );
        }
        query.and(" GROUP BY e.id ORDER BY e.title, e.id LIMIT {}", i64::from(filter.limit));
        self.read(move |connection| {
            query.rows(connection, |row| {
                Ok(EventSummary {
                    event: event_from_row(row)?,
                    next_starts_at: instant(row, "next_starts_at")?,
                })
            })
        })
        .await
    }

    async fn get_event(&self, id: &EventId) -> Result<Option<Event>> {
        let id = id.clone();
        self.read(move |connection| {
            let sql = format!("SELECT {EVENT_COLUMNS} FROM events e WHERE e.id = ?1");
            with_statement(connection, &sql, |statement| {
                statement.query_row([id.as_str()], event_from_row).optional()
            })
        })
        .await
    }

    async fn list_showtimes(
        &self,
        filter: &ShowtimeFilter,
        now: OffsetDateTime,
    ) -> Result<Vec<ShowtimeSummary>> {
        let mut query = Filtered::new(&format!("{SHOWTIME_SUMMARY_SELECT}{ON_SALE}"), now);
        if let Some(event_id) = &filter.event_id {
            query.and(" AND sh.event_id = {}", event_id.as_str().to_owned());
        }
        query.city_and_day(filter.city.as_deref(), filter.day);
        if let Some((starts_at, id)) = &filter.after {
            query.values.push(Value::Integer(to_millis(*starts_at)));
            let starts_at = format!("?{}", query.values.len());
            query.and(
                &format!(
                    " AND (sh.starts_at > {starts_at} OR (sh.starts_at = {starts_at} AND sh.id > {{}}))"
                ),
                id.as_str().to_owned(),
            );
        }
        query.and(" ORDER BY sh.starts_at, sh.id LIMIT {}", i64::from(filter.limit));
        self.read(move |connection| query.rows(connection, showtime_summary_from_row)).await
    }

    async fn get_showtime(&self, id: &ShowtimeId, now: OffsetDateTime) -> Result<Option<ShowtimeSummary>> {
        let id = id.clone();
        self.read(move |connection| {
            let sql = format!("{SHOWTIME_SUMMARY_SELECT} WHERE sh.id = ?2");
            with_statement(connection, &sql, |statement| {
                statement
                    .query_row(params![to_millis(now), id.as_str()], showtime_summary_from_row)
                    .optional()
            })
        })
        .await
    }

    async fn showtime_starts_at(&self, id: &ShowtimeId) -> Result<Option<OffsetDateTime>> {
        let id = id.clone();
        self.read(move |connection| {
            with_statement(connection, "SELECT starts_at FROM showtimes WHERE id = ?1", |statement| {
                statement.query_row([id.as_str()], |row| instant(row, "starts_at")).optional()
            })
        })
        .await
    }

    async fn showtimes_starting(
        &self,
        from: OffsetDateTime,
        until: OffsetDateTime,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<ShowtimeSummary>> {
        self.read(move |connection| {
            let sql = format!(
                "{SHOWTIME_SUMMARY_SELECT} WHERE sh.cancelled_at IS NULL AND sh.starts_at >= ?2 AND sh.starts_at < ?3 \
                 ORDER BY sh.starts_at, sh.id LIMIT ?4"
            );
            let mut select = connection.prepare_cached(&sql).map_err(db)?;
            let rows = select.query_map(
                params![to_millis(now), to_millis(from), to_millis(until), i64::from(limit)],
                showtime_summary_from_row,
            );
            mapped(rows.and_then(Iterator::collect))
        })
        .await
    }
}

#[async_trait]
impl InventoryStore for SqliteStore {
    async fn seat_map(&self, showtime_id: &ShowtimeId, now: OffsetDateTime) -> Result<Vec<Ticket>> {
        let showtime_id = showtime_id.clone();
        self.read(move |connection| {
            tickets_where(connection, "t.showtime_id = ?1", showtime_id.as_str(), now)
        })
        .await
    }

    async fn ticket_statuses(&self, showtime_id: &ShowtimeId, now: OffsetDateTime) -> Result<TicketStatuses> {
        let showtime_id = showtime_id.clone();
        self.read(move |connection| {
            let mut select = connection
                .prepare_cached(
                    "SELECT status, hold_expires_at FROM tickets WHERE showtime_id = ?1 ORDER BY position",
                )
                .map_err(db)?;
            let mut rows = select.query([showtime_id.as_str()]).map_err(db)?;
            let mut statuses = TicketStatuses::default();
            while let Some(row) = rows.next().map_err(db)? {
                let stored: String = row.get(0).map_err(db)?;
                let expires: Option<i64> = row.get(1).map_err(db)?;
                statuses.push(&stored, expires.map(from_millis), now);
            }
            Ok(statuses)
        })
        .await
    }

    async fn get_ticket(&self, id: &TicketId, now: OffsetDateTime) -> Result<Option<Ticket>> {
        let id = id.clone();
        self.read(move |connection| Ok(tickets_where(connection, "t.id = ?1", id.as_str(), now)?.pop())).await
    }

    async fn inventory_counts(
        &self,
        showtime_id: &ShowtimeId,
        now: OffsetDateTime,
    ) -> Result<InventoryCounts> {
        let showtime_id = showtime_id.clone();
        self.read(move |connection| {
            let (sold, held, total): (i64, i64, i64) = with_statement(
                connection,
                "SELECT COALESCE(SUM(status = 'sold'), 0), \
                 COALESCE(SUM(status = 'held' AND hold_expires_at > ?2), 0), COUNT(*) \
                 FROM tickets WHERE showtime_id = ?1",
                |statement| {
                    statement.query_row(params![showtime_id.as_str(), to_millis(now)], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })
                },
            )?;
            Ok(InventoryCounts { available: total - sold - held, held, sold })
        })
        .await
    }

    async fn create_hold(&self, hold: &NewHold) -> Result<Hold> {
        let hold = hold.clone();
        self.write(move |connection| inventory::create_hold(connection, &hold)).await
    }

    async fn get_hold(&self, id: &HoldId, now: OffsetDateTime) -> Result<Option<Hold>> {
        let id = id.clone();
        self.read(move |connection| inventory::load_hold(connection, &id, now)).await
    }

    async fn release_hold(&self, id: &HoldId, now: OffsetDateTime) -> Result<Hold> {
        let id = id.clone();
        self.write(move |connection| inventory::release_hold(connection, &id, now)).await
    }

    async fn get_order(&self, id: &OrderId) -> Result<Option<Order>> {
        let id = id.clone();
        self.read(move |connection| super::orders::load_order(connection, &id)).await
    }

    async fn list_orders(
        &self,
        user_id: &UserId,
        limit: u32,
        before: Option<&OrderId>,
    ) -> Result<Vec<Order>> {
        let (user_id, before) = (user_id.clone(), before.cloned());
        self.read(move |connection| {
            // Newest first: ids are time-ordered, and `orders_by_user` covers (user_id, id).
            let mut query = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = ?1");
            let mut values: Vec<Value> = vec![Value::Text(user_id.into_string())];
            if let Some(before) = before {
                values.push(Value::Text(before.into_string()));
                query.push_str(" AND id < ?2");
            }
            values.push(Value::Integer(i64::from(limit)));
            query.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", values.len()));
            let orders: Vec<Order> = with_statement(connection, &query, |statement| {
                statement.query_map(params_from_iter(&values), order_from_row)?.collect()
            })?;
            super::orders::load_orders(connection, orders)
        })
        .await
    }

    async fn sweep_expired_holds(&self, now: OffsetDateTime) -> Result<u64> {
        self.write(move |connection| inventory::sweep_expired_holds(connection, now)).await
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn idempotency_key(&self, user_id: &UserId, key: &str) -> Result<Option<KeyRecord>> {
        let (user_id, key) = (user_id.clone(), key.to_owned());
        self.read(move |connection| keys::record(connection, &user_id, &key)).await
    }

    async fn answer_idempotency_key(
        &self,
        claim: &KeyClaim,
        status: u16,
        body: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        let (claim, body) = (claim.clone(), body.to_owned());
        self.write(move |connection| keys::answer(connection, &claim, status, &body, now)).await
    }

    async fn release_idempotency_key(&self, claim: &KeyClaim) -> Result<()> {
        let claim = claim.clone();
        self.write(move |connection| keys::release(connection, &claim)).await
    }

    async fn adopt_idempotency_key(
        &self,
        user_id: &UserId,
        key: &str,
        owner: &str,
        now: OffsetDateTime,
        stale_before: OffsetDateTime,
    ) -> Result<bool> {
        let (user_id, key, owner) = (user_id.clone(), key.to_owned(), owner.to_owned());
        self.write(move |connection| keys::adopt(connection, &user_id, &key, &owner, now, stale_before)).await
    }
}
