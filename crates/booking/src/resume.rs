//! What a request whose answer was lost (its node crashed, the connection dropped) learns
//! from what it wrote: the resource its `Idempotency-Key` was claimed with.

use super::Booking;
use marquee_domain::account::User;
use marquee_domain::ids::{HoldId, OrderId};
use marquee_domain::inventory::{Hold, HoldStatus, Order};
use marquee_domain::{Error, Result};
use marquee_store::{AttemptStatus, KeyResource, RefundStatus};

/// What became of a lost request's write.
#[derive(Debug)]
pub enum Outcome<T> {
    /// Settled: answer with this, as the original request would have.
    Done(T),
    /// Not settled yet (the provider's answer is awaited; the reconciler finishes it).
    Pending,
    /// It came to nothing (a payment that failed, a refund refused): run the request again.
    Again,
}

impl<T> Outcome<T> {
    /// The outcome with its value in another shape (the answer's).
    pub fn map<U>(self, shape: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Done(value) => Outcome::Done(shape(value)),
            Outcome::Pending => Outcome::Pending,
            Outcome::Again => Outcome::Again,
        }
    }
}

impl Booking {
    /// A hold is its own outcome.
    pub async fn hold_outcome(&self, user: &User, hold_id: &HoldId) -> Result<Outcome<Hold>> {
        Ok(Outcome::Done(self.own_hold(user, hold_id).await?))
    }

    /// A payment attempt's: its order once the attempt confirmed it and its capture is
    /// recorded (a confirmed order whose capture is refused is cancelled: until the capture is
    /// known, the outcome is not).
    pub async fn payment_outcome(&self, user: &User, attempt_id: &str) -> Result<Outcome<Order>> {
        let attempt = self
            .payments
            .get_attempt(attempt_id)
            .await?
            .filter(|attempt| attempt.user_id == user.id)
            .ok_or(Error::NotFound("payment attempt"))?;
        Ok(match attempt.status {
            AttemptStatus::Failed | AttemptStatus::Voided => Outcome::Again,
            AttemptStatus::Started | AttemptStatus::Unknown | AttemptStatus::Authorized => Outcome::Pending,
            AttemptStatus::Captured => {
                let order = self.own_order(user, &attempt.order_id).await?;
                let paid_by_it = attempt
                    .reference
                    .as_deref()
                    .is_some_and(|reference| !reference.is_empty() && order.payment_reference == reference);
                if paid_by_it { Outcome::Done(order) } else { Outcome::Pending }
            }
        })
    }

    /// The hold a lost one-step purchase made, if it is still active: a retry that took its
    /// key over pays for it instead of holding the ticket again (its own hold would refuse it).
    pub async fn resumable_hold(&self, user: &User, earlier: &KeyResource) -> Result<Option<Hold>> {
        let hold_id = match earlier {
            KeyResource::Hold(id) => id.clone(),
            KeyResource::Payment(attempt) => match self.payments.get_attempt(attempt).await? {
                Some(attempt) if attempt.user_id == user.id => attempt.hold_id,
                _ => return Ok(None),
            },
            KeyResource::Refund { .. } => return Ok(None),
        };
        let hold = self.own_hold(user, &hold_id).await?;
        Ok((hold.status == HoldStatus::Active).then_some(hold))
    }

    /// A refund's: the order once the refund was applied.
    pub async fn refund_outcome(
        &self,
        user: &User,
        refund_id: &str,
        order_id: &OrderId,
    ) -> Result<Outcome<Order>> {
        let order = self.own_order(user, order_id).await?;
        Ok(match self.payments.refund_status(refund_id).await? {
            Some(RefundStatus::Pending) => Outcome::Pending,
            Some(RefundStatus::Succeeded) => Outcome::Done(order),
            // Refused by the provider (or never written): the request may run again.
            Some(RefundStatus::Failed) | None => Outcome::Again,
        })
    }
}
