//! A small, stateful stand-in for Stripe's PaymentIntents API, answering with Stripe-shaped
//! JSON: enough of the real behaviour (idempotency keys, manual capture, cancel, refunds,
//! search, card errors, a 500 after acting) to test the gateway without the network.
//!
//! Only built with the `fake` feature: the gateway's contract tests use it, and the crash test
//! (`marquee-bench crash-sale`) runs it in its own process so that the provider's memory
//! survives every kill of the server, as Stripe's would.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Fake {
    secret: String,
    intents: Vec<Intent>,
    /// Responses by idempotency key, replayed like Stripe does.
    replies: HashMap<String, (u16, Value)>,
}

#[derive(Clone)]
struct Intent {
    id: String,
    amount: i64,
    currency: String,
    status: String,
    attempt_id: String,
    refunded: i64,
}

impl Intent {
    fn json(&self) -> Value {
        json!({"id": self.id, "object": "payment_intent", "amount": self.amount, "currency": self.currency,
               "status": self.status, "capture_method": "manual", "metadata": {"attempt_id": self.attempt_id}})
    }
}

type Shared = Arc<Mutex<Fake>>;

fn error(status: u16, body: Value) -> (u16, Value) {
    (status, json!({ "error": body }))
}

fn reply((status, body): (u16, Value)) -> Response {
    (StatusCode::from_u16(status).unwrap(), Json(body)).into_response()
}

/// Checks the key and replays or records the answer of `handle`.
fn handle(fake: &Shared, headers: &HeaderMap, act: impl FnOnce(&mut Fake) -> (u16, Value)) -> Response {
    let mut fake = fake.lock().unwrap();
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {}", fake.secret));
    if !authorized {
        return reply(error(
            401,
            json!({"type": "invalid_request_error", "message": "Invalid API Key provided"}),
        ));
    }
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(previous) = key.as_ref().and_then(|key| fake.replies.get(key)) {
        return reply(previous.clone());
    }
    let answer = act(&mut fake);
    if let Some(key) = key {
        fake.replies.insert(key, answer.clone());
    }
    reply(answer)
}

async fn create(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    handle(&fake, &headers, |fake| {
        let token = form.get("payment_method").cloned().unwrap_or_default();
        let card_error = |code: &str, decline: Option<&str>| {
            error(
                402,
                json!({"type": "card_error", "code": code, "decline_code": decline, "message": "Your card was declined."}),
            )
        };
        match token.as_str() {
            "tok_chargeDeclined" => return card_error("card_declined", None),
            "tok_insufficientFunds" => return card_error("card_declined", Some("insufficient_funds")),
            "tok_processingError" => {
                return error(
                    400,
                    json!({"type": "api_error", "message": "An error occurred while processing."}),
                );
            }
            "tok_visa" | "tok_mastercard" | "tok_timeout" => {}
            _ => {
                return error(
                    400,
                    json!({"type": "invalid_request_error", "code": "resource_missing", "param": "payment_method",
                                          "message": "No such PaymentMethod"}),
                );
            }
        }
        let intent = Intent {
            id: format!("pi_fake_{}", fake.intents.len() + 1),
            amount: form["amount"].parse().unwrap(),
            currency: form["currency"].clone(),
            status: "requires_capture".into(),
            attempt_id: form.get("metadata[attempt_id]").cloned().unwrap_or_default(),
            refunded: 0,
        };
        fake.intents.push(intent.clone());
        if token == "tok_timeout" {
            // Acted, then failed to answer properly.
            return error(500, json!({"type": "api_error", "message": "internal"}));
        }
        (200, intent.json())
    })
}

fn change(fake: &mut Fake, id: &str, from: &str, to: &str) -> (u16, Value) {
    match fake.intents.iter_mut().find(|i| i.id == id) {
        None => error(
            404,
            json!({"type": "invalid_request_error", "code": "resource_missing", "message": "No such payment_intent"}),
        ),
        Some(intent) if intent.status == from || intent.status == to => {
            intent.status = to.into();
            (200, intent.json())
        }
        Some(intent) => error(
            400,
            json!({"type": "invalid_request_error", "code": "payment_intent_unexpected_state",
                                          "message": format!("This PaymentIntent is {}", intent.status)}),
        ),
    }
}

async fn capture(State(fake): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&fake, &headers, |fake| change(fake, &id, "requires_capture", "succeeded"))
}

async fn cancel(State(fake): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&fake, &headers, |fake| change(fake, &id, "requires_capture", "canceled"))
}

async fn refund(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    handle(&fake, &headers, |fake| {
        let amount: i64 = form["amount"].parse().unwrap();
        let count = fake.intents.len();
        match fake.intents.iter_mut().find(|i| i.id == form["payment_intent"]) {
            Some(intent) if intent.status == "succeeded" && intent.refunded + amount <= intent.amount => {
                intent.refunded += amount;
                (
                    200,
                    json!({"id": format!("re_fake_{count}_{}", intent.refunded), "object": "refund", "amount": amount, "status": "succeeded"}),
                )
            }
            _ => error(
                400,
                json!({"type": "invalid_request_error", "code": "charge_already_refunded", "message": "Refund not possible"}),
            ),
        }
    })
}

async fn search(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    handle(&fake, &headers, |fake| {
        let wanted =
            query["query"].trim_start_matches("metadata['attempt_id']:'").trim_end_matches('\'').to_owned();
        let data: Vec<Value> =
            fake.intents.iter().filter(|i| i.attempt_id == wanted).map(Intent::json).collect();
        (200, json!({"object": "search_result", "data": data, "has_more": false}))
    })
}

/// What the fake holds: `(attempt id, status)` of every payment intent, in creation order.
#[derive(Clone)]
pub struct FakeStripe(Shared);

impl FakeStripe {
    pub fn intents(&self) -> Vec<(String, String)> {
        let fake = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        fake.intents.iter().map(|i| (i.attempt_id.clone(), i.status.clone())).collect()
    }
}

/// Starts the fake on a random port; returns its base URL.
pub async fn start(secret: &str) -> String {
    start_inspectable(secret).await.0
}

/// Starts the fake on a random port; returns its base URL and a handle to inspect it.
pub async fn start_inspectable(secret: &str) -> (String, FakeStripe) {
    let fake: Shared = Arc::new(Mutex::new(Fake { secret: secret.into(), ..Fake::default() }));
    let app = Router::new()
        .route("/v1/payment_intents", post(create))
        .route("/v1/payment_intents/search", get(search))
        .route("/v1/payment_intents/{id}/capture", post(capture))
        .route("/v1/payment_intents/{id}/cancel", post(cancel))
        .route("/v1/refunds", post(refund))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a port for the fake");
    let address = listener.local_addr().expect("the fake's address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve the fake") });
    (format!("http://{address}"), FakeStripe(fake))
}
