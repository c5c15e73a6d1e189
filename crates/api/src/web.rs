//! The web pages: what's on, events, the live seat map, checkout, my tickets, the box office
//! and the door.
//!
//! Every page is the shared layout (`web/layout.html`) around the page's own fragment
//! (`web/pages/<name>.html`), plus a script module (`web/assets/<name>.js`) that talks to the
//! same `/api/v1` as every other client, with the browser's cookie session (see
//! `auth::session_token`; writes carry the CSRF header). All files are compiled into the
//! binary, so `marquee` serves its pages with no build step and no network; setting
//! `MARQUEE_WEB_DIR` to a `web/` folder serves that folder instead, for editing the pages
//! without rebuilding.

use crate::{AppState, PaymentClient};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// Every file under `web/`, listed by `build.rs`.
static FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/web_files.rs"));

/// A page: its route, fragment, script module and title.
struct Page {
    route: &'static str,
    fragment: &'static str,
    script: &'static str,
    title: &'static str,
}

const fn page_of(
    route: &'static str,
    fragment: &'static str,
    script: &'static str,
    title: &'static str,
) -> Page {
    Page { route, fragment, script, title }
}

const PAGES: &[Page] = &[
    page_of("/", "index", "index", "What's on"),
    page_of("/events/{event_id}", "event", "event", "Event"),
    page_of("/showtimes/{showtime_id}", "showtime", "showtime", "Pick your seats"),
    page_of("/checkout/{hold_id}", "checkout", "checkout", "Checkout"),
    page_of("/tickets", "tickets", "tickets", "My tickets"),
    page_of("/login", "login", "account", "Log in"),
    page_of("/register", "register", "account", "Create an account"),
    page_of("/admin", "admin", "admin", "Box office"),
    page_of("/admin/showtimes/{showtime_id}", "dashboard", "dashboard", "Sales dashboard"),
    page_of("/door", "door", "door", "Door check-in"),
];

/// What a page may load: its own scripts, styles, images and API, nothing inline, nothing
/// from elsewhere, and no framing.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// With Stripe as the provider, the checkout's card form is Stripe.js and its frames: the one
/// other origin a page may use (card numbers go to Stripe, never to Marquee).
const STRIPE_PAGE_CSP: &str = "default-src 'none'; script-src 'self' https://js.stripe.com; style-src 'self'; \
    img-src 'self' data: https://*.stripe.com; connect-src 'self' https://api.stripe.com; \
    frame-src https://js.stripe.com https://hooks.stripe.com; manifest-src 'self'; form-action 'self'; \
    base-uri 'none'; frame-ancestors 'none'";

/// The page routes and `/assets/*`.
pub fn router() -> Router<AppState> {
    let router = PAGES.iter().fold(Router::new(), |router, page| {
        router.route(
            page.route,
            get(move |State(state): State<AppState>, headers: HeaderMap| async move {
                // Only checkout takes cards; every other page keeps the strict policy.
                let stripe = page.fragment == "checkout"
                    && matches!(
                        state.config.payment_client,
                        PaymentClient::Stripe { publishable_key: Some(_) }
                    );
                let mut response = serve_page(&headers, page);
                if stripe {
                    response
                        .headers_mut()
                        .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(STRIPE_PAGE_CSP));
                }
                response
            }),
        )
    });
    router.route("/assets/{*file}", get(asset))
}

const NOT_FOUND: Page = page_of("", "not-found", "app", "Page not found");

/// Unknown addresses: a page for a browser finding its way (it asks for HTML, and the path is
/// not the API's), the API's problem document for everyone else.
pub async fn not_found(headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let api = ["/api/", "/movie/", "/ticket/"].iter().any(|prefix| uri.path().starts_with(prefix));
    if wants_html
        && !api
        && let Some(html) = render(&NOT_FOUND)
    {
        let mut response = (StatusCode::NOT_FOUND, html).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
        return response;
    }
    crate::error::ApiError::Domain(marquee_domain::Error::NotFound("route")).into_response()
}

/// A file of `web/`: from `MARQUEE_WEB_DIR` when set, else the embedded copy.
fn file(name: &str) -> Option<Cow<'static, [u8]>> {
    file_in(std::env::var_os("MARQUEE_WEB_DIR").as_deref().map(std::path::Path::new), name)
}

fn file_in(dir: Option<&std::path::Path>, name: &str) -> Option<Cow<'static, [u8]>> {
    if let Some(dir) = dir {
        // Only plain relative names below the folder: no "..", no hidden files, no absolute
        // paths, no empty segments, no backslashes.
        if name.split('/').any(|part| part.is_empty() || part.starts_with('.') || part.contains('\\')) {
            return None;
        }
        return std::fs::read(dir.join(name)).ok().map(Cow::Owned);
    }
    FILES.iter().find(|(file, _)| *file == name).map(|(_, bytes)| Cow::Borrowed(*bytes))
}

/// The layout with the page's title, fragment and script.
fn render(page: &Page) -> Option<String> {
    let layout = String::from_utf8(file("layout.html")?.into_owned()).ok()?;
    let main = String::from_utf8(file(&format!("pages/{}.html", page.fragment))?.into_owned()).ok()?;
    Some(
        layout
            .replace("{{title}}", page.title)
            .replace("{{page}}", page.fragment)
            .replace("{{script}}", page.script)
            .replace("{{main}}", &main),
    )
}

fn serve_page(headers: &HeaderMap, page: &Page) -> Response {
    match render(page) {
        Some(html) => cached(headers, html.into_bytes(), "text/html; charset=utf-8"),
        None => (StatusCode::INTERNAL_SERVER_ERROR, "page missing").into_response(),
    }
}

async fn asset(Path(file_name): Path<String>, headers: HeaderMap) -> Response {
    let name = format!("assets/{file_name}");
    let Some(bytes) = file(&name) else {
        return crate::error::ApiError::Domain(marquee_domain::Error::NotFound("asset")).into_response();
    };
    let content_type = match file_name.rsplit_once('.').map(|(_, extension)| extension) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    };
    cached(&headers, bytes.into_owned(), content_type)
}

/// A response with a strong ETag of its content, revalidated on every use (`no-cache`), so a
/// new release is picked up at once and an unchanged file costs a 304.
fn cached(request: &HeaderMap, body: Vec<u8>, content_type: &'static str) -> Response {
    let digest = Sha256::digest(&body);
    let etag = format!("\"{}\"", digest[..12].iter().map(|b| format!("{b:02x}")).collect::<String>());
    let matches = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut response = if matches { StatusCode::NOT_MODIFIED.into_response() } else { body.into_response() };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_and_their_assets_are_embedded() {
        for name in ["layout.html", "assets/app.js", "assets/style.css", "assets/favicon.svg"] {
            assert!(FILES.iter().any(|(file, _)| *file == name), "{name}");
        }
    }

    #[test]
    fn a_web_folder_serves_only_plain_names_below_it() {
        let root = std::env::temp_dir().join(format!("marquee-web-{}", std::process::id()));
        let web = root.join("web");
        std::fs::create_dir_all(web.join("assets")).unwrap();
        std::fs::write(web.join("assets/app.js"), "served").unwrap();
        std::fs::write(web.join(".secret"), "hidden").unwrap();
        std::fs::write(root.join("outside.txt"), "outside").unwrap();
        let read = |name: &str| {
            file_in(Some(&web), name).map(|bytes| String::from_utf8(bytes.into_owned()).unwrap())
        };
        assert_eq!(read("assets/app.js").as_deref(), Some("served"));
        let refused = [
            "../outside.txt",
            "assets/../../outside.txt",
            ".secret",
            "/etc/passwd",
            "assets//app.js",
            "",
            "..\\outside.txt",
        ];
        for name in refused {
            assert_eq!(read(name), None, "{name:?}");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn every_page_renders_with_its_title_and_script() {
        for page in PAGES {
            let html = render(page).unwrap();
            assert!(html.contains(&format!("<title>{} · Marquee</title>", page.title)), "{}", page.route);
            assert!(html.contains(&format!("/assets/{}.js", page.script)), "{}", page.route);
            assert!(!html.contains("{{"), "{}: a placeholder is left", page.route);
        }
    }
}
