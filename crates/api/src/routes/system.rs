//! Liveness and the API description.

use crate::dto::HealthOut;
use crate::{AppState, TAG_SYSTEM};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

/// Alive, and whether the database answers.
#[utoipa::path(get, path = "/healthz", tag = TAG_SYSTEM,
    responses(
        (status = 200, description = "Serving", body = HealthOut),
        (status = 503, description = "The database does not answer", body = HealthOut),
    ))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<HealthOut>) {
    let database = state.store.ping().await;
    let status = if database.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        status,
        Json(HealthOut {
            status: if database.is_ok() { "ok" } else { "degraded" }.into(),
            database: state.store.backend().as_str().into(),
        }),
    )
}
