//! What a new user's trial found (issue 13): each test fails without its fix.

use crate::helpers::{START, TestApp, TestShowtime, TestUser, read};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

on_both_backends!(
    long_search_terms_are_refused_and_wildcards_match_literally,
    control_characters_in_urls_are_bad_requests,
    prices_are_bounded_and_sums_never_overflow,
    venue_time_zones_come_from_the_iana_database,
    long_urls_get_a_problem_document,
    a_showtime_in_the_past_is_refused_for_what_it_is,
    venues_and_halls_can_be_corrected_and_deleted_while_unused,
    best_available_leaves_accessible_seats_alone,
    a_next_page_is_promised_only_when_there_is_one,
    every_list_pages_alike_and_refuses_what_it_does_not_know,
);

async fn long_search_terms_are_refused_and_wildcards_match_literally(app: &TestApp) {
    app.showtime("Heat_2").await;
    app.showtime("Heatx2").await;
    for path in ["/movie/list", "/api/v1/events"] {
        // The longest term accepted, and one past it: 400, never SQLite's "pattern too complex".
        for (term, expected) in
            [("%".repeat(200), StatusCode::OK), ("%".repeat(201), StatusCode::BAD_REQUEST)]
        {
            let (status, body) = app.get(None, &format!("{path}?q={}", term.replace('%', "%25"))).await;
            assert_eq!(status, expected, "{path}: {body}");
        }
        let (status, body) = app.get(None, &format!("{path}?q={}", "_".repeat(50_000))).await;
        assert_eq!(status, StatusCode::URI_TOO_LONG, "{path}: {body}");
        let (status, body) = app.get(None, &format!("{path}?q={}", "_".repeat(5_000))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body["detail"].as_str().unwrap().contains("at most 200"), "{body}");
        // `_` is a character, not a wildcard.
        let (status, body) = app.get(None, &format!("{path}?q=heat_")).await;
        assert_eq!(status, StatusCode::OK);
        let titles: Vec<&str> =
            body["items"].as_array().unwrap().iter().map(|e| e["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["Heat_2"], "{path}");
    }
    let (status, _) = app.get(None, &format!("/api/v1/showtimes?city={}", "b".repeat(101))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn control_characters_in_urls_are_bad_requests(app: &TestApp) {
    let showtime = app.showtime("Heat").await;
    let seat = app.seat_ids(&showtime).await.remove(0);
    for path in [
        "/movie/list?q=%00".to_owned(),
        "/api/v1/events?city=a%00b".to_owned(),
        "/api/v1/events?genre=%1b".to_owned(),
        "/api/v1/showtimes?event_id=evt_%00".to_owned(),
        "/movie/evt_%00".to_owned(),
        format!("/ticket/{seat}%00/price"),
        "/api/v1/showtimes/sho_%7F/seats".to_owned(),
    ] {
        let (status, body) = app.get(None, &path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["code"], "bad_request", "{path}");
    }
    // A NUL inside a JSON body cannot even be stored by PostgreSQL: a 422, not a 500.
    let admin = app.admin().await;
    for name in ["A\u{0}B", "line\nbreak"] {
        let venue = json!({"name": name, "city": "C", "time_zone": "UTC"});
        let (status, body) = app.post(Some(&admin), "/api/v1/admin/venues", venue, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let event = json!({"kind": "movie", "title": "T", "synopsis": "a\u{0}"});
    let (status, body) = app.post(Some(&admin), "/api/v1/admin/events", event, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

/// A venue with one hall of `layout`, made through the admin API: (venue, hall).
async fn venue_with_hall(app: &TestApp, admin: &TestUser, layout: Value) -> (Value, Value) {
    let venue = json!({"name": "Kino", "city": "Lepzig", "time_zone": "UTC"});
    let (status, venue) = app.post(Some(admin), "/api/v1/admin/venues", venue, None).await;
    assert_eq!(status, StatusCode::CREATED, "{venue}");
    let path = format!("/api/v1/admin/venues/{}/halls", venue["id"].as_str().unwrap());
    let (status, hall) = app.post(Some(admin), &path, json!({"name": "Sal 1", "layout": layout}), None).await;
    assert_eq!(status, StatusCode::CREATED, "{hall}");
    (venue, hall)
}

/// The body of `POST /api/v1/admin/showtimes`: on sale from an hour before [`START`].
fn showtime_in(event: &TestShowtime, hall_id: &str, starts_at: OffsetDateTime, prices: Value) -> Value {
    json!({
        "event_id": event.event_id, "hall_id": hall_id, "currency": "EUR", "prices": prices,
        "on_sale_from": (START - Duration::hours(1)).format(&Rfc3339).unwrap(),
        "starts_at": starts_at.format(&Rfc3339).unwrap(),
    })
}

/// The hall of a showtime made by [`TestApp::showtime`].
async fn hall_of(app: &TestApp, showtime: &TestShowtime) -> String {
    app.store.get_showtime(&showtime.id, START).await.unwrap().unwrap().showtime.hall_id.to_string()
}

async fn prices_are_bounded_and_sums_never_overflow(app: &TestApp) {
    let admin = app.admin().await;
    let template = app.showtime("Heat").await;
    let hall_id = hall_of(app, &template).await;
    let max = marquee_domain::money::MAX_TICKET_PRICE;
    let create = |standing: i64| {
        let prices = json!({"standard": 1, "premium": 1, "floor": standing});
        showtime_in(&template, &hall_id, START + Duration::days(2), prices)
    };
    for too_much in [max + 1, 4_611_686_018_427_387_904] {
        let (status, body) = app.post(Some(&admin), "/api/v1/admin/showtimes", create(too_much), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("maximum"), "{body}");
    }
    let prices = json!({"prices": {"standard": 1, "premium": 1, "floor": max + 1}});
    let path = format!("/api/v1/admin/showtimes/{}/prices", template.id);
    let (status, body) = app.send(reqwest::Method::PUT, Some(&admin), &path, Some(prices)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // The highest price sells, and every sum over it is exact.
    let (status, showtime) = app.post(Some(&admin), "/api/v1/admin/showtimes", create(max), None).await;
    assert_eq!(status, StatusCode::CREATED, "{showtime}");
    let id = showtime["id"].as_str().unwrap();
    let buyer = app.user().await;
    let (status, hold) = app
        .post(
            Some(&buyer),
            "/api/v1/holds",
            json!({"showtime_id": id, "section": "Floor", "quantity": 2}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    assert_eq!(hold["total"]["amount"], 2 * max);
    let (status, order) = app.pay(&buyer, hold["id"].as_str().unwrap(), "tok_visa", None).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let (status, report) = app.get(Some(&admin), &format!("/api/v1/admin/showtimes/{id}/report")).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["gross"]["amount"], 2 * max);
    let (status, sales) = app.get(Some(&admin), &format!("/api/v1/admin/showtimes/{id}/sales")).await;
    assert_eq!(status, StatusCode::OK, "{sales}");
    assert_eq!(sales["buckets"][0]["gross"]["amount"], 2 * max);
}

async fn venue_time_zones_come_from_the_iana_database(app: &TestApp) {
    let admin = app.admin().await;
    for zone in ["Mars/Olympus", "Europe/Berlinn", "Factory", "../etc/passwd", ""] {
        let (status, body) = app
            .post(
                Some(&admin),
                "/api/v1/admin/venues",
                json!({"name": "V", "city": "C", "time_zone": zone}),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{zone}: {body}");
        assert!(body["detail"].as_str().unwrap().contains("IANA"), "{body}");
    }
    let (status, venue) = app
        .post(
            Some(&admin),
            "/api/v1/admin/venues",
            json!({"name": "V", "city": "C", "time_zone": "america/new_york"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{venue}");
    assert_eq!(venue["time_zone"], "America/New_York");
}

async fn long_urls_get_a_problem_document(app: &TestApp) {
    // `read` asserts the problem media type of every error.
    let (status, body) = app.get(None, &format!("/movie/list?q={}", "a".repeat(10_000))).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG);
    assert_eq!(body["status"], 414);
    let response = app.client.get(app.url(&format!("/{}", "a".repeat(9_000)))).send().await.unwrap();
    let (status, _) = read(response).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG);
    // What hyper refuses while parsing, before any handler or layer of ours runs, is a
    // problem document too: a request line past 64 KiB, more than 100 headers, not HTTP.
    let huge_url = format!("GET /movie/list?q={} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70_000));
    let many_headers = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\n{}\r\n",
        (0..150).map(|i| format!("x-{i}: a\r\n")).collect::<String>()
    );
    for (request, expected) in [
        (huge_url, StatusCode::URI_TOO_LONG),
        (many_headers, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        ("NOT HTTP AT ALL\r\n\r\n".to_owned(), StatusCode::BAD_REQUEST),
    ] {
        let (status, head, body) = raw_exchange(app, request.as_bytes()).await;
        assert_eq!(status, expected, "{head}");
        assert!(head.to_ascii_lowercase().contains("content-type: application/problem+json"), "{head}");
        assert_eq!(body["status"], expected.as_u16(), "{body}");
        assert!(body["detail"].as_str().is_some_and(|detail| !detail.is_empty()), "{body}");
    }
}

/// Sends `request` as raw bytes on a new connection: the status, head and problem document
/// of the answer.
async fn raw_exchange(app: &TestApp, request: &[u8]) -> (StatusCode, String, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut connection =
        tokio::net::TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap();
    connection.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    connection.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = StatusCode::from_bytes(head.as_bytes()[9..12].as_ref()).unwrap();
    (status, head.to_owned(), serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn a_showtime_in_the_past_is_refused_for_what_it_is(app: &TestApp) {
    let admin = app.admin().await;
    let template = app.showtime("Heat").await;
    let prices = json!({"standard": 1, "premium": 1, "floor": 1});
    let showtime = showtime_in(&template, &hall_of(app, &template).await, START - Duration::hours(1), prices);
    let (status, body) = app.post(Some(&admin), "/api/v1/admin/showtimes", showtime, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("in the past"), "{body}");
}

async fn venues_and_halls_can_be_corrected_and_deleted_while_unused(app: &TestApp) {
    use reqwest::Method;
    let admin = app.admin().await;
    let layout = json!({"sections": [{"name": "Floor", "kind": "general_admission", "capacity": 5, "category": "floor"}]});
    let (venue, hall) = venue_with_hall(app, &admin, layout.clone()).await;
    let venue_path = format!("/api/v1/admin/venues/{}", venue["id"].as_str().unwrap());
    // A bad correction changes nothing.
    let (status, _) =
        app.send(Method::PATCH, Some(&admin), &venue_path, Some(json!({"time_zone": "Mars/Olympus"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let patch = json!({"city": "Leipzig", "time_zone": "Europe/Berlin"});
    let (status, fixed) = app.send(Method::PATCH, Some(&admin), &venue_path, Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{fixed}");
    assert_eq!(
        (fixed["name"].as_str(), fixed["city"].as_str(), fixed["time_zone"].as_str()),
        (Some("Kino"), Some("Leipzig"), Some("Europe/Berlin"))
    );
    let (_, venues) = app.get(Some(&admin), "/api/v1/admin/venues").await;
    assert!(venues.as_array().unwrap().iter().any(|v| v["city"] == "Leipzig"), "{venues}");

    let hall_path = format!("/api/v1/admin/halls/{}", hall["id"].as_str().unwrap());
    let (status, renamed) =
        app.send(Method::PATCH, Some(&admin), &hall_path, Some(json!({"name": "Saal 1"}))).await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "Saal 1");

    // A hall with a showtime stays, and so does its venue.
    let template = app.showtime("Heat").await;
    let hall_id = hall["id"].as_str().unwrap();
    let showtime = showtime_in(&template, hall_id, START + Duration::days(3), json!({"floor": 500}));
    let (status, created) = app.post(Some(&admin), "/api/v1/admin/showtimes", showtime, None).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(app.delete(&admin, &hall_path).await.0, StatusCode::CONFLICT);
    assert_eq!(app.delete(&admin, &venue_path).await.0, StatusCode::CONFLICT);
    assert_eq!(app.get(Some(&admin), &hall_path).await.0, StatusCode::OK);

    // Without it, both go; the venue's other halls with it.
    let showtime_path = format!("/api/v1/admin/showtimes/{}", created["id"].as_str().unwrap());
    assert_eq!(app.delete(&admin, &showtime_path).await.0, StatusCode::NO_CONTENT);
    let (status, _) = app
        .post(Some(&admin), &format!("{venue_path}/halls"), json!({"name": "Saal 2", "layout": layout}), None)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(app.delete(&admin, &hall_path).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get(Some(&admin), &hall_path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&admin, &venue_path).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get(Some(&admin), &format!("{venue_path}/halls")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&admin, &venue_path).await.0, StatusCode::NOT_FOUND);
    let (_, audit) = app.get(Some(&admin), "/api/v1/admin/audit?limit=100").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    for action in ["venue.update", "hall.update", "hall.delete", "venue.delete"] {
        assert!(actions.contains(&action), "{action} not audited: {audit}");
    }
}

async fn best_available_leaves_accessible_seats_alone(app: &TestApp) {
    let admin = app.admin().await;
    let layout = json!({"sections": [{"name": "Stalls", "kind": "seated", "rows": [
        {"label": "A", "category": "standard", "seats": 3, "overrides": [{"number": 1, "category": "accessible"}]},
    ]}]});
    let (_, hall) = venue_with_hall(app, &admin, layout).await;
    let template = app.showtime("Heat").await;
    let prices = json!({"standard": 1000, "accessible": 500});
    let showtime = showtime_in(&template, hall["id"].as_str().unwrap(), START + Duration::days(3), prices);
    let (status, showtime) = app.post(Some(&admin), "/api/v1/admin/showtimes", showtime, None).await;
    assert_eq!(status, StatusCode::CREATED, "{showtime}");
    let id = showtime["id"].as_str().unwrap();
    let buyer = app.user().await;
    let quantity = |n: u32| json!({"showtime_id": id, "section": "Stalls", "quantity": n});
    let (status, hold) = app.post(Some(&buyer), "/api/v1/holds", quantity(2), None).await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    let labels: Vec<&str> =
        hold["tickets"].as_array().unwrap().iter().map(|t| t["category"].as_str().unwrap()).collect();
    assert_eq!(labels, ["standard", "standard"], "{hold}");
    // Only the accessible seat is left: best available says so rather than taking it...
    let other = app.user().await;
    let (status, body) = app.post(Some(&other), "/api/v1/holds", quantity(1), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // ...and whoever needs it picks it.
    let seats = app.get_json(&format!("/api/v1/showtimes/{id}/seats")).await;
    let accessible =
        seats["tickets"].as_array().unwrap().iter().find(|t| t["category"] == "accessible").unwrap()["id"]
            .clone();
    let (status, body) = app
        .post(Some(&other), "/api/v1/holds", json!({"showtime_id": id, "ticket_ids": [accessible]}), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn a_next_page_is_promised_only_when_there_is_one(app: &TestApp) {
    for title in ["Alpha", "Beta", "Gamma"] {
        app.showtime(title).await;
    }
    let page = app.get_json("/api/v1/events?limit=3").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    assert!(page["next_cursor"].is_null(), "{page}");
    let first = app.get_json("/api/v1/events?limit=2").await;
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app.get_json(&format!("/api/v1/events?limit=2&cursor={cursor}")).await;
    assert_eq!(second["items"][0]["title"], "Gamma");
    assert!(second["next_cursor"].is_null(), "{second}");
}

async fn every_list_pages_alike_and_refuses_what_it_does_not_know(app: &TestApp) {
    // Showtimes page like events: three showtimes (at the same time: the id breaks the tie).
    for title in ["Alpha", "Beta", "Gamma"] {
        app.showtime(title).await;
    }
    let all = app.get_json("/api/v1/showtimes?limit=3").await;
    assert!(all["next_cursor"].is_null(), "{all}");
    let first = app.get_json("/api/v1/showtimes?limit=2").await;
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app.get_json(&format!("/api/v1/showtimes?limit=2&cursor={cursor}")).await;
    assert!(second["next_cursor"].is_null(), "{second}");
    let ids = |page: &Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
    };
    let mut paged = ids(&first);
    paged.extend(ids(&second));
    assert_eq!(paged, ids(&all), "two pages give the same showtimes, in the same order");

    // Users (admin + two customers) page the same way.
    let admin = app.admin().await;
    app.user().await;
    app.user().await;
    let (_, users) = app.get(Some(&admin), "/api/v1/admin/users?limit=2").await;
    let cursor = users["next_cursor"].as_str().expect("a next page of users");
    let (status, rest) = app.get(Some(&admin), &format!("/api/v1/admin/users?limit=2&cursor={cursor}")).await;
    assert_eq!(status, StatusCode::OK, "{rest}");
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null(), "{rest}");
    let (_, orders) = app.get(Some(&admin), "/api/v1/orders").await;
    assert!(orders["next_cursor"].is_null(), "no orders, no next page: {orders}");

    // A cursor this API did not give out, or another list's, is refused: never a different page.
    let showtime_cursor = first["next_cursor"].as_str().unwrap();
    for list in [
        "/api/v1/events",
        "/movie/list",
        "/api/v1/showtimes",
        "/api/v1/orders",
        "/api/v1/admin/users",
        "/api/v1/admin/audit",
    ] {
        for cursor in ["garbage", "ord_1", "%F0%9F%8E%AB"] {
            let (status, body) = app.get(Some(&admin), &format!("{list}?cursor={cursor}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{list} {cursor}: {body}");
            assert!(body["detail"].as_str().unwrap().contains("cursor"), "{body}");
        }
        if list != "/api/v1/showtimes" {
            let (status, body) = app.get(Some(&admin), &format!("{list}?cursor={showtime_cursor}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{list} with a showtime cursor: {body}");
        }
        // A misspelt filter is an error, not a silently unfiltered list.
        let (status, body) = app.get(Some(&admin), &format!("{list}?colour=red")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{list}: {body}");
        assert!(body["detail"].as_str().unwrap().contains("colour"), "{body}");
    }

    // The seed API lists movies only, and says so instead of ignoring another kind.
    let (status, body) = app.get(None, "/movie/list?kind=concert").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("/api/v1/events?kind=concert"), "{body}");
    let (status, body) = app.get(None, "/movie/list?kind=movie&limit=1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
}
