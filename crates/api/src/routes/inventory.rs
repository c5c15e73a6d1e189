//! Holds and orders: reserve seats, pay, see what you bought. Login required; another
//! user's hold or order is "not found".

use super::page::{decode_id_cursor, encode_cursor, finish, page_size};
use crate::admission::AdmissionToken;
use crate::auth::AuthUser;
use crate::dto::{HoldIn, HoldOut, OrderIn, OrderListQuery, OrderPage, PurchaseOut};
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path, Query};
use crate::idempotency::{self, IdempotencyKey};
use crate::routes::schema::IdempotencyKeyHeader;
use crate::security::ClientIp;
use crate::{AppState, TAG_INVENTORY};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use marquee_booking::Caller;
use marquee_domain::Error;
use marquee_domain::ids::{HoldId, OrderId, ShowtimeId, TicketId};
use marquee_domain::inventory::{HoldSelection, Order};
use marquee_store::KeyResource;

/// Holds tickets for the caller, all or none, until `expires_at`. Give either `ticket_ids`
/// or `section` and `quantity` (general admission or best available).
#[utoipa::path(post, path = "/api/v1/holds", tag = TAG_INVENTORY, request_body = HoldIn, security(("bearer" = [])),
    params(
        IdempotencyKeyHeader,
        ("X-Admission-Token" = Option<String>, Header, description = "For a showtime sold through a waiting room: the token of your admission"),
    ),
    responses(
        (status = 201, description = "Held", body = HoldOut),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The showtime sells through a waiting room and you have no valid admission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such showtime", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Some tickets are held or sold (named in `ticket_ids`), not enough places, or not on sale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad selection: empty, duplicates, too many, unknown tickets", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_hold(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    key: IdempotencyKey,
    AdmissionToken(admission): AdmissionToken,
    Json(body): Json<HoldIn>,
) -> Response {
    let (state, user, body) = (&state, &user, &body);
    let request = ("create_hold", body);
    let outcome = |earlier| async move {
        match earlier {
            KeyResource::Hold(id) => {
                Ok(state.booking.hold_outcome(user, &id).await?.map(|hold| HoldOut::from(&hold)))
            }
            _ => Err(Error::internal("a hold's key names something else").into()),
        }
    };
    idempotency::run(state, user, key, request, StatusCode::CREATED, outcome, |key, _| async move {
        let selection = match (&body.ticket_ids, &body.section, body.quantity) {
            (Some(ids), None, None) => HoldSelection::Tickets(ids.iter().map(TicketId::from_raw).collect()),
            (None, Some(section), Some(quantity)) => {
                HoldSelection::Quantity { section: section.clone(), quantity }
            }
            _ => return Err(Error::invalid("give either ticket_ids, or section and quantity").into()),
        };
        let showtime_id = ShowtimeId::from_raw(body.showtime_id.clone());
        let hold =
            state.booking.hold(user, showtime_id, selection, admission.as_deref(), key.as_ref()).await?;
        Ok(HoldOut::from(&hold))
    })
    .await
}

/// One of the caller's holds.
#[utoipa::path(get, path = "/api/v1/holds/{hold_id}", tag = TAG_INVENTORY, security(("bearer" = [])),
    params(("hold_id" = inline(HoldId), Path, description = "Hold id")),
    responses(
        (status = 200, description = "The hold", body = HoldOut),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such hold of yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_hold(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(hold_id): Path<String>,
) -> Result<axum::Json<HoldOut>, ApiError> {
    let hold = state.booking.own_hold(&user, &HoldId::from_raw(hold_id)).await?;
    Ok(axum::Json(HoldOut::from(&hold)))
}

/// Releases one of the caller's holds; its tickets are available again at once.
#[utoipa::path(delete, path = "/api/v1/holds/{hold_id}", tag = TAG_INVENTORY, security(("bearer" = [])),
    params(("hold_id" = inline(HoldId), Path, description = "Hold id")),
    responses(
        (status = 200, description = "Released (or already released or expired)", body = HoldOut),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such hold of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already purchased", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn release_hold(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(hold_id): Path<String>,
) -> Result<axum::Json<HoldOut>, ApiError> {
    let hold = state.booking.release(&user, &HoldId::from_raw(hold_id)).await?;
    Ok(axum::Json(HoldOut::from(&hold)))
}

/// Pays for a hold with a payment provider token and confirms the order.
#[utoipa::path(post, path = "/api/v1/orders", tag = TAG_INVENTORY, request_body = OrderIn, security(("bearer" = [])),
    params(IdempotencyKeyHeader),
    responses(
        (status = 201, description = "Paid and confirmed", body = PurchaseOut),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "Payment declined; the hold is kept until it expires", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such hold of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Hold released or already purchased; or the same key is still in progress", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Hold expired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown payment token, card number sent, or key reused with another request", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_order(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ip: ClientIp,
    key: IdempotencyKey,
    Json(body): Json<OrderIn>,
) -> Response {
    let (state, user, body) = (&state, &user, &body);
    let request = ("create_order", body);
    let outcome = |earlier| async move {
        match earlier {
            KeyResource::Payment(attempt) => Ok(state
                .booking
                .payment_outcome(user, &attempt)
                .await?
                .map(|order| PurchaseOut::from(&order))),
            _ => Err(Error::internal("an order's key names something else").into()),
        }
    };
    idempotency::run(state, user, key, request, StatusCode::CREATED, outcome, |key, _| async move {
        let caller = Caller { ip: ip.to_string_opt(), key };
        let hold_id = HoldId::from_raw(body.hold_id.clone());
        let order = state.booking.purchase(user, &hold_id, &body.payment_token, &caller).await?;
        Ok(PurchaseOut::from(&order))
    })
    .await
}

/// The caller's orders, newest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = TAG_INVENTORY, security(("bearer" = [])), params(OrderListQuery),
    responses(
        (status = 200, description = "A page of orders", body = OrderPage),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_orders(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(query): Query<OrderListQuery>,
) -> Result<axum::Json<OrderPage>, ApiError> {
    let limit = page_size(query.limit)?;
    let before = query
        .cursor
        .as_deref()
        .map(|cursor| decode_id_cursor(cursor, OrderId::PREFIX))
        .transpose()?
        .map(OrderId::from_raw);
    let orders = state.store.list_orders(&user.id, limit + 1, before.as_ref()).await?;
    let (orders, next_cursor) = finish(orders, limit, |last| encode_cursor(&[last.id.as_str()]));
    Ok(axum::Json(OrderPage { items: with_cancellation(&state, &orders).await?, next_cursor }))
}

/// One of the caller's orders with its tickets.
#[utoipa::path(get, path = "/api/v1/orders/{order_id}", tag = TAG_INVENTORY, security(("bearer" = [])),
    params(("order_id" = inline(OrderId), Path, description = "Order id")),
    responses(
        (status = 200, description = "The order", body = PurchaseOut),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order of yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_order(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(order_id): Path<String>,
) -> Result<axum::Json<PurchaseOut>, ApiError> {
    let order = state.booking.own_order(&user, &OrderId::from_raw(order_id)).await?;
    let mut answer = with_cancellation(&state, std::slice::from_ref(&order)).await?;
    Ok(axum::Json(answer.remove(0)))
}

/// Orders as answered to their owner: with until when each may be cancelled.
async fn with_cancellation(state: &AppState, orders: &[Order]) -> Result<Vec<PurchaseOut>, ApiError> {
    let mut answers = Vec::with_capacity(orders.len());
    for order in orders {
        let mut answer = PurchaseOut::from(order);
        answer.cancellable_until = state.booking.cancellable_until(order).await?;
        answers.push(answer);
    }
    Ok(answers)
}

/// Cancels one of the caller's orders with a full refund, up to the cutoff before the show
/// (24 hours by default). The tickets go back on sale at once; their codes are void.
#[utoipa::path(post, path = "/api/v1/orders/{order_id}/cancel", tag = TAG_INVENTORY, security(("bearer" = [])),
    params(
        ("order_id" = inline(OrderId), Path, description = "Order id"),
        IdempotencyKeyHeader,
    ),
    responses(
        (status = 200, description = "Refunded", body = PurchaseOut),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Too close to the show, or not refundable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel_order(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ip: ClientIp,
    key: IdempotencyKey,
    Path(order_id): Path<String>,
) -> Response {
    let (state, user, order_id) = (&state, &user, &order_id);
    let request = ("cancel_order", order_id);
    let outcome = |earlier| async move {
        match earlier {
            KeyResource::Refund { refund_id, order_id } => {
                let outcome = state.booking.refund_outcome(user, &refund_id, &order_id).await?;
                Ok(outcome.map(|order| PurchaseOut::from(&order)))
            }
            _ => Err(Error::internal("a cancellation's key names something else").into()),
        }
    };
    idempotency::run(state, user, key, request, StatusCode::OK, outcome, |key, _| async move {
        let caller = Caller { ip: ip.to_string_opt(), key };
        let order = state.booking.cancel_order(user, &OrderId::from_raw(order_id.clone()), &caller).await?;
        Ok(PurchaseOut::from(&order))
    })
    .await
}
