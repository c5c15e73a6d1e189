//! Request hardening: client addresses, rate limits, login throttling, header limits and
//! security headers.
//!
//! Rate limits and header checks are per process (each node counts its own requests); login
//! throttling is stored in the database, so a credential-stuffing run is slowed down across
//! every node.

use crate::auth::{SessionUser, TokenSource};
use crate::error::ApiError;
use crate::{AppState, auth};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use marquee_domain::account::User;
use marquee_domain::{Error, Result};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

/// The client's address, resolved once per request by [`request_context`].
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<ClientIp>().copied().unwrap_or(ClientIp(None)))
    }
}

impl ClientIp {
    pub fn to_string_opt(self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

/// The address a request came from: the peer, or — only when the peer is a trusted proxy —
/// the nearest address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    forwarded.iter().rev().find(|ip| !trusted_proxies.contains(ip)).copied().or(Some(peer))
}

/// Token buckets per key: `limit` requests per minute, refilled continuously, bursts up to
/// `limit`. Time comes from the caller, so tests move a clock instead of sleeping.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: OffsetDateTime,
}

/// Buckets kept before idle (full) ones are dropped, so memory stays bounded.
const MAX_BUCKETS: usize = 100_000;

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute: per_minute.max(1), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `key`, or says how many seconds until one is available.
    pub fn check(&self, key: &str, now: OffsetDateTime) -> Result<(), u64> {
        let capacity = f64::from(self.per_minute);
        let refill_per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|poison| poison.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, bucket| {
                let idle = (now - bucket.updated).as_seconds_f64();
                bucket.tokens + idle * refill_per_second < capacity
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: capacity, updated: now });
        let elapsed = (now - bucket.updated).as_seconds_f64().max(0.0);
        bucket.tokens = (bucket.tokens + elapsed * refill_per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / refill_per_second).ceil().max(1.0) as u64)
        }
    }
}

/// Per-request context and write rate limits, as one middleware:
/// 1. resolves the client address ([`ClientIp`]) and the session's user ([`SessionUser`]);
/// 2. refuses oversized headers (431);
/// 3. for writes (POST, PUT, PATCH, DELETE), takes a token per client address and per user,
///    answering 429 with `Retry-After` when either bucket is empty.
pub async fn request_context(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let header_bytes: usize =
        request.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if header_bytes > state.config.max_header_bytes {
        let error = ApiError::Rejected {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            detail: format!("request headers must stay under {} bytes", state.config.max_header_bytes),
        };
        return error.into_response();
    }
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    let ip = client_ip(peer, request.headers(), &state.config.trusted_proxies);
    request.extensions_mut().insert(ClientIp(ip));

    // The probes and the metrics scrape must answer while the database is away, and the
    // metrics token is no session token: no session lookup for them.
    let system = matches!(request.uri().path(), "/healthz" | "/readyz" | "/metrics");
    let is_write = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    // Logging in or registering replaces the browser's session: a stale or foreign cookie
    // (without its CSRF token) must not stand in the way, so it is not looked at.
    let new_session = matches!(request.uri().path(), "/api/v1/auth/web/login" | "/api/v1/auth/web/register");
    let cookies = auth::CookieNames::of(state.config.secure_cookies, state.config.tls, request.headers());
    let user = match auth::session_token(request.headers(), cookies).filter(|_| !system && !new_session) {
        Some((token, source)) => {
            match state.sessions.user(state.store.as_ref(), &auth::token_hash(token), state.clock.now()).await
            {
                // A browser sends its cookies with requests that other sites make it send: a
                // write on a cookie session must prove it comes from our pages.
                Ok(Some(_))
                    if is_write
                        && source == TokenSource::Cookie
                        && !auth::csrf_ok(request.headers(), token) =>
                {
                    return ApiError::CsrfRejected.into_response();
                }
                Ok(user) => user,
                Err(error) => return ApiError::from(error).into_response(),
            }
        }
        None => None,
    };
    if is_write && let Err(retry_after_secs) = state.limits.check_write(ip, user.as_ref(), state.clock.now())
    {
        return ApiError::from(Error::TooManyRequests { retry_after_secs }).into_response();
    }
    request.extensions_mut().insert(SessionUser(user));
    next.run(request).await
}

/// The write limiters of a node.
#[derive(Debug)]
pub struct WriteLimits {
    per_ip: Option<RateLimiter>,
    per_user: Option<RateLimiter>,
}

impl WriteLimits {
    pub fn new(per_ip_per_minute: Option<u32>, per_user_per_minute: Option<u32>) -> Self {
        Self {
            per_ip: per_ip_per_minute.map(RateLimiter::new),
            per_user: per_user_per_minute.map(RateLimiter::new),
        }
    }

    fn check_write(&self, ip: Option<IpAddr>, user: Option<&User>, now: OffsetDateTime) -> Result<(), u64> {
        if let (Some(limiter), Some(ip)) = (&self.per_ip, ip) {
            limiter.check(&format!("ip:{ip}"), now)?;
        }
        if let (Some(limiter), Some(user)) = (&self.per_user, user) {
            limiter.check(&format!("user:{}", user.id), now)?;
        }
        Ok(())
    }
}

/// Login throttling: after a few failures for an account (or many for one address), each
/// further attempt must wait twice as long as the one before, up to a cap. Failures are
/// forgotten after a quiet window; a successful login clears the account's count.
#[derive(Clone, Copy, Debug)]
pub struct LoginThrottle {
    /// Failures per account allowed without delay.
    pub free_per_account: i64,
    /// Failures per client address allowed without delay (higher: offices share addresses).
    pub free_per_ip: i64,
    /// The first delay; each further failure doubles it.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Failures older than this (since the last one) are forgotten.
    pub window: Duration,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            free_per_account: 5,
            free_per_ip: 50,
            base_delay: Duration::seconds(1),
            max_delay: Duration::minutes(15),
            window: Duration::minutes(15),
        }
    }
}

impl LoginThrottle {
    /// How long after the last failure the next attempt must wait, given the failure count.
    pub fn delay(&self, failures: i64, free: i64) -> Duration {
        if failures < free {
            return Duration::ZERO;
        }
        let doublings = (failures - free).min(30) as u32;
        let delay = self.base_delay.checked_mul(1 << doublings.min(20)).unwrap_or(self.max_delay);
        delay.min(self.max_delay)
    }

    /// The keys to count failures under, with their free allowance.
    pub fn keys(&self, email: &str, ip: ClientIp) -> Vec<(String, i64)> {
        let mut keys = vec![(format!("email:{}", email.trim().to_lowercase()), self.free_per_account)];
        if let Some(ip) = ip.0 {
            keys.push((format!("ip:{ip}"), self.free_per_ip));
        }
        keys
    }

    /// `TooManyRequests` while any key is still waiting out its delay.
    pub async fn check(&self, state: &AppState, keys: &[(String, i64)]) -> Result<()> {
        let now = state.clock.now();
        for (key, free) in keys {
            let (failures, last) = state.store.login_failures(key).await?;
            let Some(last) = last.filter(|last| *last + self.window > now) else { continue };
            let ready_at = last + self.delay(failures, *free);
            if ready_at > now {
                let retry_after_secs = (ready_at - now).whole_seconds().max(1) as u64;
                return Err(Error::TooManyRequests { retry_after_secs });
            }
        }
        Ok(())
    }

    pub async fn record_failure(&self, state: &AppState, keys: &[(String, i64)]) -> Result<()> {
        let now = state.clock.now();
        for (key, _) in keys {
            state.store.record_login_failure(key, now, now - self.window).await?;
        }
        Ok(())
    }
}

/// Headers every response carries: no MIME sniffing, no framing, no referrer, a CSP that
/// allows nothing (the API serves no HTML), and HSTS when served over TLS.
pub fn with_security_headers(router: axum::Router, tls: bool) -> axum::Router {
    use axum::http::{HeaderName, HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer;
    let mut headers: Vec<(HeaderName, &'static str)> = vec![
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'"),
    ];
    if tls {
        headers.push((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains"));
    }
    headers.into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value)))
    })
}

/// CORS for the configured origins only; `None` when no origin is allowed.
pub fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, HeaderValue, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> =
        origins.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()).collect();
    (!origins.is_empty()).then(|| {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers([header::RETRY_AFTER])
            .max_age(std::time::Duration::from_secs(600))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-01 00:00 UTC);

    #[test]
    fn a_bucket_allows_its_limit_then_refills_over_time() {
        let limiter = RateLimiter::new(3);
        for _ in 0..3 {
            assert!(limiter.check("ip:1", NOW).is_ok());
        }
        assert_eq!(limiter.check("ip:1", NOW), Err(20), "one token every 20 s");
        assert!(limiter.check("ip:2", NOW).is_ok(), "keys are independent");
        assert!(limiter.check("ip:1", NOW + Duration::seconds(20)).is_ok());
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7".parse().unwrap());
        let direct: IpAddr = "192.0.2.5".parse().unwrap();
        assert_eq!(client_ip(Some(direct), &headers, &[proxy]), Some(direct), "spoofed header ignored");
        assert_eq!(client_ip(Some(proxy), &headers, &[proxy]), Some("198.51.100.7".parse().unwrap()));
        assert_eq!(client_ip(Some(proxy), &HeaderMap::new(), &[proxy]), Some(proxy));
    }

    #[test]
    fn login_delays_double_after_the_free_attempts_up_to_a_cap() {
        let throttle = LoginThrottle::default();
        assert_eq!(throttle.delay(4, 5), Duration::ZERO);
        assert_eq!(throttle.delay(5, 5), Duration::seconds(1));
        assert_eq!(throttle.delay(6, 5), Duration::seconds(2));
        assert_eq!(throttle.delay(9, 5), Duration::seconds(16));
        assert_eq!(throttle.delay(40, 5), Duration::minutes(15));
    }
}
