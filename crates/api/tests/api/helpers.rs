//! A real Marquee server on a random port, on a fresh database, with a manual clock and the
//! test payment gateway, plus typed helpers to talk HTTP to it.

use marquee_api::{ApiConfig, AppState};
use marquee_domain::catalog::{
    Event, EventKind, Hall, HallLayout, RowLayout, SectionKind, SectionLayout, Showtime, Venue,
};
use marquee_domain::clock::ManualClock;
use marquee_domain::ids::{EventId, HallId, ShowtimeId, VenueId};
use marquee_domain::payment::TestGateway;
use marquee_store::testing::TestDatabase;
use marquee_store::{Backend, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// Where the manual clock starts.
pub const START: OffsetDateTime = datetime!(2030-05-01 10:00 UTC);

/// Runs each listed test once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                if let Some(app) = $crate::helpers::TestApp::spawn(marquee_store::Backend::Sqlite).await {
                    super::$name(&app).await;
                    app.stop().await;
                }
            }) *
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                if let Some(app) = $crate::helpers::TestApp::spawn(marquee_store::Backend::Postgres).await {
                    super::$name(&app).await;
                    app.stop().await;
                }
            }) *
        }
    };
}

/// Runs each listed test once per backend, each with its own app configuration.
#[macro_export]
macro_rules! on_both_backends_with {
    ($($name:ident => $config:expr),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                if let Some(app) = $crate::helpers::TestApp::spawn_with(marquee_store::Backend::Sqlite, $config).await {
                    super::$name(&app).await;
                    app.stop().await;
                }
            }) *
            use super::*;
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                if let Some(app) = $crate::helpers::TestApp::spawn_with(marquee_store::Backend::Postgres, $config).await {
                    super::$name(&app).await;
                    app.stop().await;
                }
            }) *
            use super::*;
        }
    };
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub gateway: Arc<TestGateway>,
    pub store: Arc<dyn Store>,
    /// Makes the purchase path "crash" after a chosen step.
    pub faults: Arc<CrashAt>,
    /// The server's booking service, to run reconciliation passes.
    pub booking: marquee_booking::Booking,
    database: TestDatabase,
    server: tokio::task::JoinHandle<()>,
    users: AtomicU64,
}

/// Fault injection: the purchase path stops dead after the chosen step, as if the process
/// had been killed there.
#[derive(Debug, Default)]
pub struct CrashAt(std::sync::Mutex<Option<marquee_booking::Step>>);

impl CrashAt {
    pub fn set(&self, step: Option<marquee_booking::Step>) {
        *self.0.lock().unwrap() = step;
    }
}

impl marquee_booking::Faults for CrashAt {
    fn crash_at(&self, step: marquee_booking::Step) -> bool {
        *self.0.lock().unwrap() == Some(step)
    }
}

/// A logged-in user of the test app.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub email: String,
    pub token: String,
}

/// A showtime of the test catalog: a 50-seat "Stalls" (rows A–E of 10; row E premium) and a
/// 30-place GA "Floor", on sale from an hour before [`START`].
pub struct TestShowtime {
    pub event_id: EventId,
    pub id: ShowtimeId,
}

impl TestApp {
    /// The app with test limits: no write rate limits (race tests send hundreds of writes
    /// from one address), everything else as in production.
    pub fn test_config() -> ApiConfig {
        ApiConfig { writes_per_minute_per_ip: None, writes_per_minute_per_user: None, ..ApiConfig::default() }
    }

    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, Self::test_config()).await
    }

    pub async fn spawn_with(backend: Backend, config: ApiConfig) -> Option<Self> {
        // reqwest is built with rustls and no default crypto provider (see marquee-payments).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let database = TestDatabase::new(backend).await?;
        let store = database.store().await;
        let clock = Arc::new(ManualClock::new(START));
        let gateway = Arc::new(TestGateway::new());
        let mut state =
            AppState::new(store.clone(), gateway.clone(), clock.clone(), config).await.expect("wire the app");
        let faults = Arc::new(CrashAt::default());
        state.booking = state.booking.with_faults(faults.clone());
        let booking = state.booking.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a port");
        let address = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            marquee_api::serve(listener, state, std::future::pending()).await.expect("serve");
        });
        let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
        Some(Self {
            address,
            client,
            clock,
            gateway,
            store,
            database,
            server,
            users: AtomicU64::new(0),
            faults,
            booking,
        })
    }

    pub async fn stop(self) {
        self.server.abort();
        self.store.close().await;
        self.database.drop_database().await;
    }

    /// Takes the database away from the running server: PostgreSQL drops it (ending the
    /// server's connections, and no new one can be made); SQLite, whose file cannot be taken
    /// from open connections, closes the server's pools.
    pub async fn make_database_unreachable(&self) {
        match self.database.backend {
            Backend::Sqlite => self.store.close().await,
            Backend::Postgres => self.database.drop_database_now().await,
        }
    }

    /// Runs SQL on the test database over a connection of its own (to break the schema).
    pub async fn execute_sql(&self, sql: &'static str) {
        self.database.execute_sql(sql).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Creates the test catalog's venue, hall, movie and showtime.
    pub async fn showtime(&self, title: &str) -> TestShowtime {
        let venue = Venue {
            id: VenueId::generate(),
            name: "Test Palace".into(),
            city: "Berlin".into(),
            time_zone: "Europe/Berlin".into(),
        };
        self.store.create_venue(&venue).await.unwrap();
        let rows = ["A", "B", "C", "D", "E"]
            .into_iter()
            .map(|label| RowLayout {
                label: label.into(),
                category: if label == "E" { "premium" } else { "standard" }.into(),
                seats: 10,
                first_number: 1,
                gaps_after: vec![5],
                overrides: vec![],
            })
            .collect();
        let layout = HallLayout {
            sections: vec![
                SectionLayout { name: "Stalls".into(), kind: SectionKind::Seated { rows } },
                SectionLayout {
                    name: "Floor".into(),
                    kind: SectionKind::GeneralAdmission { capacity: 30, category: "floor".into() },
                },
            ],
        };
        let categories = layout.validate().unwrap();
        let hall = Hall { id: HallId::generate(), venue_id: venue.id, name: "Hall 1".into(), layout };
        self.store.create_hall(&hall).await.unwrap();
        let event = Event {
            id: EventId::generate(),
            kind: EventKind::Movie,
            title: title.into(),
            synopsis: "A test film.".into(),
            poster_url: None,
            genres: vec!["drama".into()],
            runtime_minutes: Some(100),
            rating: Some("PG".into()),
            artist: None,
            published: true,
            created_at: START,
        };
        self.store.create_event(&event).await.unwrap();
        let showtime = Showtime {
            id: ShowtimeId::generate(),
            event_id: event.id.clone(),
            hall_id: hall.id,
            starts_at: START + Duration::days(1),
            on_sale_from: START - Duration::hours(1),
            on_sale_until: START + Duration::days(1),
            currency: "EUR".into(),
            prices: [("standard", 1200), ("premium", 1800), ("floor", 900)]
                .into_iter()
                .map(|(c, p)| (c.into(), p))
                .collect(),
        };
        showtime.validate(&categories).unwrap();
        self.store.create_showtime(&showtime).await.unwrap();
        TestShowtime { event_id: event.id, id: showtime.id }
    }

    /// Registers a user and makes them an admin (as `marquee admin create` would).
    pub async fn admin(&self) -> TestUser {
        let user = self.user().await;
        let email = marquee_domain::account::Email::parse(&user.email).unwrap();
        let (account, _) = self.store.user_credentials(&email).await.unwrap().unwrap();
        marquee_store::AdminStore::set_user_role(
            self.store.as_ref(),
            &account.id,
            marquee_domain::account::Role::Admin,
        )
        .await
        .unwrap();
        user
    }

    /// Sends any request as `user` (or anonymously) with an optional JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        user: Option<&TestUser>,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(user) = user {
            request = request.bearer_auth(&user.token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }

    /// Registers a new user and returns their token.
    pub async fn user(&self) -> TestUser {
        let n = self.users.fetch_add(1, Ordering::Relaxed);
        let email = format!("user{n}@example.com");
        let response = self
            .client
            .post(self.url("/api/v1/auth/register"))
            .json(&json!({ "email": email, "password": "correct horse battery" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        TestUser { email, token: body["token"].as_str().unwrap().to_owned() }
    }

    /// Ids of the showtime's seated tickets, in seat-map order.
    pub async fn seat_ids(&self, showtime: &TestShowtime) -> Vec<String> {
        let map = self.get_json(&format!("/api/v1/showtimes/{}/seats", showtime.id)).await;
        map["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| !t["row"].is_null())
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    pub async fn get(&self, user: Option<&TestUser>, path: &str) -> (StatusCode, Value) {
        let mut request = self.client.get(self.url(path));
        if let Some(user) = user {
            request = request.bearer_auth(&user.token);
        }
        read(request.send().await.unwrap()).await
    }

    pub async fn delete(&self, user: &TestUser, path: &str) -> (StatusCode, Value) {
        read(self.client.delete(self.url(path)).bearer_auth(&user.token).send().await.unwrap()).await
    }

    /// POSTs JSON as `user`, with an optional Idempotency-Key.
    pub async fn post(
        &self,
        user: Option<&TestUser>,
        path: &str,
        body: Value,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.post(self.url(path)).json(&body);
        if let Some(user) = user {
            request = request.bearer_auth(&user.token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        read(request.send().await.unwrap()).await
    }

    pub async fn hold(
        &self,
        user: &TestUser,
        showtime: &TestShowtime,
        ticket_ids: &[String],
    ) -> (StatusCode, Value) {
        self.post(
            Some(user),
            "/api/v1/holds",
            json!({ "showtime_id": showtime.id, "ticket_ids": ticket_ids }),
            None,
        )
        .await
    }

    pub async fn pay(
        &self,
        user: &TestUser,
        hold_id: &str,
        token: &str,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        self.post(Some(user), "/api/v1/orders", json!({ "hold_id": hold_id, "payment_token": token }), key)
            .await
    }
}

/// Status and body (JSON, or `null` for an empty body); problem bodies must carry their media type.
pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = response.text().await.unwrap();
    if status.is_client_error() || status.is_server_error() {
        assert_eq!(content_type, "application/problem+json", "{status} must be a problem document: {text}");
    }
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// One Server-Sent Event.
#[derive(Clone, Debug, Default)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// A client of an event stream, reading one event at a time.
pub struct SseStream {
    response: reqwest::Response,
    buffer: String,
}

impl SseStream {
    /// Opens `path`, resuming after `last_event_id` if given.
    pub async fn open(app: &TestApp, path: &str, last_event_id: Option<&str>) -> Self {
        let mut request = app.client.get(app.url(path)).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self { response, buffer: String::new() }
    }

    /// The next event (comments and keep-alives skipped); panics after 10 s without one.
    pub async fn next(&mut self) -> SseEvent {
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let mut event = SseEvent { event: "message".into(), ..SseEvent::default() };
                    let mut data = Vec::new();
                    for line in block.lines() {
                        if let Some((field, value)) = line.split_once(':') {
                            let value = value.strip_prefix(' ').unwrap_or(value);
                            match field {
                                "event" => event.event = value.to_owned(),
                                "id" => event.id = Some(value.to_owned()),
                                "data" => data.push(value.to_owned()),
                                _ => {}
                            }
                        }
                    }
                    if data.is_empty() {
                        continue;
                    }
                    event.data = data.join("\n");
                    return event;
                }
                let chunk = self.response.chunk().await.unwrap().expect("the stream ended");
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("no event within 10 s")
    }

    /// The next event named `name`, skipping others.
    pub async fn next_named(&mut self, name: &str) -> SseEvent {
        loop {
            let event = self.next().await;
            if event.event == name {
                return event;
            }
        }
    }
}
