//! Marquee's HTTP API.
//!
//! # Layout
//! - [`app`]: the router with every route, its middleware, and the OpenAPI document.
//! - [`routes`]: thin handlers, one module per area (seed API, catalog, inventory, accounts).
//! - The booking service (holds, purchases, refunds, reconciliation) is the crate below this
//!   one, [`marquee_booking`]: handlers call it; [`Caches`] hear its inventory changes.
//! - [`auth`], [`idempotency`], [`security`], [`audit`]: cross-cutting request handling
//!   (authentication and roles, safe retries, rate limits and throttling, the audit log).
//! - [`error`]: every failure as an RFC 9457 problem document; [`wire`] does the same for
//!   the answers hyper makes by itself to requests it cannot parse.
//! - [`dto`]: request and response bodies.
//! - [`demo`]: the demo catalog loaded into an empty database.
//! - [`observe`]: metrics, request ids and the access log.

pub mod admission;
pub mod audit;
pub mod auth;
pub mod catalog_cache;
pub mod demo;
pub mod dto;
pub mod error;
pub mod etickets;
pub mod extract;
pub mod idempotency;
pub mod live;
pub mod notify;
pub mod observe;
pub mod routes;
pub mod seatmap;
pub mod security;
pub mod sessions;
pub mod web;
pub mod wire;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use marquee_booking::admission::AdmissionSigner;
use marquee_booking::{Booking, InventoryChanged, InventoryListener};
use marquee_domain::clock::Clock;
use marquee_domain::inventory::HoldPolicy;
use marquee_domain::payment::PaymentGateway;
use marquee_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub const TAG_SEED: &str = "seed API";
pub const TAG_CATALOG: &str = "catalog";
pub const TAG_INVENTORY: &str = "holds and orders";
pub const TAG_ACCOUNTS: &str = "accounts";
pub const TAG_TICKETS: &str = "e-tickets and check-in";
pub const TAG_SYSTEM: &str = "system";

/// Limits and lifetimes of the API, from configuration.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub hold_policy: HoldPolicy,
    /// How long a login token stays valid.
    pub session_ttl: time::Duration,
    /// How long a node reuses a session it read (see [`sessions`]): the longest a logout or a
    /// disabled account made through another node takes to reach this one. Zero: every
    /// request reads its session.
    pub session_cache_ttl: time::Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Longest a request may take before it is answered 408.
    pub request_timeout: Duration,
    /// Largest total size of a request's headers (431 beyond).
    pub max_header_bytes: usize,
    /// Write requests (POST/PUT/PATCH/DELETE) per minute per client address; `None`: no limit.
    pub writes_per_minute_per_ip: Option<u32>,
    /// Write requests per minute per logged-in user; `None`: no limit.
    pub writes_per_minute_per_user: Option<u32>,
    pub login_throttle: security::LoginThrottle,
    /// Proxies whose `X-Forwarded-For` names the client (e.g. the load balancer).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Origins allowed to call the API from a browser (CORS); empty: none.
    pub cors_origins: Vec<String>,
    /// Served over TLS: adds `Strict-Transport-Security`.
    pub tls: bool,
    /// Whether the browser session's cookies are `Secure` (`__Host-`).
    pub secure_cookies: auth::SecureCookies,
    /// Customers may cancel (full refund) until this long before the show.
    pub cancellation_cutoff: time::Duration,
    /// HMAC key (at least 32 bytes, base64url) for waiting-room admission tokens; `None`:
    /// generated and stored in the database (so every node shares it).
    pub admission_signing_key: Option<String>,
    /// Ed25519 seed (32 bytes, base64url) for e-ticket codes; `None`: generated and stored.
    pub ticket_signing_key: Option<String>,
    /// Secret that signs the payment provider's webhooks; `None`: the webhook endpoint is off.
    pub webhook_secret: Option<String>,
    /// Longest a seat-map snapshot is served without a rebuild (bounds how long a change made
    /// on another node can go unseen; changes on this node are seen at once).
    pub seat_map_max_age: Duration,
    /// A seat-map snapshot younger than this is served even after a change (0: never).
    pub seat_map_min_age: Duration,
    /// Bearer token that opens `/metrics` to any client; `None`: only loopback clients may
    /// scrape it.
    pub metrics_token: Option<String>,
    /// What the checkout page needs to take a card: the test gateway's cards, or Stripe's
    /// publishable key for Stripe.js.
    pub payment_client: PaymentClient,
}

/// How a browser pays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PaymentClient {
    /// The built-in test gateway: the page offers its test cards.
    #[default]
    Test,
    /// Stripe: the page collects the card with Stripe.js and sends the payment method's id.
    /// `None`: no publishable key configured, so the pages cannot take cards (the API can).
    Stripe { publishable_key: Option<String> },
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            hold_policy: HoldPolicy::default(),
            session_ttl: time::Duration::days(7),
            session_cache_ttl: time::Duration::seconds(2),
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            writes_per_minute_per_ip: Some(600),
            writes_per_minute_per_user: Some(120),
            login_throttle: security::LoginThrottle::default(),
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            tls: false,
            secure_cookies: auth::SecureCookies::Auto,
            cancellation_cutoff: time::Duration::hours(24),
            ticket_signing_key: None,
            admission_signing_key: None,
            webhook_secret: None,
            seat_map_max_age: Duration::from_secs(1),
            seat_map_min_age: Duration::ZERO,
            metrics_token: None,
            payment_client: PaymentClient::Test,
        }
    }
}

/// This node's snapshots of what changes with the inventory, and its live feed: together
/// they hear every [`InventoryChanged`].
pub struct Caches {
    /// Seat-map snapshots.
    pub seat_maps: seatmap::SeatMapCache,
    /// Availability snapshots (the compact status string).
    pub availability: seatmap::SeatMapCache,
    /// Public catalog pages (availability counts in them).
    pub catalog: catalog_cache::CatalogCache,
    /// Wakes the feed's reader (live seat maps; other nodes learn through the database).
    pub feed: Arc<live::LiveFeed>,
}

impl InventoryListener for Caches {
    fn inventory_changed(&self, change: InventoryChanged<'_>) {
        match change {
            InventoryChanged::Showtime(showtime) => {
                self.seat_maps.invalidate(showtime);
                self.availability.invalidate(showtime);
                self.feed.changed();
            }
            InventoryChanged::Everywhere => {
                self.seat_maps.invalidate_all();
                self.availability.invalidate_all();
            }
        }
        self.catalog.invalidate();
    }
}

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub booking: Booking,
    /// Snapshots kept fresh by the booking service's inventory changes.
    pub caches: Arc<Caches>,
    /// Sessions read recently, by token hash.
    pub sessions: Arc<sessions::SessionCache>,
    pub config: Arc<ApiConfig>,
    pub limits: Arc<security::WriteLimits>,
    /// Signs and checks e-ticket door codes.
    pub tickets: Arc<etickets::TicketSigner>,
    /// Signs and checks waiting-room admissions.
    pub admission: Arc<AdmissionSigner>,
    /// This node's view of the inventory change feed (live seat maps).
    pub feed: Arc<live::LiveFeed>,
    /// This node's metrics (shared with the booking service, which counts business events).
    pub metrics: Arc<observe::Metrics>,
}

impl AppState {
    /// Wires the application. The e-ticket signing key comes from the configuration, or is
    /// generated once and kept in the database (so every node of a database signs alike).
    pub async fn new(
        store: Arc<dyn Store>,
        gateway: Arc<dyn PaymentGateway>,
        clock: Arc<dyn Clock>,
        config: ApiConfig,
    ) -> marquee_domain::Result<Self> {
        let seed = match &config.ticket_signing_key {
            Some(seed) => seed.clone(),
            None => {
                let generated = etickets::TicketSigner::generate_seed()?;
                store.setting_or_insert(etickets::SETTING_KEY, &generated).await?
            }
        };
        let tickets = Arc::new(etickets::TicketSigner::from_seed(&seed)?);
        let admission_key = match &config.admission_signing_key {
            Some(key) => key.clone(),
            None => {
                let generated = etickets::TicketSigner::generate_seed()?;
                store.setting_or_insert(marquee_booking::admission::SETTING_KEY, &generated).await?
            }
        };
        let admission = Arc::new(AdmissionSigner::from_key(&admission_key)?);
        let feed = Arc::new(live::LiveFeed::new(store.inventory_event_bounds().await?.1));
        let metrics = Arc::new(observe::Metrics::new());
        let caches = Arc::new(Caches {
            seat_maps: seatmap::SeatMapCache::new(config.seat_map_min_age, config.seat_map_max_age),
            availability: seatmap::SeatMapCache::new(config.seat_map_min_age, config.seat_map_max_age),
            catalog: catalog_cache::CatalogCache::new(config.seat_map_min_age, config.seat_map_max_age),
            feed: feed.clone(),
        });
        let rules = marquee_booking::Rules {
            hold_policy: config.hold_policy,
            cancellation_cutoff: config.cancellation_cutoff,
        };
        let booking = Booking::new(
            store.clone(),
            gateway,
            clock.clone(),
            rules,
            admission.clone(),
            caches.clone(),
            metrics.clone(),
        );
        let limits = Arc::new(security::WriteLimits::new(
            config.writes_per_minute_per_ip,
            config.writes_per_minute_per_user,
        ));
        Ok(Self {
            sessions: Arc::new(sessions::SessionCache::new(config.session_cache_ttl)),
            store,
            clock,
            booking,
            caches,
            config: Arc::new(config),
            limits,
            tickets,
            admission,
            feed,
            metrics,
        })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Marquee", description = "Ticket booking: browse movies and concerts, hold seats, buy tickets."),
    modifiers(&BearerAuth),
    tags(
        (name = TAG_SEED, description = "The original design sheet's API"),
        (name = TAG_CATALOG, description = "What is on, where, and which seats are free"),
        (name = TAG_INVENTORY, description = "Holding seats and paying for them"),
        (name = TAG_ACCOUNTS, description = "Registration and login"),
        (name = TAG_TICKETS, description = "Door codes, QR codes and admission"),
        (name = "payments", description = "Payment provider webhooks"),
        (name = TAG_SYSTEM, description = "Liveness, readiness, metrics and the API description"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Documents the answers every route can give because of the extractors and layers in front
/// of its handler: 400 for a request that cannot be parsed (malformed JSON, a bad query, path
/// or header value), 415 for a body that is not JSON, 401 on secured routes for a missing or
/// unknown token, 422 and 409 for an `Idempotency-Key` reused with another request or still
/// in progress, and 429 for writes over the rate limits. A route that documents one of these
/// itself keeps its own wording.
struct CommonResponses;

impl utoipa::Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    error::PROBLEM_JSON,
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                (&mut item.get, false),
                (&mut item.post, true),
                (&mut item.put, true),
                (&mut item.patch, true),
                (&mut item.delete, true),
            ];
            for (operation, is_write) in operations {
                let Some(operation) = operation.as_mut() else { continue };
                let responses = &mut operation.responses.responses;
                let takes_input = operation.parameters.as_ref().is_some_and(|p| !p.is_empty())
                    || operation.request_body.is_some();
                if takes_input {
                    responses.entry("400".into()).or_insert_with(|| {
                        problem("The request could not be parsed (malformed JSON, query, path or header)")
                            .into()
                    });
                }
                if operation.request_body.is_some() {
                    responses
                        .entry("415".into())
                        .or_insert_with(|| problem("The body is not `application/json`").into());
                }
                let idempotent = operation.parameters.iter().flatten().any(|parameter| {
                    matches!(parameter, RefOr::T(p) if p.name.eq_ignore_ascii_case("Idempotency-Key"))
                });
                if idempotent {
                    responses.entry("409".into()).or_insert_with(|| {
                        problem("A request with this Idempotency-Key is still in progress").into()
                    });
                    responses.entry("422".into()).or_insert_with(|| {
                        problem("This Idempotency-Key was used with a different request").into()
                    });
                }
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    responses.entry("401".into()).or_insert_with(|| {
                        problem("Not logged in, or the token is unknown or expired").into()
                    });
                }
                if is_write {
                    responses.entry("429".into()).or_insert_with(|| {
                        problem("Too many writes; retry after `Retry-After` seconds").into()
                    });
                }
            }
        }
    }
}

/// The router and the OpenAPI document describing it, built from the same route list so the
/// document cannot miss a route.
pub fn router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use routes::{accounts, catalog, inventory, payments, queue, seed, stream, system, tickets};
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(seed::movie_list))
        .routes(routes!(seed::movie))
        .routes(routes!(seed::ticket_price))
        .routes(routes!(seed::buy_ticket))
        .routes(routes!(catalog::list_events))
        .routes(routes!(catalog::get_event))
        .routes(routes!(catalog::list_showtimes))
        .routes(routes!(catalog::list_venues))
        .routes(routes!(catalog::get_showtime))
        .routes(routes!(catalog::seat_map))
        .routes(routes!(catalog::availability))
        .routes(routes!(stream::stream))
        .routes(routes!(queue::join_queue, queue::queue_place, queue::leave_queue))
        .routes(routes!(inventory::create_hold))
        .routes(routes!(inventory::get_hold, inventory::release_hold))
        .routes(routes!(inventory::create_order, inventory::list_orders))
        .routes(routes!(inventory::get_order))
        .routes(routes!(inventory::cancel_order))
        .routes(routes!(tickets::get_ticket))
        .routes(routes!(tickets::ticket_qr))
        .routes(routes!(tickets::checkin_keys))
        .routes(routes!(tickets::door_showtimes))
        .routes(routes!(tickets::check_in))
        .routes(routes!(payments::webhook))
        .routes(routes!(payments::client_config))
        .routes(routes!(accounts::register))
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::logout))
        .routes(routes!(accounts::me))
        .routes(routes!(accounts::web_login))
        .routes(routes!(accounts::web_register))
        .routes(routes!(accounts::web_logout))
        .routes(routes!(system::healthz))
        .routes(routes!(system::readyz))
        .routes(routes!(system::metrics))
        .merge(routes::admin::router())
        .split_for_parts();
    utoipa::Modify::modify(&CommonResponses, &mut openapi);
    (router, openapi)
}

/// The whole application, ready to serve.
///
/// Layers, outermost first: the request id, tracing (a span per request and one access line),
/// HTTP metrics, CORS (when configured), security headers, the guard (URL length and control
/// characters; problem documents for bare errors), panic → 500, timeout, body limit,
/// then the request context (client address, session, header size, write rate limits) and the
/// catalog page cache in front of every route. They are added with `Router::layer`, so the ones
/// that label or cache by route see the matched route.
pub fn app(state: AppState) -> Router {
    let (router, openapi) = router();
    let openapi = Arc::new(openapi);
    let config = state.config.clone();
    let metrics = state.metrics.clone();
    let router = router
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { axum::Json(openapi.as_ref().clone()) }),
        )
        .merge(web::router())
        .fallback(web::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), catalog_cache::layer))
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::request_context))
        .with_state(state)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(axum::middleware::from_fn(error::guard));
    let router = security::with_security_headers(router, config.tls);
    let router = match security::cors(&config.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(axum::middleware::from_fn_with_state(metrics, observe::track_http))
        .layer(observe::trace_layer())
        .layer(axum::middleware::from_fn(observe::request_id))
}

/// A node's shutdown signal: set once, seen by every background worker and the server.
#[derive(Clone, Debug)]
pub struct Shutdown(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        Self(Arc::new(tokio::sync::watch::channel(false).0))
    }

    /// Starts the shutdown.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// Resolves once the shutdown started (at once if it already has).
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.0.subscribe();
        async move {
            let _ = receiver.wait_for(|stopping| *stopping).await;
        }
    }
}

/// Runs `pass` every `every` (the first at once) until `stop` resolves. A pass under way when
/// it does is finished (the caller bounds how long it waits for that); no new one starts.
pub async fn periodically<F, Fut>(every: Duration, stop: impl Future<Output = ()>, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            biased;
            () = &mut stop => return,
            _ = ticker.tick() => {}
        }
        pass().await;
    }
}

/// Runs the reconciler every `every` (the first pass at once) until `stop`, settling payment
/// attempts and refunds untouched for `grace`.
pub async fn run_reconciler(
    booking: Booking,
    every: Duration,
    grace: time::Duration,
    stop: impl Future<Output = ()> + Send,
) {
    periodically(every, stop, || async {
        if let Err(error) = booking.reconcile(grace).await {
            tracing::warn!(%error, "reconciliation pass failed");
        }
    })
    .await;
}

/// Tidies expired holds every `every` until `stop` (see [`Booking::sweep_expired_holds`]).
pub async fn run_sweeper(booking: Booking, every: Duration, stop: impl Future<Output = ()> + Send) {
    periodically(every, stop, || async {
        match booking.sweep_expired_holds().await {
            Ok(0) => {}
            Ok(freed) => tracing::info!(freed, "swept expired holds"),
            Err(error) => tracing::warn!(%error, "sweeping expired holds failed"),
        }
    })
    .await;
}

/// Serves the application on `listener` until `shutdown` resolves, with each request's peer
/// address available for rate limits and the audit log, and this node's inventory feed running.
///
/// On `shutdown` the listener closes (no new connections), live streams end, and in-flight
/// requests are answered; it returns once every connection is closed. Bound that wait from the
/// outside (see `marquee serve`'s `--shutdown-timeout-secs`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let feed = state.feed.clone();
    let _feed = live::spawn(feed.clone(), state.store.clone());
    let shutdown = async move {
        shutdown.await;
        // Event streams never end by themselves: end them, or draining would wait forever.
        feed.close();
    };
    // Every connection's peer address goes with its requests (what `ConnectInfo` gives).
    let app = app(state);
    let per_connection =
        tower::service_fn(move |incoming: axum::serve::IncomingStream<'_, wire::ProblemListener>| {
            let peer = axum::extract::ConnectInfo(*incoming.remote_addr());
            std::future::ready(Ok::<_, std::convert::Infallible>(tower::Layer::layer(
                &axum::Extension(peer),
                app.clone(),
            )))
        });
    axum::serve(wire::ProblemListener(listener), per_connection).with_graceful_shutdown(shutdown).await
}
