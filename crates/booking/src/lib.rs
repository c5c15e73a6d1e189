//! The booking service: holds, purchases, refunds and reconciliation, below the HTTP layer,
//! between the store and the payment gateway.
//!
//! It knows the store only by the narrow interfaces it uses (inventory, payments, accounts and
//! one catalog read; [`Booking::new`] upcasts the whole store to them), and the node only
//! through two interfaces of its own ([`events`]): the node's caches and live feed hear every
//! [`InventoryChanged`], its metrics registry counts the [`SaleMetrics`]. HTTP handlers parse,
//! authorize, call one function of this crate and answer.
//!
//! # A purchase, step by step (write-ahead)
//! 1. **Record:** the hold's order is created (or reused after a decline) in
//!    `pending_payment`, and a payment attempt is written — before the provider hears of it.
//! 2. **Authorize:** the provider reserves the money; the attempt id is its idempotency key.
//! 3. **Confirm:** one transaction sells the hold's tickets (only if every one is still held
//!    by the hold), confirms the order and queues the confirmation message.
//! 4. **Capture:** the provider takes the money. If the tickets were lost in step 3, the
//!    authorization is voided instead. The attempt's `captured` mark is written lazily, with
//!    other purchases' marks ([`CaptureMarks`]); the reconciler marks what a crash lost.
//!
//! A crash between any two steps leaves an attempt that is not settled; the
//! [`reconcile`](Booking::reconcile) pass asks the provider what became of it and finishes the
//! job (confirm and capture, or void / refund). After it, no money is taken without a
//! confirmed order and no order is confirmed without money, whatever crashed where.

pub mod admission;
mod captures;
pub mod events;
mod reconcile;
mod refunds;
mod resume;

pub use captures::CaptureMarks;
pub use events::{InventoryChanged, InventoryListener, SaleMetrics};
pub use reconcile::ReconcileReport;
pub use resume::Outcome;

use crate::admission::AdmissionSigner;
use crate::events::{HoldConflict, PaymentOutcome, PaymentStep};
use marquee_domain::account::{Email, User};
use marquee_domain::audit::AuditEntry;
use marquee_domain::clock::Clock;
use marquee_domain::ids::{HoldId, OrderId, ShowtimeId, TicketId};
use marquee_domain::inventory::{Hold, HoldPolicy, HoldSelection, Order};
use marquee_domain::money::Money;
use marquee_domain::payment::{AuthorizeRequest, PaymentError, PaymentGateway, ProviderState};
use marquee_domain::{Error, Result};
use marquee_store::{
    AccountStore, AttemptStatus, BeginPayment, CatalogStore, Confirmation, InventoryStore, KeyClaim, NewHold,
    OutboxMessage, PaymentAttempt, PaymentStore, Store,
};
use std::sync::Arc;

/// Points of the purchase path where a test can make the process "crash": the step's work is
/// done, nothing after it happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The attempt is written; the provider has not been called.
    PaymentRecorded,
    /// The provider authorized; nothing recorded yet.
    Authorized,
    /// The order is confirmed; the money is not captured.
    Confirmed,
    /// The money is captured; the attempt does not say so yet.
    Captured,
}

/// Fault injection for tests; production uses [`NoFaults`].
pub trait Faults: Send + Sync + 'static {
    fn crash_at(&self, step: Step) -> bool;
}

#[derive(Debug, Default)]
pub struct NoFaults;

impl Faults for NoFaults {
    fn crash_at(&self, _: Step) -> bool {
        false
    }
}

/// Who asks, beyond the user: the client's address for the audit log, and the request's
/// `Idempotency-Key`, claimed by the write that makes the request's outcome (a hold, a
/// payment attempt, a refund) in that write's transaction.
#[derive(Clone, Debug)]
pub struct Caller {
    pub ip: Option<String>,
    pub key: Option<KeyClaim>,
}

/// The rules of the house the booking service applies.
#[derive(Clone, Debug)]
pub struct Rules {
    pub hold_policy: HoldPolicy,
    /// How long before the show a customer may still cancel for a full refund.
    pub cancellation_cutoff: time::Duration,
}

/// The booking service (see the module documentation). Built once per node by
/// [`Booking::new`]; cheap to clone.
#[derive(Clone)]
pub struct Booking {
    /// Seats, holds and orders.
    inventory: Arc<dyn InventoryStore>,
    /// Payment attempts, refunds and the outbox.
    payments: Arc<dyn PaymentStore>,
    /// The buyer of an order the reconciler settles.
    accounts: Arc<dyn AccountStore>,
    /// When a showtime starts (the cancellation cutoff).
    catalog: Arc<dyn CatalogStore>,
    gateway: Arc<dyn PaymentGateway>,
    clock: Arc<dyn Clock>,
    policy: HoldPolicy,
    cancellation_cutoff: time::Duration,
    faults: Arc<dyn Faults>,
    /// Checks waiting-room admissions.
    admission: Arc<AdmissionSigner>,
    /// Told of every inventory change made here.
    changes: Arc<dyn InventoryListener>,
    /// Counts holds, conflicts, payments, sales and refunds as they happen.
    metrics: Arc<dyn SaleMetrics>,
    /// Writes the `captured` marks of paid orders, lazily and in batches.
    captures: Arc<CaptureMarks>,
}

impl Booking {
    /// Wires the service. Starts its capture-mark writer on the current Tokio runtime.
    pub fn new(
        store: Arc<dyn Store>,
        gateway: Arc<dyn PaymentGateway>,
        clock: Arc<dyn Clock>,
        rules: Rules,
        admission: Arc<AdmissionSigner>,
        changes: Arc<dyn InventoryListener>,
        metrics: Arc<dyn SaleMetrics>,
    ) -> Self {
        Self {
            captures: Arc::new(CaptureMarks::start(store.clone(), clock.clone())),
            inventory: store.clone(),
            payments: store.clone(),
            accounts: store.clone(),
            catalog: store,
            gateway,
            clock,
            policy: rules.hold_policy,
            cancellation_cutoff: rules.cancellation_cutoff,
            faults: Arc::new(NoFaults),
            admission,
            changes,
            metrics,
        }
    }

    /// The same service with fault injection (tests).
    pub fn with_faults(self, faults: Arc<dyn Faults>) -> Self {
        Self { faults, ..self }
    }

    /// The payment provider's name, as attempts record it.
    pub fn provider(&self) -> &str {
        self.gateway.name()
    }

    /// Waits until this node's pending capture marks are written (see [`CaptureMarks`]).
    pub async fn flush_capture_marks(&self) {
        self.captures.flush().await;
    }

    /// Reserves tickets for the user, all or none, for the configured time. A showtime sold
    /// through a waiting room needs the user's admission token for it.
    pub async fn hold(
        &self,
        user: &User,
        showtime_id: ShowtimeId,
        selection: HoldSelection,
        admission: Option<&str>,
        key: Option<&KeyClaim>,
    ) -> Result<Hold> {
        self.policy.check(&selection)?;
        let now = self.clock.now();
        // Checked without the database; whether the showtime needs it is decided in the hold's
        // own transaction (no extra read on the hot path, no race with a queue being set up).
        let refusal = match admission {
            Some(token) => self.admission.verify(token, &showtime_id, &user.id, now).err(),
            None => Some(Error::AdmissionRequired(
                "join the queue and hold with the admission token it gives you (X-Admission-Token)",
            )),
        };
        let hold = NewHold {
            admitted: refusal.is_none(),
            max_held_per_user: self.policy.max_held_per_user,
            id: HoldId::generate(),
            user_id: user.id.clone(),
            showtime_id,
            selection,
            now,
            expires_at: now + self.policy.ttl,
            claim: key.cloned(),
        };
        let created = self.inventory.create_hold(&hold).await;
        match &created {
            Ok(_) => {
                self.metrics.hold_created();
                self.showtime_changed(&hold.showtime_id);
            }
            // Say why the token was refused, if one was sent.
            Err(Error::AdmissionRequired(_)) => return Err(refusal.unwrap_or(Error::AdmissionRequired(""))),
            Err(error) => {
                if let Some(conflict) = HoldConflict::of(error) {
                    self.metrics.hold_conflict(conflict);
                }
            }
        }
        created
    }

    /// The user's hold; someone else's is "not found".
    pub async fn own_hold(&self, user: &User, id: &HoldId) -> Result<Hold> {
        self.inventory
            .get_hold(id, self.clock.now())
            .await?
            .filter(|hold| hold.user_id == user.id)
            .ok_or(Error::NotFound("hold"))
    }

    pub async fn release(&self, user: &User, id: &HoldId) -> Result<Hold> {
        let hold = self.own_hold(user, id).await?;
        let released = self.inventory.release_hold(id, self.clock.now()).await;
        self.showtime_changed(&hold.showtime_id);
        released
    }

    /// One pass of the hold sweeper: marks expired holds expired and frees their tickets'
    /// rows; returns how many tickets it freed. Correctness never depends on it: an expired
    /// hold's tickets are free the moment it expires.
    pub async fn sweep_expired_holds(&self) -> Result<u64> {
        let freed = self.inventory.sweep_expired_holds(self.clock.now()).await?;
        self.metrics.expired_tickets_freed(freed);
        Ok(freed)
    }

    /// The user's order; someone else's is "not found".
    pub async fn own_order(&self, user: &User, id: &OrderId) -> Result<Order> {
        self.inventory
            .get_order(id)
            .await?
            .filter(|order| order.user_id == user.id)
            .ok_or(Error::NotFound("order"))
    }

    /// Pays for a hold and turns it into a confirmed order (see the module documentation).
    pub async fn purchase(
        &self,
        user: &User,
        hold_id: &HoldId,
        payment_token: &str,
        caller: &Caller,
    ) -> Result<Order> {
        check_payment_token(payment_token)?;
        // No read of the hold first: beginning the payment checks, in its own transaction,
        // that the hold is the user's (else `NotFound`) and still active.
        let attempt = self
            .payments
            .begin_payment(&BeginPayment {
                attempt_id: marquee_domain::ids::prefixed("pay"),
                new_order_id: OrderId::generate(),
                hold_id: hold_id.clone(),
                user_id: user.id.clone(),
                provider: self.gateway.name().to_owned(),
                now: self.clock.now(),
                claim: caller.key.clone(),
            })
            .await?;
        self.checkpoint(Step::PaymentRecorded)?;
        let request = AuthorizeRequest {
            payment_token: payment_token.to_owned(),
            amount: attempt.amount.clone(),
            idempotency_key: attempt.id.clone(),
            description: format!("Marquee order {}", attempt.order_id),
        };
        let authorized = self.gateway.authorize(&request).await;
        self.metrics.payment(
            PaymentStep::Authorize,
            authorized.as_ref().err().map_or(PaymentOutcome::Ok, PaymentOutcome::of),
        );
        let authorization = match authorized {
            Ok(authorization) => authorization,
            Err(PaymentError::Unknown(cause)) => {
                self.payments
                    .record_attempt(&attempt.id, AttemptStatus::Unknown, None, Some(&cause), self.clock.now())
                    .await?;
                return Err(Error::PaymentOutcomeUnknown(cause));
            }
            Err(error) => {
                let failure = error.to_string();
                self.payments
                    .record_attempt(
                        &attempt.id,
                        AttemptStatus::Failed,
                        None,
                        Some(&failure),
                        self.clock.now(),
                    )
                    .await?;
                return Err(error.into());
            }
        };
        self.checkpoint(Step::Authorized)?;
        let buyer = Some((user, caller));
        self.settle_authorized(&attempt, &authorization.reference, authorization.state, buyer).await
    }

    /// The one-step purchase of the seed API: hold one ticket, pay, confirm. If payment
    /// fails the ticket is released at once.
    pub async fn buy_ticket(
        &self,
        user: &User,
        ticket_id: &TicketId,
        payment_token: &str,
        admission: Option<&str>,
        caller: &Caller,
    ) -> Result<Order> {
        check_payment_token(payment_token)?;
        let now = self.clock.now();
        let ticket = self.inventory.get_ticket(ticket_id, now).await?.ok_or(Error::NotFound("ticket"))?;
        let selection = HoldSelection::Tickets(vec![ticket_id.clone()]);
        let hold = self.hold(user, ticket.showtime_id, selection, admission, caller.key.as_ref()).await?;
        self.pay_for_new_hold(user, &hold, payment_token, caller).await
    }

    /// Pays for a hold the one-step purchase just made (or, resumed after a crash, made
    /// earlier); a payment that surely failed releases it at once.
    pub async fn pay_for_new_hold(
        &self,
        user: &User,
        hold: &Hold,
        payment_token: &str,
        caller: &Caller,
    ) -> Result<Order> {
        match self.purchase(user, &hold.id, payment_token, caller).await {
            Ok(order) => Ok(order),
            Err(
                error @ (Error::PaymentDeclined { .. }
                | Error::InvalidPaymentToken
                | Error::PaymentUnavailable(_)),
            ) => {
                // Definitely not paid: give the seat back at once.
                self.showtime_changed(&hold.showtime_id);
                if let Err(release_error) = self.inventory.release_hold(&hold.id, self.clock.now()).await {
                    tracing::warn!(hold = %hold.id, %release_error, "could not release a failed one-step purchase");
                }
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// From an authorized (or captured) payment to a confirmed, captured order — or, when the
    /// tickets are gone, to money given back. `buyer` is who asked, when a purchase request
    /// settles it: its confirmation is audited in the same transaction (the reconciler
    /// settles without one, and reads the buyer's address).
    async fn settle_authorized(
        &self,
        attempt: &PaymentAttempt,
        reference: &str,
        state: ProviderState,
        buyer: Option<(&User, &Caller)>,
    ) -> Result<Order> {
        let (message, showtime, tickets) =
            self.confirmation_message(attempt, buyer.map(|(user, _)| &user.email)).await?;
        let now = self.clock.now();
        let audit = buyer.map(|(user, caller)| {
            let details =
                serde_json::json!({ "total": attempt.amount, "tickets": tickets, "payment": reference });
            self.audit_entry(user, caller, "order.confirmed", attempt.order_id.as_str(), details)
        });
        let confirmed =
            self.payments.confirm_payment(&attempt.id, reference, &message, audit.as_ref(), now).await;
        // Sold, or given back to the pool (expired): either way the map changed.
        self.showtime_changed(&showtime);
        match confirmed? {
            Confirmation::Confirmed(order) => {
                self.metrics.purchase_confirmed();
                self.checkpoint(Step::Confirmed)?;
                // A successful capture does not change the order: no need to read it again.
                self.capture(attempt, reference).await?;
                Ok(*order)
            }
            Confirmation::AlreadyPaid => {
                // By this very payment (a retried webhook or reconciler pass)? Then only the
                // capture may be missing.
                let order =
                    self.inventory.get_order(&attempt.order_id).await?.ok_or(Error::NotFound("order"))?;
                if order.payment_reference == reference {
                    self.capture(attempt, reference).await?;
                    return Ok(order);
                }
                self.give_back(attempt, reference, state, "the order was paid by another payment").await?;
                Err(Error::HoldNotActive { status: "purchased" })
            }
            Confirmation::TicketsGone => {
                self.give_back(attempt, reference, state, "the tickets were no longer held").await?;
                Err(Error::HoldExpired)
            }
        }
    }

    /// Takes the money of a confirmed order. An unknown outcome is left to the reconciler; a
    /// refusal cancels the order and puts its tickets back on sale.
    async fn capture(&self, attempt: &PaymentAttempt, reference: &str) -> Result<()> {
        let captured = self.gateway.capture(reference, &format!("{}:capture", attempt.id)).await;
        self.metrics.payment(
            PaymentStep::Capture,
            captured.as_ref().err().map_or(PaymentOutcome::Ok, PaymentOutcome::of),
        );
        match captured {
            Ok(()) => {
                self.checkpoint(Step::Captured)?;
                // The buyer need not wait for the mark (see `captures`).
                self.captures.mark(attempt.id.clone());
                Ok(())
            }
            Err(error @ (PaymentError::Unknown(_) | PaymentError::ProcessingError(_))) => {
                tracing::warn!(attempt = %attempt.id, %error, "capture outcome unknown; the reconciler will retry");
                Ok(())
            }
            Err(error) => {
                let failure = format!("capture refused: {error}");
                self.payments.cancel_unpaid_order(&attempt.id, &failure, self.clock.now()).await?;
                self.showtimes_changed();
                Err(error.into())
            }
        }
    }

    /// Releases money that bought nothing: void an authorization, refund a capture.
    async fn give_back(
        &self,
        attempt: &PaymentAttempt,
        reference: &str,
        state: ProviderState,
        why: &str,
    ) -> Result<()> {
        let outcome = match state {
            ProviderState::Captured => {
                self.gateway.refund(reference, attempt.amount.amount, &format!("{}:refund", attempt.id)).await
            }
            _ => self.gateway.void(reference, &format!("{}:void", attempt.id)).await,
        };
        self.metrics.payment(
            PaymentStep::Release,
            outcome.as_ref().err().map_or(PaymentOutcome::Ok, PaymentOutcome::of),
        );
        match outcome {
            Ok(()) => {
                self.payments
                    .record_attempt(
                        &attempt.id,
                        AttemptStatus::Voided,
                        Some(reference),
                        Some(why),
                        self.clock.now(),
                    )
                    .await
            }
            Err(error) => {
                // Leave the attempt unsettled: the reconciler tries again.
                self.payments
                    .record_attempt(
                        &attempt.id,
                        AttemptStatus::Authorized,
                        Some(reference),
                        Some(why),
                        self.clock.now(),
                    )
                    .await?;
                Err(Error::PaymentUnavailable(format!("could not release the payment: {error}")))
            }
        }
    }

    /// The confirmation message of an attempt's order, to `buyer` (read from the attempt's user
    /// when not given), the order's showtime and how many tickets it sells.
    async fn confirmation_message(
        &self,
        attempt: &PaymentAttempt,
        buyer: Option<&Email>,
    ) -> Result<(OutboxMessage, ShowtimeId, usize)> {
        let recipient = match buyer {
            Some(email) => email.clone(),
            None => self.accounts.get_user(&attempt.user_id).await?.ok_or(Error::NotFound("user"))?.email,
        };
        let hold = self
            .inventory
            .get_hold(&attempt.hold_id, self.clock.now())
            .await?
            .ok_or(Error::NotFound("hold"))?;
        let seats: Vec<&str> = hold.tickets.iter().map(|t| t.label.as_str()).collect();
        let body = format!(
            "Thank you for your order {}.\nSeats: {}\nTotal: {}\nYour tickets and their door codes are under My tickets.",
            attempt.order_id,
            seats.join(", "),
            format_money(&attempt.amount)
        );
        let message = OutboxMessage::new(
            "order_confirmed",
            recipient.as_str(),
            format!("Your Marquee order {}", attempt.order_id),
            body,
        );
        Ok((message, hold.showtime_id, hold.tickets.len()))
    }

    /// An audit entry of `actor`'s request, to be written with the change it records.
    fn audit_entry(
        &self,
        actor: &User,
        caller: &Caller,
        action: &str,
        target: &str,
        details: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry {
            id: AuditEntry::new_id(),
            at: self.clock.now(),
            actor_id: Some(actor.id.clone()),
            actor_email: Some(actor.email.as_str().to_owned()),
            ip: caller.ip.clone(),
            action: action.to_owned(),
            target: Some(target.to_owned()),
            details: details.to_string(),
        }
    }

    /// Tells the node a showtime's inventory changed.
    pub fn showtime_changed(&self, showtime: &ShowtimeId) {
        self.changes.inventory_changed(InventoryChanged::Showtime(showtime));
    }

    /// Tells the node something that may touch any showtime changed.
    pub fn showtimes_changed(&self) {
        self.changes.inventory_changed(InventoryChanged::Everywhere);
    }

    fn checkpoint(&self, step: Step) -> Result<()> {
        if self.faults.crash_at(step) {
            return Err(Error::internal(format!("injected crash after {step:?}")));
        }
        Ok(())
    }
}

/// `12.50 EUR`.
pub fn format_money(money: &Money) -> String {
    format!("{}.{:02} {}", money.amount / 100, (money.amount % 100).abs(), money.currency)
}

/// Refuses anything that looks like a card number: Marquee only takes provider tokens.
fn check_payment_token(token: &str) -> Result<()> {
    let digits = token.chars().filter(char::is_ascii_digit).count();
    let only_card_characters = token.chars().all(|c| c.is_ascii_digit() || c == ' ' || c == '-');
    if only_card_characters && (12..=19).contains(&digits) {
        return Err(Error::invalid("send a payment token from the payment provider, never a card number"));
    }
    let longest = marquee_domain::payment::MAX_PAYMENT_TOKEN_BYTES;
    if token.is_empty() || token.len() > longest {
        return Err(Error::invalid(format!("payment_token must have 1 to {longest} characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_are_refused_as_payment_tokens() {
        assert!(check_payment_token("4242 4242 4242 4242").is_err());
        assert!(check_payment_token("4242424242424242").is_err());
        assert!(check_payment_token("").is_err());
        assert!(check_payment_token("tok_visa").is_ok());
    }

    #[test]
    fn money_reads_like_a_price() {
        assert_eq!(format_money(&Money::new(1250, "EUR")), "12.50 EUR");
        assert_eq!(format_money(&Money::new(5, "EUR")), "0.05 EUR");
    }
}
