//! `Idempotency-Key` handling for writes a client may retry.
//!
//! A request with a key looks it up first (a read). Its answer stored → replayed, byte for
//! byte, to every retry with the same request (the same key with a different request: 422).
//! Not stored → the request runs, and the write that makes its outcome (a hold, a payment
//! attempt, a refund) claims the key **in that write's own transaction**: there is no commit
//! of the claim alone, and a crash loses both or neither. Its answer (success or client error)
//! is stored after it. A server error after the write lets go of the claim.
//!
//! A retry that finds the key claimed but unanswered — its original still running, or lost
//! with its node — learns the outcome from what the original wrote ([`Outcome`]): the hold,
//! the order its payment confirmed, the refunded order. Still unsettled (the provider's answer
//! is awaited) → 409, retry later. Came to nothing (a payment that failed) → the retry takes
//! the key over, once the original let go of it or is gone (claimed over a minute ago), and
//! runs again.

use crate::AppState;
use crate::error::{ApiError, problem_response};
use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use marquee_booking::Outcome;
use marquee_domain::Error;
use marquee_domain::account::User;
use marquee_store::{KeyClaim, KeyRecord, KeyResource};
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
/// every retry. `operation` gets the claim its write must make (none without a key) and, when
/// it takes over a key whose earlier run wrote something that came to nothing, what that was.
/// `outcome` tells what became of an unanswered key's write.
pub async fn run<T, F, Fut, R, RFut>(
    state: &AppState,
    user: &User,
    key: IdempotencyKey,
    request: impl Serialize,
    success: StatusCode,
    outcome: R,
    operation: F,
) -> Response
where
    T: Serialize,
    F: FnOnce(Option<KeyClaim>, Option<KeyResource>) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
    R: FnOnce(KeyResource) -> RFut,
    RFut: Future<Output = Result<Outcome<T>, ApiError>>,
{
    let Some(key) = key.0 else {
        return match operation(None, None).await {
            Ok(value) => (success, Json(value)).into_response(),
            Err(error) => error.into_response(),
        };
    };
    let request_hash = match serde_json::to_vec(&request) {
        Ok(bytes) => Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect::<String>(),
        Err(error) => return ApiError::from(Error::internal(error)).into_response(),
    };
    let claim =
        KeyClaim { user_id: user.id.clone(), key, request_hash, owner: marquee_domain::ids::prefixed("req") };
    let earlier = match state.store.idempotency_key(&user.id, &claim.key).await {
        Err(error) => return ApiError::from(error).into_response(),
        Ok(None) => None,
        Ok(Some(record)) => match stored(state, &claim, record, success, outcome).await {
            Stored::Answer(response) => return response,
            Stored::TakenOver(earlier) => earlier,
        },
    };
    let (status, body) = match operation(Some(claim.clone()), earlier).await {
        Ok(value) => match serde_json::to_value(value) {
            Ok(body) => (success, body),
            Err(error) => ApiError::from(Error::internal(error)).to_problem(),
        },
        Err(error) => error.to_problem(),
    };
    let recorded = if status.is_server_error() {
        state.store.release_idempotency_key(&claim).await
    } else {
        state
            .store
            .answer_idempotency_key(&claim, status.as_u16(), &body.to_string(), state.clock.now())
            .await
    };
    if let Err(error) = recorded {
        tracing::error!(%error, "could not record an idempotent response");
    }
    respond(status, body)
}

/// What a stored key means for a new request with it.
enum Stored {
    /// Answer this (a replay, a refusal, or the outcome of the earlier write).
    Answer(Response),
    /// The key is this request's now; run, carrying on from the earlier write if any.
    TakenOver(Option<KeyResource>),
}

async fn stored<T, R, RFut>(
    state: &AppState,
    claim: &KeyClaim,
    record: KeyRecord,
    success: StatusCode,
    outcome: R,
) -> Stored
where
    T: Serialize,
    R: FnOnce(KeyResource) -> RFut,
    RFut: Future<Output = Result<Outcome<T>, ApiError>>,
{
    let refuse = |error: Error| Stored::Answer(ApiError::from(error).into_response());
    if record.request_hash != claim.request_hash {
        return refuse(Error::IdempotencyKeyReused);
    }
    if let Some((status, body)) = record.answer {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        let body = serde_json::from_str(&body).unwrap_or_default();
        return Stored::Answer(replayed(respond(status, body)));
    }
    if let Some(resource) = record.resource.clone() {
        match outcome(resource).await {
            Err(error) => return Stored::Answer(error.into_response()),
            Ok(Outcome::Done(value)) => {
                return Stored::Answer(match serde_json::to_value(value) {
                    Ok(body) => replayed(respond(success, body)),
                    Err(error) => ApiError::from(Error::internal(error)).into_response(),
                });
            }
            Ok(Outcome::Pending) => return refuse(Error::IdempotencyInProgress),
            Ok(Outcome::Again) => {}
        }
    }
    let now = state.clock.now();
    match state
        .store
        .adopt_idempotency_key(&claim.user_id, &claim.key, &claim.owner, now, now - STALE_CLAIM)
        .await
    {
        Ok(true) => Stored::TakenOver(record.resource),
        Ok(false) => refuse(Error::IdempotencyInProgress),
        Err(error) => refuse(error),
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
