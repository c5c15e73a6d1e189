//! Any order, and refunds by the box office.

use super::TAG_ADMIN;
use crate::AppState;
use crate::auth::AdminUser;
use crate::dto::PurchaseOut;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path};
use crate::security::ClientIp;
use axum::extract::State;
use marquee_booking::Caller;
use marquee_domain::Error;
use marquee_domain::ids::{OrderId, TicketId};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundIn {
    /// Tickets to refund; all live tickets of the order when absent.
    #[schema(value_type = Option<Vec<TicketId>>, min_items = 1)]
    pub ticket_ids: Option<Vec<String>>,
    /// Why (kept with the refund and in the audit log). No NUL: PostgreSQL cannot store one.
    #[schema(pattern = r"^[^\x00]*$")]
    pub reason: Option<String>,
}

/// Any order.
#[utoipa::path(get, path = "/api/v1/admin/orders/{order_id}", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("order_id" = inline(OrderId), Path)),
    responses((status = 200, body = PurchaseOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_order(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(order_id): Path<String>,
) -> Result<axum::Json<PurchaseOut>, ApiError> {
    let order = state.store.get_order(&OrderId::from_raw(order_id)).await?.ok_or(Error::NotFound("order"))?;
    Ok(axum::Json(PurchaseOut::from(&order)))
}

/// Refunds a whole order or some of its tickets, whatever the date. The tickets go back on
/// sale at once and their door codes are void.
#[utoipa::path(post, path = "/api/v1/admin/orders/{order_id}/refund", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("order_id" = inline(OrderId), Path)), request_body = RefundIn,
    responses((status = 200, body = PurchaseOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing refundable", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A ticket that is not a live ticket of the order", body = Problem, content_type = "application/problem+json")))]
pub async fn refund_order(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(order_id): Path<String>,
    Json(body): Json<RefundIn>,
) -> Result<axum::Json<PurchaseOut>, ApiError> {
    let order_id = OrderId::from_raw(order_id);
    let tickets: Option<Vec<TicketId>> =
        body.ticket_ids.map(|ids| ids.into_iter().map(TicketId::from_raw).collect());
    let reason = body.reason.unwrap_or_else(|| "refunded by the box office".into());
    let caller = Caller { ip: ip.to_string_opt(), key: None };
    let order = state.booking.refund(&order_id, tickets.as_deref(), &reason, Some((&admin, &caller))).await?;
    Ok(axum::Json(PurchaseOut::from(&order)))
}
