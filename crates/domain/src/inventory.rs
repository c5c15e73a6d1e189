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
    /// While held: when the hold ends (the status changes by itself then).
    pub hold_expires_at: Option<OffsetDateTime>,
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

/// The life of an order.
///
/// ```text
/// pending_payment ──► confirmed ──► partially_refunded ──► refunded
///   │    ▲               │  │                               ▲
///   │    │               │  └───────────────────────────────┘
///   ▼    │               └──► cancelled   (payment could not be captured)
/// payment_failed
///   │
///   └──► expired ◄── pending_payment      (the hold ran out first)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// A payment attempt is under way.
    PendingPayment,
    /// The last payment attempt failed; the buyer may try again while the hold lasts.
    PaymentFailed,
    /// The hold ran out before a payment succeeded.
    Expired,
    /// Paid; the tickets are the buyer's.
    Confirmed,
    /// Some tickets were refunded.
    PartiallyRefunded,
    /// Every ticket was refunded.
    Refunded,
    /// Confirmed, but the money could not be collected: the tickets went back on sale.
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::PendingPayment,
        OrderStatus::PaymentFailed,
        OrderStatus::Expired,
        OrderStatus::Confirmed,
        OrderStatus::PartiallyRefunded,
        OrderStatus::Refunded,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::PaymentFailed => "payment_failed",
            OrderStatus::Expired => "expired",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::PartiallyRefunded => "partially_refunded",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
            .ok_or_else(|| Error::internal(format!("unknown order status {value:?} in storage")))
    }

    /// Whether an order may go from `self` to `next`.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (PendingPayment, Confirmed | PaymentFailed | Expired)
                | (PaymentFailed, PendingPayment | Expired)
                | (Confirmed, PartiallyRefunded | Refunded | Cancelled)
                | (PartiallyRefunded, PartiallyRefunded | Refunded)
        )
    }

    /// The next status, or an error naming the illegal transition.
    pub fn transition(self, next: OrderStatus) -> Result<OrderStatus> {
        if self.can_become(next) {
            Ok(next)
        } else {
            Err(Error::Conflict(format!("an order cannot go from {} to {}", self.as_str(), next.as_str())))
        }
    }

    /// Whether the buyer holds (some) tickets by this order.
    pub fn holds_tickets(self) -> bool {
        matches!(self, OrderStatus::Confirmed | OrderStatus::PartiallyRefunded)
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
    /// The payment provider's reference of the payment that paid for it (empty until paid).
    pub payment_reference: String,
    /// When the status last changed.
    pub updated_at: OffsetDateTime,
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
    fn orders_move_only_along_the_state_machine() {
        use OrderStatus::*;
        let legal = [
            (PendingPayment, Confirmed),
            (PendingPayment, PaymentFailed),
            (PendingPayment, Expired),
            (PaymentFailed, PendingPayment),
            (PaymentFailed, Expired),
            (Confirmed, PartiallyRefunded),
            (Confirmed, Refunded),
            (Confirmed, Cancelled),
            (PartiallyRefunded, PartiallyRefunded),
            (PartiallyRefunded, Refunded),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(from.can_become(to), legal.contains(&(from, to)), "{from:?} -> {to:?}");
            }
        }
        assert!(matches!(Refunded.transition(Confirmed), Err(Error::Conflict(_))));
        assert_eq!(PendingPayment.transition(Confirmed).unwrap(), Confirmed);
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()).unwrap(), status);
        }
        assert!(Confirmed.holds_tickets() && PartiallyRefunded.holds_tickets() && !Refunded.holds_tickets());
    }

    #[test]
    fn a_hold_can_only_be_used_while_active() {
        assert_eq!(HoldStatus::effective("active", NOW, NOW).unwrap(), HoldStatus::Expired);
        assert!(matches!(HoldStatus::Expired.ensure_active(), Err(Error::HoldExpired)));
        assert!(matches!(HoldStatus::Purchased.ensure_active(), Err(Error::HoldNotActive { .. })));
        assert!(HoldStatus::Active.ensure_active().is_ok());
    }
}
