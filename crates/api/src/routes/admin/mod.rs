//! The box office: administration under `/api/v1/admin`, for the admin role only (401
//! without a token, 403 for other roles). Every change is written to the audit log.

pub mod catalog;
pub mod orders;
pub mod reports;
pub mod users;
pub mod waiting_rooms;

use crate::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub const TAG_ADMIN: &str = "admin";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(catalog::list_venues, catalog::create_venue))
        .routes(routes!(catalog::list_halls, catalog::create_hall))
        .routes(routes!(catalog::update_venue, catalog::delete_venue))
        .routes(routes!(catalog::get_hall, catalog::rename_hall, catalog::delete_hall))
        .routes(routes!(catalog::replace_layout))
        .routes(routes!(catalog::list_events, catalog::create_event))
        .routes(routes!(catalog::update_event))
        .routes(routes!(catalog::publish_event))
        .routes(routes!(catalog::unpublish_event))
        .routes(routes!(catalog::event_showtimes))
        .routes(routes!(catalog::create_showtime))
        .routes(routes!(catalog::delete_showtime))
        .routes(routes!(catalog::change_prices))
        .routes(routes!(catalog::cancel_showtime))
        .routes(routes!(
            waiting_rooms::put_waiting_room,
            waiting_rooms::get_waiting_room,
            waiting_rooms::delete_waiting_room
        ))
        .routes(routes!(reports::showtime_report))
        .routes(routes!(reports::showtime_report_csv))
        .routes(routes!(reports::sales_timeline))
        .routes(routes!(reports::event_report))
        .routes(routes!(reports::event_report_csv))
        .routes(routes!(orders::get_order))
        .routes(routes!(orders::refund_order))
        .routes(routes!(users::list_users))
        .routes(routes!(users::change_role))
        .routes(routes!(users::disable_user))
        .routes(routes!(users::enable_user))
        .routes(routes!(users::list_audit))
}
