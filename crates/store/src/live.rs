//! The flash sale's storage: the inventory change feed behind live seat maps, and waiting
//! rooms (see [`marquee_domain::queue`]).

use async_trait::async_trait;
use marquee_domain::Result;
use marquee_domain::ids::{ShowtimeId, TicketId, UserId};
use marquee_domain::inventory::TicketStatus;
use marquee_domain::queue::WaitingRoom;
use std::sync::Arc;
use time::OffsetDateTime;

/// What happened to some tickets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InventoryChange {
    Held,
    Released,
    Expired,
    Sold,
    Refunded,
}

impl InventoryChange {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Released => "released",
            Self::Expired => "expired",
            Self::Sold => "sold",
            Self::Refunded => "refunded",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "held" => Self::Held,
            "released" => Self::Released,
            "expired" => Self::Expired,
            "sold" => Self::Sold,
            "refunded" => Self::Refunded,
            other => {
                return Err(marquee_domain::Error::internal(format!("unknown inventory change {other}")));
            }
        })
    }

    /// The tickets' status after the change.
    pub fn status(self) -> TicketStatus {
        match self {
            Self::Held => TicketStatus::Held,
            Self::Sold => TicketStatus::Sold,
            Self::Released | Self::Expired | Self::Refunded => TicketStatus::Available,
        }
    }
}

/// One entry of the inventory change feed. Ids grow with every change (the database assigns
/// them), so a client that saw event `n` resumes after `n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InventoryEvent {
    pub id: i64,
    pub showtime_id: ShowtimeId,
    pub change: InventoryChange,
    pub ticket_ids: Vec<TicketId>,
    pub at: OffsetDateTime,
}

/// An account's entry in a queue, with where the queue stands.
#[derive(Clone, Debug)]
pub struct QueuePlace {
    pub room: WaitingRoom,
    /// 0-based place in the queue (meaningful once the queue opened).
    pub index: i64,
    pub joined_at: OffsetDateTime,
    pub admitted_at: Option<OffsetDateTime>,
    /// This very look recorded the admission (its turn had come): counted once, in metrics.
    pub newly_admitted: bool,
    /// Everyone in the queue.
    pub queued: i64,
}

/// A queue's overall state, for the showtime's event stream.
#[derive(Clone, Debug)]
pub struct QueueSummary {
    pub room: WaitingRoom,
    pub queued: i64,
}

/// One waiting room's size as stored: places taken, and places admitted so far (admission is
/// brought up to date whenever someone looks at the queue).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueLength {
    pub showtime_id: ShowtimeId,
    pub queued: i64,
    pub admitted: i64,
}

#[async_trait]
pub trait LiveStore: Send + Sync + 'static {
    // ---- the inventory change feed ----

    /// Events after `after`, oldest first, at most `limit`.
    async fn inventory_events(&self, after: i64, limit: u32) -> Result<Vec<InventoryEvent>>;
    /// One showtime's events after `after`, oldest first, at most `limit`.
    async fn showtime_events(
        &self,
        showtime_id: &ShowtimeId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<InventoryEvent>>;
    /// The oldest and newest event ids kept (0 and 0 when there are none).
    async fn inventory_event_bounds(&self) -> Result<(i64, i64)>;
    /// Drops events older than `before`; returns how many.
    async fn prune_inventory_events(&self, before: OffsetDateTime) -> Result<u64>;
    /// Tells the other nodes that new events were written (PostgreSQL: `NOTIFY`; SQLite has
    /// one node, nothing to do).
    async fn announce_inventory_change(&self) -> Result<()>;
    /// Wakes `wake` whenever another node announces a change, until the task is dropped
    /// (PostgreSQL: `LISTEN`, reconnecting after failures). Returns at once on SQLite.
    async fn listen_inventory_changes(&self, wake: Arc<tokio::sync::Notify>) -> Result<()>;

    // ---- waiting rooms ----

    /// Creates or replaces a showtime's waiting room settings (keeping its queue and progress).
    async fn put_waiting_room(&self, room: &WaitingRoom) -> Result<()>;
    /// Removes a waiting room and its queue: the showtime sells without one. `NotFound` if none.
    async fn delete_waiting_room(&self, showtime_id: &ShowtimeId) -> Result<()>;
    async fn waiting_room(&self, showtime_id: &ShowtimeId) -> Result<Option<WaitingRoom>>;
    /// Joins the queue: a new place with `place_key` (bumped past collisions), or the place the
    /// account already has. `NotFound` if the showtime has no waiting room.
    async fn join_queue(
        &self,
        showtime_id: &ShowtimeId,
        user_id: &UserId,
        place_key: i64,
        now: OffsetDateTime,
    ) -> Result<QueuePlace>;
    /// The account's place with admission brought up to `now` (recording the admission when its
    /// turn has come); `None` if it is not in the queue.
    async fn queue_place(
        &self,
        showtime_id: &ShowtimeId,
        user_id: &UserId,
        now: OffsetDateTime,
    ) -> Result<Option<QueuePlace>>;
    /// Leaves the queue (a later join goes to the back).
    async fn leave_queue(&self, showtime_id: &ShowtimeId, user_id: &UserId) -> Result<()>;
    /// Every waiting room's size, for the metrics (one query, no admission advanced).
    async fn queue_lengths(&self) -> Result<Vec<QueueLength>>;
    /// The queue with admission brought up to `now`; `None` without a waiting room.
    async fn queue_summary(
        &self,
        showtime_id: &ShowtimeId,
        now: OffsetDateTime,
    ) -> Result<Option<QueueSummary>>;
}
