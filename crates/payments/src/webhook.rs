//! Verifying webhooks: Stripe's scheme.
//!
//! The `Stripe-Signature` header is `t=<unix seconds>,v1=<hex HMAC-SHA256>` (more `v1` entries
//! during a secret rotation). The HMAC is computed with the endpoint's secret over
//! `"<t>.<raw body>"`. An event is accepted only if one `v1` matches (compared in constant
//! time) and `t` is within the tolerance of now, which bounds replays; the event id is then
//! de-duplicated by the caller.

use hmac::{KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use time::OffsetDateTime;

type HmacSha256 = hmac::Hmac<Sha256>;

/// How far the signature's timestamp may be from now.
pub const TOLERANCE: time::Duration = time::Duration::minutes(5);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("missing or malformed Stripe-Signature header")]
    Malformed,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the signature is too old or from the future")]
    Stale,
    #[error("the body is not a webhook event: {0}")]
    BadEvent(String),
}

/// The parts of an event Marquee acts on.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: EventData,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct EventData {
    pub object: EventObject,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct EventObject {
    /// The payment intent id (the provider reference).
    pub id: String,
    #[serde(default)]
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// Checks the signature and timestamp, then parses the event.
pub fn verify(
    secret: &str,
    header: &str,
    payload: &[u8],
    now: OffsetDateTime,
) -> Result<Event, WebhookError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(decode_hex(value).ok_or(WebhookError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::Malformed)?;
    if signatures.is_empty() {
        return Err(WebhookError::Malformed);
    }
    let signed_at = OffsetDateTime::from_unix_timestamp(timestamp).map_err(|_| WebhookError::Malformed)?;
    let matches = signatures.iter().any(|signature| {
        let mac = mac(secret, timestamp, payload);
        // `verify_slice` compares in constant time.
        mac.verify_slice(signature).is_ok()
    });
    if !matches {
        return Err(WebhookError::BadSignature);
    }
    if (now - signed_at).abs() > TOLERANCE {
        return Err(WebhookError::Stale);
    }
    serde_json::from_slice(payload).map_err(|e| WebhookError::BadEvent(e.to_string()))
}

/// The `Stripe-Signature` header for `payload` at `timestamp` (what the provider sends; used
/// by tests and by anyone replaying events locally).
pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let signature = mac(secret, timestamp, payload).finalize().into_bytes();
    let hex: String = signature.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

fn decode_hex(value: &str) -> Option<Vec<u8>> {
    if !value.len().is_multiple_of(2) {
        return None;
    }
    (0..value.len()).step_by(2).map(|i| u8::from_str_radix(value.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","metadata":{"attempt_id":"pay_1"}}}}"#;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap()
    }

    #[test]
    fn a_valid_signature_yields_the_event() {
        let header = sign(SECRET, 1_900_000_000, BODY);
        let event = verify(SECRET, &header, BODY, now()).unwrap();
        assert_eq!(
            (event.id.as_str(), event.kind.as_str(), event.data.object.id.as_str()),
            ("evt_1", "payment_intent.succeeded", "pi_1")
        );
        assert_eq!(event.data.object.metadata["attempt_id"], "pay_1");
    }

    #[test]
    fn tampered_bodies_wrong_secrets_and_stale_timestamps_are_refused() {
        let header = sign(SECRET, 1_900_000_000, BODY);
        let tampered = String::from_utf8_lossy(BODY).replace("pi_1", "pi_2");
        assert_eq!(verify(SECRET, &header, tampered.as_bytes(), now()), Err(WebhookError::BadSignature));
        assert_eq!(verify("whsec_other", &header, BODY, now()), Err(WebhookError::BadSignature));
        let late = now() + time::Duration::minutes(6);
        assert_eq!(verify(SECRET, &header, BODY, late), Err(WebhookError::Stale));
        for malformed in ["", "t=1", "v1=abcd", "t=x,v1=zz"] {
            assert!(verify(SECRET, malformed, BODY, now()).is_err(), "{malformed}");
        }
        // A rotation: one of several signatures is enough.
        let rotated = format!("{},v1={}", sign(SECRET, 1_900_000_000, BODY), "00".repeat(32));
        assert!(verify(SECRET, &rotated, BODY, now()).is_ok());
    }
}
