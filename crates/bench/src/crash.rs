//! The crash test: a flash sale while the server is killed with SIGKILL at random moments and
//! started again, then the promise checked against the database and the payment provider:
//! - every purchase the server acknowledged (201) exists as a confirmed order with exactly its
//!   tickets, and those tickets are sold to it;
//! - no ticket is in two live orders (read from the data, whatever the indexes promise) and
//!   no hold is left active once everything settled; no confirmed order is without tickets;
//!   every sold ticket belongs to a confirmed order;
//! - once the reconciler has run, payments and orders agree: no order waits for payment, no
//!   attempt is left open, every confirmed order's money was captured, and every payment the
//!   provider captured or still holds belongs to a confirmed order.
//!
//! The buyers are clients that retry: every hold and order carries an `Idempotency-Key`, and
//! a request whose answer was lost (the connection dropped with the server, a 5xx while the
//! database was down, or 409 "in progress") is sent again with the same key until it gets a
//! definite answer. At the end every acknowledged order's request is sent once more with its
//! key, and must answer with the same order.
//!
//! With `--database-crash-command` the database is crashed instead of the server (e.g.
//! PostgreSQL stopped in immediate mode and started again): the server stays up, and the same
//! checks hold. (On SQLite the database is the server's own writer thread: killing the server
//! kills it mid-batch.)
//!
//! The payment provider is a fake Stripe run in this process, so that what it knows survives
//! every kill of the server, as Stripe's memory would.

use crate::database::Database;
use crate::flash::{Availability, FreePlaces, Rng, SeatMap, SeatTicket, Stats, biggest_showtime, register};
use marquee_payments::fake_stripe;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;

const STRIPE_KEY: &str = "sk_test_crash";

#[derive(clap::Args, Debug)]
pub struct Options {
    /// The `marquee` binary to run and kill.
    #[arg(long, default_value = "target/release/marquee")]
    marquee: PathBuf,
    /// The server's database (SQLite or PostgreSQL URL). An empty one gets the demo catalog;
    /// the biggest showtime on sale is sold.
    #[arg(long)]
    database_url: String,
    /// How many times the server is killed (SIGKILL) during the sale.
    #[arg(long, default_value_t = 20)]
    kills: u32,
    /// Simulated buyers, and how many are in flight at once.
    #[arg(long, default_value_t = 300)]
    buyers: usize,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// The time between a restart and the next kill is drawn between these (milliseconds).
    #[arg(long, default_value_t = 300)]
    min_gap_ms: u64,
    #[arg(long, default_value_t = 1500)]
    max_gap_ms: u64,
    /// The server's output is appended here.
    #[arg(long, default_value = "crash-test-server.log")]
    server_log: PathBuf,
    /// Crash the database instead of the server: a shell command that crashes it and starts it
    /// again, returning once it accepts connections (e.g. `pg_ctl stop -m immediate` then
    /// `pg_ctl start -w`).
    #[arg(long)]
    database_crash_command: Option<String>,
}

/// The server under test: started, killed, started again on the same port and database.
struct Server {
    options: Arc<Options>,
    port: u16,
    stripe: String,
    child: Option<Child>,
}

impl Server {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self, client: &reqwest::Client) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.options.server_log)?;
        let child = Command::new(&self.options.marquee)
            .env("MARQUEE_DATABASE_URL", &self.options.database_url)
            .env("MARQUEE_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("MARQUEE_PAYMENT_PROVIDER", "stripe")
            .env("MARQUEE_STRIPE_SECRET_KEY", STRIPE_KEY)
            .env("MARQUEE_STRIPE_API_BASE", &self.stripe)
            .env("MARQUEE_WEBHOOK_SECRET", "whsec_crash_test")
            // Holds of killed requests come back soon; the reconciler settles attempts
            // untouched for twice the request timeout, every second.
            .env("MARQUEE_HOLD_TTL_SECS", "5")
            .env("MARQUEE_REQUEST_TIMEOUT_SECS", "3")
            .env("MARQUEE_RECONCILE_INTERVAL_SECS", "1")
            .env("MARQUEE_SWEEP_INTERVAL_SECS", "1")
            .env("MARQUEE_WRITES_PER_MINUTE_PER_IP", "0")
            .env("MARQUEE_WRITES_PER_MINUTE_PER_USER", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                anyhow::bail!(
                    "the server exited at start-up ({status}); see {}",
                    self.options.server_log.display()
                );
            }
            let ready = client.get(format!("{}/readyz", self.base())).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "the server did not come up within 120 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown, no draining, no flushing — as a power cut or the OOM killer.
    async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub async fn run(options: Options) -> anyhow::Result<Value> {
    let options = Arc::new(options);
    let (stripe, provider) = fake_stripe::start_inspectable(STRIPE_KEY).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections)
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut server = Server { options: options.clone(), port: free_port()?, stripe, child: None };
    server.start(&client).await?;
    let base = server.base();
    let showtime = biggest_showtime(&client, &base).await?;
    let layout: SeatMap =
        client.get(format!("{base}/api/v1/showtimes/{showtime}/seats")).send().await?.json().await?;
    eprintln!(
        "showtime {showtime}: {} tickets; registering {} buyers…",
        layout.tickets.len(),
        options.buyers
    );
    let tokens = Arc::new(register(&client, &base, options.buyers).await?);
    let layout = Arc::new(layout.tickets);

    // The buyers: the flash sale's visit, over and over, pausing while the server is down.
    let stats = Arc::new(Stats::new());
    let (stop, down) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let permits = Arc::new(Semaphore::new(options.connections));
    let retries = Arc::new(Retries::default());
    let ledger: Arc<Mutex<Vec<Acknowledged>>> = Arc::default();
    let mut buyers = Vec::new();
    for buyer in 0..options.buyers {
        let (client, base, showtime, tokens, stats, permits, layout, stop, down, retries, ledger) = (
            client.clone(),
            base.clone(),
            showtime.clone(),
            tokens.clone(),
            stats.clone(),
            permits.clone(),
            layout.clone(),
            stop.clone(),
            down.clone(),
            retries.clone(),
            ledger.clone(),
        );
        buyers.push(tokio::spawn(async move {
            let mut rng = Rng::new();
            while !stop.load(Ordering::Relaxed) {
                if down.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                let Ok(_permit) = permits.acquire().await else { return };
                let shopper = Shopper {
                    client: &client,
                    base: &base,
                    token: &tokens[buyer],
                    stats: &stats,
                    retries: &retries,
                };
                if !shopper.visit(&showtime, &layout, buyer % 5 == 0, &ledger, &mut rng).await {
                    // Sold out, or everything left is held (by killed requests, until expiry).
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }));
    }

    // The killer.
    let mut rng = Rng::new();
    let mut downtime = Duration::ZERO;
    for kill in 1..=options.kills {
        let gap = options.min_gap_ms
            + rng.below((options.max_gap_ms.saturating_sub(options.min_gap_ms) + 1) as usize) as u64;
        tokio::time::sleep(Duration::from_millis(gap)).await;
        let killed = Instant::now();
        if let Some(command) = &options.database_crash_command {
            // The server stays up; its requests fail (503) until the database is back.
            let status = Command::new("sh").arg("-c").arg(command).status().await?;
            anyhow::ensure!(status.success(), "the database crash command failed ({status})");
        } else {
            down.store(true, Ordering::Relaxed);
            server.kill().await?;
            server.start(&client).await?;
            down.store(false, Ordering::Relaxed);
        }
        downtime += killed.elapsed();
        eprintln!(
            "kill {kill}/{}: back after {} ms; {} purchases acknowledged so far",
            options.kills,
            killed.elapsed().as_millis(),
            stats.acknowledged.lock().unwrap().len()
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for buyer in buyers {
        buyer.await?;
    }

    // Let the last server settle what the kills interrupted, then stop it and check.
    let db = Database::connect(&options.database_url).await?;
    let settle_started = Instant::now();
    loop {
        let open = db
            .count(
                "SELECT (SELECT COUNT(*) FROM payment_attempts WHERE status IN ('started', 'unknown', 'authorized')) \
                 + (SELECT COUNT(*) FROM orders WHERE status = 'pending_payment') \
                 + (SELECT COUNT(*) FROM holds WHERE status = 'active') AS n",
            )
            .await?;
        if open == 0 {
            break;
        }
        anyhow::ensure!(
            settle_started.elapsed() < Duration::from_secs(120),
            "{open} payments, orders or holds still open 120 s after the sale"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let settle_s = settle_started.elapsed().as_secs_f64();
    let acknowledged = stats.acknowledged.lock().unwrap().clone();
    let mut result = verify(&db, &acknowledged, &provider.intents()).await?;
    // Every acknowledged order's request, once more with its key: the same order.
    let ledger = ledger.lock().unwrap().clone();
    let replays = replay(&client, &server.base(), &ledger, options.connections).await;
    if !replays.is_empty() {
        result["ok"] = json!(false);
        if let Some(problems) = result["problems"].as_array_mut() {
            problems.extend(replays.iter().take(20).map(|problem| json!(problem)));
        }
    }
    result["replayed_orders"] = json!(ledger.len() - replays.len());
    result["requests_retried_with_their_key"] = json!(retries.sent.load(Ordering::Relaxed));
    result["purchases_acknowledged_after_a_lost_answer"] = json!(retries.recovered.load(Ordering::Relaxed));
    result["target"] = json!(if options.database_crash_command.is_some() { "database" } else { "server" });
    server.kill().await?;
    result["scenario"] = json!("crash-sale");
    result["kills"] = json!(options.kills);
    result["buyers"] = json!(options.buyers);
    result["connections"] = json!(options.connections);
    result["downtime_s"] = json!((downtime.as_secs_f64() * 10.0).round() / 10.0);
    result["settle_s"] = json!((settle_s * 10.0).round() / 10.0);
    result["statuses"] = json!(*stats.statuses.lock().unwrap());
    db.close().await;
    Ok(result)
}

/// The two columns of a row read with `text_rows(…, 2)`.
fn pair(row: Vec<String>) -> (String, String) {
    let mut row = row.into_iter();
    (row.next().unwrap_or_default(), row.next().unwrap_or_default())
}

/// Reads everything back and checks the promise; `intents` is what the provider knows.
async fn verify(
    db: &Database,
    acknowledged: &[(String, Vec<String>)],
    intents: &[(String, String)],
) -> anyhow::Result<Value> {
    let mut problems: Vec<String> = Vec::new();
    let orders: BTreeMap<String, String> =
        db.text_rows("SELECT id, status FROM orders", 2).await?.into_iter().map(pair).collect();
    let mut items: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut orders_of_ticket: BTreeMap<String, u32> = BTreeMap::new();
    for row in db.text_rows("SELECT order_id, ticket_id FROM order_items WHERE live = 1", 2).await? {
        let (order, ticket) = pair(row);
        *orders_of_ticket.entry(ticket.clone()).or_default() += 1;
        items.entry(order).or_default().insert(ticket);
    }
    let sold: BTreeMap<String, String> = db
        .text_rows("SELECT id, order_id FROM tickets WHERE status = 'sold'", 2)
        .await?
        .into_iter()
        .map(pair)
        .collect();

    // 1. Every acknowledged purchase is there, confirmed, with exactly its tickets, sold to it.
    let mut verified = 0;
    for (order, tickets) in acknowledged {
        let tickets: BTreeSet<String> = tickets.iter().cloned().collect();
        let status = orders.get(order).map(String::as_str);
        let own = items.get(order).cloned().unwrap_or_default();
        let sold_to_it = tickets.iter().all(|t| sold.get(t) == Some(order));
        if status == Some("confirmed") && own == tickets && sold_to_it && !tickets.is_empty() {
            verified += 1;
        } else {
            problems.push(format!(
                "acknowledged order {order} is {status:?} with {} live tickets of {} acknowledged",
                own.len(),
                tickets.len()
            ));
        }
    }
    // 2. No ticket in two live orders; with no hold active any more, no ticket still held.
    let double_sold: Vec<&String> =
        orders_of_ticket.iter().filter(|(_, n)| **n > 1).map(|(t, _)| t).collect();
    if !double_sold.is_empty() {
        problems.push(format!("{} tickets are in two live orders: {double_sold:?}", double_sold.len()));
    }
    let still_held = db.count("SELECT COUNT(*) AS n FROM tickets WHERE status = 'held'").await?;
    if still_held > 0 {
        problems.push(format!("{still_held} tickets are still held though no hold is active"));
    }
    // 3. No confirmed order without tickets; every sold ticket is a confirmed order's.
    let confirmed: Vec<&String> =
        orders.iter().filter(|(_, s)| *s == "confirmed").map(|(id, _)| id).collect();
    let empty = confirmed.iter().filter(|id| items.get(**id).is_none_or(BTreeSet::is_empty)).count();
    if empty > 0 {
        problems.push(format!("{empty} confirmed orders have no tickets"));
    }
    let stray = sold
        .iter()
        .filter(|(ticket, order)| {
            orders.get(*order).map(String::as_str) != Some("confirmed")
                || !items.get(*order).is_some_and(|own| own.contains(*ticket))
        })
        .count();
    if stray > 0 {
        problems.push(format!("{stray} sold tickets are not in a confirmed order"));
    }
    // 4. Payments and orders agree (after reconciliation).
    let attempts: Vec<(String, String, String)> = db
        .text_rows(
            "SELECT a.id, a.status, o.id AS order_id FROM payment_attempts a JOIN orders o ON o.id = a.order_id",
            3,
        )
        .await?
        .into_iter()
        .map(|row| {
            let mut row = row.into_iter();
            (row.next().unwrap_or_default(), row.next().unwrap_or_default(), row.next().unwrap_or_default())
        })
        .collect();
    let mut attempt_statuses: BTreeMap<String, u64> = BTreeMap::new();
    let mut captured_orders = BTreeSet::new();
    let attempt_by_id: BTreeMap<&str, (&str, &str)> =
        attempts.iter().map(|(id, status, order)| (id.as_str(), (status.as_str(), order.as_str()))).collect();
    for (_, status, order) in &attempts {
        *attempt_statuses.entry(status.clone()).or_default() += 1;
        if status == "captured" {
            captured_orders.insert(order.as_str());
        }
        if matches!(status.as_str(), "started" | "unknown" | "authorized") {
            problems.push(format!("an attempt of order {order} is still {status}"));
        }
    }
    let pending = orders.values().filter(|s| *s == "pending_payment").count();
    if pending > 0 {
        problems.push(format!("{pending} orders still wait for payment"));
    }
    let uncaptured = confirmed.iter().filter(|id| !captured_orders.contains(id.as_str())).count();
    if uncaptured > 0 {
        problems.push(format!("{uncaptured} confirmed orders have no captured payment"));
    }
    let mut intent_statuses: BTreeMap<String, u64> = BTreeMap::new();
    for (attempt, status) in intents {
        *intent_statuses.entry(status.clone()).or_default() += 1;
        let ours = attempt_by_id.get(attempt.as_str());
        let agrees = match status.as_str() {
            "succeeded" => ours.is_some_and(|(s, order)| {
                *s == "captured" && orders.get(*order).map(String::as_str) == Some("confirmed")
            }),
            "canceled" => ours.is_none_or(|(s, _)| matches!(*s, "voided" | "failed")),
            // Money still reserved at the provider is money nobody will ever take or give back.
            _ => false,
        };
        if !agrees {
            problems.push(format!(
                "the provider's payment of attempt {attempt} is {status}, Marquee says {ours:?}"
            ));
        }
    }
    problems.truncate(50);
    Ok(json!({
        "ok": problems.is_empty(),
        "acknowledged_purchases": acknowledged.len(),
        "verified": verified,
        "confirmed_orders": confirmed.len(),
        "confirmed_but_never_acknowledged": confirmed.len().saturating_sub(verified),
        "tickets_sold": sold.len(),
        "orders_by_status": orders.values().fold(BTreeMap::<&str, u64>::new(), |mut counts, s| {
            *counts.entry(s.as_str()).or_default() += 1;
            counts
        }),
        "attempts_by_status": attempt_statuses,
        "provider_payments_by_status": intent_statuses,
        "problems": problems,
    }))
}

/// How long a buyer keeps sending a request whose answer was lost before giving up on it.
const RETRY_FOR: Duration = Duration::from_secs(90);

/// Requests sent again with their key because the answer was lost.
#[derive(Default)]
struct Retries {
    sent: AtomicU64,
    /// Purchases acknowledged only by a retry.
    recovered: AtomicU64,
}

/// An acknowledged order, with the request that bought it.
#[derive(Clone)]
struct Acknowledged {
    token: String,
    key: String,
    body: Value,
    order: String,
}

/// One buyer, as a client that retries with `Idempotency-Key`s.
struct Shopper<'a> {
    client: &'a reqwest::Client,
    base: &'a str,
    token: &'a str,
    stats: &'a Stats,
    retries: &'a Retries,
}

impl Shopper<'_> {
    /// Looks at the availability, holds, pays; false when nothing is left to buy.
    async fn visit(
        &self,
        showtime: &str,
        layout: &[SeatTicket],
        ga: bool,
        ledger: &Mutex<Vec<Acknowledged>>,
        rng: &mut Rng,
    ) -> bool {
        let availability = self.client.get(format!("{}/api/v1/showtimes/{showtime}/availability", self.base));
        let Some(map) = async { availability.send().await.ok()?.json::<Availability>().await.ok() }.await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            return true;
        };
        let statuses = map.statuses.into_bytes();
        let Some(free) = FreePlaces::of(&statuses, layout) else { return false };
        let want = 1 + rng.below(4);
        for _attempt in 0..3 {
            let body = free.hold_body(showtime, want, ga, rng);
            let Some((status, hold, _)) = self.definite("holds", &body, &new_key(rng)).await else {
                return true;
            };
            self.stats.count("hold", status);
            match status {
                201 => {}
                409 => continue,
                _ => return true,
            }
            let body = json!({"hold_id": hold["id"], "payment_token": "tok_visa"});
            let key = new_key(rng);
            let Some((status, purchase, retried)) = self.definite("orders", &body, &key).await else {
                return true;
            };
            self.stats.count("order", status);
            if status == 201 {
                let order = purchase["order"]["id"].as_str().unwrap_or_default().to_owned();
                let tickets = purchase["tickets"].as_array().map(Vec::as_slice).unwrap_or_default();
                self.stats.record_purchase(
                    order.clone(),
                    tickets.iter().filter_map(|t| t["id"].as_str().map(str::to_owned)).collect(),
                );
                if retried {
                    self.retries.recovered.fetch_add(1, Ordering::Relaxed);
                }
                ledger.lock().unwrap().push(Acknowledged { token: self.token.to_owned(), key, body, order });
            }
            return true;
        }
        true
    }

    /// Sends `POST /api/v1/{what}` with the key until the answer is definite: not lost in a
    /// dropped connection, not a 5xx, not "in progress". The status, the body, and whether it
    /// took a retry; `None` if no definite answer came within [`RETRY_FOR`].
    async fn definite(&self, what: &str, body: &Value, key: &str) -> Option<(u16, Value, bool)> {
        let started = Instant::now();
        let mut retried = false;
        while started.elapsed() < RETRY_FOR {
            let sent = self
                .client
                .post(format!("{}/api/v1/{what}", self.base))
                .bearer_auth(self.token)
                .header("Idempotency-Key", key)
                .json(body)
                .send()
                .await;
            if let Ok(response) = sent {
                let status = response.status().as_u16();
                let answer = response.json::<Value>().await.unwrap_or_default();
                let in_progress = status == 409 && answer["code"] == "idempotency_in_progress";
                if status < 500 && !in_progress && answer != Value::Null {
                    return Some((status, answer, retried));
                }
            }
            retried = true;
            self.retries.sent.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    }
}

fn new_key(rng: &mut Rng) -> String {
    format!("crash-{:016x}{:016x}", rng.below(usize::MAX) as u64, rng.below(usize::MAX) as u64)
}

/// Sends every acknowledged order's request again with its key; the problems found (an answer
/// other than the same order).
async fn replay(
    client: &reqwest::Client,
    base: &str,
    ledger: &[Acknowledged],
    connections: usize,
) -> Vec<String> {
    let permits = Arc::new(Semaphore::new(connections));
    let mut checks = Vec::new();
    for entry in ledger.iter().cloned() {
        let (client, base, permits) = (client.clone(), base.to_owned(), permits.clone());
        checks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await.ok()?;
            let sent = client
                .post(format!("{base}/api/v1/orders"))
                .bearer_auth(&entry.token)
                .header("Idempotency-Key", &entry.key)
                .json(&entry.body)
                .send()
                .await;
            let answer = match sent {
                Ok(response) => {
                    (response.status().as_u16(), response.json::<Value>().await.unwrap_or_default())
                }
                Err(error) => return Some(format!("replay of order {}: {error}", entry.order)),
            };
            (answer.0 != 201 || answer.1["order"]["id"] != entry.order.as_str()).then(|| {
                format!("replay of order {} answered {} {}", entry.order, answer.0, answer.1["order"]["id"])
            })
        }));
    }
    let mut problems = Vec::new();
    for check in checks {
        match check.await {
            Ok(Some(problem)) => problems.push(problem),
            Ok(None) => {}
            Err(error) => problems.push(format!("a replay failed: {error}")),
        }
    }
    problems
}
