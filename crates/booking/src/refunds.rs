//! Refunds: by the customer before the cutoff, by an admin for any order or ticket, and for
//! every order of a cancelled showtime. Written ahead like payments: the refund row exists
//! before the provider is asked, and the reconciler finishes refunds a crash interrupted.

use super::{Booking, Caller, format_money};
use crate::events::RefundOutcome;
use marquee_domain::account::User;
use marquee_domain::ids::{OrderId, ShowtimeId, TicketId};
use marquee_domain::inventory::Order;
use marquee_domain::payment::PaymentError;
use marquee_domain::{Error, Result};
use marquee_store::{NewRefund, OutboxMessage, Refund};

impl Booking {
    /// The customer cancels their whole order, up to the cutoff before the show. The
    /// caller's key is claimed, and the cancellation audited, with the refund's record.
    pub async fn cancel_order(&self, user: &User, order_id: &OrderId, caller: &Caller) -> Result<Order> {
        let order = self.own_order(user, order_id).await?;
        if self.cancellation_deadline(&order).await? < self.clock.now() {
            return Err(Error::RefundWindowClosed { cutoff_hours: self.cancellation_cutoff.whole_hours() });
        }
        let details = serde_json::json!({ "by": "customer" });
        let refund = NewRefund {
            // A ticket already used at the door cannot be handed back for money.
            refuse_used: true,
            claim: caller.key.clone(),
            audit: Some(self.audit_entry(user, caller, "order.refund", order_id.as_str(), details)),
            ..self.new_refund(order_id, "cancelled by the customer")
        };
        self.start_refund(refund).await
    }

    /// The last moment the customer may cancel the order: the cutoff before its show.
    async fn cancellation_deadline(&self, order: &Order) -> Result<time::OffsetDateTime> {
        let starts_at =
            self.catalog.showtime_starts_at(&order.showtime_id).await?.ok_or(Error::NotFound("showtime"))?;
        Ok(starts_at - self.cancellation_cutoff)
    }

    /// Until when the customer may cancel the order, by the rules `cancel_order` applies: the
    /// order still holds tickets, none of them was used at the door, and the cutoff before the
    /// show has not passed. `None` otherwise.
    pub async fn cancellable_until(&self, order: &Order) -> Result<Option<time::OffsetDateTime>> {
        if !order.status.holds_tickets() {
            return Ok(None);
        }
        let until = self.cancellation_deadline(order).await?;
        if until < self.clock.now() {
            return Ok(None);
        }
        for ticket in &order.tickets {
            // Still this order's (not refunded and sold again) and already admitted?
            let sold = self.payments.sold_ticket(&ticket.id).await?;
            if sold.is_some_and(|sold| sold.order_id == order.id && sold.checked_in_at.is_some()) {
                return Ok(None);
            }
        }
        Ok(Some(until))
    }

    /// Refunds the given tickets of an order (all live ones when `None`), used or not: the box
    /// office's decision. `by` is the admin who asked (audited with the refund's record);
    /// `None` for the refunds of a cancelled showtime, which its cancellation audits.
    pub async fn refund(
        &self,
        order_id: &OrderId,
        tickets: Option<&[TicketId]>,
        reason: &str,
        by: Option<(&User, &Caller)>,
    ) -> Result<Order> {
        let details = serde_json::json!({ "tickets": tickets, "reason": reason });
        let refund = NewRefund {
            ticket_ids: tickets.map(<[TicketId]>::to_vec),
            audit: by.map(|(admin, caller)| {
                self.audit_entry(admin, caller, "order.refund", order_id.as_str(), details)
            }),
            ..self.new_refund(order_id, reason)
        };
        self.start_refund(refund).await
    }

    fn new_refund(&self, order_id: &OrderId, reason: &str) -> NewRefund {
        NewRefund::whole(&marquee_domain::ids::prefixed("ref"), order_id, reason, self.clock.now())
    }

    async fn start_refund(&self, refund: NewRefund) -> Result<Order> {
        // A refund needs the payment's capture recorded: write this node's pending marks.
        self.captures.flush().await;
        let refund = self.payments.begin_refund(&refund).await?;
        self.finish_refund(&refund).await
    }

    /// Refunds every order of a showtime (after it was cancelled). Returns the orders refunded
    /// and those left to the reconciler.
    pub async fn refund_showtime(&self, showtime_id: &ShowtimeId) -> Result<(u32, u32)> {
        let (mut refunded, mut deferred) = (0, 0);
        for order_id in self.payments.orders_with_tickets(showtime_id).await? {
            match self.refund(&order_id, None, "the showtime was cancelled", None).await {
                Ok(_) => refunded += 1,
                Err(error) => {
                    deferred += 1;
                    tracing::warn!(order = %order_id, %error, "refund of a cancelled showtime's order deferred");
                }
            }
        }
        Ok((refunded, deferred))
    }

    /// Asks the provider for the money back, then applies the refund. An unknown outcome
    /// leaves the refund pending for the reconciler (the provider de-duplicates on its id).
    pub(super) async fn finish_refund(&self, refund: &Refund) -> Result<Order> {
        match self.gateway.refund(&refund.reference, refund.amount.amount, &refund.id).await {
            Ok(()) => {
                let message = self.refund_message(refund).await?;
                let order = self.payments.complete_refund(&refund.id, &message, self.clock.now()).await?;
                self.metrics.refund(RefundOutcome::Completed);
                self.showtime_changed(&order.showtime_id);
                Ok(order)
            }
            Err(error @ (PaymentError::Unknown(_) | PaymentError::ProcessingError(_))) => {
                self.metrics.refund(RefundOutcome::Pending);
                Err(Error::PaymentUnavailable(format!("refund pending: {error}")))
            }
            Err(error) => {
                self.payments.fail_refund(&refund.id, &error.to_string(), self.clock.now()).await?;
                self.metrics.refund(RefundOutcome::Failed);
                Err(error.into())
            }
        }
    }

    async fn refund_message(&self, refund: &Refund) -> Result<OutboxMessage> {
        let order = self.inventory.get_order(&refund.order_id).await?.ok_or(Error::NotFound("order"))?;
        let user = self.accounts.get_user(&order.user_id).await?.ok_or(Error::NotFound("user"))?;
        let body = format!(
            "We refunded {} for {} ticket(s) of order {} ({}). The tickets' door codes are no longer valid.",
            format_money(&refund.amount),
            refund.ticket_ids.len(),
            refund.order_id,
            refund.reason
        );
        Ok(OutboxMessage::new(
            "order_refunded",
            user.email.as_str(),
            format!("Refund for order {}", refund.order_id),
            body,
        ))
    }
}
