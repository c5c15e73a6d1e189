//! Catalog pages are shared snapshots: validators for revalidation, refreshed by every change
//! made through this node, and never older than the configured bound for changes made elsewhere.

use crate::helpers::TestApp;
use crate::on_both_backends;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

on_both_backends!(catalog_pages_are_revalidated_and_refreshed_by_changes);

async fn event_page(app: &TestApp, path: &str, etag: Option<&str>) -> (StatusCode, Option<String>, Value) {
    let mut request = app.client.get(app.url(path));
    if let Some(etag) = etag {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    // Shared caches may keep the page for what is left of its life here (at most 1 s).
    let cache_control = response.headers()[header::CACHE_CONTROL].to_str().unwrap().to_owned();
    let max_age: u64 = cache_control.strip_prefix("public, max-age=").unwrap().parse().unwrap();
    assert!(max_age <= 1, "{cache_control}");
    let etag = response.headers().get(header::ETAG).map(|v| v.to_str().unwrap().to_owned());
    let body = if status == StatusCode::OK { response.json().await.unwrap() } else { Value::Null };
    (status, etag, body)
}

async fn catalog_pages_are_revalidated_and_refreshed_by_changes(app: &TestApp) {
    let showtime = app.showtime("Heat").await;
    let path = format!("/api/v1/events/{}", showtime.event_id);
    let (status, etag, first) = event_page(app, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let etag = etag.expect("an ETag");
    let available = first["showtimes"][0]["seats_available"].as_i64().unwrap();

    // Unchanged: a conditional request costs no body.
    let (status, again, _) = event_page(app, &path, Some(&etag)).await;
    assert_eq!((status, again.as_deref()), (StatusCode::NOT_MODIFIED, Some(etag.as_str())));

    // A hold through this node refreshes the counts at once.
    let buyer = app.user().await;
    let seats = app.seat_ids(&showtime).await;
    assert_eq!(app.hold(&buyer, &showtime, &seats[..2]).await.0, StatusCode::CREATED);
    let (status, changed, after_hold) = event_page(app, &path, Some(&etag)).await;
    assert_eq!(status, StatusCode::OK, "the page changed, so the old tag no longer matches");
    assert_ne!(changed.as_deref(), Some(etag.as_str()));
    assert_eq!(after_hold["showtimes"][0]["seats_available"].as_i64(), Some(available - 2));

    // An admin edit through this node refreshes the lists too.
    assert_eq!(app.get_json("/movie/list").await["items"][0]["title"], "Heat");
    let admin = app.admin().await;
    let admin_path = format!("/api/v1/admin/events/{}", showtime.event_id);
    let (status, _) =
        app.send(Method::PATCH, Some(&admin), &admin_path, Some(json!({"title": "Heat II"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get_json("/movie/list").await["items"][0]["title"], "Heat II");

    // A change this node did not see (another node's, here straight in the database) shows
    // once the page is older than its max age (1 s).
    let mut event = app.store.get_event(&showtime.event_id).await.unwrap().unwrap();
    event.title = "Heat III".into();
    app.store.update_event(&event).await.unwrap();
    assert_eq!(app.get_json("/movie/list").await["items"][0]["title"], "Heat II", "still the shared page");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.get_json("/movie/list").await["items"][0]["title"], "Heat III");
}
