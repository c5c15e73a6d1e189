//! Provider webhooks: signatures, replays, and an asynchronous success confirming an order.

use crate::helpers::TestApp;
use crate::on_both_backends_with;
use marquee_api::ApiConfig;
use marquee_domain::clock::Clock;
use marquee_payments::webhook::sign;
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET: &str = "whsec_test_0123456789";

fn config() -> ApiConfig {
    ApiConfig { webhook_secret: Some(SECRET.into()), ..TestApp::test_config() }
}

on_both_backends_with!(
    a_signed_success_event_confirms_an_order_whose_answer_was_lost => config(),
    bad_signatures_stale_events_and_replays_are_refused => config(),
    without_a_secret_the_webhook_route_is_off => TestApp::test_config(),
);

async fn deliver(app: &TestApp, body: &Value, timestamp: i64, secret: &str) -> (StatusCode, Value) {
    let payload = body.to_string();
    let response = app
        .client
        .post(app.url("/api/v1/payments/webhook"))
        .header("content-type", "application/json")
        .header("stripe-signature", sign(secret, timestamp, payload.as_bytes()))
        .body(payload)
        .send()
        .await
        .unwrap();
    crate::helpers::read(response).await
}

fn event(id: &str, kind: &str, attempt_id: &str) -> Value {
    json!({"id": id, "object": "event", "type": kind, "data": {"object": {"id": "pi_ignored", "object": "payment_intent", "metadata": {"attempt_id": attempt_id}}}})
}

async fn a_signed_success_event_confirms_an_order_whose_answer_was_lost(app: &TestApp) {
    let showtime = app.showtime("Async").await;
    let seats = app.seat_ids(&showtime).await;
    let buyer = app.user().await;
    let (_, hold) = app.hold(&buyer, &showtime, &seats[0..2]).await;
    let (status, problem) = app.pay(&buyer, hold["id"].as_str().unwrap(), "tok_timeout", None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("payment_outcome_unknown"))
    );
    let (_, orders) = app.get(Some(&buyer), "/api/v1/orders").await;
    let order_id =
        marquee_domain::ids::OrderId::from_raw(orders["items"][0]["order"]["id"].as_str().unwrap());
    assert_eq!(orders["items"][0]["order"]["status"], "pending_payment");
    let attempt = app.store.order_attempts(&order_id).await.unwrap().remove(0);

    let now = app.clock.now().unix_timestamp();
    let (status, body) =
        deliver(app, &event("evt_1", "payment_intent.amount_capturable_updated", &attempt.id), now, SECRET)
            .await;
    assert_eq!((status, body["duplicate"].as_bool()), (StatusCode::OK, Some(false)), "{body}");
    let order = app.store.get_order(&order_id).await.unwrap().unwrap();
    assert_eq!(order.status, marquee_domain::inventory::OrderStatus::Confirmed);
    assert_eq!(app.gateway.captured().len(), 1, "captured once");
    // The provider delivers again: nothing happens twice.
    let (status, body) =
        deliver(app, &event("evt_1", "payment_intent.amount_capturable_updated", &attempt.id), now, SECRET)
            .await;
    assert_eq!((status, body["duplicate"].as_bool()), (StatusCode::OK, Some(true)));
    let (status, _) =
        deliver(app, &event("evt_2", "payment_intent.succeeded", &attempt.id), now, SECRET).await;
    assert_eq!(status, StatusCode::OK, "a second event for a settled payment is harmless");
    assert_eq!(app.gateway.captured().len(), 1);
    let map = app.get_json(&format!("/api/v1/showtimes/{}/seats", showtime.id)).await;
    assert_eq!(map["sold"], 2);
}

async fn bad_signatures_stale_events_and_replays_are_refused(app: &TestApp) {
    let now = app.clock.now().unix_timestamp();
    let body = event("evt_9", "payment_intent.succeeded", "pay_unknown");
    assert_eq!(deliver(app, &body, now, "whsec_wrong").await.0, StatusCode::BAD_REQUEST, "wrong secret");
    assert_eq!(deliver(app, &body, now - 600, SECRET).await.0, StatusCode::BAD_REQUEST, "stale timestamp");
    let signed = sign(SECRET, now, body.to_string().as_bytes());
    let tampered = body.to_string().replace("evt_9", "evt_8");
    let response = app
        .client
        .post(app.url("/api/v1/payments/webhook"))
        .header("stripe-signature", signed)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "tampered body");
    let response =
        app.client.post(app.url("/api/v1/payments/webhook")).body(body.to_string()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "no signature");
    let (status, first) = deliver(app, &body, now, SECRET).await;
    assert_eq!(
        (status, first["duplicate"].as_bool()),
        (StatusCode::OK, Some(false)),
        "unknown payments are acknowledged"
    );
    let (status, replay) = deliver(app, &body, now, SECRET).await;
    assert_eq!(
        (status, replay["duplicate"].as_bool()),
        (StatusCode::OK, Some(true)),
        "a replayed event id is not processed again"
    );
}

async fn without_a_secret_the_webhook_route_is_off(app: &TestApp) {
    let now = app.clock.now().unix_timestamp();
    assert_eq!(
        deliver(app, &event("evt_1", "payment_intent.succeeded", "x"), now, SECRET).await.0,
        StatusCode::NOT_FOUND
    );
}
