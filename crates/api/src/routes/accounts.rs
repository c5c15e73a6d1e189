//! Accounts: register, log in, log out, who am I.

use crate::auth::{self, AuthUser, bearer_token, token_hash};
use crate::dto::{CredentialsIn, LoginOut, RegisterOut, UserOut};
use crate::error::{ApiError, Problem};
use crate::extract::Json;
use crate::{AppState, TAG_ACCOUNTS};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use marquee_domain::account::{Email, Password, Role, User};
use marquee_domain::ids::UserId;
use marquee_domain::{Error, Result};
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
    let email = Email::parse(&body.email)?;
    let password = Password::parse(body.password)?;
    let password_hash = auth::hash_password(password).await?;
    let now = state.clock.now();
    let user =
        User { id: UserId::generate(), email, role: Role::Customer, created_at: now, disabled_at: None };
    state.store.create_user(&user, &password_hash).await?;
    let (token, _) = start_session(&state, &user, now).await?;
    Ok((StatusCode::CREATED, axum::Json(RegisterOut { user: UserOut::from(&user), token })))
}

/// Exchanges email and password for a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = TAG_ACCOUNTS, request_body = CredentialsIn,
    responses(
        (status = 200, description = "Logged in", body = LoginOut),
        (status = 401, description = "Wrong email or password (the same answer for both)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    Json(body): Json<CredentialsIn>,
) -> Result<axum::Json<LoginOut>, ApiError> {
    // Malformed emails and oversized passwords get the same answer as wrong ones.
    let email = Email::parse(&body.email).ok();
    let found = match &email {
        Some(email) if body.password.len() <= marquee_domain::account::MAX_PASSWORD_BYTES => {
            state.store.user_credentials(email).await?
        }
        _ => None,
    };
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let password = body.password.chars().take(marquee_domain::account::MAX_PASSWORD_BYTES).collect();
    let matched = auth::verify_password(password, hash).await?;
    let user = user.filter(|_| matched).ok_or(Error::InvalidCredentials)?;
    let (token, expires_at) = start_session(&state, &user, state.clock.now()).await?;
    Ok(axum::Json(LoginOut { token, expires_at }))
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
    state.store.delete_session(&token_hash(token)).await?;
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
