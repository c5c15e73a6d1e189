//! Sales reports per showtime and per event, as JSON and CSV.

use super::TAG_ADMIN;
use crate::AppState;
use crate::auth::AdminUser;
use crate::error::{ApiError, Problem};
use crate::extract::Path;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use marquee_domain::ids::{EventId, ShowtimeId};
use marquee_domain::money::Money;
use marquee_domain::{Error, Result};
use serde::Serialize;
use std::fmt::Write;
use time::OffsetDateTime;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryReport {
    pub category: String,
    pub sold: i64,
    pub held: i64,
    pub available: i64,
    /// Revenue of live sales (refunds excluded).
    pub gross: Money,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShowtimeReport {
    pub showtime_id: String,
    pub event_title: String,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    pub venue: String,
    pub hall: String,
    pub categories: Vec<CategoryReport>,
    pub sold: i64,
    pub held: i64,
    pub available: i64,
    pub gross: Money,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventReport {
    pub event_id: String,
    pub title: String,
    pub showtimes: Vec<ShowtimeReport>,
    pub sold: i64,
    /// Revenue per currency.
    pub gross: Vec<Money>,
}

async fn showtime_report_of(state: &AppState, id: &ShowtimeId) -> Result<ShowtimeReport> {
    let now = state.clock.now();
    let summary = state.store.get_showtime(id, now).await?.ok_or(Error::NotFound("showtime"))?;
    let currency = summary.showtime.currency.clone();
    let categories: Vec<CategoryReport> = state
        .store
        .sales_report(id, now)
        .await?
        .into_iter()
        .map(|row| CategoryReport {
            category: row.category,
            sold: row.sold,
            held: row.held,
            available: row.available,
            gross: Money::new(row.gross_amount, currency.clone()),
        })
        .collect();
    let sum = |f: fn(&CategoryReport) -> i64| {
        categories.iter().map(f).try_fold(0i64, i64::checked_add).ok_or_else(overflow)
    };
    Ok(ShowtimeReport {
        showtime_id: id.to_string(),
        event_title: summary.event_title.clone(),
        starts_at: summary.showtime.starts_at,
        venue: summary.venue_name.clone(),
        hall: summary.hall_name.clone(),
        sold: sum(|c| c.sold)?,
        held: sum(|c| c.held)?,
        available: sum(|c| c.available)?,
        gross: Money::new(sum(|c| c.gross.amount)?, currency),
        categories,
    })
}

async fn event_report_of(state: &AppState, id: &EventId) -> Result<EventReport> {
    let event = state.store.get_event(id).await?.ok_or(Error::NotFound("event"))?;
    let mut showtimes = Vec::new();
    for summary in state.store.list_event_showtimes(id, state.clock.now()).await? {
        showtimes.push(showtime_report_of(state, &summary.showtime.id).await?);
    }
    let mut gross: Vec<Money> = Vec::new();
    for report in &showtimes {
        match gross.iter_mut().find(|m| m.currency == report.gross.currency) {
            Some(total) => {
                total.amount = total.amount.checked_add(report.gross.amount).ok_or_else(overflow)?
            }
            None => gross.push(report.gross.clone()),
        }
    }
    Ok(EventReport {
        event_id: id.to_string(),
        title: event.title,
        sold: showtimes.iter().map(|s| s.sold).try_fold(0i64, i64::checked_add).ok_or_else(overflow)?,
        gross,
        showtimes,
    })
}

/// One CSV line per showtime and category.
fn csv(reports: &[ShowtimeReport]) -> String {
    let mut out = String::from(
        "showtime_id,starts_at,event,venue,hall,category,sold,held,available,gross_amount,currency\n",
    );
    for report in reports {
        let starts_at =
            report.starts_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        for row in &report.categories {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{}",
                report.showtime_id,
                starts_at,
                csv_field(&report.event_title),
                csv_field(&report.venue),
                csv_field(&report.hall),
                row.category,
                row.sold,
                row.held,
                row.available,
                row.gross.amount,
                row.gross.currency
            );
        }
    }
    out
}

/// Quotes a free-text CSV field, and defuses spreadsheet formulas.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) { format!("'{value}") } else { value.to_owned() };
    format!("\"{}\"", value.replace('"', "\"\""))
}

fn csv_response(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")),
        ],
        body,
    )
        .into_response()
}

/// Sold, held and available tickets and gross revenue per category of one showtime.
#[utoipa::path(get, path = "/api/v1/admin/showtimes/{showtime_id}/report", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("showtime_id" = inline(ShowtimeId), Path)),
    responses((status = 200, body = ShowtimeReport), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn showtime_report(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(showtime_id): Path<String>,
) -> Result<axum::Json<ShowtimeReport>, ApiError> {
    Ok(axum::Json(showtime_report_of(&state, &ShowtimeId::from_raw(showtime_id)).await?))
}

/// Sales over time of one showtime, for the box office's chart.
#[derive(Debug, Serialize, ToSchema)]
pub struct SalesTimeline {
    pub showtime_id: String,
    /// The width of each bucket: 60, 300, 900, 3600, 21600 or 86400 seconds, the smallest that
    /// puts the whole sale in at most 96 buckets (day buckets for sales longer than 95 days).
    /// Buckets start on whole multiples of their width in UTC.
    pub bucket_seconds: i64,
    /// Buckets with sales, oldest first.
    pub buckets: Vec<SalesBucket>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct SalesBucket {
    /// The bucket's start.
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    /// Tickets sold in the bucket (refunded ones no longer count).
    pub tickets: i64,
    pub gross: Money,
    /// Tickets sold up to the bucket's end.
    pub cumulative_tickets: i64,
}

/// A sum past `i64`: only prices stored before their bound existed can cause it.
fn overflow() -> Error {
    Error::internal("an amount in the report does not fit in 64 bits; check the showtime's prices")
}

const BUCKET_SECONDS: [i64; 6] = [60, 300, 900, 3_600, 21_600, 86_400];

/// Groups sales (oldest first) into buckets of the smallest width that needs at most 96 (the
/// first and last bucket may be partly outside the sale, hence the margin of one).
/// `None` if an amount overflows (impossible within the price bounds, but a database written
/// before they existed may hold larger prices: an error then, never a panic or a wrong sum).
fn bucketed(sales: &[marquee_store::Sale], currency: &str) -> Option<(i64, Vec<SalesBucket>)> {
    let (Some(first), Some(last)) = (sales.first(), sales.last()) else {
        return Some((BUCKET_SECONDS[0], Vec::new()));
    };
    let span = (last.at - first.at).whole_seconds();
    let width = BUCKET_SECONDS.into_iter().find(|width| span / width < 95).unwrap_or(86_400);
    let mut buckets: Vec<SalesBucket> = Vec::new();
    let mut cumulative = 0;
    for sale in sales {
        let start = sale.at.unix_timestamp().div_euclid(width) * width;
        let from = OffsetDateTime::from_unix_timestamp(start).unwrap_or(sale.at);
        cumulative = sale.tickets.checked_add(cumulative)?;
        match buckets.last_mut().filter(|bucket| bucket.from == from) {
            Some(bucket) => {
                bucket.tickets = bucket.tickets.checked_add(sale.tickets)?;
                bucket.gross.amount = bucket.gross.amount.checked_add(sale.amount)?;
                bucket.cumulative_tickets = cumulative;
            }
            None => buckets.push(SalesBucket {
                from,
                tickets: sale.tickets,
                gross: Money::new(sale.amount, currency.to_owned()),
                cumulative_tickets: cumulative,
            }),
        }
    }
    Some((width, buckets))
}

/// Tickets sold and revenue per time bucket, for a chart of the sale.
#[utoipa::path(get, path = "/api/v1/admin/showtimes/{showtime_id}/sales", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("showtime_id" = inline(ShowtimeId), Path)),
    responses((status = 200, body = SalesTimeline), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn sales_timeline(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(showtime_id): Path<String>,
) -> Result<axum::Json<SalesTimeline>, ApiError> {
    let id = ShowtimeId::from_raw(showtime_id);
    let summary =
        state.store.get_showtime(&id, state.clock.now()).await?.ok_or(Error::NotFound("showtime"))?;
    let sales = state.store.sales_timeline(&id).await?;
    let (bucket_seconds, buckets) = bucketed(&sales, &summary.showtime.currency).ok_or_else(overflow)?;
    Ok(axum::Json(SalesTimeline { showtime_id: id.to_string(), bucket_seconds, buckets }))
}

/// The showtime report as CSV.
#[utoipa::path(get, path = "/api/v1/admin/showtimes/{showtime_id}/report.csv", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("showtime_id" = inline(ShowtimeId), Path)),
    responses((status = 200, body = String, content_type = "text/csv"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn showtime_report_csv(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(showtime_id): Path<String>,
) -> Result<Response, ApiError> {
    let report = showtime_report_of(&state, &ShowtimeId::from_raw(showtime_id)).await?;
    Ok(csv_response(&format!("sales-{}", report.showtime_id), csv(std::slice::from_ref(&report))))
}

/// Sales of every showtime of an event, with totals.
#[utoipa::path(get, path = "/api/v1/admin/events/{event_id}/report", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("event_id" = inline(EventId), Path)),
    responses((status = 200, body = EventReport), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn event_report(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(event_id): Path<String>,
) -> Result<axum::Json<EventReport>, ApiError> {
    Ok(axum::Json(event_report_of(&state, &EventId::from_raw(event_id)).await?))
}

/// The event report as CSV.
#[utoipa::path(get, path = "/api/v1/admin/events/{event_id}/report.csv", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("event_id" = inline(EventId), Path)),
    responses((status = 200, body = String, content_type = "text/csv"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn event_report_csv(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(event_id): Path<String>,
) -> Result<Response, ApiError> {
    let report = event_report_of(&state, &EventId::from_raw(event_id)).await?;
    Ok(csv_response(&format!("sales-{}", report.event_id), csv(&report.showtimes)))
}

#[cfg(test)]
mod tests {
    use super::{bucketed, csv_field};
    use time::OffsetDateTime;
    use time::macros::datetime;

    fn sale(at: OffsetDateTime, tickets: i64) -> marquee_store::Sale {
        marquee_store::Sale { at, tickets, amount: tickets * 1000 }
    }

    #[test]
    fn sales_fall_into_the_narrowest_buckets_that_fit_the_sale() {
        assert_eq!(bucketed(&[], "EUR"), Some((60, Vec::new())));
        let sales = [
            sale(datetime!(2030-01-01 10:00:10 UTC), 2),
            sale(datetime!(2030-01-01 10:00:50 UTC), 1),
            sale(datetime!(2030-01-01 10:03:00 UTC), 4),
        ];
        let (width, buckets) = bucketed(&sales, "EUR").unwrap();
        assert_eq!(width, 60);
        assert_eq!(buckets.len(), 2);
        assert_eq!(
            (buckets[0].tickets, buckets[0].cumulative_tickets, buckets[0].gross.amount),
            (3, 3, 3000)
        );
        assert_eq!(buckets[1].from, datetime!(2030-01-01 10:03 UTC));
        assert_eq!((buckets[1].tickets, buckets[1].cumulative_tickets), (4, 7));

        // Two days of sales: 96 buckets of 15 minutes would not reach, hours do.
        let long = [sale(datetime!(2030-01-01 00:00 UTC), 1), sale(datetime!(2030-01-03 00:00 UTC), 1)];
        let (width, buckets) = bucketed(&long, "EUR").unwrap();
        assert_eq!(width, 3_600);
        assert_eq!(buckets.len(), 2);

        // Whatever the sale's length and phase, never more than 96 buckets (up to 95 days).
        for minutes in [94, 95, 96, 97, 300, 1_440, 100_000] {
            let start = datetime!(2030-01-01 10:00:59 UTC);
            let mut sales: Vec<_> =
                (0..=minutes).map(|m| sale(start + time::Duration::minutes(m), 1)).collect();
            // One more just before the next whole span: the last bucket only just begun.
            sales.push(sale(start + time::Duration::minutes(minutes) + time::Duration::seconds(59), 1));
            let (_, buckets) = bucketed(&sales, "EUR").unwrap();
            assert!(buckets.len() <= 96, "{minutes} min: {} buckets", buckets.len());
        }
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("Heat, the \"movie\""), "\"Heat, the \"\"movie\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "\"'=HYPERLINK(1)\"");
    }
}
