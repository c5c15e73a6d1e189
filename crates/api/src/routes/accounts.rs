//! Accounts: register, log in, log out, who am I.

use crate::auth::CookieNames;
use crate::auth::{self, AuthUser, bearer_token, token_hash};
use crate::dto::{CredentialsIn, LoginOut, RegisterOut, UserOut, WebSessionOut};
use crate::error::{ApiError, Problem};
use crate::extract::Json;
use crate::security::ClientIp;
use crate::{AppState, TAG_ACCOUNTS, audit};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use marquee_domain::account::MAX_PASSWORD_BYTES;
use marquee_domain::account::{Email, Password, Role, User};
use marquee_domain::ids::UserId;
use marquee_domain::{Error, Result};
use serde_json::json;
use time::OffsetDateTime;

/// Creates an account and logs it in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = TAG_ACCOUNTS, request_body = CredentialsIn,
    responses(
        (status = 201, description = "Account created", body = RegisterOut),
        (status = 409, description = "Email already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email or password too short/long", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register(
    State(state): State<AppState>,
    Json(body): Json<CredentialsIn>,
) -> Result<(StatusCode, axum::Json<RegisterOut>), ApiError> {
    let user = create_customer(&state, body).await?;
    let (token, _) = start_session(&state, &user, state.clock.now()).await?;
    Ok((StatusCode::CREATED, axum::Json(RegisterOut { user: UserOut::from(&user), token })))
}

/// Exchanges email and password for a bearer token. Each login mints a new token; a token
/// sent along with the login is revoked (rotation). Repeated failures are throttled per
/// account and per address with doubling delays (429 with `Retry-After`).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = TAG_ACCOUNTS, request_body = CredentialsIn,
    responses(
        (status = 200, description = "Logged in", body = LoginOut),
        (status = 401, description = "Wrong email or password (the same answer for both)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    Json(body): Json<CredentialsIn>,
) -> Result<axum::Json<LoginOut>, ApiError> {
    let user = authenticate(&state, ip, &body).await?;
    if let Some(previous) = bearer_token(&headers) {
        state.sessions.end(state.store.as_ref(), &token_hash(previous)).await?;
    }
    let (token, expires_at) = start_session(&state, &user, state.clock.now()).await?;
    audit::record(&state, Some(&user), ip, "login.succeeded", Some(user.id.as_str()), json!({})).await;
    Ok(axum::Json(LoginOut { token, expires_at }))
}

/// Checks email and password, with the login throttle; audits failures.
async fn authenticate(state: &AppState, ip: ClientIp, body: &CredentialsIn) -> Result<User, ApiError> {
    let throttle = state.config.login_throttle;
    // The throttle's keys are stored, and PostgreSQL cannot store a NUL: control characters are
    // left out of them (no address has any), so such a login is a wrong one on either backend.
    let keyed: String = body.email.chars().filter(|c| !c.is_control()).collect();
    let keys = throttle.keys(&keyed, ip);
    throttle.check(state, &keys).await?;
    // Malformed emails and oversized passwords get the same answer as wrong ones.
    let email = Email::parse(&body.email).ok();
    let found = match &email {
        Some(email) if body.password.len() <= MAX_PASSWORD_BYTES => {
            state.store.user_credentials(email).await?
        }
        _ => None,
    };
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let password = body.password.chars().take(MAX_PASSWORD_BYTES).collect();
    let matched = auth::verify_password(password, hash).await?;
    let Some(user) = user.filter(|_| matched) else {
        throttle.record_failure(state, &keys).await?;
        let attempted: String = body.email.trim().to_lowercase().chars().take(254).collect();
        audit::record(state, None, ip, "login.failed", None, json!({ "email": attempted })).await;
        return Err(Error::InvalidCredentials.into());
    };
    if let Some((account_key, _)) = keys.first() {
        state.store.clear_login_failures(account_key).await?;
    }
    Ok(user)
}

/// Ends the session of the presented token.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = TAG_ACCOUNTS, security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out; the token no longer works"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    AuthUser(_): AuthUser,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let token = bearer_token(&headers).ok_or(Error::Unauthenticated)?;
    state.sessions.end(state.store.as_ref(), &token_hash(token)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The logged-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = TAG_ACCOUNTS, security(("bearer" = [])),
    responses(
        (status = 200, description = "The user of the token", body = UserOut),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(AuthUser(user): AuthUser) -> axum::Json<UserOut> {
    axum::Json(UserOut::from(&user))
}

/// Logs a browser in. The same check as `POST /api/v1/auth/login`, but the session token goes
/// into an `HttpOnly` cookie that page scripts cannot read, beside a CSRF cookie
/// whose value every write on that session must echo in the `X-CSRF-Token` header. A session
/// cookie sent along is ended (rotation).
#[utoipa::path(post, path = "/api/v1/auth/web/login", tag = TAG_ACCOUNTS, request_body = CredentialsIn,
    responses(
        (status = 200, description = "Logged in; the session and CSRF cookies are set", body = WebSessionOut),
        (status = 401, description = "Wrong email or password (the same answer for both)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn web_login(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    Json(body): Json<CredentialsIn>,
) -> Result<Response, ApiError> {
    let user = authenticate(&state, ip, &body).await?;
    end_cookie_session(&state, &headers).await?;
    audit::record(&state, Some(&user), ip, "login.succeeded", Some(user.id.as_str()), json!({ "web": true }))
        .await;
    web_session(&state, &headers, &user, StatusCode::OK).await
}

/// Creates an account and logs the browser in with cookies (see `web/login`).
#[utoipa::path(post, path = "/api/v1/auth/web/register", tag = TAG_ACCOUNTS, request_body = CredentialsIn,
    responses(
        (status = 201, description = "Account created; the session and CSRF cookies are set", body = WebSessionOut),
        (status = 409, description = "Email already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email or password too short/long", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn web_register(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<CredentialsIn>,
) -> Result<Response, ApiError> {
    let user = create_customer(&state, body).await?;
    end_cookie_session(&state, &headers).await?;
    web_session(&state, &headers, &user, StatusCode::CREATED).await
}

/// Ends the browser's cookie session and clears its cookies. Needs the CSRF header like any
/// write on a cookie session; without a session it only clears the cookies.
#[utoipa::path(post, path = "/api/v1/auth/web/logout", tag = TAG_ACCOUNTS,
    responses(
        (status = 204, description = "Logged out; the cookies are cleared"),
        (status = 403, description = "A session cookie without its X-CSRF-Token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn web_logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    end_cookie_session(&state, &headers).await?;
    let names = cookie_names(&state, &headers);
    let secure = if names.secure { "; Secure" } else { "" };
    let mut response = StatusCode::NO_CONTENT.into_response();
    for cookie in [names.session, names.csrf] {
        let value = format!("{cookie}=; Path=/; Max-Age=0; SameSite=Lax{secure}");
        response
            .headers_mut()
            .append(header::SET_COOKIE, HeaderValue::from_str(&value).map_err(Error::internal)?);
    }
    Ok(response)
}

fn cookie_names(state: &AppState, headers: &HeaderMap) -> CookieNames {
    CookieNames::of(state.config.secure_cookies, state.config.tls, headers)
}

async fn end_cookie_session(state: &AppState, headers: &HeaderMap) -> Result<()> {
    if let Some(token) = auth::cookie(headers, cookie_names(state, headers).session) {
        state.sessions.end(state.store.as_ref(), &token_hash(token)).await?;
    }
    Ok(())
}

/// Starts a session and answers with its cookies and the CSRF token.
async fn web_session(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let (token, expires_at) = start_session(state, user, state.clock.now()).await?;
    let csrf_token = auth::csrf_token(&token);
    let max_age = state.config.session_ttl.whole_seconds();
    let names = cookie_names(state, headers);
    let secure = if names.secure { "; Secure" } else { "" };
    let body = WebSessionOut { user: UserOut::from(user), csrf_token: csrf_token.clone(), expires_at };
    let mut response = (status, axum::Json(body)).into_response();
    for (name, value, http_only) in [(names.session, &token, "; HttpOnly"), (names.csrf, &csrf_token, "")] {
        let cookie = format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Lax{http_only}{secure}");
        response
            .headers_mut()
            .append(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(Error::internal)?);
    }
    Ok(response)
}

async fn create_customer(state: &AppState, body: CredentialsIn) -> Result<User> {
    let email = Email::parse(&body.email)?;
    let password = Password::parse(body.password)?;
    let password_hash = auth::hash_password(password).await?;
    let now = state.clock.now();
    let user =
        User { id: UserId::generate(), email, role: Role::Customer, created_at: now, disabled_at: None };
    state.store.create_user(&user, &password_hash).await?;
    Ok(user)
}

async fn start_session(
    state: &AppState,
    user: &User,
    now: OffsetDateTime,
) -> Result<(String, OffsetDateTime)> {
    let token = auth::new_token()?;
    let expires_at = now + state.config.session_ttl;
    state.store.create_session(&token_hash(&token), &user.id, now, expires_at).await?;
    Ok((token, expires_at))
}
