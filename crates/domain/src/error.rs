//! The one error story.
//!
//! Every layer returns [`Error`]. Storage maps driver errors into it (a unique violation on an
//! email becomes [`Error::EmailTaken`]); the HTTP layer maps each variant to exactly one status
//! code and a stable machine-readable `code` in an RFC 9457 problem document.

use crate::ids::TicketId;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that is well-formed JSON but breaks a rule (bad quantity, short password, ...).
    #[error("{0}")]
    Invalid(String),

    /// The named object does not exist, or belongs to somebody else (never tell which).
    #[error("{0} not found")]
    NotFound(&'static str),

    /// Missing, unknown or expired credentials.
    #[error("authentication required")]
    Unauthenticated,

    /// Wrong email or password; deliberately the same answer for both.
    #[error("invalid email or password")]
    InvalidCredentials,

    #[error("an account with this email already exists")]
    EmailTaken,

    /// Some requested tickets are held or sold; none were taken (holds are all-or-nothing).
    #[error("some tickets are not available")]
    TicketsUnavailable { ticket_ids: Vec<TicketId> },

    /// Some requested ticket ids are not tickets of the showtime.
    #[error("some tickets do not belong to this showtime")]
    UnknownTickets { ticket_ids: Vec<TicketId> },

    /// A quantity hold asked for more places than a section has free.
    #[error("only {available} places are available in this section, {requested} requested")]
    NotEnoughPlaces { requested: u32, available: u32 },

    /// The change would break what is already sold or held (e.g. a layout under sales).
    #[error("{0}")]
    Conflict(String),

    /// The user already holds as many tickets of this showtime as one user may.
    #[error("you may hold at most {limit} tickets of this showtime at once")]
    HoldLimitReached { limit: u32 },

    /// Too many attempts; try again after `retry_after_secs`.
    #[error("too many requests; retry in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },

    /// The caller is logged in but lacks the role for this.
    #[error("this needs the {0} role")]
    Forbidden(&'static str),

    /// The showtime sells through a waiting room and the caller has no valid admission for it.
    #[error("this showtime sells through a waiting room: {0}")]
    AdmissionRequired(&'static str),

    /// The showtime is not (or no longer) on sale.
    #[error("this showtime is not on sale")]
    NotOnSale,

    /// The hold's time ran out and its tickets were released.
    #[error("the hold has expired")]
    HoldExpired,

    /// The hold was released or already turned into an order.
    #[error("the hold is {status}")]
    HoldNotActive { status: &'static str },

    /// The payment provider declined the payment.
    #[error("payment declined: {reason}")]
    PaymentDeclined { reason: String },

    /// The payment token is not one the provider knows.
    #[error("the payment token is not valid")]
    InvalidPaymentToken,

    /// The payment provider could not be reached or failed; nothing was charged.
    #[error("the payment provider is unavailable")]
    PaymentUnavailable(String),

    /// The provider was asked but its answer was lost; the payment is settled by the
    /// reconciler and the order shows the outcome.
    #[error("the payment outcome is not known yet")]
    PaymentOutcomeUnknown(String),

    /// Another payment attempt for this order is under way.
    #[error("a payment for this order is already in progress")]
    PaymentInProgress,

    /// A door code that is not a valid Marquee ticket (forged, tampered, malformed).
    #[error("invalid ticket code: {0}")]
    InvalidTicketCode(String),

    /// The ticket was admitted before.
    #[error("this ticket was already admitted")]
    AlreadyCheckedIn { at: time::OffsetDateTime },

    /// A ticket that was refunded (or sold again since): its code no longer admits.
    #[error("this ticket is void (refunded)")]
    TicketVoid,

    /// A ticket for another showtime than the one being checked in.
    #[error("this ticket is for another showtime")]
    WrongShowtime,

    /// Too late to cancel by oneself.
    #[error("orders can be cancelled until {cutoff_hours} hours before the show")]
    RefundWindowClosed { cutoff_hours: i64 },

    /// An `Idempotency-Key` was reused with a different request.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,

    /// An earlier request with the same `Idempotency-Key` is still being processed.
    #[error("a request with this Idempotency-Key is still in progress")]
    IdempotencyInProgress,

    /// A short-lived conflict in the database (e.g. a deadlock that was broken); safe to retry.
    #[error("the request conflicted with a concurrent one; retry")]
    Contention,

    /// The database cannot be reached right now (down, restarting, or every connection busy
    /// for longer than the pool waits). Usually nothing was changed; but a connection lost
    /// during a commit leaves a write's outcome unknown, so after a 503 on a purchase a client
    /// looks at its orders (or retries with the same `Idempotency-Key`) before paying again.
    #[error("the database is unavailable")]
    DatabaseUnavailable(String),

    /// A fault of ours or of the infrastructure. The message is logged, never shown to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}
