//! The PostgreSQL store, on sqlx.
//!
//! Every write transaction locks what it changes: tickets `FOR UPDATE` in id order before
//! changing them (so two overlapping holds cannot deadlock), GA places picked with `SKIP
//! LOCKED`, the buyer's row while counting what they hold. Deadlocks and serialization
//! failures are retried. Many Marquee nodes share one database; its `LISTEN`/`NOTIFY` carries
//! inventory changes between them. Migrations: `migrations/postgres`.
//!
//! It runs on sqlx's typed PostgreSQL driver (`PgPool`, `PgRow`): rows decode strictly by the
//! column's real type.

mod admin;
mod keys;
mod live;
mod payments;
mod pipeline;

use crate::live::InventoryChange;
use crate::{
    AccountStore, CatalogStore, EventFilter, EventSummary, InventoryCounts, InventoryStore, KeyClaim,
    KeyRecord, KeyResource, KeyStore, NewHold, PoolStats, ShowtimeFilter, ShowtimeSummary, Store,
    TicketStatuses,
};
use async_trait::async_trait;
use marquee_domain::account::{Email, Role, User};
use marquee_domain::catalog::{
    Event, EventKind, Hall, HallLayout, SectionKind, SectionLayout, Showtime, Venue,
};
use marquee_domain::clock::{from_millis, to_millis};
use marquee_domain::ids::{
    EventId, HallId, HoldId, OrderId, SectionId, ShowtimeId, TicketId, UserId, VenueId,
};
use marquee_domain::inventory::{
    Hold, HoldSelection, HoldStatus, Order, OrderStatus, Ticket, effective_status,
};
use marquee_domain::money::Money;
use marquee_domain::{Error, Result};
use pipeline::{Pipeline, work};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgArguments, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres, Row, Transaction};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use time::OffsetDateTime;

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Rows per multi-row INSERT when creating tickets (15 columns: well under PostgreSQL's limit
/// on bind parameters).
const TICKET_INSERT_CHUNK: usize = 400;
/// How often a transaction that lost a deadlock or serialization race is retried.
const MAX_CONTENTION_RETRIES: u32 = 5;
/// Locks the selected rows until the transaction ends.
const FOR_UPDATE: &str = " FOR UPDATE";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::invalid("database URL must start with sqlite:// or postgres://"))
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Commit pipelines a PostgreSQL node runs unless told otherwise.
pub const DEFAULT_COMMIT_PIPELINES: u16 = 2;
pub use pipeline::MAX_LANES as MAX_COMMIT_PIPELINES;

/// Connection limits.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Connections of the pool (PostgreSQL) or of the reader pool (SQLite).
    pub max_connections: u32,
    /// How long a request waits for a connection before failing.
    pub acquire_timeout: Duration,
    /// PostgreSQL only: a streaming replica for the catalog listings, the one kind of read
    /// that tolerates lag (see [`SqlStore`]).
    pub replica_url: Option<String>,
    /// PostgreSQL only: commit pipelines run side by side (see [`pipeline`]); SQLite has one
    /// writer.
    pub commit_pipelines: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(30),
            replica_url: None,
            commit_pipelines: usize::from(DEFAULT_COMMIT_PIPELINES),
        }
    }
}

/// # Which reads may lag
/// With a replica configured, only the catalog listings (events and showtimes on sale: the
/// browsing load of a rush) read from it; a few seconds' lag there shows a new event late.
/// Everything that decides a seat, money, an admission or a session — holds, purchases,
/// refunds, check-in, idempotency keys, logins, queues, the seat map and the inventory feed —
/// reads the primary, so a lagging replica can never sell a seat twice or replay a stale
/// answer.
pub struct SqlStore {
    /// Reads go here: the same pool as `write`.
    read: PgPool,
    /// Catalog listings: the replica when configured, else `read`.
    catalog: PgPool,
    /// Every write transaction goes here.
    write: PgPool,
    /// Where to `LISTEN` for other nodes' inventory changes.
    postgres_url: Option<String>,
    /// `catalog` is a pool of its own (a replica), not `read`.
    has_replica: bool,
    /// The writes that touch inventory, group-committed on connections of `write`.
    pipeline: Pipeline,
}

impl SqlStore {
    /// Connects to `postgres://…` (SQLite is [`crate::SqliteStore`]).
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self> {
        if Backend::from_url(url)? != Backend::Postgres {
            return Err(Error::invalid("SqlStore serves PostgreSQL; SQLite is SqliteStore"));
        }
        let pool = || {
            PgPoolOptions::new()
                .max_connections(options.max_connections.max(2))
                .acquire_timeout(options.acquire_timeout)
        };
        let primary = pool().connect(url).await.map_err(connect_error)?;
        let catalog = match &options.replica_url {
            Some(replica) => pool().connect(replica).await.map_err(connect_error)?,
            None => primary.clone(),
        };
        Ok(Self {
            read: primary.clone(),
            catalog,
            postgres_url: Some(url.to_owned()),
            has_replica: options.replica_url.is_some(),
            pipeline: Pipeline::start(primary.clone(), options.commit_pipelines),
            write: primary,
        })
    }

    /// A write transaction.
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        self.write.begin().await.map_err(db)
    }

    /// Refreshes the planner's statistics after a bulk load of (at least 1,000) tickets. A new showtime can
    /// add tens of thousands of rows at once, and it goes on sale before autovacuum (if it
    /// runs at all) has looked at them: with stale statistics PostgreSQL picks hash joins over
    /// the whole tickets table for a few orders' items. Best effort: a failure only costs speed.
    async fn refresh_statistics(&self, new_tickets: usize) {
        if new_tickets < 1_000 {
            return;
        }
        let sql = "ANALYZE tickets, hold_items, order_items, holds, orders";
        if let Err(error) = sqlx::query(sql).execute(&self.write).await {
            tracing::warn!(%error, "could not refresh planner statistics");
        }
    }

    /// Runs a write transaction again when it lost a deadlock or serialization race.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut retries = 0;
        loop {
            match attempt().await {
                Err(Error::Contention) if retries < MAX_CONTENTION_RETRIES => {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(5 * u64::from(retries))).await;
                }
                outcome => return outcome,
            }
        }
    }
}

/// Why the database could not be opened, in words an operator can act on (no driver
/// internals, no source lines), as `DatabaseUnavailable`.
fn connect_error(error: sqlx::Error) -> Error {
    let reason = match &error {
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                "the connection was refused: is the database server running, on that host and port?"
                    .to_owned()
            }
            std::io::ErrorKind::TimedOut => {
                "the connection timed out: check the host, port and firewall".to_owned()
            }
            // The resolver's failures have no kind of their own.
            _ if io.to_string().contains("lookup") || io.to_string().contains("resolve") => {
                "the host name could not be resolved: check the host in the URL".to_owned()
            }
            _ => format!("the database could not be reached: {io}"),
        },
        sqlx::Error::Tls(tls) => format!(
            "TLS could not be set up ({tls}): the server may not accept TLS, or its certificate is not trusted; check sslmode"
        ),
        sqlx::Error::PoolTimedOut => {
            "no connection could be made within the acquire timeout: is the database server running, \
             on that host and port?"
                .to_owned()
        }
        sqlx::Error::Configuration(cause) => format!("the database URL is not valid: {cause}"),
        _ => match error.as_database_error() {
            Some(database_error) => {
                let message = database_error.message();
                match database_error.code().as_deref() {
                    Some("28000" | "28P01") => format!("the database refused the login: {message}"),
                    Some("3D000") => format!("{message}: create it first (e.g. createdb)"),
                    Some("42501") => format!("permission denied: {message}"),
                    _ => message.to_owned(),
                }
            }
            None => error.to_string(),
        },
    };
    Error::DatabaseUnavailable(reason)
}

/// Maps driver errors into the domain's error story.
fn db(error: sqlx::Error) -> Error {
    // The database is not there (refused or broken connections, a restart, no free connection
    // within the pool's wait): a 503 the client may retry, not a fault of ours.
    if matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    ) {
        return Error::DatabaseUnavailable(error.to_string());
    }
    if let Some(database_error) = error.as_database_error() {
        let code = database_error.code();
        // 40001 serialization failure, 40P01 deadlock detected: retry the transaction.
        if matches!(code.as_deref(), Some("40001" | "40P01")) {
            return Error::Contention;
        }
        // 22021 character not in repertoire (a NUL in text), 22P05 untranslatable character:
        // the client's text cannot be stored in PostgreSQL; a bad request, not our fault.
        if matches!(code.as_deref(), Some("22021" | "22P05")) {
            return Error::Invalid("text must not contain NUL characters".into());
        }
        // Class 08 connection exceptions; 57P01–57P03 the server shutting down or starting up;
        // 53300 too many connections.
        if code.as_deref().is_some_and(|code| {
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
        }) {
            return Error::DatabaseUnavailable(error.to_string());
        }
    }
    Error::internal(error)
}

/// A foreign key refused a delete or insert.
fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some_and(|e| e.is_foreign_key_violation())
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some_and(|e| e.is_unique_violation())
}

/// `$first, $first+1, …` for `count` values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// A value bound to a dynamically built statement.
enum Arg {
    Text(String),
    Int(i64),
}

/// A statement built at run time, with numbered placeholders for its values.
#[derive(Default)]
struct DynamicQuery {
    sql: String,
    args: Vec<Arg>,
}

impl DynamicQuery {
    fn new(sql: &str) -> Self {
        Self { sql: sql.to_owned(), args: Vec::new() }
    }

    fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Binds a value and returns its placeholder.
    fn text(&mut self, value: impl Into<String>) -> String {
        self.args.push(Arg::Text(value.into()));
        format!("${}", self.args.len())
    }

    fn int(&mut self, value: i64) -> String {
        self.args.push(Arg::Int(value));
        format!("${}", self.args.len())
    }

    fn build(&self) -> sqlx::query::Query<'static, Postgres, PgArguments> {
        let mut query = sqlx::query(AssertSqlSafe(self.sql.clone()));
        for arg in &self.args {
            query = match arg {
                Arg::Text(value) => query.bind(value.clone()),
                Arg::Int(value) => query.bind(*value),
            };
        }
        query
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_pattern(fragment: &str) -> String {
    let escaped = fragment.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{}%", escaped.to_lowercase())
}

const TICKET_COLUMNS: &str = "t.id, t.showtime_id, t.section_id, t.section_name, t.row_label, t.number, \
     t.label, t.category, t.price_amount, t.row_index, t.column_index, t.status, t.hold_expires_at, \
     sh.currency";

fn ticket_from_row(row: &PgRow, now: OffsetDateTime) -> Result<Ticket> {
    let status: String = row.try_get("status").map_err(db)?;
    let hold_expires_at: Option<i64> = row.try_get("hold_expires_at").map_err(db)?;
    Ok(Ticket {
        id: TicketId::from_raw(row.try_get::<String, _>("id").map_err(db)?),
        showtime_id: ShowtimeId::from_raw(row.try_get::<String, _>("showtime_id").map_err(db)?),
        section_id: SectionId::from_raw(row.try_get::<String, _>("section_id").map_err(db)?),
        section: row.try_get("section_name").map_err(db)?,
        row: row.try_get("row_label").map_err(db)?,
        number: int_u32(row, "number")?,
        label: row.try_get("label").map_err(db)?,
        category: row.try_get("category").map_err(db)?,
        price: Money::new(
            row.try_get("price_amount").map_err(db)?,
            row.try_get::<String, _>("currency").map_err(db)?,
        ),
        status: effective_status(&status, hold_expires_at.map(from_millis), now),
        hold_expires_at: hold_expires_at.map(from_millis).filter(|at| *at > now && status == "held"),
        row_index: int_u32(row, "row_index")?,
        column_index: int_u32(row, "column_index")?,
    })
}

fn int_u32(row: &PgRow, column: &str) -> Result<u32> {
    let value: i64 = row.try_get(column).map_err(db)?;
    u32::try_from(value).map_err(|_| Error::internal(format!("{column} out of range: {value}")))
}

fn instant(row: &PgRow, column: &str) -> Result<OffsetDateTime> {
    Ok(from_millis(row.try_get(column).map_err(db)?))
}

fn user_from_row(row: &PgRow) -> Result<User> {
    Ok(User {
        id: UserId::from_raw(row.try_get::<String, _>("id").map_err(db)?),
        email: Email::from_trusted(row.try_get("email").map_err(db)?),
        role: Role::parse(&row.try_get::<String, _>("role").map_err(db)?)?,
        created_at: instant(row, "created_at")?,
        disabled_at: row.try_get::<Option<i64>, _>("disabled_at").map_err(db)?.map(from_millis),
    })
}

const USER_COLUMNS: &str = "u.id, u.email, u.role, u.created_at, u.disabled_at";

const EVENT_COLUMNS: &str = "e.id, e.kind, e.title, e.synopsis, e.poster_url, e.genres, e.runtime_minutes, \
     e.rating, e.artist, e.published, e.created_at";

fn event_from_row(row: &PgRow) -> Result<Event> {
    let genres: String = row.try_get("genres").map_err(db)?;
    Ok(Event {
        id: EventId::from_raw(row.try_get::<String, _>("id").map_err(db)?),
        kind: EventKind::parse(&row.try_get::<String, _>("kind").map_err(db)?)?,
        title: row.try_get("title").map_err(db)?,
        synopsis: row.try_get("synopsis").map_err(db)?,
        poster_url: row.try_get("poster_url").map_err(db)?,
        genres: genres.split(',').filter(|g| !g.is_empty()).map(str::to_owned).collect(),
        runtime_minutes: row.try_get("runtime_minutes").map_err(db)?,
        rating: row.try_get("rating").map_err(db)?,
        artist: row.try_get("artist").map_err(db)?,
        published: row.try_get::<i64, _>("published").map_err(db)? != 0,
        created_at: instant(row, "created_at")?,
    })
}

const SHOWTIME_SUMMARY_SELECT: &str = "SELECT sh.id, sh.event_id, sh.hall_id, sh.starts_at, sh.on_sale_from, \
     sh.on_sale_until, sh.currency, sh.prices, sh.cancelled_at, e.title AS event_title, v.id AS venue_id, v.name AS venue_name, \
     v.city, v.time_zone, h.name AS hall_name, \
     (SELECT COUNT(*) FROM tickets t WHERE t.showtime_id = sh.id) AS seats_total, \
     (SELECT COUNT(*) FROM tickets t WHERE t.showtime_id = sh.id AND \
        (t.status = 'available' OR (t.status = 'held' AND t.hold_expires_at <= $1))) AS seats_available \
     FROM showtimes sh JOIN events e ON e.id = sh.event_id JOIN halls h ON h.id = sh.hall_id \
     JOIN venues v ON v.id = h.venue_id";

fn showtime_summary_from_row(row: &PgRow) -> Result<ShowtimeSummary> {
    let prices: String = row.try_get("prices").map_err(db)?;
    let prices: BTreeMap<String, i64> =
        serde_json::from_str(&prices).map_err(|e| Error::internal(format!("bad prices JSON: {e}")))?;
    let currency: String = row.try_get("currency").map_err(db)?;
    let price_from = prices.values().min().map(|amount| Money::new(*amount, currency.clone()));
    Ok(ShowtimeSummary {
        showtime: Showtime {
            id: ShowtimeId::from_raw(row.try_get::<String, _>("id").map_err(db)?),
            event_id: EventId::from_raw(row.try_get::<String, _>("event_id").map_err(db)?),
            hall_id: HallId::from_raw(row.try_get::<String, _>("hall_id").map_err(db)?),
            starts_at: instant(row, "starts_at")?,
            on_sale_from: instant(row, "on_sale_from")?,
            on_sale_until: instant(row, "on_sale_until")?,
            currency,
            prices,
        },
        cancelled_at: row.try_get::<Option<i64>, _>("cancelled_at").map_err(db)?.map(from_millis),
        event_title: row.try_get("event_title").map_err(db)?,
        venue_id: VenueId::from_raw(row.try_get::<String, _>("venue_id").map_err(db)?),
        venue_name: row.try_get("venue_name").map_err(db)?,
        city: row.try_get("city").map_err(db)?,
        time_zone: row.try_get("time_zone").map_err(db)?,
        hall_name: row.try_get("hall_name").map_err(db)?,
        seats_available: row.try_get("seats_available").map_err(db)?,
        seats_total: row.try_get("seats_total").map_err(db)?,
        price_from,
    })
}

/// Adds the conditions shared by every public catalog read: published, upcoming, on sale.
fn push_on_sale(query: &mut DynamicQuery, now: &str) {
    query.push(&format!(
        " WHERE e.published = 1 AND sh.cancelled_at IS NULL AND sh.starts_at > {now} \
         AND sh.on_sale_from <= {now} AND sh.on_sale_until > {now}"
    ));
}

fn push_city_and_date(query: &mut DynamicQuery, city: Option<&str>, day: Option<OffsetDateTime>) {
    if let Some(city) = city {
        let city = query.text(city.to_lowercase());
        query.push(&format!(" AND LOWER(v.city) = {city}"));
    }
    if let Some(start) = day {
        let from = query.int(to_millis(start));
        let until = query.int(to_millis(start + time::Duration::days(1)));
        query.push(&format!(" AND sh.starts_at >= {from} AND sh.starts_at < {until}"));
    }
}

/// How a section's kind is stored.
fn section_kind(section: &SectionLayout) -> &'static str {
    match section.kind {
        SectionKind::Seated { .. } => "seated",
        SectionKind::GeneralAdmission { .. } => "general_admission",
    }
}

/// Creates one ticket per place of `layout` for `showtime`, priced by category, in chunks.
async fn insert_tickets(
    tx: &mut Transaction<'_, Postgres>,
    showtime: &Showtime,
    layout: &HallLayout,
    hall_id: &HallId,
) -> Result<usize> {
    let section_rows = sqlx::query("SELECT id, name FROM sections WHERE hall_id = $1 ORDER BY position")
        .bind(hall_id.as_str())
        .fetch_all(&mut **tx)
        .await
        .map_err(db)?;
    let sections: Vec<(String, String)> = section_rows
        .iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("name")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db)?;
    let places = layout.places();
    for (chunk_index, chunk) in places.chunks(TICKET_INSERT_CHUNK).enumerate() {
        let mut query = DynamicQuery::new(
            "INSERT INTO tickets (id, showtime_id, section_id, section_name, row_label, number, label, category, \
             price_amount, position, row_index, column_index) VALUES ",
        );
        let showtime_id = query.text(showtime.id.as_str());
        for (offset, place) in chunk.iter().enumerate() {
            let (section_id, section_name) = sections
                .get(place.section_index)
                .ok_or_else(|| Error::internal("layout and sections disagree"))?;
            let price = *showtime
                .prices
                .get(&place.category)
                .ok_or_else(|| Error::invalid(format!("no price for category {:?}", place.category)))?;
            let values = [
                query.text(TicketId::generate().into_string()),
                showtime_id.clone(),
                query.text(section_id.clone()),
                query.text(section_name.clone()),
                match &place.row {
                    Some(row) => query.text(row.clone()),
                    None => "NULL".to_owned(),
                },
                query.int(i64::from(place.number)),
                query.text(place.label.clone()),
                query.text(place.category.clone()),
                query.int(price),
                query.int((chunk_index * TICKET_INSERT_CHUNK + offset) as i64),
                query.int(i64::from(place.row_index)),
                query.int(i64::from(place.column_index)),
            ];
            if offset > 0 {
                query.push(", ");
            }
            query.push(&format!("({})", values.join(", ")));
        }
        query.build().execute(&mut **tx).await.map_err(db)?;
    }
    Ok(places.len())
}

impl SqlStore {
    /// Runs in the commit pipeline.
    async fn sweep_expired_in(tx: &mut PgConnection, now: OffsetDateTime) -> Result<u64> {
        let at = now;
        let now = to_millis(now);
        let rows = sqlx::query(
            "UPDATE tickets SET status = 'available', hold_id = NULL, hold_expires_at = NULL \
             WHERE status = 'held' AND hold_expires_at <= $1 RETURNING id, showtime_id",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut by_showtime: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in &rows {
            by_showtime
                .entry(row.try_get("showtime_id").map_err(db)?)
                .or_default()
                .push(row.try_get("id").map_err(db)?);
        }
        for (showtime, tickets) in &by_showtime {
            live::record_change(&mut *tx, showtime, InventoryChange::Expired, tickets, at).await?;
        }
        let freed = rows.len() as u64;
        sqlx::query("UPDATE holds SET status = 'expired' WHERE status = 'active' AND expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        Ok(freed)
    }

    /// Fault injection: the commit pipeline's next COMMIT fails (see [`Pipeline`]).
    pub fn fail_next_commit(&self) {
        self.pipeline.fail_next_commit();
    }

    async fn hold_tickets(
        executor: impl sqlx::Executor<'_, Database = Postgres>,
        hold_id: &HoldId,
        now: OffsetDateTime,
    ) -> Result<Vec<Ticket>> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM hold_items hi JOIN tickets t ON t.id = hi.ticket_id \
             JOIN showtimes sh ON sh.id = t.showtime_id WHERE hi.hold_id = $1 ORDER BY t.position"
        );
        let rows =
            sqlx::query(AssertSqlSafe(sql)).bind(hold_id.as_str()).fetch_all(executor).await.map_err(db)?;
        // A ticket of this hold counts as held by it only while the hold is what holds it; the
        // effective status already says "available" once the hold expired.
        rows.iter().map(|row| ticket_from_row(row, now)).collect()
    }

    async fn load_hold(
        connection: &mut sqlx::PgConnection,
        id: &HoldId,
        now: OffsetDateTime,
    ) -> Result<Option<Hold>> {
        let row = sqlx::query(
            "SELECT id, user_id, showtime_id, status, created_at, expires_at, order_id FROM holds WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&mut *connection)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let expires_at = instant(&row, "expires_at")?;
        let stored: String = row.try_get("status").map_err(db)?;
        let status = HoldStatus::effective(&stored, expires_at, now)?;
        let mut tickets = Self::hold_tickets(&mut *connection, id, now).await?;
        if status == HoldStatus::Active {
            // Still ours: show them as held even to a reader whose clock is a hair behind.
            for ticket in &mut tickets {
                ticket.status = marquee_domain::inventory::TicketStatus::Held;
            }
        }
        Ok(Some(Hold {
            id: id.clone(),
            user_id: UserId::from_raw(row.try_get::<String, _>("user_id").map_err(db)?),
            showtime_id: ShowtimeId::from_raw(row.try_get::<String, _>("showtime_id").map_err(db)?),
            status,
            created_at: instant(&row, "created_at")?,
            expires_at,
            order_id: row.try_get::<Option<String>, _>("order_id").map_err(db)?.map(OrderId::from_raw),
            tickets,
        }))
    }

    async fn load_orders(connection: &mut sqlx::PgConnection, rows: Vec<PgRow>) -> Result<Vec<Order>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> =
            rows.iter().map(|r| r.try_get::<String, _>("id")).collect::<Result<_, _>>().map_err(db)?;
        // Two key lookups rather than one join: with the items table growing fast during a sale
        // (and its statistics lagging), PostgreSQL would plan the join as a hash over every ticket.
        let sql = format!(
            "SELECT order_id, ticket_id FROM order_items WHERE order_id IN ({})",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in &ids {
            query = query.bind(id.clone());
        }
        let mut orders_of_ticket: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in query.fetch_all(&mut *connection).await.map_err(db)? {
            let ticket: String = row.try_get("ticket_id").map_err(db)?;
            orders_of_ticket.entry(ticket).or_default().push(row.try_get("order_id").map_err(db)?);
        }
        // Chunked: a page of orders may hold more tickets than a statement may bind parameters.
        let mut found = Vec::new();
        let ids: Vec<&String> = orders_of_ticket.keys().collect();
        for chunk in ids.chunks(1000) {
            let sql = format!(
                "SELECT {TICKET_COLUMNS}, t.position FROM tickets t JOIN showtimes sh ON sh.id = t.showtime_id \
                 WHERE t.id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind((*id).clone());
            }
            for row in query.fetch_all(&mut *connection).await.map_err(db)? {
                // Sold tickets are sold whatever the clock says.
                let position: i64 = row.try_get("position").map_err(db)?;
                found.push((position, ticket_from_row(&row, OffsetDateTime::UNIX_EPOCH)?));
            }
        }
        found.sort_by_key(|(position, _)| *position);
        let mut tickets: BTreeMap<String, Vec<Ticket>> = BTreeMap::new();
        for (_, ticket) in found {
            for order in orders_of_ticket.get(ticket.id.as_str()).map(Vec::as_slice).unwrap_or_default() {
                tickets.entry(order.clone()).or_default().push(ticket.clone());
            }
        }
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id").map_err(db)?;
                Ok(Order {
                    tickets: tickets.remove(&id).unwrap_or_default(),
                    id: OrderId::from_raw(id),
                    user_id: UserId::from_raw(row.try_get::<String, _>("user_id").map_err(db)?),
                    showtime_id: ShowtimeId::from_raw(row.try_get::<String, _>("showtime_id").map_err(db)?),
                    hold_id: HoldId::from_raw(row.try_get::<String, _>("hold_id").map_err(db)?),
                    status: OrderStatus::parse(&row.try_get::<String, _>("status").map_err(db)?)?,
                    total: Money::new(
                        row.try_get("total_amount").map_err(db)?,
                        row.try_get::<String, _>("currency").map_err(db)?,
                    ),
                    payment_reference: row.try_get("payment_reference").map_err(db)?,
                    created_at: instant(row, "created_at")?,
                    updated_at: instant(row, "updated_at")?,
                })
            })
            .collect()
    }

    /// Runs in the commit pipeline: one call of `marquee_create_hold` (migration 0008)
    /// takes the places and answers with the held tickets, one row each (any other outcome is
    /// one row without a ticket).
    async fn create_hold_in(tx: &mut PgConnection, hold: &NewHold) -> Result<Hold> {
        let now = to_millis(hold.now);
        let (tickets, section, quantity) = match &hold.selection {
            HoldSelection::Tickets(ids) => {
                (Some(ids.iter().map(|id| id.as_str().to_owned()).collect::<Vec<_>>()), None, 0)
            }
            HoldSelection::Quantity { section, quantity } => (None, Some(section.as_str()), *quantity),
        };
        let rows = sqlx::query("SELECT * FROM marquee_create_hold($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(hold.id.as_str())
            .bind(hold.user_id.as_str())
            .bind(hold.showtime_id.as_str())
            .bind(hold.admitted)
            .bind(i64::from(hold.max_held_per_user))
            .bind(tickets)
            .bind(section.map(str::trim))
            .bind(i32::try_from(quantity).map_err(Error::internal)?)
            .bind(now)
            .bind(to_millis(hold.expires_at))
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        let row = rows.first().ok_or_else(|| Error::internal("marquee_create_hold answered nothing"))?;
        let places = || -> Result<Vec<TicketId>> {
            let ids: Option<Vec<String>> = row.try_get("places").map_err(db)?;
            Ok(ids.unwrap_or_default().into_iter().map(TicketId::from_raw).collect())
        };
        match row.try_get::<String, _>("outcome").map_err(db)?.as_str() {
            "held" => {}
            "no_showtime" => return Err(Error::NotFound("showtime")),
            "not_on_sale" => return Err(Error::NotOnSale),
            "admission_required" => {
                return Err(Error::AdmissionRequired("join the queue and hold with your admission"));
            }
            "unknown_tickets" => return Err(Error::UnknownTickets { ticket_ids: places()? }),
            "no_section" => {
                let section = section.unwrap_or_default();
                return Err(Error::invalid(format!("the showtime has no section {section:?}")));
            }
            "not_enough" => {
                let available: Option<i64> = row.try_get("available").map_err(db)?;
                return Err(Error::NotEnoughPlaces {
                    requested: quantity,
                    available: u32::try_from(available.unwrap_or_default()).map_err(Error::internal)?,
                });
            }
            "hold_limit" => return Err(Error::HoldLimitReached { limit: hold.max_held_per_user }),
            "unavailable" => return Err(Error::TicketsUnavailable { ticket_ids: places()? }),
            other => return Err(Error::internal(format!("marquee_create_hold answered {other:?}"))),
        }
        // The hold as written, without reading anything back.
        let expires_at = from_millis(to_millis(hold.expires_at));
        let tickets = rows.iter().map(|row| ticket_from_row(row, hold.now)).collect::<Result<Vec<_>>>()?;
        if let Some(claim) = &hold.claim {
            keys::claim_in(tx, claim, &KeyResource::Hold(hold.id.clone()), hold.now).await?;
        }
        Ok(Hold {
            id: hold.id.clone(),
            user_id: hold.user_id.clone(),
            showtime_id: hold.showtime_id.clone(),
            status: HoldStatus::effective("active", expires_at, hold.now)?,
            created_at: from_millis(now),
            expires_at,
            order_id: None,
            tickets,
        })
    }

    /// Runs in the commit pipeline.
    async fn release_hold_in(tx: &mut PgConnection, id: &HoldId, now: OffsetDateTime) -> Result<Hold> {
        let sql = format!("SELECT status, showtime_id FROM holds WHERE id = $1{}", FOR_UPDATE);
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("hold"))?;
        let status: String = row.try_get("status").map_err(db)?;
        match status.as_str() {
            "purchased" => return Err(Error::HoldNotActive { status: "purchased" }),
            "active" => {
                let freed: Vec<String> = sqlx::query(
                    "UPDATE tickets SET status = 'available', hold_id = NULL, hold_expires_at = NULL \
                     WHERE hold_id = $1 AND status = 'held' RETURNING id",
                )
                .bind(id.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?
                .iter()
                .map(|row| row.try_get("id"))
                .collect::<Result<_, _>>()
                .map_err(db)?;
                let showtime: String = row.try_get("showtime_id").map_err(db)?;
                live::record_change(&mut *tx, &showtime, InventoryChange::Released, &freed, now).await?;
                sqlx::query(
                    "UPDATE holds SET status = CASE WHEN expires_at <= $2 THEN 'expired' ELSE 'released' END \
                     WHERE id = $1",
                )
                .bind(id.as_str())
                .bind(to_millis(now))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
            _ => {}
        }
        Self::load_hold(tx, id, now).await?.ok_or(Error::NotFound("hold"))
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await.map_err(db)?;
        Ok(())
    }

    async fn migrate(&self) -> Result<()> {
        // sqlx takes an advisory lock on PostgreSQL: many nodes may start at once.
        POSTGRES_MIGRATIONS
            .run(&self.write)
            .await
            .map_err(|e| Error::internal(format!("migration failed: {e}")))
    }

    async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
        self.catalog.close().await;
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        let stats = |pool: &'static str, of: &PgPool| PoolStats {
            pool,
            size: of.size(),
            idle: u32::try_from(of.num_idle()).unwrap_or(u32::MAX),
            max: of.options().get_max_connections(),
        };
        if self.has_replica {
            vec![stats("primary", &self.write), stats("replica", &self.catalog)]
        } else {
            vec![stats("primary", &self.write)]
        }
    }

    fn commit_stats(&self) -> Option<crate::CommitStats> {
        Some(self.pipeline.stats())
    }

    async fn unapplied_migrations(&self) -> Result<Vec<i64>> {
        // sqlx's own bookkeeping table; `success` is false for a migration whose run failed.
        let applied: BTreeSet<i64> = sqlx::query("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_all(&self.read)
            .await
            .map_err(db)?
            .iter()
            .map(|row| row.try_get::<i64, _>("version"))
            .collect::<std::result::Result<_, _>>()
            .map_err(db)?;
        Ok(POSTGRES_MIGRATIONS
            .iter()
            .filter(|migration| migration.migration_type.is_up_migration())
            .map(|migration| migration.version)
            .filter(|version| !applied.contains(version))
            .collect())
    }
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn get_user(&self, id: &UserId) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1");
        let row =
            sqlx::query(AssertSqlSafe(sql)).bind(id.as_str()).fetch_optional(&self.read).await.map_err(db)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn create_user(&self, user: &User, password_hash: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user.id.as_str())
        .bind(user.email.as_str())
        .bind(password_hash)
        .bind(user.role.as_str())
        .bind(to_millis(user.created_at))
        .execute(&self.write)
        .await
        .map_err(|e| if is_unique_violation(&e) { Error::EmailTaken } else { db(e) })?;
        Ok(())
    }

    async fn user_credentials(&self, email: &Email) -> Result<Option<(User, String)>> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.role, u.created_at, u.disabled_at, u.password_hash FROM users u \
             WHERE u.email = $1 AND u.disabled_at IS NULL",
        )
        .bind(email.as_str())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?;
        row.map(|row| Ok((user_from_row(&row)?, row.try_get("password_hash").map_err(db)?))).transpose()
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: &UserId,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id.as_str())
        .bind(to_millis(now))
        .bind(to_millis(expires_at))
        .execute(&self.write)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<User>> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.role, u.created_at, u.disabled_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
        )
        .bind(token_hash)
        .bind(to_millis(now))
        .fetch_optional(&self.read)
        .await
        .map_err(db)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.write)
            .await
            .map_err(db)?;
        Ok(())
    }
}

#[async_trait]
impl CatalogStore for SqlStore {
    async fn create_venue(&self, venue: &Venue) -> Result<()> {
        sqlx::query("INSERT INTO venues (id, name, city, time_zone) VALUES ($1, $2, $3, $4)")
            .bind(venue.id.as_str())
            .bind(venue.name.clone())
            .bind(venue.city.clone())
            .bind(venue.time_zone.clone())
            .execute(&self.write)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn create_hall(&self, hall: &Hall) -> Result<()> {
        let layout = serde_json::to_string(&hall.layout).map_err(Error::internal)?;
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO halls (id, venue_id, name, layout) VALUES ($1, $2, $3, $4)")
            .bind(hall.id.as_str())
            .bind(hall.venue_id.as_str())
            .bind(hall.name.clone())
            .bind(layout)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for (position, section) in hall.layout.sections.iter().enumerate() {
            let kind = section_kind(section);
            sqlx::query(
                "INSERT INTO sections (id, hall_id, position, name, kind) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(SectionId::generate().into_string())
            .bind(hall.id.as_str())
            .bind(position as i64)
            .bind(section.name.trim().to_owned())
            .bind(kind)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn create_event(&self, event: &Event) -> Result<()> {
        let genres = format!(",{},", event.genres.join(","));
        sqlx::query(
            "INSERT INTO events (id, kind, title, synopsis, poster_url, genres, runtime_minutes, rating, artist, \
             published, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(event.id.as_str())
        .bind(event.kind.as_str())
        .bind(event.title.clone())
        .bind(event.synopsis.clone())
        .bind(event.poster_url.clone())
        .bind(genres)
        .bind(event.runtime_minutes)
        .bind(event.rating.clone())
        .bind(event.artist.clone())
        .bind(i64::from(event.published))
        .bind(to_millis(event.created_at))
        .execute(&self.write)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn create_showtime(&self, showtime: &Showtime) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let hall = sqlx::query("SELECT layout FROM halls WHERE id = $1")
            .bind(showtime.hall_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("hall"))?;
        let layout: HallLayout = serde_json::from_str(&hall.try_get::<String, _>("layout").map_err(db)?)
            .map_err(|e| Error::internal(format!("bad layout JSON: {e}")))?;
        let prices = serde_json::to_string(&showtime.prices).map_err(Error::internal)?;
        sqlx::query(
            "INSERT INTO showtimes (id, event_id, hall_id, starts_at, on_sale_from, on_sale_until, currency, prices, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(showtime.id.as_str())
        .bind(showtime.event_id.as_str())
        .bind(showtime.hall_id.as_str())
        .bind(to_millis(showtime.starts_at))
        .bind(to_millis(showtime.on_sale_from))
        .bind(to_millis(showtime.on_sale_until))
        .bind(showtime.currency.clone())
        .bind(prices)
        .bind(to_millis(OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let tickets = insert_tickets(&mut tx, showtime, &layout, &showtime.hall_id).await?;
        tx.commit().await.map_err(db)?;
        self.refresh_statistics(tickets).await;
        Ok(())
    }

    async fn catalog_is_empty(&self) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM events").fetch_one(&self.read).await.map_err(db)?;
        Ok(row.try_get::<i64, _>("n").map_err(db)? == 0)
    }

    async fn list_events(&self, filter: &EventFilter, now: OffsetDateTime) -> Result<Vec<EventSummary>> {
        let mut query = DynamicQuery::new(&format!(
            "SELECT {EVENT_COLUMNS}, MIN(sh.starts_at) AS next_starts_at FROM events e \
             JOIN showtimes sh ON sh.event_id = e.id JOIN halls h ON h.id = sh.hall_id JOIN venues v ON v.id = h.venue_id"
        ));
        let now = query.int(to_millis(now));
        push_on_sale(&mut query, &now);
        if let Some(kind) = filter.kind {
            let kind = query.text(kind.as_str());
            query.push(&format!(" AND e.kind = {kind}"));
        }
        if let Some(text) = filter.query.as_deref().filter(|q| !q.trim().is_empty()) {
            let pattern = query.text(like_pattern(text.trim()));
            query.push(&format!(" AND LOWER(e.title) LIKE {pattern} ESCAPE '\\'"));
        }
        if let Some(genre) = &filter.genre {
            let pattern = query.text(like_pattern(&format!(",{},", genre.trim())));
            query.push(&format!(" AND e.genres LIKE {pattern} ESCAPE '\\'"));
        }
        push_city_and_date(&mut query, filter.city.as_deref(), filter.day);
        if let Some((title, id)) = &filter.after {
            let title = query.text(title.clone());
            let id = query.text(id.as_str());
            query.push(&format!(" AND (e.title > {title} OR (e.title = {title} AND e.id > {id}))"));
        }
        let limit = query.int(i64::from(filter.limit));
        query.push(&format!(" GROUP BY e.id ORDER BY e.title, e.id LIMIT {limit}"));
        let rows = query.build().fetch_all(&self.catalog).await.map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok(EventSummary {
                    event: event_from_row(row)?,
                    next_starts_at: instant(row, "next_starts_at")?,
                })
            })
            .collect()
    }

    async fn get_event(&self, id: &EventId) -> Result<Option<Event>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events e WHERE e.id = $1");
        let row =
            sqlx::query(AssertSqlSafe(sql)).bind(id.as_str()).fetch_optional(&self.read).await.map_err(db)?;
        row.as_ref().map(event_from_row).transpose()
    }

    async fn list_showtimes(
        &self,
        filter: &ShowtimeFilter,
        now: OffsetDateTime,
    ) -> Result<Vec<ShowtimeSummary>> {
        let mut query = DynamicQuery::new(SHOWTIME_SUMMARY_SELECT);
        let now = query.int(to_millis(now));
        push_on_sale(&mut query, &now);
        if let Some(event_id) = &filter.event_id {
            let event_id = query.text(event_id.as_str());
            query.push(&format!(" AND sh.event_id = {event_id}"));
        }
        push_city_and_date(&mut query, filter.city.as_deref(), filter.day);
        if let Some((starts_at, id)) = &filter.after {
            let starts_at = query.int(to_millis(*starts_at));
            let id = query.text(id.as_str());
            query.push(&format!(
                " AND (sh.starts_at > {starts_at} OR (sh.starts_at = {starts_at} AND sh.id > {id}))"
            ));
        }
        let limit = query.int(i64::from(filter.limit));
        query.push(&format!(" ORDER BY sh.starts_at, sh.id LIMIT {limit}"));
        let rows = query.build().fetch_all(&self.catalog).await.map_err(db)?;
        rows.iter().map(showtime_summary_from_row).collect()
    }

    async fn showtime_starts_at(&self, id: &ShowtimeId) -> Result<Option<OffsetDateTime>> {
        let row = sqlx::query("SELECT starts_at FROM showtimes WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        row.map(|row| instant(&row, "starts_at")).transpose()
    }

    async fn showtimes_starting(
        &self,
        from: OffsetDateTime,
        until: OffsetDateTime,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<ShowtimeSummary>> {
        let sql = format!(
            "{SHOWTIME_SUMMARY_SELECT} WHERE sh.cancelled_at IS NULL AND sh.starts_at >= $2 AND sh.starts_at < $3 \
             ORDER BY sh.starts_at, sh.id LIMIT $4"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(to_millis(now))
            .bind(to_millis(from))
            .bind(to_millis(until))
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(db)?;
        rows.iter().map(showtime_summary_from_row).collect()
    }

    async fn get_showtime(&self, id: &ShowtimeId, now: OffsetDateTime) -> Result<Option<ShowtimeSummary>> {
        let sql = format!("{SHOWTIME_SUMMARY_SELECT} WHERE sh.id = $2");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(to_millis(now))
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        row.as_ref().map(showtime_summary_from_row).transpose()
    }
}

#[async_trait]
impl InventoryStore for SqlStore {
    async fn seat_map(&self, showtime_id: &ShowtimeId, now: OffsetDateTime) -> Result<Vec<Ticket>> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets t JOIN showtimes sh ON sh.id = t.showtime_id \
             WHERE t.showtime_id = $1 ORDER BY t.position"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(showtime_id.as_str())
            .fetch_all(&self.read)
            .await
            .map_err(db)?;
        rows.iter().map(|row| ticket_from_row(row, now)).collect()
    }

    async fn ticket_statuses(&self, showtime_id: &ShowtimeId, now: OffsetDateTime) -> Result<TicketStatuses> {
        let rows = sqlx::query(
            "SELECT status, hold_expires_at FROM tickets WHERE showtime_id = $1 ORDER BY position",
        )
        .bind(showtime_id.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db)?;
        let mut statuses =
            TicketStatuses { statuses: Vec::with_capacity(rows.len()), first_hold_expiry: None };
        for row in &rows {
            let stored: &str = row.try_get("status").map_err(db)?;
            let expires: Option<i64> = row.try_get("hold_expires_at").map_err(db)?;
            statuses.push(stored, expires.map(from_millis), now);
        }
        Ok(statuses)
    }

    async fn get_ticket(&self, id: &TicketId, now: OffsetDateTime) -> Result<Option<Ticket>> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets t JOIN showtimes sh ON sh.id = t.showtime_id WHERE t.id = $1"
        );
        let row =
            sqlx::query(AssertSqlSafe(sql)).bind(id.as_str()).fetch_optional(&self.read).await.map_err(db)?;
        row.map(|row| ticket_from_row(&row, now)).transpose()
    }

    async fn inventory_counts(
        &self,
        showtime_id: &ShowtimeId,
        now: OffsetDateTime,
    ) -> Result<InventoryCounts> {
        let row = sqlx::query(
            "SELECT \
               COALESCE(SUM(CASE WHEN status = 'sold' THEN 1 ELSE 0 END), 0) AS sold, \
               COALESCE(SUM(CASE WHEN status = 'held' AND hold_expires_at > $2 THEN 1 ELSE 0 END), 0) AS held, \
               COUNT(*) AS total \
             FROM tickets WHERE showtime_id = $1",
        )
        .bind(showtime_id.as_str())
        .bind(to_millis(now))
        .fetch_one(&self.read)
        .await
        .map_err(db)?;
        let sold: i64 = row.try_get("sold").map_err(db)?;
        let held: i64 = row.try_get("held").map_err(db)?;
        let total: i64 = row.try_get("total").map_err(db)?;
        Ok(InventoryCounts { available: total - sold - held, held, sold })
    }

    async fn create_hold(&self, hold: &NewHold) -> Result<Hold> {
        self.retrying(|| {
            let hold = hold.clone();
            let buyer = hold.user_id.clone();
            async move {
                let work = work(move |tx| Box::pin(async move { Self::create_hold_in(tx, &hold).await }));
                self.pipeline.run_for(buyer.as_str(), work).await
            }
        })
        .await
    }

    async fn get_hold(&self, id: &HoldId, now: OffsetDateTime) -> Result<Option<Hold>> {
        let mut connection = self.read.acquire().await.map_err(db)?;
        Self::load_hold(&mut connection, id, now).await
    }

    async fn release_hold(&self, id: &HoldId, now: OffsetDateTime) -> Result<Hold> {
        self.retrying(|| {
            let id = id.clone();
            self.pipeline
                .run(work(move |tx| Box::pin(async move { Self::release_hold_in(tx, &id, now).await })))
        })
        .await
    }

    async fn get_order(&self, id: &OrderId) -> Result<Option<Order>> {
        let mut connection = self.read.acquire().await.map_err(db)?;
        let row = sqlx::query("SELECT * FROM orders WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *connection)
            .await
            .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Self::load_orders(&mut connection, vec![row]).await?.pop())
    }

    async fn list_orders(
        &self,
        user_id: &UserId,
        limit: u32,
        before: Option<&OrderId>,
    ) -> Result<Vec<Order>> {
        let mut connection = self.read.acquire().await.map_err(db)?;
        let mut query = DynamicQuery::new("SELECT * FROM orders WHERE user_id = ");
        let user = query.text(user_id.as_str());
        query.push(&user);
        if let Some(before) = before {
            let before = query.text(before.as_str());
            query.push(&format!(" AND id < {before}"));
        }
        let limit = query.int(i64::from(limit));
        query.push(&format!(" ORDER BY id DESC LIMIT {limit}"));
        let rows = query.build().fetch_all(&mut *connection).await.map_err(db)?;
        Self::load_orders(&mut connection, rows).await
    }

    async fn sweep_expired_holds(&self, now: OffsetDateTime) -> Result<u64> {
        self.retrying(|| self.pipeline.run(work(move |tx| Box::pin(Self::sweep_expired_in(tx, now))))).await
    }
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn idempotency_key(&self, user_id: &UserId, key: &str) -> Result<Option<KeyRecord>> {
        // On the primary: a retry must see the answer its original just committed.
        keys::record(&self.write, user_id, key).await
    }

    async fn answer_idempotency_key(
        &self,
        claim: &KeyClaim,
        status: u16,
        body: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        let (buyer, claim, body) = (claim.user_id.clone(), claim.clone(), body.to_owned());
        let work =
            work(move |tx| Box::pin(async move { keys::answer_in(tx, &claim, status, &body, now).await }));
        self.pipeline.run_for(buyer.as_str(), work).await
    }

    async fn release_idempotency_key(&self, claim: &KeyClaim) -> Result<()> {
        keys::release(&self.write, claim).await
    }

    async fn adopt_idempotency_key(
        &self,
        user_id: &UserId,
        key: &str,
        owner: &str,
        now: OffsetDateTime,
        stale_before: OffsetDateTime,
    ) -> Result<bool> {
        keys::adopt(&self.write, user_id, key, owner, now, stale_before).await
    }
}
