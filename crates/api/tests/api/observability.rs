//! The operator's view: metrics, request ids, liveness and readiness.

use crate::helpers::{START, SseStream, TestApp, read};
use crate::{on_both_backends, on_both_backends_with};
use reqwest::StatusCode;
use serde_json::json;
use time::Duration;
use time::format_description::well_known::Rfc3339;

on_both_backends!(
    http_requests_are_counted_by_matched_route_method_and_status_class,
    holds_conflicts_payments_sales_and_refunds_are_counted_where_they_happen,
    the_sweeper_counts_the_tickets_it_frees,
    queue_joins_and_admissions_are_counted,
    pool_use_and_open_streams_are_read_at_scrape_time,
    the_commit_pipeline_counts_its_commits_and_batches,
    every_response_carries_a_request_id_and_only_a_safe_one_is_kept,
    healthz_is_liveness_and_never_asks_the_database,
    readyz_refuses_a_database_missing_a_migration,
);

mod with_token {
    use super::*;
    on_both_backends_with!(
        a_metrics_token_is_required_when_configured => ApiConfig {
            metrics_token: Some(TOKEN.into()),
            ..TestApp::test_config()
        },
    );
}

use marquee_api::ApiConfig;

const TOKEN: &str = "metrics-token-for-tests-0123456789";

/// The metrics page as text (the test client is on loopback).
async fn scrape(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    response.text().await.unwrap()
}

/// The value of the series `name{labels}` (labels in any order), or `None` when absent.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (series, number) = line.rsplit_once(' ')?;
        let (series_name, series_labels) = match series.split_once('{') {
            Some((series_name, rest)) => (series_name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut found: Vec<(&str, &str)> = series_labels
            .split(',')
            .filter(|pair| !pair.is_empty())
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (key, value.trim_matches('"')))
            .collect();
        found.sort_unstable();
        let mut wanted = labels.to_vec();
        wanted.sort_unstable();
        (series_name == name && found == wanted).then(|| number.parse().ok())?
    })
}

fn counter(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(text, name, labels).unwrap_or_else(|| panic!("no series {name} {labels:?} in:\n{text}"))
}

async fn http_requests_are_counted_by_matched_route_method_and_status_class(app: &TestApp) {
    let user = app.user().await;
    let showtime = app.showtime("Counted").await;
    let seats = app.seat_ids(&showtime).await;
    let (status, hold) = app.hold(&user, &showtime, &seats[..1]).await;
    assert_eq!(status, StatusCode::CREATED);
    let hold_id = hold["id"].as_str().unwrap();
    for _ in 0..3 {
        let (status, _) = app.get(Some(&user), &format!("/api/v1/holds/{hold_id}")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = app.get(Some(&user), "/api/v1/holds/hld_nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(None, "/no/such/route/tkt_123").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let text = scrape(app).await;
    let route = [("method", "GET"), ("route", "/api/v1/holds/{hold_id}")];
    assert_eq!(counter(&text, "marquee_http_requests_total", &[route[0], route[1], ("status", "2xx")]), 3.0);
    assert_eq!(counter(&text, "marquee_http_requests_total", &[route[0], route[1], ("status", "4xx")]), 1.0);
    let holds = [("method", "POST"), ("route", "/api/v1/holds"), ("status", "2xx")];
    assert_eq!(counter(&text, "marquee_http_requests_total", &holds), 1.0);
    let unmatched = [("method", "GET"), ("route", "unmatched"), ("status", "4xx")];
    assert_eq!(counter(&text, "marquee_http_requests_total", &unmatched), 1.0);
    // A latency histogram per series, with buckets.
    let mut bucket = route.to_vec();
    bucket.extend([("status", "2xx"), ("le", "+Inf")]);
    assert_eq!(counter(&text, "marquee_http_request_duration_seconds_bucket", &bucket), 3.0);
    let mut sum = route.to_vec();
    sum.push(("status", "2xx"));
    assert_eq!(counter(&text, "marquee_http_request_duration_seconds_count", &sum), 3.0);
    // Never a raw path: ids would make a series per hold, ticket or order.
    assert!(!text.contains(hold_id), "a hold id leaked into the metrics:\n{text}");
    assert!(!text.contains("hld_nothing") && !text.contains("tkt_123"));
}

async fn holds_conflicts_payments_sales_and_refunds_are_counted_where_they_happen(app: &TestApp) {
    let (first, second) = (app.user().await, app.user().await);
    let showtime = app.showtime("Business").await;
    let seats = app.seat_ids(&showtime).await;
    let before = scrape(app).await;
    assert_eq!(counter(&before, "marquee_holds_created_total", &[]), 0.0, "present at zero from the start");

    let (status, hold) = app.hold(&first, &showtime, &seats[..2]).await;
    assert_eq!(status, StatusCode::CREATED);
    let hold_id = hold["id"].as_str().unwrap();
    let (status, _) = app.hold(&second, &showtime, &seats[1..3]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app.pay(&first, hold_id, "tok_chargeDeclined", None).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let (status, order) = app.pay(&first, hold_id, "tok_visa", Some("pay-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    // A replay answers from the stored response: no second sale, no second payment.
    let (status, _) = app.pay(&first, hold_id, "tok_visa", Some("pay-1")).await;
    assert_eq!(status, StatusCode::CREATED);
    let order_id = order["order"]["id"].as_str().unwrap();
    let (status, cancelled) = app
        .post(Some(&first), &format!("/api/v1/orders/{order_id}/cancel"), json!({}), Some("cancel-1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");

    let text = scrape(app).await;
    assert_eq!(counter(&text, "marquee_holds_created_total", &[]), 1.0);
    assert_eq!(counter(&text, "marquee_hold_conflicts_total", &[("reason", "tickets_unavailable")]), 1.0);
    let authorize = |outcome| [("step", "authorize"), ("outcome", outcome)];
    assert_eq!(counter(&text, "marquee_payments_total", &authorize("declined")), 1.0);
    assert_eq!(counter(&text, "marquee_payments_total", &authorize("ok")), 1.0);
    assert_eq!(counter(&text, "marquee_payments_total", &[("step", "capture"), ("outcome", "ok")]), 1.0);
    assert_eq!(counter(&text, "marquee_purchases_confirmed_total", &[]), 1.0);
    assert_eq!(counter(&text, "marquee_refunds_total", &[("outcome", "completed")]), 1.0);
    // The 409 is also a 4xx of its route; counting it as a conflict came from the booking service.
    let conflicts = [("method", "POST"), ("route", "/api/v1/holds"), ("status", "4xx")];
    assert_eq!(counter(&text, "marquee_http_requests_total", &conflicts), 1.0);
}

async fn the_sweeper_counts_the_tickets_it_frees(app: &TestApp) {
    let user = app.user().await;
    let showtime = app.showtime("Swept").await;
    let seats = app.seat_ids(&showtime).await;
    let (status, _) = app.hold(&user, &showtime, &seats[..3]).await;
    assert_eq!(status, StatusCode::CREATED);
    let pass = || async { app.booking.sweep_expired_holds().await.expect("a sweep") };
    assert_eq!(pass().await, 0, "nothing expired yet");
    app.clock.advance(Duration::minutes(11));
    assert_eq!(pass().await, 3);
    assert_eq!(counter(&scrape(app).await, "marquee_expired_hold_tickets_freed_total", &[]), 3.0);
}

async fn queue_joins_and_admissions_are_counted(app: &TestApp) {
    let admin = app.admin().await;
    let showtime = app.showtime("Queued").await;
    let path = format!("/api/v1/admin/showtimes/{}/waiting-room", showtime.id);
    let opens_at = (START + Duration::minutes(5)).format(&Rfc3339).unwrap();
    let body = json!({ "opens_at": opens_at, "admit_per_minute": 60, "admission_minutes": 10 });
    let (status, _) = app.send(reqwest::Method::PUT, Some(&admin), &path, Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    let queue = format!("/api/v1/showtimes/{}/queue", showtime.id);
    let users = [app.user().await, app.user().await, app.user().await];
    for user in &users {
        let (status, _) = app.post(Some(user), &queue, json!({}), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    // Joining again keeps the place: not a new join.
    let (status, _) = app.post(Some(&users[0]), &queue, json!({}), None).await;
    assert_eq!(status, StatusCode::OK);
    // Opened, and two seconds in: two places admitted, recorded as their holders look.
    app.clock.advance(Duration::minutes(5) + Duration::milliseconds(2500));
    let mut admitted = 0;
    for _ in 0..2 {
        for user in &users {
            let (status, place) = app.get(Some(user), &queue).await;
            assert_eq!(status, StatusCode::OK);
            admitted += usize::from(place["status"] == "admitted");
        }
    }
    assert_eq!(admitted, 4, "two admitted places, each looked at twice");
    let text = scrape(app).await;
    assert_eq!(counter(&text, "marquee_queue_joins_total", &[]), 3.0);
    assert_eq!(counter(&text, "marquee_queue_admissions_total", &[]), 2.0, "each admission once");
    let room = [("showtime", showtime.id.as_str())];
    assert_eq!(counter(&text, "marquee_queue_waiting", &room), 1.0, "three places, two admitted");
    assert_eq!(counter(&text, "marquee_queue_admitted", &room), 2.0);
}

async fn pool_use_and_open_streams_are_read_at_scrape_time(app: &TestApp) {
    let showtime = app.showtime("Streamed").await;
    let text = scrape(app).await;
    let pools: &[&str] = match app.store.backend() {
        marquee_store::Backend::Sqlite => &["writer", "readers"],
        marquee_store::Backend::Postgres => &["primary"],
    };
    for pool in pools {
        let open = counter(&text, "marquee_db_pool_connections", &[("pool", pool)]);
        let idle = counter(&text, "marquee_db_pool_idle_connections", &[("pool", pool)]);
        let max = counter(&text, "marquee_db_pool_max_connections", &[("pool", pool)]);
        assert!(open >= 1.0 && idle <= open && open <= max, "{pool}: {open} open, {idle} idle, {max} max");
    }
    assert_eq!(counter(&text, "marquee_sse_streams_open", &[]), 0.0);

    let path = format!("/api/v1/showtimes/{}/stream", showtime.id);
    let mut stream = SseStream::open(app, &path, None).await;
    assert_eq!(stream.next().await.event, "snapshot");
    assert_eq!(counter(&scrape(app).await, "marquee_sse_streams_open", &[]), 1.0);
    drop(stream);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while counter(&scrape(app).await, "marquee_sse_streams_open", &[]) != 0.0 {
        assert!(std::time::Instant::now() < deadline, "a closed stream is still counted");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn the_commit_pipeline_counts_its_commits_and_batches(app: &TestApp) {
    let showtime = app.showtime("Committed").await;
    let before = value(&scrape(app).await, "marquee_store_commits_total", &[]).unwrap_or(0.0);
    let user = app.user().await;
    let seats = app.seat_ids(&showtime).await;
    let (status, _) = app.hold(&user, &showtime, &seats[..2]).await;
    assert_eq!(status, StatusCode::CREATED);
    // Both backends' commit pipelines: the hold was a command of a committed batch.
    let text = scrape(app).await;
    let commits = counter(&text, "marquee_store_commits_total", &[]);
    assert!(commits > before, "the hold was a commit of the pipeline: {before} then {commits}");
    let commands = counter(&text, "marquee_store_commands_total", &[]);
    let batches: f64 = ["1", "2", "3-4", "5-8", "9-16", "17-32", "33-64", "65-128", "129-256"]
        .iter()
        .map(|size| counter(&text, "marquee_store_commit_batches_total", &[("batch_size", size)]))
        .sum();
    assert_eq!(batches, commits, "every commit is in one batch-size bucket");
    assert!(commands >= commits);
    assert_eq!(counter(&text, "marquee_store_failed_commits_total", &[]), 0.0);
}

async fn a_metrics_token_is_required_when_configured(app: &TestApp) {
    let (status, problem) = read(app.client.get(app.url("/metrics")).send().await.unwrap()).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
    let wrong = app.client.get(app.url("/metrics")).bearer_auth("not-the-token").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = app.client.get(app.url("/metrics")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert!(right.text().await.unwrap().contains("marquee_holds_created_total"));
    // Metrics matter most while the database is away: the token is no session to look up.
    app.make_database_unreachable().await;
    let during_outage = app.client.get(app.url("/metrics")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(during_outage.status(), StatusCode::OK);
}

async fn every_response_carries_a_request_id_and_only_a_safe_one_is_kept(app: &TestApp) {
    let id_of = |response: &reqwest::Response| {
        response.headers().get("x-request-id").map(|value| value.to_str().unwrap().to_owned())
    };
    // None given: a UUIDv7 is made, a new one per request.
    let first = app.client.get(app.url("/healthz")).send().await.unwrap();
    let second = app.client.get(app.url("/healthz")).send().await.unwrap();
    let (first, second) = (id_of(&first).unwrap(), id_of(&second).unwrap());
    assert_ne!(first, second);
    for id in [&first, &second] {
        assert_eq!(uuid_version(id), Some(7), "{id}");
    }
    // A plain one is kept, on success and on errors alike.
    for path in ["/healthz", "/api/v1/holds/hld_missing", "/no/such/route"] {
        let response =
            app.client.get(app.url(path)).header("x-request-id", "lb-7f3a.42:retry_1").send().await.unwrap();
        assert_eq!(id_of(&response).as_deref(), Some("lb-7f3a.42:retry_1"), "{path}");
    }
    // Too long, or with characters that could forge log lines: replaced.
    for bad in ["x".repeat(65), "two words".to_owned(), "a\"b".to_owned(), "{\"level\":\"ERROR\"}".to_owned()]
    {
        let response = app.client.get(app.url("/healthz")).header("x-request-id", &bad).send().await.unwrap();
        let id = id_of(&response).unwrap();
        assert_ne!(id, bad);
        assert_eq!(uuid_version(&id), Some(7), "{bad:?} was replaced by {id}");
    }
}

/// The version of a UUID in its text form, if it is one.
fn uuid_version(text: &str) -> Option<u32> {
    let groups: Vec<&str> = text.split('-').collect();
    let shape = [8, 4, 4, 4, 12];
    let is_uuid = groups.len() == 5
        && groups.iter().zip(shape).all(|(group, len)| group.len() == len)
        && groups.iter().all(|group| group.chars().all(|c| c.is_ascii_hexdigit()));
    is_uuid.then(|| groups[2].chars().next().and_then(|c| c.to_digit(16)))?
}

async fn healthz_is_liveness_and_never_asks_the_database(app: &TestApp) {
    let (status, ready) = app.get(None, "/readyz").await;
    assert_eq!((status, ready["status"].as_str()), (StatusCode::OK, Some("ready")), "{ready}");
    assert_eq!(ready["database"], app.store.backend().as_str());

    app.make_database_unreachable().await;
    let (status, health) = app.get(None, "/healthz").await;
    assert_eq!((status, health["status"].as_str()), (StatusCode::OK, Some("ok")), "alive without a database");
    let started = std::time::Instant::now();
    let (status, problem) = app.get(None, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert_eq!(problem["type"], "urn:marquee:problem:not_ready");
    assert!(problem["detail"].as_str().unwrap().contains("database"), "{problem}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "a probe answers quickly");
}

async fn readyz_refuses_a_database_missing_a_migration(app: &TestApp) {
    let (status, _) = app.get(None, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    // As if this binary were newer than the schema: its last migration is not applied.
    app.execute_sql(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .await;
    let (status, problem) = app.get(None, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert_eq!(problem["code"], "not_ready");
    assert!(problem["detail"].as_str().unwrap().contains("lacks migrations"), "{problem}");
    let (status, _) = app.get(None, "/healthz").await;
    assert_eq!(status, StatusCode::OK, "liveness does not care");
}
