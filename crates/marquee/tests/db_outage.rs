//! A PostgreSQL outage under load. The server reaches its database through a TCP proxy that the
//! test controls; "the database restarts" is the proxy cutting every connection and refusing
//! new ones for a few seconds. Meanwhile buyers keep holding and paying. Checked:
//! - during the outage every request is answered 503 (`database_unavailable`) within the
//!   pool's wait — never a 500, never a hang — and readiness says not ready (liveness stays up);
//! - after it the service recovers by itself (no restart), and sells again;
//! - every purchase acknowledged before, during or after the outage is a confirmed order with
//!   its tickets, and no ticket was sold twice.
//!
//! The real PostgreSQL server is never touched, so the test is safe next to others.

use marquee_domain::ids::OrderId;
use marquee_domain::inventory::OrderStatus;
use marquee_store::Backend;
use marquee_store::testing::TestDatabase;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const BINARY: &str = env!("CARGO_BIN_EXE_marquee");
/// The pool's wait for a connection (`MARQUEE_DATABASE_ACQUIRE_TIMEOUT_SECS`).
const ACQUIRE_TIMEOUT_SECS: u64 = 2;

/// A TCP proxy in front of PostgreSQL that can play a database restart.
struct Proxy {
    address: String,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (accepting, all) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    drop(client); // refused: closed at once, as a server that is not up
                    continue;
                }
                let upstream = upstream.clone();
                all.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Self { address, up, links }
    }

    /// The database goes away: every open connection is cut, new ones are refused.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An acknowledged purchase: order id and ticket ids.
type Purchase = (String, Vec<String>);

/// One answered request: when it was sent and answered (since the start), and its status.
#[derive(Clone, Copy, Debug)]
struct Answer {
    sent: Duration,
    took: Duration,
    status: u16,
}

async fn call(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(error) => panic!("{path}: no answer at all ({error})"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_gives_fast_503s_and_the_service_recovers_by_itself() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(database) = TestDatabase::new(Backend::Postgres).await else { return };
    let store = database.store().await;
    // postgres://user@host:port/name → the same database through the proxy.
    let (prefix, rest) = database.url.split_once('@').unwrap();
    let (upstream, name) = rest.split_once('/').unwrap();
    let proxy = Proxy::start(upstream.to_owned()).await;
    let url = format!("{prefix}@{}/{name}", proxy.address);

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let node = Node(
        Command::new(BINARY)
            .env("MARQUEE_DATABASE_URL", &url)
            .env("MARQUEE_LISTEN", format!("127.0.0.1:{port}"))
            .env("MARQUEE_DATABASE_ACQUIRE_TIMEOUT_SECS", ACQUIRE_TIMEOUT_SECS.to_string())
            .env("MARQUEE_WRITES_PER_MINUTE_PER_IP", "0")
            .env("MARQUEE_WRITES_PER_MINUTE_PER_USER", "0")
            .env("MARQUEE_LOG", "warn")
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the node never came up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The demo catalog's first event; its first showtime's seats.
    let (_, events) = call(&client, &base, reqwest::Method::GET, "/api/v1/events?limit=1", None, None).await;
    let event = events["items"][0]["id"].as_str().unwrap().to_owned();
    let (_, event) =
        call(&client, &base, reqwest::Method::GET, &format!("/api/v1/events/{event}"), None, None).await;
    let showtime = event["showtimes"][0]["id"].as_str().unwrap().to_owned();
    let (_, map) = call(
        &client,
        &base,
        reqwest::Method::GET,
        &format!("/api/v1/showtimes/{showtime}/seats"),
        None,
        None,
    )
    .await;
    let seats: Vec<String> =
        map["tickets"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect();
    assert!(seats.len() >= 40);

    // Eight buyers: hold one seat at a time and pay, until told to stop.
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let acknowledged: Arc<Mutex<Vec<Purchase>>> = Arc::default();
    let seats = Arc::new(seats);
    let mut buyers = Vec::new();
    for b in 0..8usize {
        let body = json!({ "email": format!("buyer{b}@example.com"), "password": "correct horse battery" });
        let (status, user) =
            call(&client, &base, reqwest::Method::POST, "/api/v1/auth/register", None, Some(body)).await;
        assert_eq!(status, 201, "{user}");
        let token = user["token"].as_str().unwrap().to_owned();
        let (client, base, showtime, seats, stop, answers, acknowledged) = (
            client.clone(),
            base.clone(),
            showtime.clone(),
            seats.clone(),
            stop.clone(),
            answers.clone(),
            acknowledged.clone(),
        );
        buyers.push(tokio::spawn(async move {
            let mut n = b;
            while !stop.load(Ordering::SeqCst) {
                n += 8;
                let timed = |status: u16, sent: Instant| Answer {
                    sent: sent.duration_since(started),
                    took: sent.elapsed(),
                    status,
                };
                let body = json!({"showtime_id": showtime, "ticket_ids": [seats[n % seats.len()]]});
                let sent = Instant::now();
                let (status, hold) =
                    call(&client, &base, reqwest::Method::POST, "/api/v1/holds", Some(&token), Some(body))
                        .await;
                answers.lock().unwrap().push(timed(status, sent));
                if status != 201 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                let body = json!({"hold_id": hold["id"], "payment_token": "tok_visa"});
                let sent = Instant::now();
                let (status, order) =
                    call(&client, &base, reqwest::Method::POST, "/api/v1/orders", Some(&token), Some(body))
                        .await;
                answers.lock().unwrap().push(timed(status, sent));
                if status == 201 {
                    let tickets = order["tickets"].as_array().unwrap();
                    acknowledged.lock().unwrap().push((
                        order["order"]["id"].as_str().unwrap().to_owned(),
                        tickets.iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect(),
                    ));
                }
            }
        }));
    }

    // Two seconds of sales, then four without the database.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sold_before = acknowledged.lock().unwrap().len();
    assert!(sold_before > 0, "nothing sold before the outage");
    let cut_at = started.elapsed();
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "readiness reports the database");
    let alive = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), 200, "liveness does not: the process is fine");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let restored_at = started.elapsed();
    proxy.restore();

    // Back by itself: healthy, and selling again.
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/readyz")).send().await.unwrap().status() != 200 {
        assert!(Instant::now() < deadline, "not healthy 20 s after the database came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sold_at_restore = acknowledged.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(20);
    while acknowledged.lock().unwrap().len() <= sold_at_restore {
        assert!(Instant::now() < deadline, "no sale within 20 s after the database came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for buyer in buyers {
        buyer.await.unwrap();
    }

    let answers = answers.lock().unwrap().clone();
    let limit = Duration::from_secs(ACQUIRE_TIMEOUT_SECS) + Duration::from_millis(1500);
    assert!(answers.iter().all(|a| a.status != 500), "a 500: {answers:?}");
    let during: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.sent > cut_at + Duration::from_millis(200) && a.sent + a.took < restored_at)
        .collect();
    assert!(during.len() >= 8, "too few requests during the outage: {}", during.len());
    assert!(during.iter().all(|a| a.status == 503), "during the outage: {during:?}");
    let slowest = answers.iter().map(|a| a.took).max().unwrap();
    assert!(slowest < limit, "a request hung for {slowest:?}");

    // Every acknowledged purchase is a confirmed order with its tickets; none sold twice.
    let acknowledged = acknowledged.lock().unwrap().clone();
    let mut all_tickets = BTreeSet::new();
    for (order, tickets) in &acknowledged {
        let stored =
            store.get_order(&OrderId::from_raw(order.clone())).await.unwrap().expect("an acknowledged order");
        assert_eq!(stored.status, OrderStatus::Confirmed, "order {order}");
        let stored: BTreeSet<String> = stored.tickets.iter().map(|t| t.id.as_str().to_owned()).collect();
        assert_eq!(&stored, &tickets.iter().cloned().collect::<BTreeSet<_>>());
        for ticket in tickets {
            assert!(all_tickets.insert(ticket.clone()), "ticket {ticket} acknowledged twice");
        }
    }
    eprintln!(
        "outage test: {} answers, {} during the outage (all 503, slowest {slowest:?}), {} purchases acknowledged",
        answers.len(),
        during.len(),
        acknowledged.len()
    );
    drop(node);
    store.close().await;
    database.drop_database().await;
}
