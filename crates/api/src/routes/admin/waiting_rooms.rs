//! A showtime put on sale through a queue: its waiting room, set by admins (the queue itself
//! is `routes/queue.rs`).

use super::TAG_ADMIN;
use crate::AppState;
use crate::audit;
use crate::auth::AdminUser;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path};
use crate::security::ClientIp;
use axum::extract::State;
use axum::http::StatusCode;
use marquee_domain::Error;
use marquee_domain::ids::ShowtimeId;
use marquee_domain::queue::WaitingRoom;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// How a showtime goes on sale through a queue.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct WaitingRoomIn {
    /// When admission starts; joining before puts you in the lobby (order drawn at opening).
    #[serde(with = "time::serde::rfc3339")]
    pub opens_at: OffsetDateTime,
    /// Places admitted per minute.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub admit_per_minute: u32,
    /// How long an admission lets its holder hold seats, in minutes (at most a day).
    #[schema(minimum = 1, maximum = 1440)]
    pub admission_minutes: u32,
}

/// A waiting room and where its queue stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitingRoomOut {
    pub showtime_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub opens_at: OffsetDateTime,
    pub admit_per_minute: u32,
    pub admission_minutes: i64,
    pub queued: i64,
    pub admitted: i64,
}

async fn room_out(state: &AppState, showtime_id: &ShowtimeId) -> Result<WaitingRoomOut, ApiError> {
    let summary = state
        .store
        .queue_summary(showtime_id, state.clock.now())
        .await?
        .ok_or(Error::NotFound("waiting room"))?;
    Ok(WaitingRoomOut {
        showtime_id: showtime_id.to_string(),
        opens_at: summary.room.opens_at,
        admit_per_minute: summary.room.admit_per_minute,
        admission_minutes: summary.room.admission_ttl.whole_minutes(),
        queued: summary.queued,
        admitted: summary.room.admitted,
    })
}

/// Puts the showtime on sale through a queue, or changes its queue's settings (the queue and
/// the admissions so far are kept). From then on holding its seats needs an admission token.
#[utoipa::path(put, path = "/api/v1/admin/showtimes/{showtime_id}/waiting-room", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("showtime_id" = inline(ShowtimeId), Path)), request_body = WaitingRoomIn,
    responses((status = 200, body = WaitingRoomOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn put_waiting_room(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(showtime_id): Path<String>,
    Json(body): Json<WaitingRoomIn>,
) -> Result<axum::Json<WaitingRoomOut>, ApiError> {
    let showtime_id = ShowtimeId::from_raw(showtime_id);
    let room = WaitingRoom {
        showtime_id: showtime_id.clone(),
        opens_at: body.opens_at,
        admit_per_minute: body.admit_per_minute,
        admission_ttl: time::Duration::minutes(i64::from(body.admission_minutes)),
        admitted: 0,
        advanced_at: body.opens_at,
    };
    room.validate()?;
    state.store.put_waiting_room(&room).await?;
    audit::record(&state, Some(&admin), ip, "showtime.waiting_room", Some(showtime_id.as_str()), json!(body))
        .await;
    Ok(axum::Json(room_out(&state, &showtime_id).await?))
}

/// The showtime's waiting room and its queue.
#[utoipa::path(get, path = "/api/v1/admin/showtimes/{showtime_id}/waiting-room", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("showtime_id" = inline(ShowtimeId), Path)),
    responses((status = 200, body = WaitingRoomOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_waiting_room(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(showtime_id): Path<String>,
) -> Result<axum::Json<WaitingRoomOut>, ApiError> {
    Ok(axum::Json(room_out(&state, &ShowtimeId::from_raw(showtime_id)).await?))
}

/// Removes the waiting room and its queue: the showtime sells to everyone again.
#[utoipa::path(delete, path = "/api/v1/admin/showtimes/{showtime_id}/waiting-room", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("showtime_id" = inline(ShowtimeId), Path)),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete_waiting_room(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(showtime_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let showtime_id = ShowtimeId::from_raw(showtime_id);
    state.store.delete_waiting_room(&showtime_id).await?;
    audit::record(
        &state,
        Some(&admin),
        ip,
        "showtime.waiting_room.delete",
        Some(showtime_id.as_str()),
        json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
