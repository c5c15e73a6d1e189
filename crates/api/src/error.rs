//! Errors as RFC 9457 problem documents.
//!
//! Each domain error maps to exactly one HTTP status and a stable `code` that clients can
//! branch on. Internal errors are logged with their cause and returned opaque.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use marquee_domain::Error;
use serde::Serialize;
use serde_json::{Value, json};

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Everything a handler can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// A rule of the domain said no.
    Domain(Error),
    /// The request itself is malformed: unparsable JSON, a bad query parameter or header.
    BadRequest(String),
    /// The body could not be read (too large, wrong media type): the rejection's own status.
    Rejected { status: StatusCode, detail: String },
    /// The node cannot serve yet or any more (readiness): the database does not answer, a
    /// migration is missing, or it is shutting down. 503.
    NotReady(String),
    /// A write on a cookie session without the session's CSRF token. 403.
    CsrfRejected,
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError::Domain(error)
    }
}

/// serde's messages name our Rust types (`expected struct HoldIn`); a client knows JSON.
fn without_type_names(detail: &str) -> String {
    let words: Vec<&str> = detail.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut index = 0;
    while index < words.len() {
        let replacement = match words[index] {
            "struct" => Some("a JSON object"),
            "enum" => Some("one of the allowed values"),
            _ => None,
        };
        let name = words.get(index + 1).map(|w| w.trim_end_matches([',', '.', ';', ':']));
        match (replacement, name) {
            (Some(replacement), Some(name))
                if name.starts_with(|c: char| c.is_ascii_uppercase())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                let tail = &words[index + 1][name.len()..];
                out.push(format!("{replacement}{tail}"));
                index += 2;
            }
            _ => {
                out.push(words[index].to_owned());
                index += 1;
            }
        }
    }
    out.join(" ")
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let detail = without_type_names(&rejection.body_text());
        match status {
            // Syntax errors and type mismatches are both the client's malformed request.
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => ApiError::BadRequest(detail),
            status => ApiError::Rejected { status, detail },
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// The problem document (RFC 9457) every error response carries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `tickets_unavailable`.
    pub code: String,
    /// Tickets concerned, for `tickets_unavailable` and `unknown_tickets`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_ids: Option<Vec<String>>,
}

impl ApiError {
    /// Status, code and extra members of the problem document.
    fn parts(&self) -> (StatusCode, &'static str, Option<Value>) {
        use StatusCode as S;
        match self {
            ApiError::BadRequest(_) => (S::BAD_REQUEST, "bad_request", None),
            ApiError::Rejected { status, .. } => (*status, "request_rejected", None),
            ApiError::NotReady(_) => (S::SERVICE_UNAVAILABLE, "not_ready", None),
            ApiError::CsrfRejected => (S::FORBIDDEN, "csrf_rejected", None),
            ApiError::Domain(error) => match error {
                Error::Invalid(_) => (S::UNPROCESSABLE_ENTITY, "invalid_request", None),
                Error::NotFound(_) => (S::NOT_FOUND, "not_found", None),
                Error::Unauthenticated => (S::UNAUTHORIZED, "unauthenticated", None),
                Error::InvalidCredentials => (S::UNAUTHORIZED, "invalid_credentials", None),
                Error::EmailTaken => (S::CONFLICT, "email_taken", None),
                Error::TicketsUnavailable { ticket_ids } => {
                    (S::CONFLICT, "tickets_unavailable", Some(json!({ "ticket_ids": ticket_ids })))
                }
                Error::UnknownTickets { ticket_ids } => {
                    (S::UNPROCESSABLE_ENTITY, "unknown_tickets", Some(json!({ "ticket_ids": ticket_ids })))
                }
                Error::NotEnoughPlaces { requested, available } => (
                    S::CONFLICT,
                    "not_enough_places",
                    Some(json!({ "requested": requested, "available": available })),
                ),
                Error::NotOnSale => (S::CONFLICT, "not_on_sale", None),
                Error::Conflict(_) => (S::CONFLICT, "conflict", None),
                Error::HoldLimitReached { limit } => {
                    (S::CONFLICT, "hold_limit", Some(json!({ "limit": limit })))
                }
                Error::TooManyRequests { retry_after_secs } => (
                    S::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    Some(json!({ "retry_after": retry_after_secs })),
                ),
                Error::Forbidden(_) => (S::FORBIDDEN, "forbidden", None),
                Error::AdmissionRequired(_) => (S::FORBIDDEN, "admission_required", None),
                Error::HoldExpired => (S::GONE, "hold_expired", None),
                Error::HoldNotActive { .. } => (S::CONFLICT, "hold_not_active", None),
                Error::PaymentDeclined { .. } => (S::PAYMENT_REQUIRED, "payment_declined", None),
                Error::InvalidPaymentToken => (S::UNPROCESSABLE_ENTITY, "invalid_payment_token", None),
                Error::PaymentUnavailable(_) => (S::SERVICE_UNAVAILABLE, "payment_unavailable", None),
                Error::PaymentOutcomeUnknown(_) => (S::BAD_GATEWAY, "payment_outcome_unknown", None),
                Error::PaymentInProgress => (S::CONFLICT, "payment_in_progress", None),
                Error::InvalidTicketCode(_) => (S::UNPROCESSABLE_ENTITY, "invalid_ticket_code", None),
                Error::AlreadyCheckedIn { at } => (
                    S::CONFLICT,
                    "already_checked_in",
                    Some(
                        json!({ "admitted_at": at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default() }),
                    ),
                ),
                Error::TicketVoid => (S::GONE, "ticket_void", None),
                Error::WrongShowtime => (S::UNPROCESSABLE_ENTITY, "wrong_showtime", None),
                Error::RefundWindowClosed { .. } => (S::CONFLICT, "refund_window_closed", None),
                Error::IdempotencyKeyReused => (S::UNPROCESSABLE_ENTITY, "idempotency_key_reused", None),
                Error::IdempotencyInProgress => (S::CONFLICT, "idempotency_in_progress", None),
                Error::Contention => (S::SERVICE_UNAVAILABLE, "contention", None),
                Error::DatabaseUnavailable(_) => (S::SERVICE_UNAVAILABLE, "database_unavailable", None),
                Error::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal_error", None),
            },
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::BadRequest(detail) | ApiError::Rejected { detail, .. } | ApiError::NotReady(detail) => {
                detail.clone()
            }
            ApiError::CsrfRejected => {
                "a write with the session cookie needs the X-CSRF-Token header (the CSRF cookie's value)"
                    .into()
            }
            ApiError::Domain(Error::Internal(_)) => "an internal error occurred; it has been logged".into(),
            ApiError::Domain(Error::PaymentUnavailable(_)) => {
                "the payment provider is unavailable; nothing was charged".into()
            }
            ApiError::Domain(error) => error.to_string(),
        }
    }

    /// The status and the problem document, as stored for idempotent replays.
    pub fn to_problem(&self) -> (StatusCode, Value) {
        let (status, code, extra) = self.parts();
        if let ApiError::Domain(
            Error::Internal(cause) | Error::PaymentUnavailable(cause) | Error::PaymentOutcomeUnknown(cause),
        ) = self
        {
            tracing::error!(%cause, code, "request failed");
        }
        if let ApiError::Domain(Error::DatabaseUnavailable(cause)) = self {
            tracing::warn!(%cause, code, "database unavailable");
        }
        let mut body = json!({
            "type": format!("urn:marquee:problem:{code}"),
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": self.detail(),
            "code": code,
        });
        if let (Some(Value::Object(extra)), Value::Object(body)) = (extra, &mut body) {
            body.extend(extra);
        }
        (status, body)
    }
}

/// A JSON response with the problem media type (also used to replay stored errors).
pub fn problem_response(status: StatusCode, body: Value) -> Response {
    let retry_after = body.get("retry_after").and_then(Value::as_u64);
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.to_problem();
        problem_response(status, body)
    }
}

pub async fn method_not_allowed() -> Response {
    let error =
        ApiError::Rejected { status: StatusCode::METHOD_NOT_ALLOWED, detail: "method not allowed".into() };
    error.into_response()
}

/// The longest request target (path and query) served, in bytes. Every URL Marquee makes is
/// far shorter (the longest, a filtered catalog page with a cursor, is under 1 KiB); 8 KiB is
/// what common proxies allow, so a longer one is refused here with a problem document rather
/// than by a proxy or by hyper (which answers a bare 414 past 64 KiB, before any of our code).
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The edge of the application, in one layer (one boxed future per request, not two):
/// refuses request targets no route can serve before they reach one — longer than
/// [`MAX_URI_BYTES`] (414), or whose path or query decodes to a control character such as NUL
/// (400: no identifier or filter may contain one, and PostgreSQL cannot even store them) — and
/// gives every error response a problem document: the layers beneath the handlers (the
/// timeout, tower-http's limits) answer with a bare status, and a client must be able to read
/// every error the same way. Responses that already carry a body type are left alone.
pub async fn guard(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let target = request.uri().path_and_query().map_or("", |target| target.as_str());
    if target.len() > MAX_URI_BYTES {
        let detail = format!("the URL is {} bytes long; at most {MAX_URI_BYTES} are accepted", target.len());
        return ApiError::Rejected { status: StatusCode::URI_TOO_LONG, detail }.into_response();
    }
    if has_encoded_control(target) {
        return ApiError::BadRequest("the URL must not contain control characters (such as %00)".into())
            .into_response();
    }
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let detail = match status {
        StatusCode::REQUEST_TIMEOUT => {
            "the request took too long to handle; it may or may not have taken effect".into()
        }
        status => status.canonical_reason().unwrap_or("the request was refused").to_lowercase(),
    };
    let mut problem = ApiError::Rejected { status, detail }.into_response();
    for (name, value) in response.headers() {
        problem.headers_mut().entry(name).or_insert_with(|| value.clone());
    }
    problem
}

/// Whether a request target holds a percent-encoded control character (`%00`–`%1F`, `%7F`).
/// Raw control bytes never get this far: hyper refuses them while parsing the request line.
fn has_encoded_control(target: &str) -> bool {
    target.as_bytes().windows(3).any(|w| {
        let hex = |b: u8| (b as char).to_digit(16);
        match (w[0], hex(w[1]), hex(w[2])) {
            (b'%', Some(high), Some(low)) => high * 16 + low < 0x20 || high * 16 + low == 0x7f,
            _ => false,
        }
    })
}

/// Turns a panic into an opaque 500 problem (the panic itself is logged by the hook).
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Domain(Error::internal("handler panicked")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use marquee_domain::ids::TicketId;

    /// What `guard` answers for a handler's response (a bare status from a lower layer).
    async fn through_guard(path: &str, inner: Response) -> Response {
        use tower::ServiceExt;
        let inner = std::sync::Arc::new(std::sync::Mutex::new(Some(inner)));
        let handler = move || {
            let inner = inner.clone();
            async move { inner.lock().unwrap().take().unwrap_or_else(|| StatusCode::GONE.into_response()) }
        };
        let app = axum::Router::new().fallback(handler).layer(axum::middleware::from_fn(guard));
        let request = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
        app.oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn bare_errors_from_lower_layers_become_problem_documents() {
        let mut bare = StatusCode::REQUEST_TIMEOUT.into_response();
        bare.headers_mut().insert("x-kept", HeaderValue::from_static("yes"));
        let response = through_guard("/api/v1/events", bare).await;
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(response.headers()["x-kept"], "yes");
        let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["status"], 408);
        assert!(body["detail"].as_str().unwrap().contains("may or may not have taken effect"), "{body}");

        // Answers with a body of their own, and successes, pass untouched.
        let html = ([(header::CONTENT_TYPE, "text/html")], "<p>gone</p>");
        let response = through_guard("/x", (StatusCode::NOT_FOUND, html).into_response()).await;
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/html");
        let response = through_guard("/x", StatusCode::NO_CONTENT.into_response()).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(!response.headers().contains_key(header::CONTENT_TYPE));
    }

    #[tokio::test]
    async fn the_guard_refuses_long_targets_and_encoded_controls_before_any_handler() {
        let ok = || StatusCode::OK.into_response();
        let long = format!("/x?q={}", "a".repeat(MAX_URI_BYTES));
        assert_eq!(through_guard(&long, ok()).await.status(), StatusCode::URI_TOO_LONG);
        assert_eq!(through_guard("/x?q=%00", ok()).await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(through_guard("/x?q=%25", ok()).await.status(), StatusCode::OK);
    }

    #[test]
    fn json_errors_do_not_name_rust_types() {
        assert_eq!(
            without_type_names("invalid type: string \"x\", expected struct HoldIn at line 1 column 3"),
            "invalid type: string \"x\", expected a JSON object at line 1 column 3"
        );
        assert_eq!(without_type_names("expected enum EventKind"), "expected one of the allowed values");
        assert_eq!(without_type_names("unknown field `card`"), "unknown field `card`");
        assert_eq!(without_type_names("a struct of a construct"), "a struct of a construct");
    }

    #[test]
    fn encoded_control_characters_are_found_anywhere_in_the_target() {
        for bad in ["/api/v1/events?q=%00", "/movie/%1f", "/x?q=a%7Fb", "/x?q=%0a"] {
            assert!(has_encoded_control(bad), "{bad}");
        }
        for good in ["/api/v1/events?q=%20caf%C3%A9", "/x?q=100%25", "/x?q=%2", "/x?q=%zz", "/x?q=%7e"] {
            assert!(!has_encoded_control(good), "{good}");
        }
    }

    #[test]
    fn each_domain_error_has_one_status_and_code() {
        let unavailable =
            ApiError::from(Error::TicketsUnavailable { ticket_ids: vec![TicketId::from_raw("tkt_1")] });
        let (status, body) = unavailable.to_problem();
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["code"], "tickets_unavailable");
        assert_eq!(body["ticket_ids"], json!(["tkt_1"]));
        assert_eq!(ApiError::from(Error::HoldExpired).to_problem().0, StatusCode::GONE);
        assert_eq!(
            ApiError::from(Error::PaymentDeclined { reason: "x".into() }).to_problem().0,
            StatusCode::PAYMENT_REQUIRED
        );
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let (status, body) = ApiError::from(Error::internal("password=hunter2 at db")).to_problem();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("hunter2"));
    }
}
