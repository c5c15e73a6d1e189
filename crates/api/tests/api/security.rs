//! Attacks ticket sellers see: credential stuffing, hoarding bots, oversized requests,
//! cross-origin calls. Limits are small and time is moved by the test clock, never slept.

use crate::helpers::{TestApp, TestUser};
use crate::on_both_backends_with;
use marquee_api::ApiConfig;
use marquee_api::security::LoginThrottle;
use reqwest::StatusCode;
use serde_json::json;
use time::Duration;

on_both_backends_with!(
    failed_logins_are_throttled_per_account_with_growing_delays => TestApp::test_config(),
    failed_logins_are_throttled_per_address => ApiConfig {
        login_throttle: LoginThrottle { free_per_ip: 3, ..LoginThrottle::default() },
        ..TestApp::test_config()
    },
    writes_are_rate_limited_per_user => ApiConfig { writes_per_minute_per_user: Some(3), ..TestApp::test_config() },
    writes_are_rate_limited_per_address => ApiConfig { writes_per_minute_per_ip: Some(3), ..TestApp::test_config() },
    responses_carry_security_headers_and_limits_hold => ApiConfig {
        cors_origins: vec!["https://tickets.example.com".into()],
        ..TestApp::test_config()
    },
    sessions_expire_and_rotate_on_login => TestApp::test_config(),
);

async fn login(
    app: &TestApp,
    email: &str,
    password: &str,
) -> (StatusCode, reqwest::header::HeaderMap, serde_json::Value) {
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    let (status, body) = crate::helpers::read(response).await;
    (status, headers, body)
}

async fn failed_logins_are_throttled_per_account_with_growing_delays(app: &TestApp) {
    let user = app.user().await;
    for _ in 0..5 {
        assert_eq!(login(app, &user.email, "wrong password!").await.0, StatusCode::UNAUTHORIZED);
    }
    // The sixth attempt must wait 1 s, even with the right password.
    let (status, headers, body) = login(app, &user.email, "correct horse battery").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("too_many_requests")));
    assert_eq!(headers["retry-after"], "1");
    app.clock.advance(Duration::seconds(1));
    assert_eq!(login(app, &user.email, "wrong again!!").await.0, StatusCode::UNAUTHORIZED);
    let (status, headers, _) = login(app, &user.email, "correct horse battery").await;
    assert_eq!(
        (status, &headers["retry-after"]),
        (StatusCode::TOO_MANY_REQUESTS, &"2".parse().unwrap()),
        "the delay doubled"
    );
    // Unknown accounts are throttled alike (no enumeration through throttling).
    for _ in 0..5 {
        login(app, "ghost@example.com", "whatever123").await;
    }
    assert_eq!(login(app, "ghost@example.com", "whatever123").await.0, StatusCode::TOO_MANY_REQUESTS);

    app.clock.advance(Duration::seconds(2));
    assert_eq!(login(app, &user.email, "correct horse battery").await.0, StatusCode::OK);
    assert_eq!(
        login(app, &user.email, "wrong password!").await.0,
        StatusCode::UNAUTHORIZED,
        "success reset the count"
    );
    let admin = app.admin().await;
    let (_, audit) = app.get(Some(&admin), "/api/v1/admin/audit?action=login.failed&limit=100").await;
    assert!(audit["items"].as_array().unwrap().len() >= 12);
    assert_eq!(audit["items"][0]["ip"], "127.0.0.1");
}

async fn failed_logins_are_throttled_per_address(app: &TestApp) {
    for n in 0..3 {
        assert_eq!(
            login(app, &format!("victim{n}@example.com"), "guess-guess").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, headers, _) = login(app, "victim9@example.com", "guess-guess").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "one address trying many accounts is slowed down");
    assert!(headers.contains_key("retry-after"));
}

async fn writes_are_rate_limited_per_user(app: &TestApp) {
    let showtime = app.showtime("Rush").await;
    let seats = app.seat_ids(&showtime).await;
    let bot: TestUser = app.user().await;
    let other = app.user().await;
    for seat in &seats[0..3] {
        let (status, hold) = app.hold(&bot, &showtime, std::slice::from_ref(seat)).await;
        assert_eq!(status, StatusCode::CREATED, "{hold}");
    }
    let response = app
        .client
        .post(app.url("/api/v1/holds"))
        .bearer_auth(&bot.token)
        .json(&json!({"showtime_id": showtime.id, "ticket_ids": [seats[3]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "20");
    assert_eq!(app.hold(&other, &showtime, &seats[4..5]).await.0, StatusCode::CREATED, "limits are per user");
    assert_eq!(
        app.get_json(&format!("/ticket/{}/price", seats[3])).await["status"],
        "available",
        "the refused write changed nothing"
    );
    app.clock.advance(Duration::seconds(20));
    assert_eq!(app.hold(&bot, &showtime, &seats[3..4]).await.0, StatusCode::CREATED);
}

async fn writes_are_rate_limited_per_address(app: &TestApp) {
    let register = |n: u32| {
        app.post(
            None,
            "/api/v1/auth/register",
            json!({"email": format!("bot{n}@example.com"), "password": "correct horse battery"}),
            None,
        )
    };
    for n in 0..3 {
        assert_eq!(register(n).await.0, StatusCode::CREATED);
    }
    assert_eq!(register(3).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.get(None, "/movie/list").await.0, StatusCode::OK, "reads are not limited");
}

async fn responses_carry_security_headers_and_limits_hold(app: &TestApp) {
    let response = app
        .client
        .get(app.url("/movie/list"))
        .header("origin", "https://tickets.example.com")
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["content-security-policy"], "default-src 'none'; frame-ancestors 'none'");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(!headers.contains_key("strict-transport-security"), "HSTS only over TLS");
    assert_eq!(headers["access-control-allow-origin"], "https://tickets.example.com");
    let foreign =
        app.client.get(app.url("/movie/list")).header("origin", "https://evil.example").send().await.unwrap();
    assert!(!foreign.headers().contains_key("access-control-allow-origin"));

    let huge = "x".repeat(20_000);
    let response = app.client.get(app.url("/movie/list")).header("x-padding", huge).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(
        app.get(None, "/movie/list?limit=101").await.0,
        StatusCode::BAD_REQUEST,
        "page sizes are capped"
    );
}

async fn sessions_expire_and_rotate_on_login(app: &TestApp) {
    let user = app.user().await;
    let (_, _, body) = login(app, &user.email, "correct horse battery").await;
    let fresh = TestUser { email: user.email.clone(), token: body["token"].as_str().unwrap().to_owned() };
    // Logging in again while presenting a token revokes that token.
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .bearer_auth(&fresh.token)
        .json(&json!({ "email": user.email, "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.get(Some(&fresh), "/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get(Some(&user), "/api/v1/me").await.0, StatusCode::OK);
    app.clock.advance(Duration::days(7));
    assert_eq!(app.get(Some(&user), "/api/v1/me").await.0, StatusCode::UNAUTHORIZED, "sessions expire");
}
