//! Liveness, readiness, metrics (and, beside them in `app`, the API description).
//!
//! - `/healthz` is **liveness**: 200 whenever the process answers HTTP, without touching the
//!   database, so an orchestrator restarts a wedged process but never a healthy node whose
//!   database is briefly away (a restart would not bring the database back).
//! - `/readyz` is **readiness**: 200 when the database answers and holds every migration this
//!   binary embeds, 503 otherwise and once the node is shutting down, so a load balancer sends
//!   traffic only to nodes that can serve it.
//! - `/metrics` is the Prometheus text exposition (see [`crate::observe`]), for loopback
//!   clients or holders of the metrics token.

use crate::dto::{HealthOut, ReadyOut};
use crate::error::{ApiError, Problem};
use crate::security::ClientIp;
use crate::{AppState, TAG_SYSTEM};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// Longest a readiness check waits for the database (the pool's own acquire timeout is far
/// longer; a probe must answer before the prober gives up).
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Alive: the process serves HTTP. No database call.
#[utoipa::path(get, path = "/healthz", tag = TAG_SYSTEM,
    responses((status = 200, description = "The process serves", body = HealthOut)))]
pub async fn healthz(State(state): State<AppState>) -> Json<HealthOut> {
    Json(HealthOut { status: "ok".into(), database: state.store.backend().as_str().into() })
}

/// Ready for traffic: the database answers and every migration of this binary is applied.
#[utoipa::path(get, path = "/readyz", tag = TAG_SYSTEM,
    responses(
        (status = 200, description = "Ready", body = ReadyOut),
        (status = 503, description = "Not ready (`urn:marquee:problem:not_ready`): the database does not answer, a migration is missing, or the node is shutting down", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<ReadyOut>, ApiError> {
    if state.feed.is_closing() {
        return Err(ApiError::NotReady("the node is shutting down".into()));
    }
    let unapplied = tokio::time::timeout(READINESS_TIMEOUT, state.store.unapplied_migrations())
        .await
        .map_err(|_| {
            ApiError::NotReady(format!(
                "the database did not answer within {} s",
                READINESS_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|error| {
            tracing::warn!(%error, "readiness: the database does not answer");
            ApiError::NotReady("the database does not answer".into())
        })?;
    if !unapplied.is_empty() {
        let versions: Vec<String> = unapplied.iter().map(i64::to_string).collect();
        return Err(ApiError::NotReady(format!(
            "the database lacks migrations {} of this binary; run `marquee migrate`",
            versions.join(", ")
        )));
    }
    Ok(Json(ReadyOut { status: "ready".into(), database: state.store.backend().as_str().into() }))
}

/// Prometheus metrics of this node (text exposition format 0.0.4). Served to loopback clients,
/// or to any client presenting the configured metrics token as a bearer token.
#[utoipa::path(get, path = "/metrics", tag = TAG_SYSTEM,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4", body = String),
        (status = 401, description = "A metrics token is configured and was not presented", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No metrics token is configured and the client is not on loopback", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn metrics(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    allowed_to_scrape(state.config.metrics_token.as_deref(), ip, &headers)?;
    // The waiting rooms' sizes take one query; a database that is away must not hold up the
    // scrape (the rest of the metrics are in memory).
    let queues = tokio::time::timeout(std::time::Duration::from_secs(1), state.store.queue_lengths())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let body = state.metrics.render(state.store.as_ref(), &state.feed, &queues);
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    Ok(response)
}

/// With a token configured, the bearer token must be it (compared in constant time); without
/// one, the client (as resolved through trusted proxies) must be on loopback.
fn allowed_to_scrape(token: Option<&str>, ip: ClientIp, headers: &HeaderMap) -> Result<(), ApiError> {
    match token {
        Some(expected) => match crate::auth::bearer_token(headers) {
            Some(given) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(()),
            _ => Err(ApiError::Domain(marquee_domain::Error::Unauthenticated)),
        },
        None if ip.0.is_some_and(|ip| ip.is_loopback()) => Ok(()),
        None => Err(ApiError::Domain(marquee_domain::Error::Forbidden(
            "metrics are served to loopback clients only; configure --metrics-token to scrape from elsewhere",
        ))),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |difference, (x, y)| difference | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
        headers
    }

    #[test]
    fn without_a_token_only_loopback_clients_may_scrape() {
        let loopback = ClientIp(Some(IpAddr::from([127, 0, 0, 1])));
        let remote = ClientIp(Some(IpAddr::from([203, 0, 113, 9])));
        assert!(allowed_to_scrape(None, loopback, &HeaderMap::new()).is_ok());
        assert!(allowed_to_scrape(None, ClientIp(Some("::1".parse().unwrap())), &HeaderMap::new()).is_ok());
        assert!(allowed_to_scrape(None, remote, &HeaderMap::new()).is_err());
        assert!(allowed_to_scrape(None, ClientIp(None), &HeaderMap::new()).is_err());
    }

    #[test]
    fn with_a_token_anyone_with_it_may_scrape_and_nobody_without() {
        let remote = ClientIp(Some(IpAddr::from([203, 0, 113, 9])));
        let loopback = ClientIp(Some(IpAddr::from([127, 0, 0, 1])));
        assert!(allowed_to_scrape(Some("s3cret-token"), remote, &bearer("s3cret-token")).is_ok());
        assert!(allowed_to_scrape(Some("s3cret-token"), remote, &bearer("s3cret-tokeN")).is_err());
        assert!(allowed_to_scrape(Some("s3cret-token"), loopback, &HeaderMap::new()).is_err());
    }
}
