//! E-tickets (owner only) and the door (staff and admins).

use crate::auth::{AuthUser, StaffUser};
use crate::dto::{ShowtimeOut, ShowtimePage, TicketOut};
use crate::error::{ApiError, Problem};
use crate::etickets::{TicketClaims, qr_svg};
use crate::extract::{Json, Path};
use crate::security::ClientIp;
use crate::{AppState, TAG_TICKETS, audit};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use marquee_domain::Error;
use marquee_domain::account::User;
use marquee_domain::ids::{ShowtimeId, TicketId};
use marquee_store::CheckIn;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ETicketOut {
    #[serde(flatten)]
    pub ticket: TicketOut,
    pub order_id: String,
    /// The signed door code (also as a QR code at `…/qr.svg`).
    pub code: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub checked_in_at: Option<OffsetDateTime>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyOut {
    /// Key id.
    pub kid: String,
    /// Always `Ed25519`.
    pub alg: String,
    /// The 32-byte public key, base64url.
    pub public_key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeysOut {
    pub keys: Vec<KeyOut>,
    /// How codes are built: `MQ1.<base64url("ticket|order|showtime")>.<base64url(signature)>`.
    pub format: String,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInIn {
    /// The scanned or typed door code (`MQ1.<payload>.<signature>`; its signature must be
    /// this server's).
    #[schema(pattern = r"^MQ1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")]
    pub code: String,
    /// The showtime this door admits to; codes for other showtimes are refused.
    #[schema(value_type = Option<ShowtimeId>)]
    pub showtime_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckInOut {
    /// `admitted`.
    pub result: String,
    pub ticket_id: String,
    pub label: String,
    pub showtime_id: String,
}

/// The caller's sold ticket and its claims; anything else is "not found".
async fn own_ticket(
    state: &AppState,
    user: &User,
    id: String,
) -> Result<(TicketOut, TicketClaims, Option<OffsetDateTime>), ApiError> {
    let id = TicketId::from_raw(id);
    let sold = state
        .store
        .sold_ticket(&id)
        .await?
        .filter(|sold| sold.user_id == user.id)
        .ok_or(Error::NotFound("ticket"))?;
    let ticket = state.store.get_ticket(&id, state.clock.now()).await?.ok_or(Error::NotFound("ticket"))?;
    let claims =
        TicketClaims { ticket_id: id, order_id: sold.order_id, showtime_id: ticket.showtime_id.clone() };
    Ok((TicketOut::from(&ticket), claims, sold.checked_in_at))
}

/// One of the caller's tickets with its door code.
#[utoipa::path(get, path = "/api/v1/tickets/{ticket_id}", tag = TAG_TICKETS, security(("bearer" = [])),
    params(("ticket_id" = inline(TicketId), Path)),
    responses((status = 200, body = ETicketOut), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a ticket of yours", body = Problem, content_type = "application/problem+json")))]
pub async fn get_ticket(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(ticket_id): Path<String>,
) -> Result<axum::Json<ETicketOut>, ApiError> {
    let (ticket, claims, checked_in_at) = own_ticket(&state, &user, ticket_id).await?;
    Ok(axum::Json(ETicketOut {
        code: state.tickets.code(&claims),
        order_id: claims.order_id.to_string(),
        ticket,
        checked_in_at,
    }))
}

/// The door code of one of the caller's tickets as a QR code (SVG).
#[utoipa::path(get, path = "/api/v1/tickets/{ticket_id}/qr.svg", tag = TAG_TICKETS, security(("bearer" = [])),
    params(("ticket_id" = inline(TicketId), Path)),
    responses((status = 200, body = String, content_type = "image/svg+xml"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a ticket of yours", body = Problem, content_type = "application/problem+json")))]
pub async fn ticket_qr(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(ticket_id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, claims, _) = own_ticket(&state, &user, ticket_id).await?;
    let svg = qr_svg(&state.tickets.code(&claims))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "private, no-store")], svg)
        .into_response())
}

/// The most showtimes the door's list shows.
const DOOR_SHOWTIMES: u32 = 200;

/// The showtimes a door may be admitting to now: those starting from 12 hours ago to 36 hours
/// ahead, whatever their sale window or publication (a door opens after sales close), except
/// cancelled ones. For staff and admins.
#[utoipa::path(get, path = "/api/v1/checkin/showtimes", tag = TAG_TICKETS, security(("bearer" = [])),
    responses(
        (status = 200, description = "Showtimes by start time", body = ShowtimePage),
        (status = 403, description = "Not staff", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn door_showtimes(
    State(state): State<AppState>,
    StaffUser(_): StaffUser,
) -> Result<axum::Json<ShowtimePage>, ApiError> {
    let now = state.clock.now();
    let showtimes = state
        .store
        .showtimes_starting(
            now - time::Duration::hours(12),
            now + time::Duration::hours(36),
            now,
            DOOR_SHOWTIMES,
        )
        .await?;
    // One page: two days of a venue's showtimes fit well within it.
    Ok(axum::Json(ShowtimePage {
        items: showtimes.iter().map(ShowtimeOut::from).collect(),
        next_cursor: None,
    }))
}

/// The public key(s) door scanners verify codes with, offline.
#[utoipa::path(get, path = "/api/v1/checkin/keys", tag = TAG_TICKETS, responses((status = 200, body = KeysOut)))]
pub async fn checkin_keys(State(state): State<AppState>) -> axum::Json<KeysOut> {
    axum::Json(KeysOut {
        keys: vec![KeyOut {
            kid: state.tickets.key_id.clone(),
            alg: "Ed25519".into(),
            public_key: state.tickets.public_key(),
        }],
        format:
            "MQ1.<base64url(ticket_id|order_id|showtime_id)>.<base64url(ed25519 signature of the payload)>"
                .into(),
    })
}

/// Admits a ticket at the door, exactly once.
#[utoipa::path(post, path = "/api/v1/checkin", tag = TAG_TICKETS, security(("bearer" = [])), request_body = CheckInIn,
    responses(
        (status = 200, description = "Admitted", body = CheckInOut),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff or admins only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already admitted (`admitted_at` says when)", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Void: refunded or resold", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Forged, tampered or malformed code, or a ticket for another showtime", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn check_in(
    State(state): State<AppState>,
    StaffUser(staff): StaffUser,
    ip: ClientIp,
    Json(body): Json<CheckInIn>,
) -> Result<axum::Json<CheckInOut>, ApiError> {
    let claims = state.tickets.verify(&body.code)?;
    let showtime = body.showtime_id.map(ShowtimeId::from_raw);
    if showtime.as_ref().is_some_and(|expected| *expected != claims.showtime_id) {
        return Err(Error::WrongShowtime.into());
    }
    match state
        .store
        .check_in(&claims.ticket_id, &claims.order_id, showtime.as_ref(), state.clock.now())
        .await?
    {
        CheckIn::Admitted { ticket_id, label, showtime_id } => {
            audit::record(
                &state,
                Some(&staff),
                ip,
                "ticket.checkin",
                Some(ticket_id.as_str()),
                json!({ "order": claims.order_id }),
            )
            .await;
            Ok(axum::Json(CheckInOut {
                result: "admitted".into(),
                ticket_id: ticket_id.to_string(),
                label,
                showtime_id: showtime_id.to_string(),
            }))
        }
        CheckIn::AlreadyAdmitted { at } => Err(Error::AlreadyCheckedIn { at }.into()),
    }
}
