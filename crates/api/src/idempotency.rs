//! `Idempotency-Key` handling for writes a client may retry.
//!
//! The first request with a key claims it in the database and runs; its response (success or
//! client error) is stored and replayed, byte for byte, to every retry with the same key and
//! the same request. The same key with a different request is refused (422); a retry while
//! the first is still running gets 409. Server errors release the key so a retry can run.

use crate::AppState;
use crate::error::{ApiError, problem_response};
use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use marquee_domain::Error;
use marquee_domain::account::User;
use marquee_store::IdempotencyClaim;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";
/// Longest accepted key (the API document states it too).
pub const MAX_KEY_LENGTH: usize = 255;
/// A claim older than this whose request never finished (its node died) may be taken over.
const STALE_CLAIM: time::Duration = time::Duration::seconds(60);

/// The optional `Idempotency-Key` header: 1 to 255 visible ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(HEADER) else { return Ok(Self(None)) };
        let key = value.to_str().ok().filter(|key| {
            !key.is_empty() && key.len() <= MAX_KEY_LENGTH && key.bytes().all(|b| b.is_ascii_graphic())
        });
        key.map(|key| Self(Some(key.to_owned()))).ok_or_else(|| {
            ApiError::BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters".into())
        })
    }
}

/// Runs `operation` at most once per (user, key); see the module documentation.
///
/// `request` identifies what was asked (route, path ids, body); it is hashed and compared on
/// every retry.
pub async fn run<T, F, Fut>(
    state: &AppState,
    user: &User,
    key: IdempotencyKey,
    request: impl Serialize,
    success: StatusCode,
    operation: F,
) -> Response
where
    T: Serialize,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let Some(key) = key.0 else {
        return match operation().await {
            Ok(value) => (success, Json(value)).into_response(),
            Err(error) => error.into_response(),
        };
    };
    let request_hash = match serde_json::to_vec(&request) {
        Ok(bytes) => Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect::<String>(),
        Err(error) => return ApiError::from(Error::internal(error)).into_response(),
    };
    let now = state.clock.now();
    let claim =
        state.store.claim_idempotency_key(&user.id, &key, &request_hash, now, now - STALE_CLAIM).await;
    match claim {
        Err(error) => ApiError::from(error).into_response(),
        Ok(IdempotencyClaim::Mismatch) => ApiError::from(Error::IdempotencyKeyReused).into_response(),
        Ok(IdempotencyClaim::InProgress) => ApiError::from(Error::IdempotencyInProgress).into_response(),
        Ok(IdempotencyClaim::Replay { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let body = serde_json::from_str(&body).unwrap_or_default();
            replayed(respond(status, body))
        }
        Ok(IdempotencyClaim::Claimed) => {
            let (status, body) = match operation().await {
                Ok(value) => match serde_json::to_value(value) {
                    Ok(body) => (success, body),
                    Err(error) => ApiError::from(Error::internal(error)).to_problem(),
                },
                Err(error) => error.to_problem(),
            };
            let recorded = if status.is_server_error() {
                state.store.abandon_idempotency_key(&user.id, &key).await
            } else {
                state.store.finish_idempotency_key(&user.id, &key, status.as_u16(), &body.to_string()).await
            };
            if let Err(error) = recorded {
                tracing::error!(%error, "could not record an idempotent response");
            }
            respond(status, body)
        }
    }
}

fn respond(status: StatusCode, body: serde_json::Value) -> Response {
    if status.is_client_error() || status.is_server_error() {
        problem_response(status, body)
    } else {
        (status, Json(body)).into_response()
    }
}

fn replayed(mut response: Response) -> Response {
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
