//! Delivering the outbox: order confirmations and refunds, written by the store in the same
//! transaction as the change they announce, sent here by a background worker. A slow or
//! failing mail server never blocks or fails a purchase; failed deliveries are retried with
//! exponential backoff.

use async_trait::async_trait;
use marquee_domain::Result;
use marquee_domain::clock::Clock;
use marquee_store::{OutboxMessage, PaymentStore};
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

/// Sends messages by SMTP (lettre), e.g. `smtps://user:pass@mail.example.com` or
/// `smtp://localhost:25` for a local relay.
pub struct SmtpSender {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSender").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// Builds the transport; must be called inside the Tokio runtime (it owns a pool).
    pub fn new(url: &str, from: &str) -> std::result::Result<Self, String> {
        let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
            .map_err(|e| format!("bad SMTP URL: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = from.parse().map_err(|e| format!("bad sender address {from:?}: {e}"))?;
        Ok(Self { transport, from })
    }
}

#[async_trait]
impl Sender for SmtpSender {
    async fn send(&self, message: &OutboxMessage) -> std::result::Result<(), String> {
        use lettre::AsyncTransport;
        let to = message.recipient.parse().map_err(|e| format!("bad recipient: {e}"))?;
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(message.body.clone())
            .map_err(|e| format!("cannot build the message: {e}"))?;
        self.transport.send(email).await.map(drop).map_err(|e| format!("SMTP: {e}"))
    }
}

/// Messages handed to the sender per pass.
const BATCH: u32 = 50;
/// How long a claimed message is this node's to send; if the node dies meanwhile, another one
/// sends it after that (a message is sent at least once, and by one node at a time).
const LEASE: time::Duration = time::Duration::seconds(60);
/// Longest wait between two attempts at one message.
const MAX_BACKOFF: time::Duration = time::Duration::hours(1);

/// The wait before attempt `attempts + 1`: 10 s, 20 s, 40 s … up to an hour.
pub fn backoff(attempts: i64) -> time::Duration {
    let doublings = attempts.clamp(0, 20) as u32;
    (time::Duration::seconds(10) * 2_i32.pow(doublings.min(12))).min(MAX_BACKOFF)
}

/// Delivers the due messages once; returns how many were delivered.
pub async fn deliver_due(store: &dyn PaymentStore, sender: &dyn Sender, clock: &dyn Clock) -> Result<u32> {
    let mut delivered = 0;
    for message in store.due_messages(clock.now(), clock.now() + LEASE, BATCH).await? {
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

/// Runs [`deliver_due`] every `every` until `stop` resolves (a pass under way is finished).
pub async fn run_outbox(
    store: Arc<dyn PaymentStore>,
    sender: Arc<dyn Sender>,
    clock: Arc<dyn Clock>,
    every: Duration,
    stop: impl Future<Output = ()> + Send,
) {
    crate::periodically(every, stop, || async {
        if let Err(error) = deliver_due(store.as_ref(), sender.as_ref(), clock.as_ref()).await {
            tracing::warn!(%error, "outbox pass failed");
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// A minimal SMTP server that accepts every message and keeps its DATA.
    async fn fake_smtp() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let store = received.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
                    let mut data: Option<String> = None;
                    while let Ok(Some(line)) = lines.next_line().await {
                        if let Some(body) = data.as_mut() {
                            if line == "." {
                                store.lock().unwrap().push(data.take().unwrap());
                                write.write_all(b"250 queued\r\n").await.unwrap();
                            } else {
                                body.push_str(&line);
                                body.push('\n');
                            }
                            continue;
                        }
                        let reply: &[u8] = match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                            Some("EHLO") | Some("HELO") => b"250 fake\r\n",
                            Some("DATA") => {
                                data = Some(String::new());
                                b"354 go ahead\r\n"
                            }
                            Some("QUIT") => {
                                write.write_all(b"221 bye\r\n").await.unwrap();
                                return;
                            }
                            _ => b"250 ok\r\n",
                        };
                        write.write_all(reply).await.unwrap();
                    }
                });
            }
        });
        (format!("smtp://127.0.0.1:{port}"), received)
    }

    #[tokio::test]
    async fn the_smtp_sender_delivers_a_plain_text_mail() {
        let (url, received) = fake_smtp().await;
        let sender = SmtpSender::new(&url, "Marquee <tickets@marquee.example>").unwrap();
        let message =
            OutboxMessage::new("order_confirmed", "ada@example.com", "Your order".into(), "Seats: A1".into());
        sender.send(&message).await.unwrap();
        let mails = received.lock().unwrap().clone();
        assert_eq!(mails.len(), 1);
        assert!(mails[0].contains("Subject: Your order") && mails[0].contains("Seats: A1"), "{}", mails[0]);
        assert!(mails[0].contains("To: ada@example.com"));
    }

    #[tokio::test]
    async fn bad_smtp_settings_are_refused_at_start() {
        assert!(SmtpSender::new("ftp://nowhere", "a@b.c").is_err());
        assert!(SmtpSender::new("smtp://localhost:25", "not an address").is_err());
    }

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::seconds(10));
        assert_eq!(backoff(1), Duration::seconds(20));
        assert_eq!(backoff(3), Duration::seconds(80));
        assert_eq!(backoff(50), Duration::hours(1));
    }
}
