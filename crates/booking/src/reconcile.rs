//! Settling what a crash, a timeout or a lost answer left unfinished.

use super::Booking;
use crate::events::Reconciled;
use marquee_domain::Result;
use marquee_domain::payment::ProviderState;
use marquee_store::{AttemptStatus, PaymentAttempt};
use time::Duration;

/// What one reconciliation pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Orders confirmed (or captured) from payments the provider had authorized.
    pub confirmed: u32,
    /// Payments released (voided or refunded) because their tickets were gone.
    pub released: u32,
    /// Attempts the provider never saw, or that failed.
    pub failed: u32,
    /// Refunds finished.
    pub refunds: u32,
    /// Attempts or refunds that could not be settled this time (provider unreachable).
    pub deferred: u32,
}

impl ReconcileReport {
    fn counts(&self) -> [(Reconciled, u32); 5] {
        [
            (Reconciled::Confirmed, self.confirmed),
            (Reconciled::Released, self.released),
            (Reconciled::Failed, self.failed),
            (Reconciled::Refunded, self.refunds),
            (Reconciled::Deferred, self.deferred),
        ]
    }
}

impl Booking {
    /// Settles every payment attempt and refund untouched for `grace` (long enough that no
    /// live request still works on it). Run at start-up and periodically; safe to run on many
    /// nodes at once (every step is idempotent at the provider and conditional in the store).
    pub async fn reconcile(&self, grace: Duration) -> Result<ReconcileReport> {
        let mut report = ReconcileReport::default();
        let before = self.clock.now() - grace;
        for attempt in self.payments.unsettled_attempts(before).await? {
            match self.reconcile_attempt(&attempt, &mut report).await {
                Ok(()) => {}
                Err(error) => {
                    report.deferred += 1;
                    tracing::warn!(attempt = %attempt.id, %error, "payment attempt not settled yet");
                }
            }
        }
        for refund in self.payments.pending_refunds(before).await? {
            match self.finish_refund(&refund).await {
                Ok(_) => report.refunds += 1,
                Err(error) => {
                    report.deferred += 1;
                    tracing::warn!(refund = %refund.id, %error, "refund not settled yet");
                }
            }
        }
        // What this pass captured is marked before it reports.
        self.captures.flush().await;
        for (result, count) in report.counts() {
            self.metrics.reconciled(result, count);
        }
        if report != ReconcileReport::default() {
            tracing::info!(?report, "reconciliation pass");
        }
        Ok(report)
    }

    /// Settles one attempt now, from what the provider says (a webhook's trigger). Settled
    /// attempts are left alone; every step is idempotent, so duplicates are harmless.
    pub async fn settle_attempt(&self, attempt_id: &str) -> Result<()> {
        let Some(attempt) = self.payments.get_attempt(attempt_id).await? else { return Ok(()) };
        if !matches!(
            attempt.status,
            AttemptStatus::Started | AttemptStatus::Unknown | AttemptStatus::Authorized
        ) {
            return Ok(());
        }
        self.reconcile_attempt(&attempt, &mut ReconcileReport::default()).await?;
        self.captures.flush().await;
        Ok(())
    }

    async fn reconcile_attempt(&self, attempt: &PaymentAttempt, report: &mut ReconcileReport) -> Result<()> {
        let now = self.clock.now();
        // What does the provider know? (For `authorized` attempts we know the reference, but
        // asking also tells whether a capture already went through.)
        let Some(payment) = self.gateway.lookup(&attempt.id).await? else {
            self.payments
                .record_attempt(
                    &attempt.id,
                    AttemptStatus::Failed,
                    None,
                    Some("the provider never received it"),
                    now,
                )
                .await?;
            report.failed += 1;
            return Ok(());
        };
        match payment.state {
            ProviderState::Failed => {
                self.payments
                    .record_attempt(
                        &attempt.id,
                        AttemptStatus::Failed,
                        Some(&payment.reference),
                        Some("failed at the provider"),
                        now,
                    )
                    .await?;
                report.failed += 1;
            }
            ProviderState::Voided => {
                self.payments
                    .record_attempt(
                        &attempt.id,
                        AttemptStatus::Voided,
                        Some(&payment.reference),
                        Some("voided at the provider"),
                        now,
                    )
                    .await?;
                report.released += 1;
            }
            ProviderState::Authorized | ProviderState::Captured => {
                match self.settle_authorized(attempt, &payment.reference, payment.state, None).await {
                    Ok(_) => report.confirmed += 1,
                    Err(marquee_domain::Error::HoldExpired | marquee_domain::Error::HoldNotActive { .. }) => {
                        report.released += 1
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(())
    }
}
