//! Authentication: password hashing, session tokens, and the [`AuthUser`] extractor.
//!
//! Passwords are hashed with Argon2id on the blocking pool (hashing takes tens of
//! milliseconds of CPU by design). Session tokens are 256 random bits, given to the client
//! once and stored only as their SHA-256 hash, so a leaked database holds no usable token.

use crate::AppState;
use crate::error::ApiError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use marquee_domain::account::{Password, Role, User};
use marquee_domain::{Error, Result};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// A hash to verify against when the email is unknown, so that "no such user" takes as long
/// as "wrong password" and the two cannot be told apart by timing.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"marquee-dummy-password")
        .map(|hash| hash.to_string())
        .unwrap_or_default()
});

/// Argon2id takes 19 MiB and tens of milliseconds per hash: at most this many run at once, so
/// a registration or login storm queues instead of exhausting memory (glibc keeps freed
/// per-thread arenas) or starving every other request of CPU.
static HASHING: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
});

pub async fn hash_password(password: Password) -> Result<String> {
    let _permit = HASHING.acquire().await.map_err(Error::internal)?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| Error::internal(format!("hashing failed: {e}")))
    })
    .await
    .map_err(Error::internal)?
}

/// Checks a password against a stored hash, or against a dummy hash when `hash` is `None`.
pub async fn verify_password(password: String, hash: Option<String>) -> Result<bool> {
    let _permit = HASHING.acquire().await.map_err(Error::internal)?;
    tokio::task::spawn_blocking(move || {
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
        let matched = Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok();
        Ok(matched)
    })
    .await
    .map_err(Error::internal)?
}

/// A new bearer token (256 random bits, base64url).
pub fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What is stored for a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The bearer token of a request, if any.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

pub const CSRF_HEADER: &str = "x-csrf-token";

/// Whether a browser session's cookies are `Secure` (and `__Host-` prefixed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SecureCookies {
    /// Secure, except for plain HTTP to a loopback name (`localhost`, `127.0.0.1`, `[::1]`),
    /// the local quick start; a deployment behind a TLS-terminating proxy is secure.
    #[default]
    Auto,
    Always,
    /// Never (a plain-HTTP test network; not for production).
    Never,
}

/// The names and attributes of the browser session's cookies for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieNames {
    /// The session: the same opaque token as a bearer token, `HttpOnly`.
    pub session: &'static str,
    /// Readable by the page's scripts, which echo it in [`CSRF_HEADER`].
    pub csrf: &'static str,
    pub secure: bool,
}

impl CookieNames {
    /// `__Host-` cookies are only accepted from HTTPS, for this host and path `/`: another
    /// subdomain or a network attacker cannot plant them.
    const SECURE: CookieNames =
        CookieNames { session: "__Host-marquee_session", csrf: "__Host-marquee_csrf", secure: true };
    const LOCAL: CookieNames =
        CookieNames { session: "marquee_session", csrf: "marquee_csrf", secure: false };

    /// The cookies of a request, by the configured mode and (for `Auto`) the request's host.
    pub fn of(mode: SecureCookies, tls: bool, headers: &axum::http::HeaderMap) -> Self {
        let secure = match mode {
            SecureCookies::Always => true,
            SecureCookies::Never => false,
            SecureCookies::Auto => tls || !loopback_host(headers),
        };
        if secure { Self::SECURE } else { Self::LOCAL }
    }
}

/// Whether the request was addressed to a loopback name.
fn loopback_host(headers: &axum::http::HeaderMap) -> bool {
    let Some(host) = headers.get(axum::http::header::HOST).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The user of the request's session token, looked up at most once per request (by the
/// request-hardening middleware, which puts it in the request's extensions).
#[derive(Clone, Debug)]
pub struct SessionUser(pub Option<User>);

/// Where a request's session token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    Bearer,
    Cookie,
}

/// The session token of a request: the bearer token, or else the session cookie.
pub fn session_token(headers: &axum::http::HeaderMap, cookies: CookieNames) -> Option<(&str, TokenSource)> {
    if let Some(token) = bearer_token(headers) {
        return Some((token, TokenSource::Bearer));
    }
    cookie(headers, cookies.session).map(|token| (token, TokenSource::Cookie))
}

/// The value of a named cookie.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value)
}

/// The CSRF token of a cookie session: derived from the session token, so it cannot be
/// guessed or planted by another site (which can neither read the `HttpOnly` session cookie
/// nor this one), needs no storage, and changes with every login.
pub fn csrf_token(session_token: &str) -> String {
    let digest =
        Sha256::new().chain_update(b"marquee-csrf\0").chain_update(session_token.as_bytes()).finalize();
    URL_SAFE_NO_PAD.encode(digest)
}

/// Whether a request made with a cookie session carries its CSRF token. Compared in constant
/// time.
pub fn csrf_ok(headers: &axum::http::HeaderMap, session_token: &str) -> bool {
    let Some(sent) = headers.get(CSRF_HEADER).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let expected = csrf_token(session_token);
    sent.len() == expected.len()
        && sent.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The authenticated user of a request; 401 without a valid, unexpired session token.
pub struct AuthUser(pub User);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // The request-context middleware has usually looked the session up already.
        if let Some(SessionUser(user)) = parts.extensions.get::<SessionUser>() {
            return user.clone().map(AuthUser).ok_or(Error::Unauthenticated.into());
        }
        let token = bearer_token(&parts.headers).ok_or(Error::Unauthenticated)?;
        let user = state
            .sessions
            .user(state.store.as_ref(), &token_hash(token), state.clock.now())
            .await?
            .ok_or(Error::Unauthenticated)?;
        Ok(AuthUser(user))
    }
}

/// An authenticated admin; 401 without a valid token, 403 for other roles.
pub struct AdminUser(pub User);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let AuthUser(user) = AuthUser::from_request_parts(parts, state).await?;
        if user.role != Role::Admin {
            return Err(Error::Forbidden("admin").into());
        }
        Ok(AdminUser(user))
    }
}

/// An authenticated staff member or admin (the door); 403 for customers.
pub struct StaffUser(pub User);

impl FromRequestParts<AppState> for StaffUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let AuthUser(user) = AuthUser::from_request_parts(parts, state).await?;
        if !matches!(user.role, Role::Staff | Role::Admin) {
            return Err(Error::Forbidden("staff").into());
        }
        Ok(StaffUser(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password(Password::parse("correct horse".into()).unwrap()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), Some(hash.clone())).await.unwrap());
        assert!(!verify_password("wrong horse!".into(), Some(hash)).await.unwrap());
        assert!(!verify_password("anything at all".into(), None).await.unwrap());
    }

    #[test]
    fn tokens_are_long_random_and_stored_hashed() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "32 bytes in base64url");
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }

    #[test]
    fn the_session_comes_from_the_bearer_token_first_then_the_cookie() {
        use axum::http::{HeaderMap, HeaderValue, header};
        let local = CookieNames::LOCAL;
        let mut headers = HeaderMap::new();
        assert_eq!(session_token(&headers, local), None);
        headers.insert(header::COOKIE, HeaderValue::from_static("theme=dark; marquee_session=abc; x=1"));
        assert_eq!(session_token(&headers, local), Some(("abc", TokenSource::Cookie)));
        assert_eq!(session_token(&headers, CookieNames::SECURE), None, "a plain cookie on an HTTPS site");
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer xyz"));
        assert_eq!(session_token(&headers, local), Some(("xyz", TokenSource::Bearer)));
        let mut empty = HeaderMap::new();
        empty.insert(header::COOKIE, HeaderValue::from_static("marquee_session="));
        assert_eq!(session_token(&empty, local), None);
    }

    #[test]
    fn cookies_are_secure_except_for_plain_http_to_a_loopback_name() {
        use axum::http::{HeaderMap, HeaderValue, header};
        let with_host = |host: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_static(host));
            headers
        };
        for local in ["localhost:8080", "127.0.0.1:8080", "127.0.0.1", "[::1]:8080", "app.localhost"] {
            assert_eq!(
                CookieNames::of(SecureCookies::Auto, false, &with_host(local)),
                CookieNames::LOCAL,
                "{local}"
            );
            assert_eq!(
                CookieNames::of(SecureCookies::Auto, true, &with_host(local)),
                CookieNames::SECURE,
                "{local}"
            );
            assert_eq!(CookieNames::of(SecureCookies::Always, false, &with_host(local)), CookieNames::SECURE);
        }
        for public in
            ["tickets.example.com", "tickets.example.com:443", "192.168.1.20:8080", "localhost.example.com"]
        {
            assert_eq!(
                CookieNames::of(SecureCookies::Auto, false, &with_host(public)),
                CookieNames::SECURE,
                "{public}"
            );
            assert_eq!(CookieNames::of(SecureCookies::Never, true, &with_host(public)), CookieNames::LOCAL);
        }
        assert_eq!(CookieNames::of(SecureCookies::Auto, false, &HeaderMap::new()), CookieNames::SECURE);
    }

    #[test]
    fn the_csrf_token_is_bound_to_its_session() {
        use axum::http::{HeaderMap, HeaderValue};
        let token = new_token().unwrap();
        let csrf = csrf_token(&token);
        assert_ne!(csrf, csrf_token(&new_token().unwrap()));
        assert_ne!(csrf, token_hash(&token), "not the stored hash");
        let mut headers = HeaderMap::new();
        assert!(!csrf_ok(&headers, &token), "missing");
        headers.insert(CSRF_HEADER, HeaderValue::from_str(&csrf_token("other")).unwrap());
        assert!(!csrf_ok(&headers, &token), "another session's");
        headers.insert(CSRF_HEADER, HeaderValue::from_str(&csrf).unwrap());
        assert!(csrf_ok(&headers, &token));
    }
}
