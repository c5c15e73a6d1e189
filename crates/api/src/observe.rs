//! What an operator sees of a running node: Prometheus metrics, request ids and the access log.
//!
//! # Metrics
//! Each [`AppState`](crate::AppState) owns one [`Metrics`] registry (not the process-wide
//! `metrics` recorder), so two apps in one test process never count into each other. Business
//! events are counted where they happen (the booking service, the sweeper, the queue handlers),
//! never by reading responses; HTTP requests are counted by [`track_http`] under their matched
//! route (`/api/v1/holds/{hold_id}`, never the raw path, so ids cannot explode the number of
//! series); pool use and live streams are read when `/metrics` is scraped.
//!
//! # Request ids
//! [`request_id`] keeps a client's `X-Request-Id` when it is short and plain (see
//! [`acceptable_request_id`]), otherwise makes a UUIDv7, and returns it on every response. The
//! tracing span of the request (see [`trace_layer`]) carries it, so every log line of the request
//! names it, and one line per request (target `marquee_api::access`) says method, route, status
//! and latency. Headers are never logged: no `Authorization`, no cookies, no tokens.

use crate::live::LiveFeed;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, Response, StatusCode};
use axum::middleware::Next;
use marquee_booking::events::{
    HoldConflict, PaymentOutcome, PaymentStep, Reconciled, RefundOutcome, SaleMetrics,
};
use marquee_store::Store;
use metrics::{Counter, Histogram, Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::RwLock;
use std::time::{Duration, Instant};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// The header that carries a request's id, both ways.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest client-chosen request id that is kept (longer ones are replaced).
pub const MAX_REQUEST_ID_LEN: usize = 64;

pub const HTTP_REQUESTS: &str = "marquee_http_requests_total";
pub const HTTP_DURATION: &str = "marquee_http_request_duration_seconds";
pub const HOLDS_CREATED: &str = "marquee_holds_created_total";
pub const HOLD_CONFLICTS: &str = "marquee_hold_conflicts_total";
pub const PURCHASES_CONFIRMED: &str = "marquee_purchases_confirmed_total";
pub const EXPIRED_TICKETS_FREED: &str = "marquee_expired_hold_tickets_freed_total";
pub const PAYMENTS: &str = "marquee_payments_total";
pub const REFUNDS: &str = "marquee_refunds_total";
pub const RECONCILED: &str = "marquee_reconciled_total";
pub const QUEUE_JOINS: &str = "marquee_queue_joins_total";
pub const QUEUE_ADMISSIONS: &str = "marquee_queue_admissions_total";
pub const DB_POOL_CONNECTIONS: &str = "marquee_db_pool_connections";
pub const DB_POOL_IDLE: &str = "marquee_db_pool_idle_connections";
pub const DB_POOL_MAX: &str = "marquee_db_pool_max_connections";
pub const SSE_STREAMS: &str = "marquee_sse_streams_open";
pub const STORE_COMMITS: &str = "marquee_store_commits_total";
pub const STORE_COMMANDS: &str = "marquee_store_commands_total";
pub const STORE_FAILED_COMMITS: &str = "marquee_store_failed_commits_total";
pub const STORE_BATCHES: &str = "marquee_store_commit_batches_total";
pub const QUEUE_WAITING: &str = "marquee_queue_waiting";
pub const QUEUE_ADMITTED: &str = "marquee_queue_admitted";

/// Histogram buckets of request latency, in seconds: from a cached seat map to a request that
/// is about to time out.
const LATENCY_BUCKETS: [f64; 13] =
    [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

static METADATA: Metadata<'static> = Metadata::new("marquee", Level::INFO, Some(module_path!()));

/// One node's metrics registry and its Prometheus rendering.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// Each HTTP series' counter and histogram, by route, then method and status class:
    /// registered on first use, then found without allocating (per request).
    http: RwLock<HashMap<Box<str>, HttpSeriesOfRoute>>,
    /// The business counters, registered once.
    counters: BusinessCounters,
}

/// One route's HTTP series by (method, status class): the request counter and the latency
/// histogram.
type HttpSeriesOfRoute = HashMap<(&'static str, &'static str), (Counter, Histogram)>;

/// Handles of the business counters, so that counting an event is one atomic add.
struct BusinessCounters {
    holds_created: Counter,
    purchases_confirmed: Counter,
    expired_tickets_freed: Counter,
    queue_joins: Counter,
    queue_admissions: Counter,
    /// By [`HoldConflict::ALL`] order.
    hold_conflicts: [Counter; 3],
    /// By [`PaymentStep::ALL`], then [`PaymentOutcome::ALL`] order.
    payments: [[Counter; 6]; 3],
    /// By [`RefundOutcome::ALL`] order.
    refunds: [Counter; 3],
    /// By [`Reconciled::ALL`] order.
    reconciled: [Counter; 5],
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every business counter present at zero, so that rates and alerts work
    /// from the first scrape.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), &LATENCY_BUCKETS)
            // Only fails for an empty bucket list.
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        let counter = |name: &'static str, labels: &[(&'static str, &str)]| {
            recorder.register_counter(&Self::key(name, labels), &METADATA)
        };
        let counters = BusinessCounters {
            holds_created: counter(HOLDS_CREATED, &[]),
            purchases_confirmed: counter(PURCHASES_CONFIRMED, &[]),
            expired_tickets_freed: counter(EXPIRED_TICKETS_FREED, &[]),
            queue_joins: counter(QUEUE_JOINS, &[]),
            queue_admissions: counter(QUEUE_ADMISSIONS, &[]),
            hold_conflicts: HoldConflict::ALL
                .map(|conflict| counter(HOLD_CONFLICTS, &[("reason", conflict.as_str())])),
            payments: PaymentStep::ALL.map(|step| {
                PaymentOutcome::ALL.map(|outcome| {
                    counter(PAYMENTS, &[("step", step.as_str()), ("outcome", outcome.as_str())])
                })
            }),
            refunds: RefundOutcome::ALL.map(|outcome| counter(REFUNDS, &[("outcome", outcome.as_str())])),
            reconciled: Reconciled::ALL.map(|result| counter(RECONCILED, &[("result", result.as_str())])),
        };
        // Present at zero from the first scrape (those that exist before anything happens).
        for handle in
            [&counters.holds_created, &counters.purchases_confirmed, &counters.expired_tickets_freed]
                .into_iter()
                .chain([&counters.queue_joins, &counters.queue_admissions])
                .chain(&counters.hold_conflicts)
                .chain(&counters.refunds)
        {
            handle.increment(0);
        }
        for outcome in [PaymentOutcome::Ok, PaymentOutcome::Declined, PaymentOutcome::Unknown] {
            counters.payments[PaymentStep::Authorize as usize][outcome as usize].increment(0);
        }
        let metrics = Self { recorder, handle, http: RwLock::new(HashMap::new()), counters };
        metrics.describe();
        metrics
    }

    fn describe(&self) {
        let describe = |name: &'static str, help: &'static str| {
            self.recorder.describe_counter(name.into(), None, help.into());
        };
        describe(HTTP_REQUESTS, "HTTP requests answered, by method, matched route and status class");
        self.recorder.describe_histogram(
            HTTP_DURATION.into(),
            Some(metrics::Unit::Seconds),
            "Time to answer (the headers, for streams), by method, matched route and status class".into(),
        );
        describe(HOLDS_CREATED, "Holds created");
        describe(HOLD_CONFLICTS, "Holds refused with 409, by reason");
        describe(PURCHASES_CONFIRMED, "Orders confirmed (seats sold), by requests and by the reconciler");
        describe(EXPIRED_TICKETS_FREED, "Tickets of expired holds freed by the sweeper");
        describe(PAYMENTS, "Answers of the payment provider, by step and outcome");
        describe(REFUNDS, "Refund attempts, by outcome");
        describe(RECONCILED, "Payment attempts and refunds settled by the reconciler, by result");
        describe(QUEUE_JOINS, "Accounts that joined a waiting room's queue");
        describe(QUEUE_ADMISSIONS, "Queue places admitted (recorded when the account next looks)");
        self.recorder.describe_gauge(
            DB_POOL_CONNECTIONS.into(),
            None,
            "Open database connections, by pool".into(),
        );
        self.recorder.describe_gauge(DB_POOL_IDLE.into(), None, "Idle database connections, by pool".into());
        self.recorder.describe_gauge(DB_POOL_MAX.into(), None, "Most database connections, by pool".into());
        describe(
            STORE_COMMITS,
            "Write transactions the commit pipeline committed (each one durable write of the log)",
        );
        describe(
            STORE_COMMANDS,
            "Write commands run in committed transactions (commands per commit: the batching)",
        );
        describe(
            STORE_FAILED_COMMITS,
            "Write transactions whose commit failed (their commands were answered with errors)",
        );
        describe(
            STORE_BATCHES,
            "Committed transactions by how many commands they carried (batch_size: a range)",
        );
        self.recorder.describe_gauge(
            SSE_STREAMS.into(),
            None,
            "Live seat-map streams open on this node".into(),
        );
        self.recorder.describe_gauge(
            QUEUE_WAITING.into(),
            None,
            "Places in a showtime's waiting room not admitted yet (as of its last advance), by showtime"
                .into(),
        );
        self.recorder.describe_gauge(
            QUEUE_ADMITTED.into(),
            None,
            "Places a showtime's waiting room admitted so far, by showtime".into(),
        );
    }

    fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
        let labels: Vec<Label> =
            labels.iter().map(|(key, value)| Label::new(*key, (*value).to_owned())).collect();
        Key::from_parts(name, labels)
    }

    fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        self.recorder.register_counter(&Self::key(name, labels), &METADATA)
    }

    fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        self.recorder.register_gauge(&Self::key(name, labels), &METADATA).set(value);
    }

    /// One answered request, under its matched route (`None`: no route matched).
    pub fn http_request(&self, method: &Method, route: Option<&str>, status: StatusCode, elapsed: Duration) {
        let route = route.unwrap_or(UNMATCHED);
        let key = (method_label(method), status_class(status));
        let found =
            self.http.read().unwrap_or_else(|poison| poison.into_inner()).get(route).and_then(|series| {
                series.get(&key).map(|(counter, histogram)| (counter.clone(), histogram.clone()))
            });
        let (counter, histogram) = found.unwrap_or_else(|| {
            let labels = [("method", key.0), ("route", route), ("status", key.1)];
            let handles = (
                self.recorder.register_counter(&Self::key(HTTP_REQUESTS, &labels), &METADATA),
                self.recorder.register_histogram(&Self::key(HTTP_DURATION, &labels), &METADATA),
            );
            let mut http = self.http.write().unwrap_or_else(|poison| poison.into_inner());
            http.entry(route.into()).or_default().insert(key, handles.clone());
            handles
        });
        counter.increment(1);
        histogram.record(elapsed.as_secs_f64());
    }

    pub fn queue_joined(&self) {
        self.counters.queue_joins.increment(1);
    }

    pub fn queue_admitted(&self) {
        self.counters.queue_admissions.increment(1);
    }

    /// The Prometheus text exposition, with the gauges read now: the store's pools, this
    /// node's open streams, and the waiting rooms (`queues`, read by the caller; empty when the
    /// database did not answer in time).
    pub fn render(
        &self,
        store: &dyn Store,
        feed: &LiveFeed,
        queues: &[marquee_store::QueueLength],
    ) -> String {
        for queue in queues {
            let labels = [("showtime", queue.showtime_id.as_str())];
            self.gauge(QUEUE_WAITING, &labels, (queue.queued - queue.admitted).max(0) as f64);
            self.gauge(QUEUE_ADMITTED, &labels, queue.admitted.min(queue.queued) as f64);
        }
        for pool in store.pool_stats() {
            let labels = [("pool", pool.pool)];
            self.gauge(DB_POOL_CONNECTIONS, &labels, f64::from(pool.size));
            self.gauge(DB_POOL_IDLE, &labels, f64::from(pool.idle));
            self.gauge(DB_POOL_MAX, &labels, f64::from(pool.max));
        }
        if let Some(commits) = store.commit_stats() {
            self.counter(STORE_COMMITS, &[]).absolute(commits.commits);
            self.counter(STORE_COMMANDS, &[]).absolute(commits.commands);
            self.counter(STORE_FAILED_COMMITS, &[]).absolute(commits.failed_commits);
            for (low, high, batches) in commits.batches {
                let size = if low == high { low.to_string() } else { format!("{low}-{high}") };
                self.counter(STORE_BATCHES, &[("batch_size", &size)]).absolute(batches);
            }
        }
        self.gauge(SSE_STREAMS, &[], feed.open_streams() as f64);
        self.handle.run_upkeep();
        self.handle.render()
    }
}

impl SaleMetrics for Metrics {
    fn hold_created(&self) {
        self.counters.holds_created.increment(1);
    }

    fn hold_conflict(&self, conflict: HoldConflict) {
        self.counters.hold_conflicts[conflict as usize].increment(1);
    }

    fn purchase_confirmed(&self) {
        self.counters.purchases_confirmed.increment(1);
    }

    fn expired_tickets_freed(&self, tickets: u64) {
        self.counters.expired_tickets_freed.increment(tickets);
    }

    fn payment(&self, step: PaymentStep, outcome: PaymentOutcome) {
        self.counters.payments[step as usize][outcome as usize].increment(1);
    }

    fn refund(&self, outcome: RefundOutcome) {
        self.counters.refunds[outcome as usize].increment(1);
    }

    fn reconciled(&self, result: Reconciled, count: u32) {
        self.counters.reconciled[result as usize].increment(u64::from(count));
    }
}

/// The method as a label: the standard ones by name, anything else as `other` (a client can
/// send any token as a method; it must not make new series).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The route label of requests no route matched (404s of unknown paths share one series).
const UNMATCHED: &str = "unmatched";

/// The route a request matched (its pattern, never the raw path).
fn route_of<B>(request: &axum::http::Request<B>) -> Option<MatchedPath> {
    request.extensions().get::<MatchedPath>().cloned()
}

/// Counts every request under its matched route (add with `Router::layer`, so the route is
/// known).
pub async fn track_http(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> axum::response::Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = route_of(&request);
    let response = next.run(request).await;
    metrics.http_request(
        &method,
        route.as_ref().map(MatchedPath::as_str),
        response.status(),
        started.elapsed(),
    );
    response
}

/// Whether a client's `X-Request-Id` is kept: 1 to [`MAX_REQUEST_ID_LEN`] characters of
/// letters, digits and `-_.:`, so it can be logged and echoed without escaping or injection.
pub fn acceptable_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':'))
}

/// The request's id: the client's if acceptable, else a new UUIDv7. Put on the request (for
/// the span) and on the response, whatever the response is.
pub async fn request_id(mut request: Request, next: Next) -> axum::response::Response {
    let given = request.headers().get(&REQUEST_ID).and_then(|value| value.to_str().ok());
    let id = match given.filter(|id| acceptable_request_id(id)) {
        Some(id) => id.to_owned(),
        None => uuid::Uuid::now_v7().to_string(),
    };
    // Letters, digits and `-_.:` only: always a valid header value.
    let value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    request.headers_mut().insert(REQUEST_ID.clone(), value.clone());
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID.clone(), value);
    response
}

/// The span of a request: method, matched route, path (without the query) and request id.
/// Never headers: they carry bearer tokens and cookies.
fn request_span<B>(request: &axum::http::Request<B>) -> Span {
    let id = request.headers().get(&REQUEST_ID).and_then(|value| value.to_str().ok()).unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = route_of(request).as_ref().map_or(UNMATCHED, MatchedPath::as_str),
        path = %request.uri().path(),
        request_id = %id,
    )
}

/// One line per request at INFO, in the request's span.
fn log_response<B>(response: &Response<B>, latency: Duration, _: &Span) {
    tracing::info!(
        target: "marquee_api::access",
        status = response.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request"
    );
}

/// The tracing layer: a span per request (see [`request_span`]) and one access line per
/// response; nothing at the start of a request, and no second line for server errors (the
/// access line has the status; internal errors log their cause themselves).
pub fn trace_layer() -> AccessTrace {
    TraceLayer::new_for_http()
        .make_span_with(request_span::<Body> as MakeRequestSpan)
        .on_request(())
        .on_response(log_response::<Body> as OnAccess)
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

type MakeRequestSpan = fn(&axum::http::Request<Body>) -> Span;
type OnAccess = fn(&Response<Body>, Duration, &Span);
/// The tracing layer's type: spans from [`request_span`], access lines from [`log_response`],
/// nothing else.
pub type AccessTrace =
    TraceLayer<SharedClassifier<ServerErrorsAsFailures>, MakeRequestSpan, (), OnAccess, (), (), ()>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_request_ids_are_kept() {
        assert!(acceptable_request_id("abc-123_X.y:z"));
        assert!(acceptable_request_id(&"a".repeat(MAX_REQUEST_ID_LEN)));
        assert!(!acceptable_request_id(&"a".repeat(MAX_REQUEST_ID_LEN + 1)));
        assert!(!acceptable_request_id(""));
        assert!(!acceptable_request_id("two words"));
        assert!(!acceptable_request_id("line\nbreak"));
        assert!(!acceptable_request_id("{\"json\":1}"));
    }

    #[test]
    fn each_counter_handle_sits_at_its_variant_index() {
        assert!(HoldConflict::ALL.iter().enumerate().all(|(index, conflict)| *conflict as usize == index));
        assert!(PaymentStep::ALL.iter().enumerate().all(|(index, step)| *step as usize == index));
        assert!(PaymentOutcome::ALL.iter().enumerate().all(|(index, outcome)| *outcome as usize == index));
        assert!(RefundOutcome::ALL.iter().enumerate().all(|(index, outcome)| *outcome as usize == index));
        let metrics = Metrics::new();
        metrics.payment(PaymentStep::Capture, PaymentOutcome::Refused);
        metrics.hold_conflict(HoldConflict::HoldLimit);
        let text = metrics.handle.render();
        assert!(text.contains("marquee_payments_total{step=\"capture\",outcome=\"refused\"} 1"), "{text}");
        assert!(text.contains("marquee_hold_conflicts_total{reason=\"hold_limit\"} 1"), "{text}");
    }

    #[test]
    fn labels_have_a_bounded_set_of_values() {
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
        assert_eq!(status_class(StatusCode::CONFLICT), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
    }

    #[test]
    fn business_counters_are_exported_at_zero_before_anything_happens() {
        let metrics = Metrics::new();
        metrics.hold_created();
        let text = metrics.handle.render();
        assert!(text.contains("marquee_holds_created_total 1"), "{text}");
        assert!(text.contains("marquee_purchases_confirmed_total 0"), "{text}");
        assert!(text.contains("marquee_hold_conflicts_total{reason=\"tickets_unavailable\"} 0"), "{text}");
        assert!(text.contains("# TYPE marquee_holds_created_total counter"), "{text}");
    }
}
