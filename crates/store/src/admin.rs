//! The storage operations of administration and security bookkeeping.

use crate::ShowtimeSummary;
use async_trait::async_trait;
use marquee_domain::Result;
use marquee_domain::account::{Role, User};
use marquee_domain::audit::AuditEntry;
use marquee_domain::catalog::{Event, Hall, HallLayout, Venue};
use marquee_domain::ids::{EventId, HallId, ShowtimeId, UserId, VenueId};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Sales of one category of one showtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategorySales {
    pub category: String,
    pub sold: i64,
    pub held: i64,
    pub available: i64,
    /// Sum of the prices of live (not refunded) sales, in minor units.
    pub gross_amount: i64,
}

/// One paid order of a showtime, for the sales-over-time chart: when it was placed and its
/// tickets that are still sold (refunded ones no longer count).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sale {
    pub at: OffsetDateTime,
    pub tickets: i64,
    pub amount: i64,
}

/// Which audit entries to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor_id: Option<UserId>,
    pub target: Option<String>,
    pub limit: u32,
    /// Entries older than this id (the previous page's last).
    pub before: Option<String>,
}

#[async_trait]
pub trait AdminStore: Send + Sync + 'static {
    // ---- users ----

    /// All users by id (creation order), after `after`.
    async fn list_users(&self, limit: u32, after: Option<&UserId>) -> Result<Vec<User>>;
    async fn set_user_role(&self, id: &UserId, role: Role) -> Result<User>;
    /// Disabling also ends every session of the user, at once.
    async fn set_user_disabled(&self, id: &UserId, disabled: bool, now: OffsetDateTime) -> Result<User>;

    // ---- login throttling ----

    /// Failures recorded for `key` and when the last one happened.
    async fn login_failures(&self, key: &str) -> Result<(i64, Option<OffsetDateTime>)>;
    /// Records a failure and returns the new count. Failures older than `forget_before` are
    /// forgotten first, so the count only covers recent attempts.
    async fn record_login_failure(
        &self,
        key: &str,
        now: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> Result<i64>;
    async fn clear_login_failures(&self, key: &str) -> Result<()>;

    // ---- audit log ----

    async fn append_audit(&self, entry: &AuditEntry) -> Result<()>;
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;

    // ---- catalog administration ----

    async fn list_venues(&self) -> Result<Vec<Venue>>;
    async fn get_venue(&self, id: &VenueId) -> Result<Option<Venue>>;
    async fn get_hall(&self, id: &HallId) -> Result<Option<Hall>>;
    async fn list_halls(&self, venue_id: &VenueId) -> Result<Vec<Hall>>;
    /// Renames a venue or moves it to another city or time zone (showtimes keep their UTC
    /// instants). `NotFound` if there is none.
    async fn update_venue(&self, venue: &Venue) -> Result<()>;
    /// Deletes a venue and its halls; `Conflict` while any hall of it has a showtime.
    async fn delete_venue(&self, id: &VenueId) -> Result<()>;
    /// Renames a hall. `NotFound` if there is none.
    async fn rename_hall(&self, id: &HallId, name: &str) -> Result<()>;
    /// Deletes a hall; `Conflict` while it has a showtime (past and cancelled ones included:
    /// their tickets and orders refer to it).
    async fn delete_hall(&self, id: &HallId) -> Result<()>;
    /// Replaces a hall's layout and regenerates the tickets of its showtimes. Refused with
    /// `Conflict` while any showtime of the hall has sold or live held tickets.
    async fn replace_hall_layout(&self, id: &HallId, layout: &HallLayout, now: OffsetDateTime) -> Result<()>;
    /// Every event, published or not, by title.
    async fn list_all_events(&self, limit: u32, after: Option<(String, EventId)>) -> Result<Vec<Event>>;
    /// Updates an event's descriptive fields and publication.
    async fn update_event(&self, event: &Event) -> Result<()>;
    /// Every showtime of an event, past, cancelled or not yet on sale included.
    async fn list_event_showtimes(
        &self,
        event_id: &EventId,
        now: OffsetDateTime,
    ) -> Result<Vec<ShowtimeSummary>>;
    /// New prices for the showtime and its unsold tickets (sold tickets keep what was paid).
    async fn update_showtime_prices(&self, id: &ShowtimeId, prices: &BTreeMap<String, i64>) -> Result<()>;
    async fn cancel_showtime(&self, id: &ShowtimeId, now: OffsetDateTime) -> Result<()>;
    /// Deletes a showtime and its tickets; `Conflict` once anything was sold or is held.
    async fn delete_showtime(&self, id: &ShowtimeId, now: OffsetDateTime) -> Result<()>;
    /// Sold, held and available tickets and gross revenue per category.
    async fn sales_report(&self, id: &ShowtimeId, now: OffsetDateTime) -> Result<Vec<CategorySales>>;
    /// The showtime's paid orders, oldest first.
    async fn sales_timeline(&self, id: &ShowtimeId) -> Result<Vec<Sale>>;
}
