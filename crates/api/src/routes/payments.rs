//! The payment provider's webhooks.

use crate::error::{ApiError, Problem};
use crate::{AppState, PaymentClient};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use marquee_domain::Error;
use marquee_payments::webhook;
use serde::Serialize;
use utoipa::ToSchema;

pub const TAG_PAYMENTS: &str = "payments";

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookOut {
    pub received: bool,
    /// The event was processed before and was ignored this time.
    pub duplicate: bool,
}

/// What the seat map and checkout need: how to take a card, the hold limits, the cancellation
/// cutoff.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentClientOut {
    /// `test` (the built-in test gateway) or `stripe`.
    pub provider: &'static str,
    /// Stripe's publishable key, for Stripe.js (`stripe` only; absent when not configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publishable_key: Option<String>,
    /// The test gateway's cards (`test` only).
    pub test_cards: Vec<TestCardOut>,
    /// Orders may be cancelled for a full refund until this many hours before the show (for
    /// the checkout to say so before the buyer pays).
    pub cancellation_cutoff_hours: i64,
    /// Most tickets one hold may take.
    pub max_tickets_per_hold: u32,
    /// Most tickets of one showtime one account may hold at once.
    pub max_held_tickets_per_showtime: u32,
    /// How long a hold keeps its tickets, in seconds.
    pub hold_seconds: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestCardOut {
    /// The payment token to send.
    pub token: &'static str,
    pub label: &'static str,
    /// `succeeds` or `declined`.
    pub outcome: &'static str,
}

const TEST_CARDS: [(&str, &str, &str); 4] = [
    ("tok_visa", "Visa — succeeds", "succeeds"),
    ("tok_mastercard", "Mastercard — succeeds", "succeeds"),
    ("tok_chargeDeclined", "Declined card", "declined"),
    ("tok_insufficientFunds", "Insufficient funds", "declined"),
];

/// How to buy from a browser: the test gateway's cards or the key for the provider's own card
/// form, how many tickets a hold may take and for how long, and until when orders may be
/// cancelled. Public: it holds nothing secret.
#[utoipa::path(get, path = "/api/v1/payments/config", tag = TAG_PAYMENTS,
    responses((status = 200, description = "The payment provider's client settings", body = PaymentClientOut)))]
pub async fn client_config(State(state): State<AppState>) -> Json<PaymentClientOut> {
    let cancellation_cutoff_hours = state.config.cancellation_cutoff.whole_hours();
    let policy = state.config.hold_policy;
    Json(match &state.config.payment_client {
        PaymentClient::Test => PaymentClientOut {
            provider: "test",
            publishable_key: None,
            test_cards: TEST_CARDS
                .iter()
                .map(|&(token, label, outcome)| TestCardOut { token, label, outcome })
                .collect(),
            cancellation_cutoff_hours,
            max_tickets_per_hold: policy.max_tickets,
            max_held_tickets_per_showtime: policy.max_held_per_user,
            hold_seconds: policy.ttl.whole_seconds(),
        },
        PaymentClient::Stripe { publishable_key } => PaymentClientOut {
            provider: "stripe",
            publishable_key: publishable_key.clone(),
            test_cards: Vec::new(),
            cancellation_cutoff_hours,
            max_tickets_per_hold: policy.max_tickets,
            max_held_tickets_per_showtime: policy.max_held_per_user,
            hold_seconds: policy.ttl.whole_seconds(),
        },
    })
}

/// Receives provider events (Stripe's format and signature scheme). The signature is checked
/// (HMAC-SHA256 over `timestamp.body`, 5 minutes tolerance, constant-time), each event id is
/// processed once, and payment events settle their payment attempt with what the provider
/// says — never with what the event body claims.
#[utoipa::path(post, path = "/api/v1/payments/webhook", tag = TAG_PAYMENTS,
    params(("Stripe-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256>")),
    request_body(content = String, content_type = "application/json", description = "The provider's event"),
    responses(
        (status = 200, description = "Accepted", body = WebhookOut),
        (status = 400, description = "Missing, malformed, wrong or stale signature; or not an event", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Webhooks are not configured", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookOut>, ApiError> {
    let secret = state.config.webhook_secret.as_deref().ok_or(Error::NotFound("webhook endpoint"))?;
    let signature = headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| ApiError::BadRequest("missing Stripe-Signature header".into()))?;
    let now = state.clock.now();
    let event =
        webhook::verify(secret, signature, &body, now).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if state.store.seen_webhook_event(&event.id).await? {
        return Ok(Json(WebhookOut { received: true, duplicate: true }));
    }
    if event.kind.starts_with("payment_intent.") {
        let attempt = match event.data.object.metadata.get("attempt_id") {
            Some(attempt_id) => state.store.get_attempt(attempt_id).await?,
            None => state.store.attempt_by_reference(state.booking.provider(), &event.data.object.id).await?,
        };
        if let Some(attempt) = attempt {
            state.booking.settle_attempt(&attempt.id).await?;
        }
    }
    // Recorded after processing: a failure above makes the provider deliver it again.
    let first = state.store.record_webhook_event(&event.id, &event.kind, now).await?;
    Ok(Json(WebhookOut { received: true, duplicate: !first }))
}
