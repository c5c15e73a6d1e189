//! The catalog: events, showtimes and seat maps (public, no login needed).

use super::day_start;
use super::page::{decode_cursor, encode_cursor, finish, page_size};
use crate::dto::{
    AvailabilityOut, EventDetail, EventListItem, EventListQuery, EventOut, EventPage, MAX_CITY_CHARS,
    MAX_GENRE_CHARS, MAX_ID_CHARS, MAX_SEARCH_CHARS, SeatMapOut, ShowtimeBrief, ShowtimeListQuery,
    ShowtimeOut, ShowtimePage, TicketOut, VenueOut,
};
use crate::error::{ApiError, Problem};
use crate::extract::{Path, Query};
use crate::seatmap::{Rendered, SeatMapCache};
use crate::{AppState, TAG_CATALOG};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use marquee_domain::catalog::{Event, EventKind};
use marquee_domain::ids::{EventId, ShowtimeId};
use marquee_domain::inventory::{Ticket, TicketStatus};
use marquee_domain::{Error, Result};
use marquee_store::{EventFilter, ShowtimeFilter};

/// Lists events (movies and concerts) with upcoming showtimes on sale, by title.
#[utoipa::path(get, path = "/api/v1/events", tag = TAG_CATALOG, params(EventListQuery),
    responses(
        (status = 200, description = "A page of events", body = EventPage),
        (status = 400, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_events(
    State(state): State<AppState>,
    Query(query): Query<EventListQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let kind = query
        .kind
        .as_deref()
        .map(EventKind::parse)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    event_page(&state, query, kind).await.map(Json)
}

/// One event with its upcoming showtimes on sale.
#[utoipa::path(get, path = "/api/v1/events/{event_id}", tag = TAG_CATALOG,
    params(("event_id" = inline(EventId), Path, description = "Event id")),
    responses(
        (status = 200, description = "The event", body = EventDetail),
        (status = 404, description = "No such published event", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_event(
    State(state): State<AppState>,
    Path(event_id): Path<String>,
) -> Result<Json<EventDetail>, ApiError> {
    event_detail(&state, &EventId::from_raw(event_id), None).await.map(Json)
}

/// Upcoming showtimes on sale, by start time.
#[utoipa::path(get, path = "/api/v1/showtimes", tag = TAG_CATALOG, params(ShowtimeListQuery),
    responses(
        (status = 200, description = "Showtimes", body = ShowtimePage),
        (status = 400, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_showtimes(
    State(state): State<AppState>,
    Query(query): Query<ShowtimeListQuery>,
) -> Result<Json<ShowtimePage>, ApiError> {
    let limit = page_size(query.limit)?;
    let filter = ShowtimeFilter {
        event_id: bounded("event_id", query.event_id, MAX_ID_CHARS)?.map(EventId::from_raw),
        city: bounded("city", query.city, MAX_CITY_CHARS)?,
        day: day_start(query.date.as_deref(), query.utc_offset_minutes)?,
        // One more than the page: a next page is promised only if there is one.
        limit: limit + 1,
        after: query.cursor.as_deref().map(decode_showtime_cursor).transpose()?,
    };
    let showtimes = state.store.list_showtimes(&filter, state.clock.now()).await?;
    let (showtimes, next_cursor) = finish(showtimes, limit, |last| {
        encode_cursor(&[
            &(last.showtime.starts_at.unix_timestamp_nanos() / 1_000_000).to_string(),
            last.showtime.id.as_str(),
        ])
    });
    Ok(Json(ShowtimePage { items: showtimes.iter().map(ShowtimeOut::from).collect(), next_cursor }))
}

/// The (start, id) a showtime page's cursor resumes after.
fn decode_showtime_cursor(cursor: &str) -> Result<(time::OffsetDateTime, ShowtimeId), ApiError> {
    let start_of = |millis: &str| {
        millis.parse::<i64>().ok().and_then(|millis| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()
        })
    };
    let [starts_at, id] = decode_cursor(cursor, |index, field| match index {
        0 => start_of(field).is_some(),
        _ => ShowtimeId::parse(field).is_some(),
    })?;
    Ok((start_of(&starts_at).expect("checked by decode_cursor"), ShowtimeId::from_raw(id)))
}

/// Every venue with its city and time zone (for a city filter, or to show local times).
#[utoipa::path(get, path = "/api/v1/venues", tag = TAG_CATALOG,
    responses((status = 200, description = "Venues, by city and name", body = Vec<VenueOut>)))]
pub async fn list_venues(State(state): State<AppState>) -> Result<Json<Vec<VenueOut>>, ApiError> {
    let mut venues = state.store.list_venues().await?;
    venues.sort_by(|a, b| (&a.city, &a.name).cmp(&(&b.city, &b.name)));
    Ok(Json(venues.iter().map(VenueOut::from).collect()))
}

/// One showtime: where, when, prices and what is left.
#[utoipa::path(get, path = "/api/v1/showtimes/{showtime_id}", tag = TAG_CATALOG,
    params(("showtime_id" = inline(ShowtimeId), Path, description = "Showtime id")),
    responses(
        (status = 200, description = "The showtime", body = ShowtimeOut),
        (status = 404, description = "No such showtime", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_showtime(
    State(state): State<AppState>,
    Path(showtime_id): Path<String>,
) -> Result<Json<ShowtimeOut>, ApiError> {
    let showtime = state
        .store
        .get_showtime(&ShowtimeId::from_raw(showtime_id), state.clock.now())
        .await?
        .ok_or(Error::NotFound("showtime"))?;
    Ok(Json(ShowtimeOut::from(&showtime)))
}

/// The seat map: every ticket of the showtime with its section, row, seat, category, price
/// and status (`available`, `held`, `sold`).
#[utoipa::path(get, path = "/api/v1/showtimes/{showtime_id}/seats", tag = TAG_CATALOG,
    params(("showtime_id" = inline(ShowtimeId), Path, description = "Showtime id")),
    responses(
        (status = 200, description = "The seat map", body = SeatMapOut),
        (status = 404, description = "No such showtime", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn seat_map(
    State(state): State<AppState>,
    Path(showtime_id): Path<String>,
) -> Result<Response, ApiError> {
    let showtime_id = ShowtimeId::from_raw(showtime_id);
    let rendered = snapshot(&state, &state.caches.seat_maps, &showtime_id, |tickets, version| {
        let count = |status| tickets.iter().filter(|t| t.status == status).count() as i64;
        serde_json::to_vec(&SeatMapOut {
            showtime_id: showtime_id.to_string(),
            version,
            available: count(TicketStatus::Available),
            held: count(TicketStatus::Held),
            sold: count(TicketStatus::Sold),
            tickets: tickets.iter().map(TicketOut::from).collect(),
        })
    })
    .await?;
    Ok(json_response(rendered.body))
}

fn json_response(body: axum::body::Bytes) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A showtime's seat map rendered by `render` (given the tickets and the last inventory change
/// they reflect), from the snapshot `cache` when still right.
async fn snapshot(
    state: &AppState,
    cache: &SeatMapCache,
    showtime_id: &ShowtimeId,
    render: impl FnOnce(&[Ticket], i64) -> serde_json::Result<Vec<u8>>,
) -> Result<Rendered, ApiError> {
    let now = state.clock.now();
    let rendered = cache
        .get(showtime_id, now, || async {
            // Read before the tickets: every change up to it is in what they show.
            let version = state.feed.position();
            let tickets = state.store.seat_map(showtime_id, now).await?;
            if tickets.is_empty() {
                return Err(Error::NotFound("showtime"));
            }
            let body = render(&tickets, version).map_err(Error::internal)?;
            let valid_until = tickets.iter().filter_map(|t| t.hold_expires_at).min();
            Ok((Rendered { body: body.into(), version }, valid_until))
        })
        .await?;
    Ok(rendered)
}

/// The availability view of a showtime (what [`availability`] serves), with its version: read
/// from the tickets' statuses alone, not from the whole seat map.
pub async fn availability_snapshot(state: &AppState, showtime_id: &ShowtimeId) -> Result<Rendered, ApiError> {
    let now = state.clock.now();
    let rendered = state
        .caches
        .availability
        .get(showtime_id, now, || async {
            // Read before the statuses: every change up to it is in what they show.
            let version = state.feed.position();
            let view = state.store.ticket_statuses(showtime_id, now).await?;
            if view.statuses.is_empty() {
                return Err(Error::NotFound("showtime"));
            }
            let statuses: String = view
                .statuses
                .iter()
                .map(|status| match status {
                    TicketStatus::Available => 'A',
                    TicketStatus::Held => 'H',
                    TicketStatus::Sold => 'S',
                })
                .collect();
            let count = |wanted| view.statuses.iter().filter(|status| **status == wanted).count() as i64;
            let body = serde_json::to_vec(&AvailabilityOut {
                showtime_id: showtime_id.to_string(),
                version,
                available: count(TicketStatus::Available),
                held: count(TicketStatus::Held),
                sold: count(TicketStatus::Sold),
                statuses,
            })
            .map_err(Error::internal)?;
            Ok((Rendered { body: body.into(), version }, view.first_hold_expiry))
        })
        .await?;
    Ok(rendered)
}

/// The compact live view of a showtime's seats: one character per ticket in seat-map order
/// (`A` available, `H` held, `S` sold). Fetch the seat map once for the layout and ids, then
/// poll this (a few bytes per seat instead of a few hundred).
#[utoipa::path(get, path = "/api/v1/showtimes/{showtime_id}/availability", tag = TAG_CATALOG,
    params(("showtime_id" = inline(ShowtimeId), Path, description = "Showtime id")),
    responses(
        (status = 200, description = "Statuses in seat-map order", body = AvailabilityOut),
        (status = 404, description = "No such showtime", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn availability(
    State(state): State<AppState>,
    Path(showtime_id): Path<String>,
) -> Result<Response, ApiError> {
    let rendered = availability_snapshot(&state, &ShowtimeId::from_raw(showtime_id)).await?;
    Ok(json_response(rendered.body))
}

/// A free-text filter within its bound: 400 beyond it (the store escapes `%` and `_`, so
/// they match literally).
pub fn bounded(name: &str, value: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    match value {
        Some(value) if value.chars().count() > max => {
            Err(ApiError::BadRequest(format!("{name} must have at most {max} characters")))
        }
        value => Ok(value),
    }
}

/// A page of the catalog; shared by `/api/v1/events` and the seed API's `/movie/list`.
pub async fn event_page(
    state: &AppState,
    query: EventListQuery,
    kind: Option<EventKind>,
) -> Result<EventPage, ApiError> {
    let limit = page_size(query.limit)?;
    let filter = EventFilter {
        kind,
        query: bounded("q", query.q, MAX_SEARCH_CHARS)?,
        genre: bounded("genre", query.genre, MAX_GENRE_CHARS)?,
        city: bounded("city", query.city, MAX_CITY_CHARS)?,
        day: day_start(query.date.as_deref(), query.utc_offset_minutes)?,
        // One more than the page: a next page is promised only if there is one.
        limit: limit + 1,
        after: query.cursor.as_deref().map(decode_event_cursor).transpose()?,
    };
    let events = state.store.list_events(&filter, state.clock.now()).await?;
    let (events, next_cursor) =
        finish(events, limit, |last| encode_cursor(&[last.event.id.as_str(), &last.event.title]));
    Ok(EventPage { items: events.iter().map(EventListItem::from).collect(), next_cursor })
}

/// The (title, id) an event page's cursor resumes after.
fn decode_event_cursor(cursor: &str) -> Result<(String, EventId), ApiError> {
    let [id, title] = decode_cursor(cursor, |index, field| index == 1 || EventId::parse(field).is_some())?;
    Ok((title, EventId::from_raw(id)))
}

/// An event with its showtimes; `kind` restricts it (the seed API's `/movie/{id}` only
/// knows movies). Unpublished events do not exist for the public.
pub async fn event_detail(
    state: &AppState,
    id: &EventId,
    kind: Option<EventKind>,
) -> Result<EventDetail, ApiError> {
    let event: Event = state
        .store
        .get_event(id)
        .await?
        .filter(|event| event.published && kind.is_none_or(|kind| event.kind == kind))
        .ok_or(Error::NotFound("event"))?;
    let filter = ShowtimeFilter { event_id: Some(id.clone()), limit: 500, ..Default::default() };
    let showtimes = state.store.list_showtimes(&filter, state.clock.now()).await?;
    Ok(EventDetail {
        event: EventOut::from(&event),
        showtimes: showtimes.iter().map(ShowtimeBrief::from).collect(),
    })
}
