//! Seat inventory: tickets, holds and orders.
//!
//! # The invariant
//! A ticket belongs to at most one live hold or one confirmed order. Storage enforces it with
//! conditional updates inside one transaction (a ticket is only taken if it is available *at
//! that moment*), so whatever the interleaving of requests, the database decides who wins.
//!
//! # Expiry without a background job
//! A hold's tickets stay marked `held` in storage after the hold expires; every read and every
//! write treats a `held` ticket whose `hold_expires_at` has passed as available
//! ([`effective_status`]). A sweeper tidies those rows later, but correctness never waits for it.

use crate::error::{Error, Result};
use crate::ids::{HoldId, OrderId, SectionId, ShowtimeId, TicketId, UserId};
use crate::money::Money;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::{Duration, OffsetDateTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Available,
    Held,
    Sold,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Available => "available",
            TicketStatus::Held => "held",
            TicketStatus::Sold => "sold",
        }
    }
}

/// What a ticket's stored state means at `now`.
pub fn effective_status(
    stored: &str,
    hold_expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> TicketStatus {
    match (stored, hold_expires_at) {
        ("sold", _) => TicketStatus::Sold,
        ("held", Some(expires_at)) if expires_at > now => TicketStatus::Held,
        _ => TicketStatus::Available,
    }
}

/// A ticket as the seat map and the price lookup show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub id: TicketId,
    pub showtime_id: ShowtimeId,
    pub section_id: SectionId,
    pub section: String,
    /// `None` in a general-admission section.
    pub row: Option<String>,
    pub number: u32,
    pub label: String,
    pub category: String,
    pub price: Money,
    pub status: TicketStatus,
    /// Seat-map drawing position (row within section, column including gaps).
    pub row_index: u32,
    pub column_index: u32,
}

/// Limits on holds, from configuration.
#[derive(Clone, Copy, Debug)]
pub struct HoldPolicy {
    /// How long a hold keeps its tickets.
    pub ttl: Duration,
    /// Most tickets one hold may take.
    pub max_tickets: u32,
    /// Most tickets of one showtime one user may hold at once, across holds: one client
    /// cannot hoard a show's seats by opening hold after hold.
    pub max_held_per_user: u32,
}

impl Default for HoldPolicy {
    fn default() -> Self {
        Self { ttl: Duration::minutes(10), max_tickets: 10, max_held_per_user: 20 }
    }
}

/// Which tickets a hold asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HoldSelection {
    /// These exact tickets, all or none.
    Tickets(Vec<TicketId>),
    /// Any `quantity` available places of a section (general admission, or best available).
    Quantity { section: String, quantity: u32 },
}

impl HoldPolicy {
    /// Checks a selection against the limits; duplicates are an error, not silently merged.
    pub fn check(&self, selection: &HoldSelection) -> Result<()> {
        let count = match selection {
            HoldSelection::Tickets(ids) => {
                let unique: BTreeSet<_> = ids.iter().collect();
                if unique.len() != ids.len() {
                    return Err(Error::invalid("ticket_ids contains duplicates"));
                }
                ids.len()
            }
            HoldSelection::Quantity { section, quantity } => {
                if section.trim().is_empty() {
                    return Err(Error::invalid("section must not be empty"));
                }
                *quantity as usize
            }
        };
        if count == 0 {
            return Err(Error::invalid("a hold needs at least one ticket"));
        }
        if count > self.max_tickets as usize {
            return Err(Error::invalid(format!("a hold may take at most {} tickets", self.max_tickets)));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Tickets are reserved until `expires_at`.
    Active,
    /// The user let go of it.
    Released,
    /// Its time ran out.
    Expired,
    /// It became an order.
    Purchased,
}

impl HoldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Active => "active",
            HoldStatus::Released => "released",
            HoldStatus::Expired => "expired",
            HoldStatus::Purchased => "purchased",
        }
    }

    /// The status at `now` of a hold stored with `stored` status and `expires_at`.
    pub fn effective(stored: &str, expires_at: OffsetDateTime, now: OffsetDateTime) -> Result<Self> {
        Ok(match stored {
            "active" if expires_at <= now => HoldStatus::Expired,
            "active" => HoldStatus::Active,
            "released" => HoldStatus::Released,
            "expired" => HoldStatus::Expired,
            "purchased" => HoldStatus::Purchased,
            other => return Err(Error::internal(format!("unknown hold status {other:?} in storage"))),
        })
    }

    /// Why a hold in this status cannot be paid for or released.
    pub fn ensure_active(self) -> Result<()> {
        match self {
            HoldStatus::Active => Ok(()),
            HoldStatus::Expired => Err(Error::HoldExpired),
            other => Err(Error::HoldNotActive { status: other.as_str() }),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub id: HoldId,
    pub user_id: UserId,
    pub showtime_id: ShowtimeId,
    pub status: HoldStatus,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// The order it became, once purchased.
    pub order_id: Option<OrderId>,
    pub tickets: Vec<Ticket>,
}

impl Hold {
    /// The price of all tickets of the hold.
    pub fn total(&self) -> Result<Money> {
        Money::sum(self.tickets.iter().map(|t| &t.price))
            .ok_or_else(|| Error::internal(format!("hold {} has no tickets or mixed currencies", self.id)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Paid; the tickets are the buyer's.
    Confirmed,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Confirmed => "confirmed",
        }
    }

    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "confirmed" => Ok(OrderStatus::Confirmed),
            other => Err(Error::internal(format!("unknown order status {other:?} in storage"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub user_id: UserId,
    pub showtime_id: ShowtimeId,
    pub hold_id: HoldId,
    pub status: OrderStatus,
    pub total: Money,
    /// The payment provider's id of the charge that paid for it.
    pub payment_reference: String,
    pub created_at: OffsetDateTime,
    pub tickets: Vec<Ticket>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-06-01 20:00 UTC);

    #[test]
    fn an_expired_hold_frees_its_tickets_at_once() {
        let later = NOW + Duration::seconds(1);
        let earlier = NOW - Duration::seconds(1);
        assert_eq!(effective_status("held", Some(later), NOW), TicketStatus::Held);
        assert_eq!(effective_status("held", Some(NOW), NOW), TicketStatus::Available);
        assert_eq!(effective_status("held", Some(earlier), NOW), TicketStatus::Available);
        assert_eq!(effective_status("sold", None, NOW), TicketStatus::Sold);
        assert_eq!(effective_status("available", None, NOW), TicketStatus::Available);
    }

    #[test]
    fn hold_selections_respect_the_limits() {
        let policy = HoldPolicy { ttl: Duration::minutes(10), max_tickets: 2, max_held_per_user: 4 };
        let ids = |n: usize| (0..n).map(|_| TicketId::generate()).collect::<Vec<_>>();
        assert!(policy.check(&HoldSelection::Tickets(ids(2))).is_ok());
        assert!(policy.check(&HoldSelection::Tickets(ids(3))).is_err());
        assert!(policy.check(&HoldSelection::Tickets(vec![])).is_err());
        let one = TicketId::generate();
        assert!(policy.check(&HoldSelection::Tickets(vec![one.clone(), one])).is_err());
        let quantity = |quantity| HoldSelection::Quantity { section: "Floor".into(), quantity };
        assert!(policy.check(&quantity(0)).is_err());
        assert!(policy.check(&quantity(2)).is_ok());
        assert!(policy.check(&quantity(3)).is_err());
    }

    #[test]
    fn a_hold_can_only_be_used_while_active() {
        assert_eq!(HoldStatus::effective("active", NOW, NOW).unwrap(), HoldStatus::Expired);
        assert!(matches!(HoldStatus::Expired.ensure_active(), Err(Error::HoldExpired)));
        assert!(matches!(HoldStatus::Purchased.ensure_active(), Err(Error::HoldNotActive { .. })));
        assert!(HoldStatus::Active.ensure_active().is_ok());
    }
}
