//! Public catalog responses (event lists, event pages, showtimes), shared by every visitor for a
//! moment, with `ETag` / `Cache-Control` so browsers and CDNs can revalidate cheaply.
//!
//! These pages are the same for everyone (no user-specific content), and during an on-sale
//! thousands of visitors load them at once. A response is reused under the seat-map rules
//! (see `seatmap.rs`):
//! - while nothing changed through this node: every hold, release, sale and refund
//!   (availability counts) and every admin write (titles, showtimes, prices) invalidates it;
//! - a response younger than `min_age` is served even after a change, so a rush rebuilds each
//!   page at most a few times a second;
//! - never older than `max_age`, which bounds how long a change made on another node goes
//!   unseen (the same bound as the seat maps').
//!
//! A page is kept tagged with the generation it was built under, so one built while changes
//! kept coming is still served while younger than `min_age` (as the seat maps are). Concurrent
//! misses of one page may each build it; that happens once per `min_age` at most.
//!
//! The cache holds at most [`CAPACITY`] pages and [`MAX_BYTES`] of bodies (query strings are
//! client-chosen): a full cache first drops the pages older than `max_age`, then starts over
//! rather than grow. Only `200 OK` responses are kept. `Cache-Control: max-age` is what is left
//! of the page's life here, so a browser or CDN never keeps it past `max_age` in all.

use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Routes whose `GET` answers are public and user-independent.
const CACHED_ROUTES: &[&str] = &[
    "/movie/list",
    "/movie/{movie_id}",
    "/api/v1/events",
    "/api/v1/events/{event_id}",
    "/api/v1/showtimes",
    "/api/v1/showtimes/{showtime_id}",
    "/api/v1/venues",
];

/// At most this many distinct pages are kept…
pub const CAPACITY: usize = 4096;
/// …and at most this many bytes of their bodies.
pub const MAX_BYTES: usize = 64 << 20;

/// A catalog page larger than this is not kept (the catalog's pages are a few kB).
const MAX_BODY: usize = 4 << 20;

#[derive(Clone)]
struct Page {
    body: Bytes,
    content_type: Option<HeaderValue>,
    etag: HeaderValue,
    built: Instant,
    generation: u64,
}

#[derive(Default)]
struct Pages {
    /// Bumped by every change that may alter a page.
    generation: u64,
    pages: HashMap<String, Page>,
    /// The size of every kept body.
    bytes: usize,
}

pub struct CatalogCache {
    min_age: Duration,
    max_age: Duration,
    state: Mutex<Pages>,
}

impl std::fmt::Debug for CatalogCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogCache").field("max_age", &self.max_age).finish_non_exhaustive()
    }
}

impl CatalogCache {
    pub fn new(min_age: Duration, max_age: Duration) -> Self {
        Self { min_age, max_age, state: Mutex::new(Pages::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pages> {
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Marks every page stale (inventory or catalog changed).
    pub fn invalidate(&self) {
        self.lock().generation += 1;
    }

    /// The page for `key` if it may still be served, and the generation a new page would have.
    fn get(&self, key: &str) -> (Option<Page>, u64) {
        let pages = self.lock();
        let page = pages.pages.get(key).filter(|page| {
            let age = page.built.elapsed();
            (page.generation == pages.generation || age < self.min_age) && age < self.max_age
        });
        (page.cloned(), pages.generation)
    }

    /// Keeps a page, tagged with the generation it was built under (`get` decides whether that
    /// may still be served).
    fn put(&self, key: String, page: Page) {
        let mut pages = self.lock();
        if self.max_age.is_zero() || page.body.len() > MAX_BYTES {
            return;
        }
        if let Some(old) = pages.pages.remove(&key) {
            pages.bytes -= old.body.len();
        }
        if pages.pages.len() >= CAPACITY || pages.bytes + page.body.len() > MAX_BYTES {
            let max_age = self.max_age;
            pages.pages.retain(|_, kept| kept.built.elapsed() < max_age);
            pages.bytes = pages.pages.values().map(|kept| kept.body.len()).sum();
        }
        if pages.pages.len() >= CAPACITY || pages.bytes + page.body.len() > MAX_BYTES {
            pages.pages.clear();
            pages.bytes = 0;
        }
        pages.bytes += page.body.len();
        pages.pages.insert(key, page);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().pages.len()
    }
}

/// The middleware: serves catalog `GET`s from the cache, and invalidates it after admin writes.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let cache = &state.caches.catalog;
    let cacheable = request.method() == Method::GET
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|route| CACHED_ROUTES.contains(&route.as_str()));
    if !cacheable {
        let admin_write = request.method() != Method::GET
            && request.method() != Method::HEAD
            && request.uri().path().starts_with("/api/v1/admin/");
        let response = next.run(request).await;
        if admin_write {
            cache.invalidate();
        }
        return response;
    }
    let key =
        request.uri().path_and_query().map_or_else(|| request.uri().path().to_owned(), |pq| pq.to_string());
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).cloned();
    let (hit, generation) = cache.get(&key);
    let page = match hit {
        Some(page) => page,
        None => {
            let response = next.run(request).await;
            if response.status() != StatusCode::OK {
                return response;
            }
            let (parts, body) = response.into_parts();
            let body = match axum::body::to_bytes(body, MAX_BODY).await {
                Ok(body) => body,
                Err(error) => {
                    tracing::warn!(%error, "catalog page too large to cache");
                    return crate::error::ApiError::from(marquee_domain::Error::internal(
                        "catalog page too large",
                    ))
                    .into_response();
                }
            };
            let page = Page {
                etag: etag(&body),
                content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
                body,
                built: Instant::now(),
                generation,
            };
            cache.put(key, page.clone());
            page
        }
    };
    respond(&page, cache.max_age.saturating_sub(page.built.elapsed()), if_none_match.as_ref())
}

/// A strong validator: a hash of the body.
fn etag(body: &[u8]) -> HeaderValue {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    HeaderValue::from_str(&format!("\"{:016x}\"", hasher.finish()))
        .unwrap_or(HeaderValue::from_static("\"0\""))
}

/// `ttl`: what is left of the page's life on this node; shared caches keep it no longer.
fn respond(page: &Page, ttl: Duration, if_none_match: Option<&HeaderValue>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, page.etag.clone());
    let seconds = ttl.as_secs();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={seconds}")) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    let matches = if_none_match.and_then(|value| value.to_str().ok()).is_some_and(|value| {
        value.trim() == "*" || value.split(',').any(|tag| tag.trim().trim_start_matches("W/") == page.etag)
    });
    if matches {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    if let Some(content_type) = &page.content_type {
        headers.insert(header::CONTENT_TYPE, content_type.clone());
    }
    (StatusCode::OK, headers, Body::from(page.body.clone())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(cache: &CatalogCache, body: &'static str) -> Page {
        let (_, generation) = cache.get("k");
        Page {
            body: Bytes::from_static(body.as_bytes()),
            content_type: None,
            etag: etag(body.as_bytes()),
            built: Instant::now(),
            generation,
        }
    }

    #[test]
    fn a_page_is_served_until_a_change_then_rebuilt() {
        let cache = CatalogCache::new(Duration::ZERO, Duration::from_secs(60));
        cache.put("k".into(), page(&cache, "one"));
        assert_eq!(cache.get("k").0.map(|p| p.body), Some(Bytes::from_static(b"one")));
        cache.invalidate();
        assert!(cache.get("k").0.is_none(), "a change makes the page stale");
    }

    #[test]
    fn under_a_rush_a_young_page_survives_changes_but_never_max_age() {
        let rushed = CatalogCache::new(Duration::from_secs(60), Duration::from_secs(120));
        rushed.put("k".into(), page(&rushed, "one"));
        rushed.invalidate();
        assert!(rushed.get("k").0.is_some(), "younger than min_age: still served");
        let expiring = CatalogCache::new(Duration::ZERO, Duration::from_millis(1));
        expiring.put("k".into(), page(&expiring, "one"));
        std::thread::sleep(Duration::from_millis(5));
        assert!(expiring.get("k").0.is_none(), "older than max_age: rebuilt");
    }

    #[test]
    fn a_page_built_across_a_change_is_served_only_while_young() {
        let exact = CatalogCache::new(Duration::ZERO, Duration::from_secs(60));
        let built = page(&exact, "old");
        exact.invalidate();
        exact.put("k".into(), built);
        assert!(exact.get("k").0.is_none(), "without a minimum age: never");
        let rushed = CatalogCache::new(Duration::from_secs(60), Duration::from_secs(120));
        let built = page(&rushed, "old");
        rushed.invalidate();
        rushed.put("k".into(), built);
        assert!(rushed.get("k").0.is_some(), "during a rush: while younger than min_age");
    }

    #[test]
    fn the_cache_keeps_its_bytes_bounded() {
        let cache = CatalogCache::new(Duration::ZERO, Duration::from_secs(60));
        let big: &'static [u8] = Box::leak(vec![b'x'; MAX_BYTES / 3].into_boxed_slice());
        for i in 0..10 {
            let (_, generation) = cache.get("k");
            let page = Page {
                body: Bytes::from_static(big),
                content_type: None,
                etag: etag(big),
                built: Instant::now(),
                generation,
            };
            cache.put(format!("k{i}"), page);
            assert!(cache.lock().bytes <= MAX_BYTES);
        }
    }

    #[test]
    fn the_cache_starts_over_rather_than_grow() {
        let cache = CatalogCache::new(Duration::ZERO, Duration::from_secs(60));
        for i in 0..CAPACITY + 10 {
            cache.put(format!("k{i}"), page(&cache, "x"));
        }
        assert!(cache.len() <= CAPACITY);
    }

    #[test]
    fn revalidation_answers_not_modified_for_a_matching_tag() {
        let cache = CatalogCache::new(Duration::ZERO, Duration::from_secs(60));
        let page = page(&cache, "body");
        let fresh = respond(&page, Duration::from_millis(1500), Some(&page.etag));
        assert_eq!(fresh.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(fresh.headers()[header::CACHE_CONTROL], "public, max-age=1");
        let other = HeaderValue::from_static("\"something-else\"");
        assert_eq!(respond(&page, Duration::from_secs(1), Some(&other)).status(), StatusCode::OK);
    }
}
