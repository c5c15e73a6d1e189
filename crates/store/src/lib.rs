//! Marquee's storage: one [`Store`] interface made of narrow ones, implemented once per
//! backend — SQLite ([`SqliteStore`], the embedded default) and PostgreSQL ([`SqlStore`], many
//! stateless Marquee nodes on one database). [`connect`] picks one from the database URL.
//!
//! # Layout
//! - This file: [`AccountStore`] (users, sessions), [`CatalogStore`] (the public catalog),
//!   [`InventoryStore`] (seats, holds, orders), [`KeyStore`] (`Idempotency-Key`s), and
//!   [`Store`], all of them together with the database's lifecycle. A caller holds the parts
//!   it uses (an `Arc<dyn Store>` upcasts to any of them).
//! - [`AdminStore`] ([`admin`]): box-office administration, reports, user roles, audit log and
//!   login throttling.
//! - [`PaymentStore`] ([`payments`]): write-ahead payment attempts, refunds, check-in,
//!   settings, webhook de-duplication and the notification outbox.
//! - [`LiveStore`] ([`live`]): the inventory change feed behind live seat maps, and waiting
//!   rooms.
//! - [`sqlite`]: the SQLite store on rusqlite — one writer thread running every write as a
//!   command of a group-committed batch, a fixed set of readers, its own migration runner.
//! - [`sql`]: the PostgreSQL store on sqlx (row locks in id order, `LISTEN`/`NOTIFY`).
//! - Each backend has its own migrations (`migrations/sqlite`, `migrations/postgres`), embedded
//!   in the binary and run on start. [`testing`] makes a fresh database of either kind per test.
//!
//! # Who decides who gets a seat
//! The database. Taking tickets is a conditional `UPDATE … WHERE status is available` inside a
//! transaction; on PostgreSQL the rows are first locked in id order (no deadlocks between
//! overlapping holds), on SQLite every write is a command of the one writer thread (WAL, so
//! readers never wait). A partial unique index forbids a ticket in two live orders.

pub mod admin;
mod commit;
mod keys;
pub mod live;
pub mod payments;
pub mod sql;
pub mod sqlite;
pub mod testing;

pub use admin::{AdminStore, AuditFilter, CategorySales, Sale};
pub use live::{InventoryChange, InventoryEvent, LiveStore, QueueLength, QueuePlace, QueueSummary};
pub use payments::{
    AttemptStatus, BeginPayment, CheckIn, Confirmation, NewRefund, OutboxMessage, PaymentAttempt,
    PaymentStore, Refund, RefundStatus,
};

use async_trait::async_trait;
use marquee_domain::Result;
use marquee_domain::account::{Email, User};
use marquee_domain::catalog::{Event, EventKind, Hall, Showtime, Venue};
use marquee_domain::ids::{EventId, HoldId, OrderId, ShowtimeId, TicketId, UserId, VenueId};
use marquee_domain::inventory::{Hold, HoldSelection, Order, Ticket, TicketStatus};
use marquee_domain::money::Money;
use time::OffsetDateTime;

pub use sql::{Backend, DEFAULT_COMMIT_PIPELINES, MAX_COMMIT_PIPELINES, SqlStore, StoreOptions};
pub use sqlite::SqliteStore;

/// Opens the store of a database URL — `sqlite://PATH` (the embedded store, see [`sqlite`]) or
/// `postgres://…` (see [`sql`]) — without migrating it.
pub async fn connect(url: &str, options: &StoreOptions) -> Result<std::sync::Arc<dyn Store>> {
    Ok(match Backend::from_url(url)? {
        Backend::Sqlite => std::sync::Arc::new(SqliteStore::open(url, options)?),
        Backend::Postgres => std::sync::Arc::new(SqlStore::connect(url, options).await?),
    })
}

/// Filters of the catalog listing (`GET /movie/list`, `GET /api/v1/events`).
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub kind: Option<EventKind>,
    /// Case-insensitive substring of the title.
    pub query: Option<String>,
    pub genre: Option<String>,
    /// Only events with an on-sale showtime in this city (case-insensitive).
    pub city: Option<String>,
    /// Only events with an on-sale showtime starting on this day: from this instant (a
    /// midnight at some UTC offset) for 24 hours.
    pub day: Option<OffsetDateTime>,
    pub limit: u32,
    /// Resume after this (title, id), from the previous page's cursor.
    pub after: Option<(String, EventId)>,
}

/// An event in a listing, with when it next plays.
#[derive(Clone, Debug)]
pub struct EventSummary {
    pub event: Event,
    pub next_starts_at: OffsetDateTime,
}

/// A showtime with the names of where it plays and how much is left.
#[derive(Clone, Debug)]
pub struct ShowtimeSummary {
    pub showtime: Showtime,
    /// Set once an admin cancelled it: nothing more is sold.
    pub cancelled_at: Option<OffsetDateTime>,
    pub event_title: String,
    pub venue_id: VenueId,
    pub venue_name: String,
    pub city: String,
    pub time_zone: String,
    pub hall_name: String,
    pub seats_available: i64,
    pub seats_total: i64,
    /// Cheapest ticket price of the showtime.
    pub price_from: Option<Money>,
}

/// Filters of the showtime listing.
#[derive(Clone, Debug, Default)]
pub struct ShowtimeFilter {
    pub event_id: Option<EventId>,
    pub city: Option<String>,
    /// Starting within 24 hours of this instant (a midnight at some UTC offset).
    pub day: Option<OffsetDateTime>,
    pub limit: u32,
    /// Resume after this (start, id), from the previous page's cursor.
    pub after: Option<(OffsetDateTime, ShowtimeId)>,
}

/// Counts of a showtime's tickets by effective status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InventoryCounts {
    pub available: i64,
    pub held: i64,
    pub sold: i64,
}

/// What a showtime's availability view shows: each ticket's status at one instant, in
/// seat-map order, without the rest of the ticket (a fraction of the seat map's read).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketStatuses {
    pub statuses: Vec<TicketStatus>,
    /// When the first live hold among them expires: the view is wrong from then on.
    pub first_hold_expiry: Option<OffsetDateTime>,
}

impl TicketStatuses {
    /// Adds one ticket, from its stored status and hold expiry (the seat map's rule).
    pub fn push(&mut self, stored: &str, hold_expires_at: Option<OffsetDateTime>, now: OffsetDateTime) {
        let status = marquee_domain::inventory::effective_status(stored, hold_expires_at, now);
        if let (TicketStatus::Held, Some(expiry)) = (status, hold_expires_at) {
            self.first_hold_expiry = Some(self.first_hold_expiry.map_or(expiry, |first| first.min(expiry)));
        }
        self.statuses.push(status);
    }
}

/// A hold to create.
#[derive(Clone, Debug)]
pub struct NewHold {
    /// The caller showed a valid admission for this showtime; a showtime sold through a
    /// waiting room refuses the hold without one (`AdmissionRequired`).
    pub admitted: bool,
    /// Most tickets of this showtime the user may hold at once, across all live holds.
    pub max_held_per_user: u32,
    pub id: HoldId,
    pub user_id: UserId,
    pub showtime_id: ShowtimeId,
    pub selection: HoldSelection,
    pub now: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// The request's `Idempotency-Key`, claimed in the hold's transaction.
    pub claim: Option<KeyClaim>,
}

/// One connection pool's use, read when metrics are scraped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// `primary` and `replica` (PostgreSQL), or `writer` and `readers` (SQLite).
    pub pool: &'static str,
    /// Connections open (idle or in use).
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// Most connections the pool may open.
    pub max: u32,
}

/// The commit pipeline's counters since the node started (the SQLite writer thread's; see
/// [`sqlite::writer`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Transactions committed: each one durable write (`fsync`) of the log.
    pub commits: u64,
    /// Commands run in committed transactions.
    pub commands: u64,
    /// Transactions whose commit failed (every command of theirs was answered with an error).
    pub failed_commits: u64,
    /// Committed batches by size: (`low`, `high`, batches of `low..=high` commands).
    pub batches: Vec<(usize, usize, u64)>,
}

/// An `Idempotency-Key` as the write it belongs to claims it: in that write's own transaction,
/// so the key is taken exactly when the write happens (a crash loses both or neither).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyClaim {
    pub user_id: UserId,
    pub key: String,
    /// Hash of what was asked (route, ids, body): the same key with another request is refused.
    pub request_hash: String,
    /// The request that holds the claim (random per request). Its later writes move the claim
    /// on (a one-step purchase: from its hold to its payment); another request's cannot.
    pub owner: String,
}

/// What a claimed key's request has written so far: a retry whose original answer was lost
/// learns the outcome from it instead of running again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyResource {
    Hold(HoldId),
    /// A payment attempt (its id).
    Payment(String),
    /// A refund of an order.
    Refund {
        refund_id: String,
        order_id: OrderId,
    },
}

impl KeyResource {
    pub fn to_stored(&self) -> String {
        match self {
            KeyResource::Hold(id) => format!("hold:{id}"),
            KeyResource::Payment(id) => format!("payment:{id}"),
            KeyResource::Refund { refund_id, order_id } => format!("refund:{refund_id}:{order_id}"),
        }
    }

    pub fn from_stored(value: &str) -> Result<Self> {
        let unknown = || marquee_domain::Error::internal(format!("unknown idempotency resource {value:?}"));
        let (kind, id) = value.split_once(':').ok_or_else(unknown)?;
        Ok(match kind {
            "hold" => KeyResource::Hold(HoldId::from_raw(id)),
            "payment" => KeyResource::Payment(id.to_owned()),
            "refund" => {
                let (refund_id, order_id) = id.split_once(':').ok_or_else(unknown)?;
                KeyResource::Refund { refund_id: refund_id.to_owned(), order_id: OrderId::from_raw(order_id) }
            }
            _ => return Err(unknown()),
        })
    }
}

/// A stored `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    pub request_hash: String,
    /// The answer to replay, once the request gave one (status, body).
    pub answer: Option<(u16, String)>,
    /// The request working on it; `None` once it let go (a server error after its write).
    pub owner: Option<String>,
    /// What the request has written (none for a key whose request wrote nothing, e.g. a
    /// refused one).
    pub resource: Option<KeyResource>,
    /// When the key was claimed or last taken over.
    pub claimed_at: OffsetDateTime,
}

/// The whole storage interface, made of narrow ones that each caller names by what it uses
/// (the booking service holds the inventory, payment, account and catalog parts, never the
/// whole): accounts and sessions ([`AccountStore`]), the catalog ([`CatalogStore`]), seats,
/// holds and orders ([`InventoryStore`]), `Idempotency-Key`s ([`KeyStore`]), box-office
/// administration and security bookkeeping ([`AdminStore`]), payments, refunds, check-in and
/// the outbox ([`PaymentStore`]), the change feed and waiting rooms ([`LiveStore`]); and
/// [`Store`]'s own methods: the database's lifecycle.
#[async_trait]
pub trait Store:
    AccountStore
    + CatalogStore
    + InventoryStore
    + KeyStore
    + AdminStore
    + PaymentStore
    + LiveStore
    + Send
    + Sync
    + 'static
{
    /// Which backend this is ("sqlite" or "postgres").
    fn backend(&self) -> Backend;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;

    /// Applies the migrations the database lacks (safe from many nodes at once on
    /// PostgreSQL: an advisory lock serialises them).
    async fn migrate(&self) -> Result<()>;

    /// Closes every connection; later calls fail with `DatabaseUnavailable`.
    async fn close(&self);

    /// The connections of each pool right now (for the metrics endpoint; no database call).
    fn pool_stats(&self) -> Vec<PoolStats>;

    /// The commit pipeline's counters, where the backend has one (no database call).
    fn commit_stats(&self) -> Option<CommitStats>;

    /// Versions of the migrations embedded in this binary that the database has not applied
    /// successfully (empty: the schema is the one this binary expects). Readiness asks this;
    /// migrations applied by a newer binary that this one does not know are not its concern.
    async fn unapplied_migrations(&self) -> Result<Vec<i64>>;
}

/// Users and their sessions.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    async fn get_user(&self, id: &UserId) -> Result<Option<User>>;
    /// Creates a user; [`marquee_domain::Error::EmailTaken`] if the email is in use.
    async fn create_user(&self, user: &User, password_hash: &str) -> Result<()>;
    /// The user with this email and their password hash.
    async fn user_credentials(&self, email: &Email) -> Result<Option<(User, String)>>;
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: &UserId,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// The user of an unexpired session.
    async fn session_user(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<User>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;
}

/// Venues, halls, events and showtimes as the public catalog shows them (their
/// administration is [`AdminStore`]'s).
#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    async fn create_venue(&self, venue: &Venue) -> Result<()>;
    /// Stores a hall and its sections. The layout must have been validated.
    async fn create_hall(&self, hall: &Hall) -> Result<()>;
    async fn create_event(&self, event: &Event) -> Result<()>;
    /// Stores a showtime and creates one ticket per place of its hall, priced by category.
    async fn create_showtime(&self, showtime: &Showtime) -> Result<()>;
    /// Whether the catalog has no events (an empty database gets demo data).
    async fn catalog_is_empty(&self) -> Result<bool>;

    /// Published events with at least one upcoming showtime on sale, by title.
    async fn list_events(&self, filter: &EventFilter, now: OffsetDateTime) -> Result<Vec<EventSummary>>;
    async fn get_event(&self, id: &EventId) -> Result<Option<Event>>;
    /// Upcoming showtimes on sale, by start time.
    async fn list_showtimes(
        &self,
        filter: &ShowtimeFilter,
        now: OffsetDateTime,
    ) -> Result<Vec<ShowtimeSummary>>;
    async fn get_showtime(&self, id: &ShowtimeId, now: OffsetDateTime) -> Result<Option<ShowtimeSummary>>;
    /// When a showtime starts (one row by key: no availability counted, unlike `get_showtime`).
    async fn showtime_starts_at(&self, id: &ShowtimeId) -> Result<Option<OffsetDateTime>>;
    /// Showtimes starting in `[from, until)`, published or not and whatever their sale window,
    /// except cancelled ones, by start time (the door's list).
    async fn showtimes_starting(
        &self,
        from: OffsetDateTime,
        until: OffsetDateTime,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<ShowtimeSummary>>;
}

/// Tickets, holds and orders: who holds or bought which seat.
#[async_trait]
pub trait InventoryStore: Send + Sync + 'static {
    /// Every ticket of a showtime in seat-map order, with its status at `now`.
    async fn seat_map(&self, showtime_id: &ShowtimeId, now: OffsetDateTime) -> Result<Vec<Ticket>>;
    /// Every ticket's status at `now`, in seat-map order (empty for an unknown showtime).
    async fn ticket_statuses(&self, showtime_id: &ShowtimeId, now: OffsetDateTime) -> Result<TicketStatuses>;
    async fn get_ticket(&self, id: &TicketId, now: OffsetDateTime) -> Result<Option<Ticket>>;
    async fn inventory_counts(
        &self,
        showtime_id: &ShowtimeId,
        now: OffsetDateTime,
    ) -> Result<InventoryCounts>;

    /// Takes the selected tickets for the user, all or none.
    ///
    /// Errors: `NotFound` (showtime), `NotOnSale`, `UnknownTickets`, `TicketsUnavailable`,
    /// `NotEnoughPlaces`.
    async fn create_hold(&self, hold: &NewHold) -> Result<Hold>;
    async fn get_hold(&self, id: &HoldId, now: OffsetDateTime) -> Result<Option<Hold>>;
    /// Gives an active hold's tickets back; releasing an expired or released hold is a no-op.
    /// Errors: `HoldNotActive` for a purchased hold.
    async fn release_hold(&self, id: &HoldId, now: OffsetDateTime) -> Result<Hold>;
    async fn get_order(&self, id: &OrderId) -> Result<Option<Order>>;
    /// A user's orders, newest first.
    async fn list_orders(&self, user_id: &UserId, limit: u32, before: Option<&OrderId>)
    -> Result<Vec<Order>>;
    /// Tidies expired holds: marks them expired and frees their tickets' rows. Returns the
    /// number of tickets freed. Correctness never depends on it having run.
    async fn sweep_expired_holds(&self, now: OffsetDateTime) -> Result<u64>;
}

/// `Idempotency-Key`s of retried writes.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// The stored key of this user, if any. Keys are claimed by the writes they belong to
    /// ([`NewHold::claim`], [`BeginPayment::claim`], `begin_refund`'s claim), in the write's
    /// transaction: a key another request holds makes the write fail with
    /// `IdempotencyInProgress` and change nothing.
    async fn idempotency_key(&self, user_id: &UserId, key: &str) -> Result<Option<KeyRecord>>;
    /// Stores the answer to replay. Creates the record when the request wrote nothing (a
    /// refused request); leaves a key another request holds alone.
    async fn answer_idempotency_key(
        &self,
        claim: &KeyClaim,
        status: u16,
        body: &str,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// Lets go of a claim whose request failed after its write (a server error): a retry may
    /// take it over at once and finish the job from what was written.
    async fn release_idempotency_key(&self, claim: &KeyClaim) -> Result<()>;
    /// Takes over an unanswered key for a new request (`owner`): one that was let go, or that
    /// was claimed before `stale_before` (its node crashed). False if another request has it.
    async fn adopt_idempotency_key(
        &self,
        user_id: &UserId,
        key: &str,
        owner: &str,
        now: OffsetDateTime,
        stale_before: OffsetDateTime,
    ) -> Result<bool>;
}
