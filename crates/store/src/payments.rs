//! Storage of payment attempts, refunds, door check-in, settings, webhook de-duplication
//! and the notification outbox.

use crate::KeyClaim;
use async_trait::async_trait;
use marquee_domain::Result;
use marquee_domain::audit::AuditEntry;
use marquee_domain::ids::{HoldId, OrderId, ShowtimeId, TicketId, UserId};
use marquee_domain::inventory::Order;
use marquee_domain::money::Money;
use time::OffsetDateTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptStatus {
    /// Written before the provider was called.
    Started,
    /// The provider was called but its answer was lost.
    Unknown,
    /// Money reserved; the order is being confirmed, or confirmed and awaiting capture.
    Authorized,
    Captured,
    Failed,
    Voided,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Started => "started",
            AttemptStatus::Unknown => "unknown",
            AttemptStatus::Authorized => "authorized",
            AttemptStatus::Captured => "captured",
            AttemptStatus::Failed => "failed",
            AttemptStatus::Voided => "voided",
        }
    }

    pub fn parse(value: &str) -> Result<Self> {
        [Self::Started, Self::Unknown, Self::Authorized, Self::Captured, Self::Failed, Self::Voided]
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| marquee_domain::Error::internal(format!("unknown attempt status {value:?}")))
    }
}

/// One attempt to pay for an order. Its id is the provider's idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentAttempt {
    pub id: String,
    pub order_id: OrderId,
    pub hold_id: HoldId,
    pub user_id: UserId,
    pub provider: String,
    pub reference: Option<String>,
    pub status: AttemptStatus,
    pub amount: Money,
    pub refunded: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Starts paying for a hold: creates (or reuses) its order and writes an attempt.
#[derive(Clone, Debug)]
pub struct BeginPayment {
    pub attempt_id: String,
    /// Used when the hold has no order yet.
    pub new_order_id: OrderId,
    pub hold_id: HoldId,
    pub user_id: UserId,
    pub provider: String,
    pub now: OffsetDateTime,
    /// The request's `Idempotency-Key`, claimed (or moved on from the request's hold) in the
    /// attempt's transaction.
    pub claim: Option<KeyClaim>,
}

/// A message to deliver later, stored in the same transaction as what it announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: String,
    /// e.g. `order_confirmed`, `order_refunded`.
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
}

impl OutboxMessage {
    pub fn new(kind: &str, recipient: &str, subject: String, body: String) -> Self {
        Self {
            id: marquee_domain::ids::prefixed("msg"),
            kind: kind.to_owned(),
            recipient: recipient.to_owned(),
            subject,
            body,
            attempts: 0,
        }
    }
}

/// What confirming a payment did (see [`PaymentStore::confirm_payment`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// The hold's tickets are sold to the attempt's order.
    Confirmed(Box<Order>),
    /// The order was paid before — by this payment (a retried webhook or reconciler pass) or
    /// by another: nothing changed.
    AlreadyPaid,
    /// The hold's tickets are no longer all its own (it ran out and someone took one): the
    /// order is `expired` (written now, or before), and the payment must be given back.
    TicketsGone,
}

/// A refund to write before the provider is asked (see [`PaymentStore::begin_refund`]).
#[derive(Clone, Debug)]
pub struct NewRefund {
    pub id: String,
    pub order_id: OrderId,
    /// The order's live tickets to refund; all of them when `None`.
    pub ticket_ids: Option<Vec<TicketId>>,
    /// A ticket already admitted at the door makes it a `Conflict` (the customer's own
    /// cancellation; the box office may refund used tickets).
    pub refuse_used: bool,
    pub reason: String,
    pub now: OffsetDateTime,
    /// The request's `Idempotency-Key`, claimed in the refund's transaction.
    pub claim: Option<KeyClaim>,
    /// Who asked for it, appended to the audit log in the refund's transaction.
    pub audit: Option<AuditEntry>,
}

impl NewRefund {
    /// A refund of every live ticket of the order, used or not, without a key.
    pub fn whole(id: &str, order_id: &OrderId, reason: &str, now: OffsetDateTime) -> Self {
        Self {
            id: id.to_owned(),
            order_id: order_id.clone(),
            ticket_ids: None,
            refuse_used: false,
            reason: reason.to_owned(),
            now,
            claim: None,
            audit: None,
        }
    }
}

/// A refund, written before the provider is asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub order_id: OrderId,
    pub attempt_id: String,
    /// The provider's reference of the captured payment.
    pub reference: String,
    pub amount: Money,
    pub ticket_ids: Vec<TicketId>,
    pub reason: String,
}

/// Where a refund stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundStatus {
    /// Written; the provider's answer is awaited (or was lost: the reconciler asks again).
    Pending,
    /// The provider gave the money back and the order says so.
    Succeeded,
    /// The provider refused; the order is unchanged.
    Failed,
}

impl RefundStatus {
    pub fn parse(stored: &str) -> Result<Self> {
        match stored {
            "pending" => Ok(Self::Pending),
            "succeeded" => Ok(Self::Succeeded),
            "failed" => Ok(Self::Failed),
            other => Err(marquee_domain::Error::internal(format!("unknown refund status {other:?}"))),
        }
    }
}

/// Who holds a sold ticket now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoldTicket {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub checked_in_at: Option<OffsetDateTime>,
}

/// The answer of the door.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckIn {
    Admitted { ticket_id: TicketId, label: String, showtime_id: ShowtimeId },
    AlreadyAdmitted { at: OffsetDateTime },
}

#[async_trait]
pub trait PaymentStore: Send + Sync + 'static {
    /// Creates the hold's order (or reuses it after a failed attempt) in `pending_payment` and
    /// writes a `started` attempt for its total. Errors: `NotFound` (not the user's hold),
    /// `HoldExpired`, `HoldNotActive`, `PaymentInProgress` (another attempt is under way).
    async fn begin_payment(&self, begin: &BeginPayment) -> Result<PaymentAttempt>;

    /// Records the provider's answer for an attempt that did not confirm the order: `Failed`
    /// or `Voided` (the order becomes `payment_failed`, or `expired` once its hold ran out),
    /// `Unknown`, `Authorized` (reference learned) or `Captured`.
    async fn record_attempt(
        &self,
        attempt_id: &str,
        status: AttemptStatus,
        reference: Option<&str>,
        failure: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<()>;

    /// Sells the hold's tickets to the attempt's order, if every one is still held by the
    /// hold: order `confirmed`, attempt `authorized` with `reference`, the message queued and
    /// the `audit` entry appended, all in one transaction. The other outcomes are
    /// [`Confirmation`]s too; `NotFound` if there is no such attempt.
    async fn confirm_payment(
        &self,
        attempt_id: &str,
        reference: &str,
        message: &OutboxMessage,
        audit: Option<&AuditEntry>,
        now: OffsetDateTime,
    ) -> Result<Confirmation>;

    /// Marks attempts `captured` (the provider took the money of their confirmed orders), in
    /// one write. Attempts no longer `authorized` are left as they are.
    async fn mark_captured(&self, attempt_ids: &[String], now: OffsetDateTime) -> Result<()>;

    /// A confirmed order whose payment could not be captured: `cancelled`, tickets back on sale.
    async fn cancel_unpaid_order(&self, attempt_id: &str, failure: &str, now: OffsetDateTime) -> Result<()>;

    async fn get_attempt(&self, attempt_id: &str) -> Result<Option<PaymentAttempt>>;
    async fn order_attempts(&self, order_id: &OrderId) -> Result<Vec<PaymentAttempt>>;
    async fn attempt_by_reference(&self, provider: &str, reference: &str) -> Result<Option<PaymentAttempt>>;
    /// Attempts not settled (`started`, `unknown`, `authorized`) last touched before `before`.
    async fn unsettled_attempts(&self, before: OffsetDateTime) -> Result<Vec<PaymentAttempt>>;

    /// Writes a pending refund of the given live tickets of a confirmed order, deciding
    /// `refuse_used` under the order's lock (which check-in takes too), claims its key and
    /// appends its audit entry.
    /// Errors: `NotFound`, `Conflict` (not refundable), `IdempotencyInProgress`.
    async fn begin_refund(&self, refund: &NewRefund) -> Result<Refund>;
    /// Applies a refund the provider made: tickets back on sale (old codes void), order
    /// `refunded` or `partially_refunded`, the message queued — one transaction.
    async fn complete_refund(
        &self,
        refund_id: &str,
        message: &OutboxMessage,
        now: OffsetDateTime,
    ) -> Result<Order>;
    async fn fail_refund(&self, refund_id: &str, failure: &str, now: OffsetDateTime) -> Result<()>;
    async fn pending_refunds(&self, before: OffsetDateTime) -> Result<Vec<Refund>>;
    /// Where one refund stands (`None`: no such refund).
    async fn refund_status(&self, refund_id: &str) -> Result<Option<RefundStatus>>;
    /// Orders of a showtime that still hold tickets.
    async fn orders_with_tickets(&self, showtime_id: &ShowtimeId) -> Result<Vec<OrderId>>;

    /// Admits a sold ticket of `order_id` once. Errors: `InvalidTicketCode` (no such ticket),
    /// `TicketVoid` (refunded or sold to someone else since), `WrongShowtime`, `Conflict` (a
    /// refund of the order is under way: its tickets may be void in a moment).
    async fn check_in(
        &self,
        ticket_id: &TicketId,
        order_id: &OrderId,
        showtime_id: Option<&ShowtimeId>,
        now: OffsetDateTime,
    ) -> Result<CheckIn>;

    /// The order and buyer a ticket is sold to now, if it is sold.
    async fn sold_ticket(&self, ticket_id: &TicketId) -> Result<Option<SoldTicket>>;

    /// Stores `value` under `key` unless a value exists; returns the value in force.
    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String>;
    /// Whether a webhook event id was processed before.
    async fn seen_webhook_event(&self, id: &str) -> Result<bool>;
    /// Records a webhook event id; `false` if it was seen before.
    async fn record_webhook_event(&self, id: &str, kind: &str, now: OffsetDateTime) -> Result<bool>;

    /// Claims undelivered messages whose next attempt is due: they are leased to the caller
    /// until `lease_until` (other nodes skip them), then due again if neither delivered nor
    /// failed by then (the claiming node died: at-least-once delivery).
    async fn due_messages(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>>;
    async fn message_delivered(&self, id: &str, now: OffsetDateTime) -> Result<()>;
    async fn message_failed(&self, id: &str, error: &str, next_attempt_at: OffsetDateTime) -> Result<()>;
    /// Every queued message to `recipient` (delivered or not), oldest first.
    async fn messages_to(&self, recipient: &str) -> Result<Vec<(OutboxMessage, Option<OffsetDateTime>)>>;
}
