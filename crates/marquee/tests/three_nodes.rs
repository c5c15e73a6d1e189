//! Three `marquee` processes on one PostgreSQL database, driven round-robin: a seat race with
//! no oversell, every node's event stream showing every sale (wherever it was made), and a
//! waiting room that admits in one order whichever node is asked.

use marquee_store::Backend;
use marquee_store::testing::TestDatabase;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_marquee");

/// Kills the node when the test ends, however it ends.
struct Node {
    process: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_node(database_url: &str, client: &reqwest::Client) -> Node {
    let port = free_port();
    let process = Command::new(BINARY)
        .env("MARQUEE_DATABASE_URL", database_url)
        .env("MARQUEE_LISTEN", format!("127.0.0.1:{port}"))
        .env("MARQUEE_DEMO_IF_EMPTY", "false")
        .env("MARQUEE_WRITES_PER_MINUTE_PER_IP", "0")
        .env("MARQUEE_WRITES_PER_MINUTE_PER_USER", "0")
        .env("MARQUEE_DATABASE_CONNECTIONS", "8")
        .env("MARQUEE_LOG", "warn")
        .spawn()
        .unwrap();
    let node = Node { process, base: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(format!("{}/healthz", node.base)).send().await.is_err() {
        assert!(Instant::now() < deadline, "node {} never came up", node.base);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node
}

struct Cluster {
    nodes: Vec<Node>,
    client: reqwest::Client,
}

impl Cluster {
    fn node(&self, n: usize) -> &str {
        &self.nodes[n % self.nodes.len()].base
    }

    async fn call(
        &self,
        n: usize,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.node(n)));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// POSTs as the admin through node 0; must be 201.
    async fn create(&self, admin: &str, path: &str, body: Value) -> Value {
        let (status, created) = self.call(0, reqwest::Method::POST, path, Some(admin), Some(body)).await;
        assert_eq!(status, 201, "POST {path}: {created}");
        created
    }

    async fn register(&self, n: usize, email: &str) -> String {
        let body = json!({ "email": email, "password": "correct horse battery" });
        let (status, user) =
            self.call(n, reqwest::Method::POST, "/api/v1/auth/register", None, Some(body)).await;
        assert_eq!(status, 201, "{user}");
        user["token"].as_str().unwrap().to_owned()
    }
}

/// Collects the `sold` changes one node's stream shows for a showtime.
fn watch_sales(client: reqwest::Client, url: String, sold: Arc<Mutex<BTreeSet<String>>>) {
    tokio::spawn(async move {
        let mut response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let mut buffer = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let data: String = block.lines().filter_map(|line| line.strip_prefix("data: ")).collect();
                if block.contains("event: inventory")
                    && let Ok(change) = serde_json::from_str::<Value>(&data)
                    && change["change"] == "sold"
                {
                    let ids = change["ticket_ids"].as_array().unwrap().iter();
                    sold.lock().unwrap().extend(ids.map(|id| id.as_str().unwrap().to_owned()));
                }
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_on_one_database_sell_each_seat_once_stream_every_sale_and_queue_in_one_order() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(database) = TestDatabase::new(Backend::Postgres).await else { return };
    let store = database.store().await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(start_node(&database.url, &client).await);
    }
    let cluster = Cluster { nodes, client: client.clone() };

    // The box office, through node 0: a 40-seat hall, two showtimes.
    let admin = cluster.register(0, "boss@example.com").await;
    let email = marquee_domain::account::Email::parse("boss@example.com").unwrap();
    let (account, _) = store.user_credentials(&email).await.unwrap().unwrap();
    store.set_user_role(&account.id, marquee_domain::account::Role::Admin).await.unwrap();
    let post = reqwest::Method::POST;
    let venue = json!({"name": "Triple", "city": "Graz", "time_zone": "Europe/Vienna"});
    let venue = cluster.create(&admin, "/api/v1/admin/venues", venue).await;
    let layout = json!({"sections": [{"name": "Stalls", "kind": "seated", "rows": [
        {"label": "A", "category": "standard", "seats": 20}, {"label": "B", "category": "standard", "seats": 20}]}]});
    let halls = format!("/api/v1/admin/venues/{}/halls", venue["id"].as_str().unwrap());
    let hall = cluster.create(&admin, &halls, json!({"name": "One", "layout": layout})).await;
    let event = json!({"kind": "concert", "title": "Three Nodes", "artist": "The Replicas", "synopsis": "Loud, thrice.",
        "genres": ["rock"], "runtime_minutes": 120});
    let event = cluster.create(&admin, "/api/v1/admin/events", event).await;
    let starts = (time::OffsetDateTime::now_utc() + time::Duration::days(2))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let showtime = json!({"event_id": event["id"], "hall_id": hall["id"], "starts_at": starts,
        "currency": "EUR", "prices": {"standard": 2500}});
    let race = cluster.create(&admin, "/api/v1/admin/showtimes", showtime.clone()).await;
    let race = race["id"].as_str().unwrap().to_owned();
    let queued = cluster.create(&admin, "/api/v1/admin/showtimes", showtime).await;
    let queued = queued["id"].as_str().unwrap().to_owned();

    // Every node streams the race showtime.
    let watched: Vec<Arc<Mutex<BTreeSet<String>>>> = (0..3).map(|_| Arc::default()).collect();
    for (n, sold) in watched.iter().enumerate() {
        watch_sales(
            client.clone(),
            format!("{}/api/v1/showtimes/{race}/stream", cluster.node(n)),
            sold.clone(),
        );
    }
    let (_, map) =
        cluster.call(1, reqwest::Method::GET, &format!("/api/v1/showtimes/{race}/seats"), None, None).await;
    let seats: Vec<String> =
        map["tickets"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(seats.len(), 40);

    // 60 buyers, each request to the next node: hold two seats (retrying on conflict), pay.
    let bought: Arc<Mutex<Vec<String>>> = Arc::default();
    let cluster = Arc::new(cluster);
    let mut buyers = Vec::new();
    for b in 0..60usize {
        let (cluster, seats, race, bought) = (cluster.clone(), seats.clone(), race.clone(), bought.clone());
        buyers.push(tokio::spawn(async move {
            let token = cluster.register(b, &format!("buyer{b}@example.com")).await;
            for attempt in 0..6usize {
                let first = (b * 7 + attempt * 13) % seats.len();
                let pair = json!([seats[first], seats[(first + 1) % seats.len()]]);
                let hold_body = json!({"showtime_id": race, "ticket_ids": pair});
                let (status, hold) = cluster
                    .call(
                        b + attempt + 1,
                        reqwest::Method::POST,
                        "/api/v1/holds",
                        Some(&token),
                        Some(hold_body),
                    )
                    .await;
                if status == 409 {
                    continue;
                }
                assert_eq!(status, 201, "{hold}");
                let pay = json!({"hold_id": hold["id"], "payment_token": "tok_visa"});
                let (status, order) = cluster
                    .call(b + attempt + 2, reqwest::Method::POST, "/api/v1/orders", Some(&token), Some(pay))
                    .await;
                assert_eq!(status, 201, "{order}");
                let tickets =
                    order["tickets"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned());
                bought.lock().unwrap().extend(tickets);
                return;
            }
        }));
    }
    for buyer in buyers {
        buyer.await.unwrap();
    }
    let bought = bought.lock().unwrap().clone();
    let unique: BTreeSet<String> = bought.iter().cloned().collect();
    assert_eq!(unique.len(), bought.len(), "a seat was sold twice");
    assert!(!bought.is_empty());
    for n in 0..3 {
        let (_, view) = cluster
            .call(n, reqwest::Method::GET, &format!("/api/v1/showtimes/{race}/availability"), None, None)
            .await;
        assert_eq!(view["sold"].as_u64(), Some(bought.len() as u64), "node {n} agrees on what was sold");
    }
    // Every node's stream showed every sale, whichever node made it.
    let deadline = Instant::now() + Duration::from_secs(10);
    for (n, sold) in watched.iter().enumerate() {
        while *sold.lock().unwrap() != unique {
            assert!(
                Instant::now() < deadline,
                "node {n}'s stream missed sales: saw {} of {}",
                sold.lock().unwrap().len(),
                unique.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // The waiting room: 30 fans join through all three nodes before it opens; admission (10
    // a second) follows one order, the same whichever node is asked. The fans register first:
    // password hashing on a busy machine must not eat the 3 s before the opening.
    let mut fans = Vec::new();
    for f in 0..30usize {
        fans.push(cluster.register(f, &format!("fan{f}@example.com")).await);
    }
    let opens = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let room = json!({"opens_at": opens.format(&time::format_description::well_known::Rfc3339).unwrap(), "admit_per_minute": 600, "admission_minutes": 5});
    let (status, body) = cluster
        .call(
            2,
            reqwest::Method::PUT,
            &format!("/api/v1/admin/showtimes/{queued}/waiting-room"),
            Some(&admin),
            Some(room),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for (f, token) in fans.iter().enumerate() {
        let (status, place) = cluster
            .call(f, post.clone(), &format!("/api/v1/showtimes/{queued}/queue"), Some(token), None)
            .await;
        assert_eq!((status, place["status"].as_str()), (200, Some("lobby")), "{place}");
    }
    let queue_path = format!("/api/v1/showtimes/{queued}/queue");
    // Asked in turn, one after another: once any node has shown place p admitted, no node may
    // show an earlier place still waiting, and every node gives each fan the same place.
    let mut places: BTreeMap<usize, i64> = BTreeMap::new();
    let mut admitted: BTreeSet<usize> = BTreeSet::new();
    let mut furthest_admitted = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut call = 0;
    while admitted.len() < fans.len() {
        assert!(Instant::now() < deadline, "the queue stalled at {} admitted", admitted.len());
        for (f, token) in fans.iter().enumerate() {
            call += 1;
            let (status, view) =
                cluster.call(call, reqwest::Method::GET, &queue_path, Some(token), None).await;
            assert_eq!(status, 200, "{view}");
            if view["status"] == "lobby" {
                continue;
            }
            let place = view["place"].as_i64().unwrap();
            assert_eq!(*places.entry(f).or_insert(place), place, "fan {f} moved in the queue");
            if view["status"] == "admitted" {
                furthest_admitted = furthest_admitted.max(place);
                admitted.insert(f);
            } else {
                assert!(
                    place > furthest_admitted,
                    "place {place} waits after place {furthest_admitted} was admitted"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let order: BTreeSet<i64> = places.values().copied().collect();
    assert_eq!(order, (1..=30).collect(), "one order across the nodes");
    drop(cluster);
    store.close().await;
    database.drop_database().await;
}
