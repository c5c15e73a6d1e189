//! What the booking service tells the rest of the node: changes of the inventory (for caches
//! and live streams, [`InventoryListener`]) and the sale's countable events (for metrics,
//! [`SaleMetrics`]). The node implements both; the service knows neither caches nor a metrics
//! library.

use marquee_domain::ids::ShowtimeId;

/// What changed in the inventory: the one event the node's caches and live feed learn of
/// changes from (see [`InventoryListener`]).
#[derive(Clone, Copy, Debug)]
pub enum InventoryChanged<'a> {
    /// Tickets of one showtime were held, released, sold or refunded (or its layout, prices or
    /// sale changed).
    Showtime(&'a ShowtimeId),
    /// Something that may touch any showtime (a catalog edit, an order cancelled for lack of
    /// payment).
    Everywhere,
}

/// Told of every [`InventoryChanged`] the booking service (or an admin's catalog edit) makes:
/// the node's seat-map, availability and catalog snapshots, and its live feed, each deciding
/// what to drop or wake.
pub trait InventoryListener: Send + Sync + 'static {
    fn inventory_changed(&self, change: InventoryChanged<'_>);
}

/// Counts the sale's events as they happen (never by reading responses): the node's metrics
/// registry implements it.
pub trait SaleMetrics: Send + Sync + 'static {
    fn hold_created(&self);
    fn hold_conflict(&self, conflict: HoldConflict);
    fn purchase_confirmed(&self);
    /// Tickets of expired holds the sweeper freed.
    fn expired_tickets_freed(&self, tickets: u64);
    fn payment(&self, step: PaymentStep, outcome: PaymentOutcome);
    fn refund(&self, outcome: RefundOutcome);
    /// `count` attempts or refunds settled as `result` by one reconciliation pass.
    fn reconciled(&self, result: Reconciled, count: u32);
}

/// Why a hold was refused with 409.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldConflict {
    /// A chosen seat is held or sold by someone else.
    TicketsUnavailable,
    /// A general-admission section has fewer free places than asked for.
    NotEnoughPlaces,
    /// The user already holds as many tickets of the showtime as allowed.
    HoldLimit,
}

impl HoldConflict {
    pub const ALL: [Self; 3] = [Self::TicketsUnavailable, Self::NotEnoughPlaces, Self::HoldLimit];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TicketsUnavailable => "tickets_unavailable",
            Self::NotEnoughPlaces => "not_enough_places",
            Self::HoldLimit => "hold_limit",
        }
    }

    /// The conflict a hold's error stands for, if it is one.
    pub fn of(error: &marquee_domain::Error) -> Option<Self> {
        match error {
            marquee_domain::Error::TicketsUnavailable { .. } => Some(Self::TicketsUnavailable),
            marquee_domain::Error::NotEnoughPlaces { .. } => Some(Self::NotEnoughPlaces),
            marquee_domain::Error::HoldLimitReached { .. } => Some(Self::HoldLimit),
            _ => None,
        }
    }
}

/// A step of a payment at the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentStep {
    Authorize,
    Capture,
    /// Money given back because it bought nothing (a void, or a refund of a capture).
    Release,
}

impl PaymentStep {
    pub const ALL: [Self; 3] = [Self::Authorize, Self::Capture, Self::Release];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorize => "authorize",
            Self::Capture => "capture",
            Self::Release => "release",
        }
    }
}

/// What the provider answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// It did what was asked (authorized, captured, released).
    Ok,
    Declined,
    InvalidToken,
    /// The provider failed and says nothing moved.
    ProcessingError,
    /// No answer: the reconciler will find out.
    Unknown,
    /// Refused for another reason (e.g. a capture of an expired authorization).
    Refused,
}

impl PaymentOutcome {
    pub const ALL: [Self; 6] =
        [Self::Ok, Self::Declined, Self::InvalidToken, Self::ProcessingError, Self::Unknown, Self::Refused];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Declined => "declined",
            Self::InvalidToken => "invalid_token",
            Self::ProcessingError => "processing_error",
            Self::Unknown => "unknown",
            Self::Refused => "refused",
        }
    }

    pub fn of(error: &marquee_domain::payment::PaymentError) -> Self {
        use marquee_domain::payment::PaymentError as E;
        match error {
            E::Declined(_) => Self::Declined,
            E::InvalidToken => Self::InvalidToken,
            E::ProcessingError(_) => Self::ProcessingError,
            E::Unknown(_) => Self::Unknown,
            E::NotFound => Self::Refused,
        }
    }
}

/// How a refund ended, as far as this attempt knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundOutcome {
    Completed,
    /// The provider did not answer: the refund stays pending for the reconciler.
    Pending,
    Failed,
}

impl RefundOutcome {
    pub const ALL: [Self; 3] = [Self::Completed, Self::Pending, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Pending => "pending",
            Self::Failed => "failed",
        }
    }
}

/// What one reconciliation pass settled a payment attempt or refund as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconciled {
    Confirmed,
    Released,
    Failed,
    Refunded,
    /// Not settled this time (the provider did not answer).
    Deferred,
}

impl Reconciled {
    pub const ALL: [Self; 5] =
        [Self::Confirmed, Self::Released, Self::Failed, Self::Refunded, Self::Deferred];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Released => "released",
            Self::Failed => "failed",
            Self::Refunded => "refunded",
            Self::Deferred => "deferred",
        }
    }
}
