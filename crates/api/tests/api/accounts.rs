//! Accounts: registration rules, login, logout, tokens.

use crate::helpers::TestApp;
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    registration_validates_and_refuses_taken_emails,
    login_logout_and_me,
    a_login_with_control_characters_in_the_email_is_a_wrong_login,
);

async fn registration_validates_and_refuses_taken_emails(app: &TestApp) {
    let register = |email: &str, password: &str| {
        app.post(None, "/api/v1/auth/register", json!({ "email": email, "password": password }), None)
    };
    let (status, body) = register("Ada@Example.com", "correct horse battery").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["role"], "customer");
    assert!(body["token"].as_str().unwrap().len() >= 43);
    assert_eq!(register("ada@example.com", "another password").await.0, StatusCode::CONFLICT);
    assert_eq!(register("not-an-email", "correct horse battery").await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(register("bob@example.com", "short").await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(register("bob@example.com", &"x".repeat(1025)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) =
        app.post(None, "/api/v1/auth/register", json!({ "email": "bob@example.com" }), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn login_logout_and_me(app: &TestApp) {
    let user = app.user().await;
    let login = |password: &str| {
        app.post(None, "/api/v1/auth/login", json!({ "email": user.email, "password": password }), None)
    };
    let (status, body) = login("correct horse battery").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));

    let (wrong_status, wrong) = login("wrong password!").await;
    let (unknown_status, unknown) = app
        .post(
            None,
            "/api/v1/auth/login",
            json!({ "email": "nobody@example.com", "password": "whatever123" }),
            None,
        )
        .await;
    assert_eq!((wrong_status, unknown_status), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    assert_eq!(wrong["detail"], unknown["detail"], "no user enumeration");

    let session = crate::helpers::TestUser { email: user.email.clone(), token };
    let (status, me) = app.get(Some(&session), "/api/v1/me").await;
    assert_eq!((status, me["email"].as_str()), (StatusCode::OK, Some(user.email.as_str())));
    let (status, _) = app.post(Some(&session), "/api/v1/auth/logout", json!({}), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(Some(&session), "/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get(Some(&user), "/api/v1/me").await.0, StatusCode::OK, "other sessions live on");
    let bogus = crate::helpers::TestUser { email: String::new(), token: "not-a-token".into() };
    assert_eq!(app.get(Some(&bogus), "/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
}

/// Found by `scripts/fuzz-api.sh` on PostgreSQL: a login whose email held a NUL answered 422
/// ("text must not contain NUL characters", from storing the login throttle's key) where every
/// other wrong login answers 401, as documented.
async fn a_login_with_control_characters_in_the_email_is_a_wrong_login(app: &TestApp) {
    let user = app.user().await;
    for path in ["/api/v1/auth/login", "/api/v1/auth/web/login"] {
        for email in [format!("{}\u{0}", user.email), "a\u{0}b@example.com".into(), "\u{1b}[31m@x.io".into()]
        {
            let body = json!({ "email": email, "password": "correct horse battery" });
            let (status, answer) = app.post(None, path, body, None).await;
            assert_eq!(
                (status, answer["code"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("invalid_credentials")),
                "{path} {email:?}"
            );
        }
    }
}
