//! Delivering the outbox: order confirmations and refunds, written by the store in the same
//! transaction as the change they announce, sent here by a background worker. A slow or
//! failing mail server never blocks or fails a purchase; failed deliveries are retried with
//! exponential backoff.

use async_trait::async_trait;
use marquee_domain::Result;
use marquee_domain::clock::Clock;
use marquee_store::{OutboxMessage, Store};
use std::sync::Arc;
use std::time::Duration;

/// Where messages go.
#[async_trait]
pub trait Sender: Send + Sync + 'static {
    async fn send(&self, message: &OutboxMessage) -> std::result::Result<(), String>;
}

/// The default sender: writes each message to the log.
#[derive(Debug, Default)]
pub struct LogSender;

#[async_trait]
impl Sender for LogSender {
    async fn send(&self, message: &OutboxMessage) -> std::result::Result<(), String> {
        tracing::info!(to = %message.recipient, kind = %message.kind, subject = %message.subject, "message sent (log sender)");
        Ok(())
    }
}

/// Messages handed to the sender per pass.
const BATCH: u32 = 50;
/// Longest wait between two attempts at one message.
const MAX_BACKOFF: time::Duration = time::Duration::hours(1);

/// The wait before attempt `attempts + 1`: 10 s, 20 s, 40 s … up to an hour.
pub fn backoff(attempts: i64) -> time::Duration {
    let doublings = attempts.clamp(0, 20) as u32;
    (time::Duration::seconds(10) * 2_i32.pow(doublings.min(12))).min(MAX_BACKOFF)
}

/// Delivers the due messages once; returns how many were delivered.
pub async fn deliver_due(store: &dyn Store, sender: &dyn Sender, clock: &dyn Clock) -> Result<u32> {
    let mut delivered = 0;
    for message in store.due_messages(clock.now(), BATCH).await? {
        match sender.send(&message).await {
            Ok(()) => {
                store.message_delivered(&message.id, clock.now()).await?;
                delivered += 1;
            }
            Err(error) => {
                tracing::warn!(message = %message.id, attempts = message.attempts + 1, %error, "delivery failed; will retry");
                store.message_failed(&message.id, &error, clock.now() + backoff(message.attempts)).await?;
            }
        }
    }
    Ok(delivered)
}

/// Runs [`deliver_due`] every `every` until the task is dropped.
pub async fn run_outbox(
    store: Arc<dyn Store>,
    sender: Arc<dyn Sender>,
    clock: Arc<dyn Clock>,
    every: Duration,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = deliver_due(store.as_ref(), sender.as_ref(), clock.as_ref()).await {
            tracing::warn!(%error, "outbox pass failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use time::Duration;

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::seconds(10));
        assert_eq!(backoff(1), Duration::seconds(20));
        assert_eq!(backoff(3), Duration::seconds(80));
        assert_eq!(backoff(50), Duration::hours(1));
    }
}
