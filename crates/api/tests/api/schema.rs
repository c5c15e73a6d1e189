//! The API document states the constraints the server enforces, so that a client validating a
//! request against it sends one the server accepts (schemathesis' `positive_data_acceptance`
//! found requests the document allowed and the server refused: `limit=0`, `kind=`, a password
//! of 9 characters, an empty `Idempotency-Key`, `date=`). Each bound is read from the served
//! document and tried on the server: what the document allows at the bound is accepted, and
//! what lies just beyond it is refused.

use crate::helpers::TestApp;
use crate::on_both_backends;
use marquee_api::idempotency::MAX_KEY_LENGTH;
use marquee_api::routes::page::MAX_PAGE_SIZE;
use marquee_domain::account::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    page_sizes_are_documented_and_taken_at_their_bounds,
    filters_are_documented_as_the_server_reads_them,
    password_lengths_are_documented_and_taken_at_their_bounds,
    idempotency_keys_are_documented_and_taken_at_their_bounds,
);

/// The schema of parameter `name` of `method path`.
fn parameter<'a>(document: &'a Value, method: &str, path: &str, name: &str) -> &'a Value {
    let parameters = document["paths"][path][method]["parameters"].as_array().unwrap();
    let parameter = parameters.iter().find(|p| p["name"] == name);
    &parameter.unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))["schema"]
}

fn number(schema: &Value, keyword: &str) -> i64 {
    schema[keyword].as_i64().unwrap_or_else(|| panic!("no {keyword} in {schema}"))
}

async fn page_sizes_are_documented_and_taken_at_their_bounds(app: &TestApp) {
    let document = app.get_json("/openapi.json").await;
    let user = app.user().await;
    for path in ["/movie/list", "/api/v1/events", "/api/v1/showtimes", "/api/v1/orders"] {
        let limit = parameter(&document, "get", path, "limit");
        let (min, max) = (number(limit, "minimum"), number(limit, "maximum"));
        assert_eq!((min, max), (1, i64::from(MAX_PAGE_SIZE)), "{path}");
        for (value, expected) in [
            (min, StatusCode::OK),
            (max, StatusCode::OK),
            (min - 1, StatusCode::BAD_REQUEST),
            (max + 1, StatusCode::BAD_REQUEST),
        ] {
            let (status, body) = app.get(Some(&user), &format!("{path}?limit={value}")).await;
            assert_eq!(status, expected, "{path}?limit={value}: {body}");
        }
        let cursor = parameter(&document, "get", path, "cursor");
        assert!(cursor["pattern"].is_string() && cursor["maxLength"].is_u64(), "{path}: {cursor}");
    }
}

async fn filters_are_documented_as_the_server_reads_them(app: &TestApp) {
    let document = app.get_json("/openapi.json").await;
    // `kind`: the values each list takes, and nothing else (an empty one neither).
    for (path, kinds) in [("/api/v1/events", vec!["movie", "concert"]), ("/movie/list", vec!["movie"])] {
        let kind = parameter(&document, "get", path, "kind");
        assert_eq!(kind["enum"], json!(kinds), "{path}");
        for value in &kinds {
            assert_eq!(
                app.get(None, &format!("{path}?kind={value}")).await.0,
                StatusCode::OK,
                "{path} {value}"
            );
        }
        for value in ["", "concert", "Movie"].into_iter().filter(|value| !kinds.contains(value)) {
            assert_eq!(app.get(None, &format!("{path}?kind={value}")).await.0, StatusCode::BAD_REQUEST);
        }
    }
    // `date`: a day, as the pattern spells it; the last day it allows is taken at either end of
    // the documented offsets, and an empty date is neither allowed nor taken.
    let date = parameter(&document, "get", "/api/v1/events", "date");
    assert_eq!(date["format"], "date");
    assert!(date["pattern"].as_str().unwrap().starts_with('^'), "{date}");
    let offset = parameter(&document, "get", "/api/v1/events", "utc_offset_minutes");
    let (west, east) = (number(offset, "minimum"), number(offset, "maximum"));
    assert_eq!((west, east), (-1080, 1080));
    for minutes in [west, east] {
        let path = format!("/api/v1/events?date=9998-12-31&utc_offset_minutes={minutes}");
        assert_eq!(app.get(None, &path).await.0, StatusCode::OK, "{path}");
        let path =
            format!("/api/v1/showtimes?date=2030-01-01&utc_offset_minutes={}", minutes + minutes.signum());
        assert_eq!(app.get(None, &path).await.0, StatusCode::BAD_REQUEST, "{path}");
    }
    assert_eq!(app.get(None, "/api/v1/events?date=").await.0, StatusCode::BAD_REQUEST);
    // The longest search term the document allows is taken, one more character is not.
    let q = number(parameter(&document, "get", "/movie/list", "q"), "maxLength") as usize;
    assert_eq!(app.get(None, &format!("/movie/list?q={}", "é".repeat(q))).await.0, StatusCode::OK);
    assert_eq!(
        app.get(None, &format!("/movie/list?q={}", "é".repeat(q + 1))).await.0,
        StatusCode::BAD_REQUEST
    );
    // Ids in paths have the shape the server gives them.
    let id = parameter(&document, "get", "/api/v1/events/{event_id}", "event_id");
    assert_eq!(id["pattern"], "^evt_[0-9a-f]{32}$");
}

async fn password_lengths_are_documented_and_taken_at_their_bounds(app: &TestApp) {
    let document = app.get_json("/openapi.json").await;
    let password = &document["components"]["schemas"]["CredentialsIn"]["properties"]["password"];
    let (min, max) = (number(password, "minLength") as usize, number(password, "maxLength") as usize);
    assert_eq!(min, MIN_PASSWORD_CHARS);
    // The longest the document allows fits the server's byte bound in any script.
    assert!(max * 4 <= MAX_PASSWORD_BYTES, "{max} characters may exceed {MAX_PASSWORD_BYTES} bytes");
    for (n, password, expected) in [
        (1, "x".repeat(min - 1), StatusCode::UNPROCESSABLE_ENTITY),
        (2, "x".repeat(min), StatusCode::CREATED),
        (3, "\u{1F3AD}".repeat(max), StatusCode::CREATED),
    ] {
        let body = json!({ "email": format!("bounds{n}@example.com"), "password": password });
        let (status, answer) = app.post(None, "/api/v1/auth/register", body, None).await;
        assert_eq!(status, expected, "{} characters: {answer}", password.chars().count());
    }
    let email = &document["components"]["schemas"]["CredentialsIn"]["properties"]["email"];
    assert_eq!(email["format"], "email");
}

async fn idempotency_keys_are_documented_and_taken_at_their_bounds(app: &TestApp) {
    let document = app.get_json("/openapi.json").await;
    let user = app.user().await;
    for (method, path) in [
        ("post", "/api/v1/holds"),
        ("post", "/api/v1/orders"),
        ("post", "/api/v1/orders/{order_id}/cancel"),
        ("post", "/ticket/{ticket_id}"),
    ] {
        let key = parameter(&document, method, path, "Idempotency-Key");
        assert_eq!(
            (number(key, "minLength"), number(key, "maxLength")),
            (1, MAX_KEY_LENGTH as i64),
            "{path}"
        );
        assert_eq!(key["pattern"], "^[!-~]+$", "{path}");
    }
    // The key is read before the order is looked up: an unknown order is "not found" with a
    // key the document allows, and the key is refused otherwise.
    let order = "ord_0190c4e2a1b27c3d8e9f0a1b2c3d4e5f";
    for (key, expected) in [
        ("k".repeat(MAX_KEY_LENGTH), StatusCode::NOT_FOUND),
        ("~".into(), StatusCode::NOT_FOUND),
        ("k".repeat(MAX_KEY_LENGTH + 1), StatusCode::BAD_REQUEST),
        (String::new(), StatusCode::BAD_REQUEST),
        ("a key".into(), StatusCode::BAD_REQUEST),
    ] {
        let response = app
            .client
            .post(app.url(&format!("/api/v1/orders/{order}/cancel")))
            .bearer_auth(&user.token)
            .header("Idempotency-Key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "a key of {} characters: {key:?}", key.len());
    }
}
