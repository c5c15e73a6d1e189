//! The design sheet's original API, kept exactly as named:
//! `GET /movie/list`, `GET /movie/{movieID}`, `GET /ticket/{ticketID}/price`,
//! `POST /ticket/{ticketID}`.

use super::catalog::{event_detail, event_page};
use crate::admission::AdmissionToken;
use crate::auth::AuthUser;
use crate::dto::{BuyTicketIn, EventDetail, EventListQuery, EventPage, PurchaseOut, TicketPriceOut};
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path, Query};
use crate::idempotency::{self, IdempotencyKey};
use crate::routes::schema::{self, IdempotencyKeyHeader};
use crate::security::ClientIp;
use crate::{AppState, TAG_SEED};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use marquee_booking::{Caller, Outcome};
use marquee_domain::Error;
use marquee_domain::catalog::EventKind;
use marquee_domain::ids::{EventId, TicketId};
use marquee_store::KeyResource;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};

/// `/movie/list`'s parameters: the catalog's, but `kind` may only be `movie` (for the
/// document; the handler reads an [`EventListQuery`] and refuses other kinds).
pub struct MovieListQuery;

impl IntoParams for MovieListQuery {
    fn into_params(parameter_in_provider: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut parameters = EventListQuery::into_params(parameter_in_provider);
        for parameter in &mut parameters {
            if parameter.name == "kind" {
                parameter.description =
                    Some("Only `movie` (concerts are listed by `/api/v1/events`).".into());
                parameter.schema =
                    Some(schema::string().enum_values(Some([EventKind::Movie.as_str()])).build().into());
            }
        }
        parameters
    }
}

/// Movies with upcoming showtimes on sale. Filters: `q` (title), `genre`, `city`, `date`;
/// `kind` may only be `movie` (concerts are listed by `/api/v1/events?kind=concert`).
#[utoipa::path(get, path = "/movie/list", tag = TAG_SEED, params(MovieListQuery),
    responses(
        (status = 200, description = "A page of movies", body = EventPage),
        (status = 400, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn movie_list(
    State(state): State<AppState>,
    Query(query): Query<EventListQuery>,
) -> Result<axum::Json<EventPage>, ApiError> {
    if query.kind.as_deref().is_some_and(|kind| kind != EventKind::Movie.as_str()) {
        return Err(ApiError::BadRequest(
            "/movie/list lists only movies (kind=movie); concerts are at /api/v1/events?kind=concert".into(),
        ));
    }
    event_page(&state, query, Some(EventKind::Movie)).await.map(axum::Json)
}

/// A movie with its upcoming showtimes.
#[utoipa::path(get, path = "/movie/{movie_id}", tag = TAG_SEED,
    params(("movie_id" = inline(EventId), Path, description = "Movie (event) id")),
    responses(
        (status = 200, description = "The movie", body = EventDetail),
        (status = 404, description = "No such movie", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn movie(
    State(state): State<AppState>,
    Path(movie_id): Path<String>,
) -> Result<axum::Json<EventDetail>, ApiError> {
    event_detail(&state, &EventId::from_raw(movie_id), Some(EventKind::Movie)).await.map(axum::Json)
}

/// A ticket's price and current status.
#[utoipa::path(get, path = "/ticket/{ticket_id}/price", tag = TAG_SEED,
    params(("ticket_id" = inline(TicketId), Path, description = "Ticket id")),
    responses(
        (status = 200, description = "Price and status", body = TicketPriceOut),
        (status = 404, description = "No such ticket", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn ticket_price(
    State(state): State<AppState>,
    Path(ticket_id): Path<String>,
) -> Result<axum::Json<TicketPriceOut>, ApiError> {
    let ticket = state
        .store
        .get_ticket(&TicketId::from_raw(ticket_id), state.clock.now())
        .await?
        .ok_or(Error::NotFound("ticket"))?;
    Ok(axum::Json(TicketPriceOut {
        ticket_id: ticket.id.to_string(),
        showtime_id: ticket.showtime_id.to_string(),
        seat: ticket.label,
        category: ticket.category,
        price: ticket.price,
        status: ticket.status,
    }))
}

/// Buys one ticket in one step: hold, pay, confirm.
#[utoipa::path(post, path = "/ticket/{ticket_id}", tag = TAG_SEED, request_body = BuyTicketIn, security(("bearer" = [])),
    params(
        ("ticket_id" = inline(TicketId), Path, description = "Ticket id"),
        IdempotencyKeyHeader,
    ),
    responses(
        (status = 201, description = "Bought", body = PurchaseOut),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "Payment declined; the ticket is released", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The showtime sells through a waiting room: send your admission as `X-Admission-Token`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The ticket is held or sold, or not on sale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown payment token, card number sent, or key reused with another request", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn buy_ticket(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ip: ClientIp,
    key: IdempotencyKey,
    AdmissionToken(admission): AdmissionToken,
    Path(ticket_id): Path<String>,
    Json(body): Json<BuyTicketIn>,
) -> Response {
    let (state, user, ticket_id, body) = (&state, &user, &ticket_id, &body);
    let request = ("buy_ticket", ticket_id, body);
    let outcome = |earlier| async move {
        match earlier {
            // Lost between its hold and its payment: carry on from the hold.
            KeyResource::Hold(_) => Ok(Outcome::Again),
            KeyResource::Payment(attempt) => Ok(state
                .booking
                .payment_outcome(user, &attempt)
                .await?
                .map(|order| PurchaseOut::from(&order))),
            KeyResource::Refund { .. } => Err(Error::internal("a purchase's key names a refund").into()),
        }
    };
    idempotency::run(state, user, key, request, StatusCode::CREATED, outcome, |key, earlier| async move {
        let caller = Caller { ip: ip.to_string_opt(), key };
        let token = &body.payment_token;
        if let Some(earlier) = earlier
            && let Some(hold) = state.booking.resumable_hold(user, &earlier).await?
        {
            let order = state.booking.pay_for_new_hold(user, &hold, token, &caller).await?;
            return Ok(PurchaseOut::from(&order));
        }
        let ticket_id = TicketId::from_raw(ticket_id.clone());
        let order = state.booking.buy_ticket(user, &ticket_id, token, admission.as_deref(), &caller).await?;
        Ok(PurchaseOut::from(&order))
    })
    .await
}
