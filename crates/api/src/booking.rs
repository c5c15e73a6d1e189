//! The booking service: holds and purchases, between the HTTP handlers and the store.
//!
//! # Purchase, step by step
//! 1. The hold must be the caller's and active (not expired, released or purchased).
//! 2. The payment provider charges the hold's total. Its idempotency key is the hold and the
//!    payment token, so two requests for the same hold with the same card charge once.
//! 3. The store sells the hold's tickets in one transaction — only if every one of them is
//!    still held by this hold. If that fails for a definite reason (the hold expired and a
//!    ticket was taken, or it was released), the charge is refunded.
//!
//! The charge happens outside any database transaction: a slow provider never holds a lock
//! or the SQLite writer.

use marquee_domain::account::User;
use marquee_domain::clock::Clock;
use marquee_domain::ids::{HoldId, OrderId, ShowtimeId, TicketId};
use marquee_domain::inventory::{Hold, HoldPolicy, HoldSelection, HoldStatus, Order};
use marquee_domain::payment::{Charge, ChargeRequest, PaymentGateway};
use marquee_domain::{Error, Result};
use marquee_store::{ConfirmHold, NewHold, PaymentRecord, Store};
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[derive(Clone)]
pub struct Booking {
    pub store: Arc<dyn Store>,
    pub gateway: Arc<dyn PaymentGateway>,
    pub clock: Arc<dyn Clock>,
    pub policy: HoldPolicy,
}

impl Booking {
    /// Reserves tickets for the user, all or none, for the configured time.
    pub async fn hold(&self, user: &User, showtime_id: ShowtimeId, selection: HoldSelection) -> Result<Hold> {
        self.policy.check(&selection)?;
        let now = self.clock.now();
        let hold = NewHold {
            max_held_per_user: self.policy.max_held_per_user,
            id: HoldId::generate(),
            user_id: user.id.clone(),
            showtime_id,
            selection,
            now,
            expires_at: now + self.policy.ttl,
        };
        self.store.create_hold(&hold).await
    }

    /// The user's hold; someone else's is "not found".
    pub async fn own_hold(&self, user: &User, id: &HoldId) -> Result<Hold> {
        self.store
            .get_hold(id, self.clock.now())
            .await?
            .filter(|hold| hold.user_id == user.id)
            .ok_or(Error::NotFound("hold"))
    }

    pub async fn release(&self, user: &User, id: &HoldId) -> Result<Hold> {
        self.own_hold(user, id).await?;
        self.store.release_hold(id, self.clock.now()).await
    }

    /// The user's order; someone else's is "not found".
    pub async fn own_order(&self, user: &User, id: &OrderId) -> Result<Order> {
        self.store
            .get_order(id)
            .await?
            .filter(|order| order.user_id == user.id)
            .ok_or(Error::NotFound("order"))
    }

    /// Pays for a hold and turns it into a confirmed order.
    pub async fn purchase(&self, user: &User, hold_id: &HoldId, payment_token: &str) -> Result<Order> {
        check_payment_token(payment_token)?;
        let hold = self.own_hold(user, hold_id).await?;
        hold.status.ensure_active()?;
        let amount = hold.total()?;
        let charge = self
            .gateway
            .charge(&ChargeRequest {
                payment_token: payment_token.to_owned(),
                amount: amount.clone(),
                idempotency_key: provider_key(hold_id, payment_token),
                description: format!("Marquee hold {hold_id}"),
            })
            .await?;
        let confirm = ConfirmHold {
            order_id: OrderId::generate(),
            hold_id: hold_id.clone(),
            user_id: user.id.clone(),
            payment: PaymentRecord {
                provider: self.gateway.name().to_owned(),
                reference: charge.id.clone(),
                amount,
            },
            now: self.clock.now(),
        };
        match self.store.confirm_hold(&confirm).await {
            Ok(order) => Ok(order),
            Err(Error::HoldNotActive { status: "purchased" }) => {
                // A concurrent request for the same hold and card got there first with the
                // very same charge: its order is ours too. Any other charge goes back.
                if let Some(order) = self.order_paid_by(user, hold_id, &charge).await? {
                    return Ok(order);
                }
                self.refund(&charge).await;
                Err(Error::HoldNotActive { status: "purchased" })
            }
            Err(error @ (Error::Internal(_) | Error::Contention)) => {
                // We cannot tell whether the sale committed; refunding could take money for
                // tickets the buyer holds. Leave it for reconciliation, loudly.
                tracing::error!(charge = %charge.id, hold = %hold_id, %error, "charge needs reconciliation");
                Err(error)
            }
            Err(error) => {
                self.refund(&charge).await;
                Err(error)
            }
        }
    }

    /// The one-step purchase of the seed API: hold one ticket, pay, confirm. If payment
    /// fails the ticket is released at once.
    pub async fn buy_ticket(&self, user: &User, ticket_id: &TicketId, payment_token: &str) -> Result<Order> {
        check_payment_token(payment_token)?;
        let now = self.clock.now();
        let ticket = self.store.get_ticket(ticket_id, now).await?.ok_or(Error::NotFound("ticket"))?;
        let hold =
            self.hold(user, ticket.showtime_id, HoldSelection::Tickets(vec![ticket_id.clone()])).await?;
        match self.purchase(user, &hold.id, payment_token).await {
            Ok(order) => Ok(order),
            Err(error) => {
                if let Err(release_error) = self.store.release_hold(&hold.id, self.clock.now()).await {
                    tracing::warn!(hold = %hold.id, %release_error, "could not release a failed one-step purchase");
                }
                Err(error)
            }
        }
    }

    async fn order_paid_by(&self, user: &User, hold_id: &HoldId, charge: &Charge) -> Result<Option<Order>> {
        let hold = self.own_hold(user, hold_id).await?;
        let Some(order_id) = hold.order_id.filter(|_| hold.status == HoldStatus::Purchased) else {
            return Ok(None);
        };
        let order = self.own_order(user, &order_id).await?;
        Ok((order.payment_reference == charge.id).then_some(order))
    }

    async fn refund(&self, charge: &Charge) {
        if let Err(error) = self.gateway.refund(&charge.id).await {
            tracing::error!(charge = %charge.id, %error, "refund failed; needs reconciliation");
        }
    }
}

/// Refuses anything that looks like a card number: Marquee only takes provider tokens.
fn check_payment_token(token: &str) -> Result<()> {
    let digits = token.chars().filter(char::is_ascii_digit).count();
    let only_card_characters = token.chars().all(|c| c.is_ascii_digit() || c == ' ' || c == '-');
    if only_card_characters && (12..=19).contains(&digits) {
        return Err(Error::invalid("send a payment token from the payment provider, never a card number"));
    }
    if token.is_empty() || token.len() > 255 {
        return Err(Error::invalid("payment_token must have 1 to 255 characters"));
    }
    Ok(())
}

/// The provider's idempotency key for paying `hold` with `token`.
fn provider_key(hold: &HoldId, token: &str) -> String {
    let token_digest: String =
        Sha256::digest(token.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{hold}:{token_digest}")
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
}
