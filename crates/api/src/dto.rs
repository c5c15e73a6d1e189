//! What goes over the wire: request bodies (`…In`) and response bodies (`…Out`).
//!
//! Instants are RFC 3339 strings in UTC; money is `{amount, currency}` in minor units.

use crate::routes::schema;
use marquee_domain::account::{Role, User};
use marquee_domain::catalog::{Event, EventKind, Venue};
use marquee_domain::ids::{EventId, HoldId, ShowtimeId, TicketId};
use marquee_domain::inventory::{Hold, HoldStatus, Order, OrderStatus, Ticket, TicketStatus};
use marquee_domain::money::Money;
use marquee_store::{EventSummary, ShowtimeSummary};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsIn {
    /// An address like `name@example.com` (one mailbox is one account, whatever the case).
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// At least 10 characters, and at most 1024 bytes of UTF-8: 256 characters always fit,
    /// whatever the script (the document says 256; longer passwords within the 1024 bytes are
    /// taken too).
    #[schema(example = "correct horse battery", min_length = 10, max_length = 256)]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    pub id: String,
    pub email: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&User> for UserOut {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.as_str().to_owned(),
            role: user.role,
            created_at: user.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterOut {
    pub user: UserOut,
    /// Bearer token for the `Authorization` header.
    pub token: String,
}

/// A browser session: the token itself is only in the `HttpOnly` cookie.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebSessionOut {
    pub user: UserOut,
    /// Echo this in the `X-CSRF-Token` header of every write (also in the `marquee_csrf` cookie, `__Host-marquee_csrf` over HTTPS).
    pub csrf_token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginOut {
    /// Bearer token for the `Authorization` header.
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The longest search term, in characters. The longest titles in real cinema and concert
/// listings are about 100 characters; SQLite refuses `LIKE` patterns over 50,000 bytes, and
/// 200 characters are at most 800 bytes even in four-byte UTF-8.
pub const MAX_SEARCH_CHARS: usize = 200;
/// The longest city filter (the longest city names are under 100 characters; venues take 100).
pub const MAX_CITY_CHARS: usize = 100;
/// The longest genre filter (genres are single words such as `documentary`).
pub const MAX_GENRE_CHARS: usize = 40;
/// The longest identifier filter (ids are a prefix and a UUID, 40 characters).
pub const MAX_ID_CHARS: usize = 64;

schema::schema_type!(/// `q` of the catalog's lists.
    SearchTerm => || schema::url_text(MAX_SEARCH_CHARS));
schema::schema_type!(/// `genre` of the catalog's lists.
    GenreFilter => || schema::url_text(MAX_GENRE_CHARS));
schema::schema_type!(/// `city` of the catalog's lists.
    CityFilter => || schema::url_text(MAX_CITY_CHARS));

/// Catalog listing filters. Every list refuses parameters it does not know (400), so that a
/// misspelt filter is never silently ignored.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventListQuery {
    /// Title contains this text (case-insensitive; `%` and `_` match themselves).
    #[param(inline, value_type = Option<SearchTerm>)]
    pub q: Option<String>,
    /// Has this genre, e.g. `drama`.
    #[param(inline, value_type = Option<GenreFilter>)]
    pub genre: Option<String>,
    /// Plays in this city.
    #[param(inline, value_type = Option<CityFilter>)]
    pub city: Option<String>,
    /// Plays on this day (`YYYY-MM-DD`; a UTC day unless `utc_offset_minutes` is given).
    #[param(inline, value_type = Option<schema::DateFilter>)]
    pub date: Option<String>,
    /// The UTC offset of `date`'s calendar, in minutes east of UTC (e.g. 60 for CET).
    #[param(inline, value_type = Option<schema::UtcOffset>)]
    pub utc_offset_minutes: Option<i32>,
    /// `movie` or `concert`.
    #[param(inline, value_type = Option<EventKind>)]
    pub kind: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(inline, value_type = Option<schema::PageLimit>)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(inline, value_type = Option<schema::Cursor>)]
    pub cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShowtimeListQuery {
    /// Of this event.
    #[param(inline, value_type = Option<EventId>)]
    pub event_id: Option<String>,
    /// In this city.
    #[param(inline, value_type = Option<CityFilter>)]
    pub city: Option<String>,
    /// `YYYY-MM-DD`; a UTC day unless `utc_offset_minutes` is given.
    #[param(inline, value_type = Option<schema::DateFilter>)]
    pub date: Option<String>,
    /// The UTC offset of `date`'s calendar, in minutes east of UTC (e.g. 60 for CET).
    #[param(inline, value_type = Option<schema::UtcOffset>)]
    pub utc_offset_minutes: Option<i32>,
    /// 1 to 100 (default 20).
    #[param(inline, value_type = Option<schema::PageLimit>)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(inline, value_type = Option<schema::Cursor>)]
    pub cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderListQuery {
    /// 1 to 100 (default 20).
    #[param(inline, value_type = Option<schema::PageLimit>)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(inline, value_type = Option<schema::Cursor>)]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    pub id: String,
    pub kind: EventKind,
    pub title: String,
    pub synopsis: String,
    pub poster_url: Option<String>,
    pub genres: Vec<String>,
    pub runtime_minutes: Option<i64>,
    pub rating: Option<String>,
    pub artist: Option<String>,
}

impl From<&Event> for EventOut {
    fn from(event: &Event) -> Self {
        Self {
            id: event.id.to_string(),
            kind: event.kind,
            title: event.title.clone(),
            synopsis: event.synopsis.clone(),
            poster_url: event.poster_url.clone(),
            genres: event.genres.clone(),
            runtime_minutes: event.runtime_minutes,
            rating: event.rating.clone(),
            artist: event.artist.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventListItem {
    #[serde(flatten)]
    pub event: EventOut,
    /// Start of the next showtime on sale.
    #[serde(with = "time::serde::rfc3339")]
    pub next_starts_at: OffsetDateTime,
}

impl From<&EventSummary> for EventListItem {
    fn from(summary: &EventSummary) -> Self {
        Self { event: EventOut::from(&summary.event), next_starts_at: summary.next_starts_at }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<EventListItem>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A showtime as listed under its event.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShowtimeBrief {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    /// Venue name.
    pub venue: String,
    pub city: String,
    /// Hall name.
    pub hall: String,
    pub seats_available: i64,
    pub price_from: Option<Money>,
}

impl From<&ShowtimeSummary> for ShowtimeBrief {
    fn from(s: &ShowtimeSummary) -> Self {
        Self {
            id: s.showtime.id.to_string(),
            starts_at: s.showtime.starts_at,
            venue: s.venue_name.clone(),
            city: s.city.clone(),
            hall: s.hall_name.clone(),
            seats_available: s.seats_available,
            price_from: s.price_from.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: EventOut,
    /// Upcoming showtimes on sale, by start time.
    pub showtimes: Vec<ShowtimeBrief>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VenueOut {
    pub id: String,
    pub name: String,
    pub city: String,
    /// IANA time zone of the venue.
    pub time_zone: String,
}

impl From<&Venue> for VenueOut {
    fn from(venue: &Venue) -> Self {
        Self {
            id: venue.id.to_string(),
            name: venue.name.clone(),
            city: venue.city.clone(),
            time_zone: venue.time_zone.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryPrice {
    pub category: String,
    pub price: Money,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShowtimeOut {
    pub id: String,
    pub event_id: String,
    pub event_title: String,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub on_sale_from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub on_sale_until: OffsetDateTime,
    pub venue: VenueOut,
    pub hall: String,
    pub seats_available: i64,
    pub seats_total: i64,
    pub price_from: Option<Money>,
    pub prices: Vec<CategoryPrice>,
    /// Set once the showtime was cancelled.
    #[serde(with = "time::serde::rfc3339::option")]
    pub cancelled_at: Option<OffsetDateTime>,
}

impl From<&ShowtimeSummary> for ShowtimeOut {
    fn from(s: &ShowtimeSummary) -> Self {
        Self {
            id: s.showtime.id.to_string(),
            event_id: s.showtime.event_id.to_string(),
            event_title: s.event_title.clone(),
            starts_at: s.showtime.starts_at,
            on_sale_from: s.showtime.on_sale_from,
            on_sale_until: s.showtime.on_sale_until,
            venue: VenueOut {
                id: s.venue_id.to_string(),
                name: s.venue_name.clone(),
                city: s.city.clone(),
                time_zone: s.time_zone.clone(),
            },
            hall: s.hall_name.clone(),
            seats_available: s.seats_available,
            seats_total: s.seats_total,
            price_from: s.price_from.clone(),
            prices: s
                .showtime
                .prices
                .iter()
                .map(|(category, amount)| CategoryPrice {
                    category: category.clone(),
                    price: Money::new(*amount, s.showtime.currency.clone()),
                })
                .collect(),
            cancelled_at: s.cancelled_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShowtimePage {
    pub items: Vec<ShowtimeOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketOut {
    pub id: String,
    pub showtime_id: String,
    pub section_id: String,
    pub section: String,
    /// `null` in a general-admission section.
    pub row: Option<String>,
    /// Seat number, or place number in a GA section.
    pub number: u32,
    pub label: String,
    pub category: String,
    pub price: Money,
    pub status: TicketStatus,
    /// Drawing position on the seat map: row within the section...
    pub row_index: u32,
    /// ...and column, counting aisles.
    pub column_index: u32,
}

impl From<&Ticket> for TicketOut {
    fn from(t: &Ticket) -> Self {
        Self {
            id: t.id.to_string(),
            showtime_id: t.showtime_id.to_string(),
            section_id: t.section_id.to_string(),
            section: t.section.clone(),
            row: t.row.clone(),
            number: t.number,
            label: t.label.clone(),
            category: t.category.clone(),
            price: t.price.clone(),
            status: t.status,
            row_index: t.row_index,
            column_index: t.column_index,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatMapOut {
    pub showtime_id: String,
    /// The last inventory change reflected: resume the showtime's event stream after it
    /// (`Last-Event-ID`).
    pub version: i64,
    pub available: i64,
    pub held: i64,
    pub sold: i64,
    /// Every ticket of the showtime in seat-map order.
    pub tickets: Vec<TicketOut>,
}

/// A showtime's seat statuses, compactly.
#[derive(Debug, Serialize, ToSchema)]
pub struct AvailabilityOut {
    pub showtime_id: String,
    /// The last inventory change reflected (see [`SeatMapOut::version`]).
    pub version: i64,
    pub available: i64,
    pub held: i64,
    pub sold: i64,
    /// One character per ticket in seat-map order: `A` available, `H` held, `S` sold.
    pub statuses: String,
}

/// The seed API's price lookup.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketPriceOut {
    pub ticket_id: String,
    pub showtime_id: String,
    /// Human seat label, e.g. "Stalls A7".
    pub seat: String,
    pub category: String,
    pub price: Money,
    pub status: TicketStatus,
}

/// Either `ticket_ids` (exact seats) or `section` + `quantity` (any free places of a section).
/// Its schema is written out below: the derive cannot say "one or the other".
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HoldIn {
    pub showtime_id: String,
    #[serde(default)]
    pub ticket_ids: Option<Vec<String>>,
    /// Section id or name.
    #[serde(default)]
    pub section: Option<String>,
    #[serde(default)]
    pub quantity: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HoldOut {
    pub id: String,
    pub showtime_id: String,
    pub status: HoldStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub total: Option<Money>,
    /// The order it became, once purchased.
    pub order_id: Option<String>,
    pub tickets: Vec<TicketOut>,
}

impl From<&Hold> for HoldOut {
    fn from(hold: &Hold) -> Self {
        Self {
            id: hold.id.to_string(),
            showtime_id: hold.showtime_id.to_string(),
            status: hold.status,
            created_at: hold.created_at,
            expires_at: hold.expires_at,
            total: hold.total().ok(),
            order_id: hold.order_id.as_ref().map(ToString::to_string),
            tickets: hold.tickets.iter().map(TicketOut::from).collect(),
        }
    }
}

/// The schema of [`HoldIn`]: one of two shapes, with the bounds [`HoldPolicy`] checks. A
/// hold takes at most `max_tickets_per_hold` tickets (`/api/v1/payments/config`; 10 unless
/// configured otherwise): the document states the bound no configuration may exceed.
///
/// [`HoldPolicy`]: marquee_domain::inventory::HoldPolicy
impl utoipa::PartialSchema for HoldIn {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use marquee_domain::catalog::{MAX_SECTION_NAME_CHARS, NAME_PATTERN};
        use marquee_domain::money::MAX_TICKETS_PER_ORDER;
        use utoipa::openapi::schema::{
            AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        let most = MAX_TICKETS_PER_ORDER as usize;
        let seats = ObjectBuilder::new()
            .title(Some("Seats"))
            .description(Some("These tickets of the showtime, all or none."))
            .property("showtime_id", ShowtimeId::schema())
            .required("showtime_id")
            .property(
                "ticket_ids",
                ArrayBuilder::new()
                    .items(TicketId::schema())
                    .min_items(Some(1))
                    .max_items(Some(most))
                    .unique_items(true),
            )
            .required("ticket_ids")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        let places = ObjectBuilder::new()
            .title(Some("Places"))
            .description(Some(
                "Any `quantity` free places of a section: general admission, or the best available seats \
                 (the first free ones in seat-map order, never an accessible seat).",
            ))
            .property("showtime_id", ShowtimeId::schema())
            .required("showtime_id")
            .property(
                "section",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("Section id or name."))
                    .min_length(Some(1))
                    .max_length(Some(MAX_SECTION_NAME_CHARS))
                    .pattern(Some(NAME_PATTERN)),
            )
            .required("section")
            .property(
                "quantity",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
                    .minimum(Some(1))
                    .maximum(Some(MAX_TICKETS_PER_ORDER)),
            )
            .required("quantity")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        OneOfBuilder::new()
            .description(Some(
                "Either `ticket_ids` (exact seats) or `section` and `quantity` (any free places of a section).",
            ))
            .item(seats)
            .item(places)
            .into()
    }
}

impl ToSchema for HoldIn {}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderIn {
    #[schema(value_type = HoldId)]
    pub hold_id: String,
    #[schema(value_type = schema::PaymentToken)]
    pub payment_token: String,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuyTicketIn {
    #[schema(value_type = schema::PaymentToken)]
    pub payment_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderOut {
    pub id: String,
    pub status: OrderStatus,
    pub showtime_id: String,
    pub hold_id: String,
    pub total: Money,
    /// The payment provider's reference of the charge.
    pub payment_reference: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub ticket_ids: Vec<String>,
}

impl From<&Order> for OrderOut {
    fn from(order: &Order) -> Self {
        Self {
            id: order.id.to_string(),
            status: order.status,
            showtime_id: order.showtime_id.to_string(),
            hold_id: order.hold_id.to_string(),
            total: order.total.clone(),
            payment_reference: order.payment_reference.clone(),
            created_at: order.created_at,
            ticket_ids: order.tickets.iter().map(|t| t.id.to_string()).collect(),
        }
    }
}

/// An order with its tickets: the answer to a purchase and to an order lookup.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurchaseOut {
    pub order: OrderOut,
    pub tickets: Vec<TicketOut>,
    /// Until when the customer may cancel the order for a full refund (on order lookups, for
    /// confirmed orders; absent once none of its tickets may be cancelled any more).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub cancellable_until: Option<OffsetDateTime>,
}

impl From<&Order> for PurchaseOut {
    fn from(order: &Order) -> Self {
        Self {
            order: OrderOut::from(order),
            tickets: order.tickets.iter().map(TicketOut::from).collect(),
            cancellable_until: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    pub items: Vec<PurchaseOut>,
    pub next_cursor: Option<String>,
}

/// Liveness: the process serves HTTP. Says nothing about the database (see `/readyz`).
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthOut {
    /// Always `ok`.
    pub status: String,
    /// The configured backend, `sqlite` or `postgres` (from configuration, not a query).
    pub database: String,
}

/// Readiness: this node can take traffic.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyOut {
    /// Always `ready` (otherwise the answer is a 503 problem document).
    pub status: String,
    /// `sqlite` or `postgres`.
    pub database: String,
}
