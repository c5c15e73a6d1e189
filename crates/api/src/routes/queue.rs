//! Waiting rooms: join a showtime's queue, see your place, get admitted. Admins put a showtime
//! on sale through a queue under `/api/v1/admin/showtimes/{id}/waiting-room`
//! (`routes/admin/waiting_rooms.rs`).
//!
//! The queue lives in the database (any node answers alike); admission moves at the room's
//! pace (see [`marquee_domain::queue`]); the admission token that comes with your turn is what
//! the hold endpoints ask for (`X-Admission-Token`).

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::extract::Path;
use crate::{AppState, TAG_INVENTORY};
use axum::extract::State;
use axum::http::StatusCode;
use marquee_domain::Error;
use marquee_domain::account::User;
use marquee_domain::ids::ShowtimeId;
use marquee_domain::queue::QueueState;
use marquee_store::QueuePlace;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Your place in a showtime's queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueOut {
    pub showtime_id: String,
    /// `lobby` (joined before the opening: the order is drawn then), `waiting`, `admitted`
    /// (hold seats with `admission_token` until `admission_expires_at`), or `expired`
    /// (join again, at the back).
    pub status: String,
    /// 1-based place in the queue; absent in the lobby.
    pub place: Option<i64>,
    /// Places still to be admitted before yours.
    pub ahead: Option<i64>,
    /// Everyone in the queue.
    pub queued: i64,
    /// Places admitted so far.
    pub admitted: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub opens_at: OffsetDateTime,
    pub admit_per_minute: u32,
    /// When your turn should come at the current pace.
    #[serde(with = "time::serde::rfc3339::option")]
    pub estimated_admission_at: Option<OffsetDateTime>,
    /// Send it as `X-Admission-Token` when holding seats of this showtime.
    pub admission_token: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub admission_expires_at: Option<OffsetDateTime>,
}

fn queue_out(state: &AppState, user: &User, place: &QueuePlace, now: OffsetDateTime) -> QueueOut {
    let room = &place.room;
    let status = QueueState::of(room, place.index, place.admitted_at, now);
    let opened = now >= room.opens_at;
    let (name, ahead, eta, token, until) = match status {
        QueueState::Lobby => ("lobby", None, None, None, None),
        QueueState::Waiting { ahead } => {
            let wait_ms = (ahead + 1) * 60_000 / i64::from(room.admit_per_minute);
            ("waiting", Some(ahead), Some(now + time::Duration::milliseconds(wait_ms)), None, None)
        }
        QueueState::Admitted { until } => {
            let token = state.admission.issue(&room.showtime_id, &user.id, until);
            ("admitted", Some(0), None, Some(token), Some(until))
        }
        QueueState::Expired => ("expired", None, None, None, None),
    };
    QueueOut {
        showtime_id: room.showtime_id.to_string(),
        status: name.into(),
        place: opened.then_some(place.index + 1),
        ahead,
        queued: place.queued,
        admitted: room.admitted,
        opens_at: room.opens_at,
        admit_per_minute: room.admit_per_minute,
        estimated_admission_at: eta,
        admission_token: token,
        admission_expires_at: until,
    }
}

/// The user's place with admission brought up to `now`, counting the admission if this look
/// recorded it.
async fn place_now(
    state: &AppState,
    showtime_id: &ShowtimeId,
    user: &User,
    now: OffsetDateTime,
) -> Result<Option<QueuePlace>, ApiError> {
    let place = state.store.queue_place(showtime_id, &user.id, now).await?;
    if place.as_ref().is_some_and(|place| place.newly_admitted) {
        state.metrics.queue_admitted();
    }
    Ok(place)
}

/// Joins the showtime's queue. Joining again returns the same place (reconnecting never moves
/// you); after an expired admission it puts you at the back. Before the opening you wait in
/// the lobby, and the lobby's order is drawn at random when the queue opens.
#[utoipa::path(post, path = "/api/v1/showtimes/{showtime_id}/queue", tag = TAG_INVENTORY, security(("bearer" = [])),
    params(("showtime_id" = inline(ShowtimeId), Path, description = "Showtime id")),
    responses(
        (status = 200, description = "Your place", body = QueueOut),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such showtime, or it has no queue", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn join_queue(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(showtime_id): Path<String>,
) -> Result<axum::Json<QueueOut>, ApiError> {
    let showtime_id = ShowtimeId::from_raw(showtime_id);
    let now = state.clock.now();
    if let Some(place) = place_now(&state, &showtime_id, &user, now).await? {
        if QueueState::of(&place.room, place.index, place.admitted_at, now) != QueueState::Expired {
            return Ok(axum::Json(queue_out(&state, &user, &place, now)));
        }
        state.store.leave_queue(&showtime_id, &user.id).await?;
    }
    let room = state.store.waiting_room(&showtime_id).await?.ok_or(Error::NotFound("waiting room"))?;
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(Error::internal)?;
    let key = room.place_key(now, u64::from_le_bytes(random));
    let place = state.store.join_queue(&showtime_id, &user.id, key, now).await?;
    state.metrics.queue_joined();
    if place.newly_admitted {
        state.metrics.queue_admitted();
    }
    Ok(axum::Json(queue_out(&state, &user, &place, now)))
}

/// Your place in the showtime's queue (poll it, or watch the showtime's event stream); once
/// admitted it carries the admission token.
#[utoipa::path(get, path = "/api/v1/showtimes/{showtime_id}/queue", tag = TAG_INVENTORY, security(("bearer" = [])),
    params(("showtime_id" = inline(ShowtimeId), Path, description = "Showtime id")),
    responses(
        (status = 200, description = "Your place", body = QueueOut),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not in this showtime's queue", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn queue_place(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(showtime_id): Path<String>,
) -> Result<axum::Json<QueueOut>, ApiError> {
    let now = state.clock.now();
    let place = place_now(&state, &ShowtimeId::from_raw(showtime_id), &user, now)
        .await?
        .ok_or(Error::NotFound("place in the queue"))?;
    Ok(axum::Json(queue_out(&state, &user, &place, now)))
}

/// Leaves the showtime's queue (joining again goes to the back).
#[utoipa::path(delete, path = "/api/v1/showtimes/{showtime_id}/queue", tag = TAG_INVENTORY, security(("bearer" = [])),
    params(("showtime_id" = inline(ShowtimeId), Path, description = "Showtime id")),
    responses(
        (status = 204, description = "Left (or was not in it)"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn leave_queue(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(showtime_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.leave_queue(&ShowtimeId::from_raw(showtime_id), &user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
