//! The box office over HTTP: roles, the admin flow end to end, layout validation, edits that
//! must not break inventory, and user management.

use crate::helpers::{START, TestApp};
use crate::on_both_backends;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::Duration;

on_both_backends!(
    every_admin_route_needs_the_admin_role,
    an_admin_puts_a_show_on_sale_and_sees_it_sell,
    broken_layouts_are_refused_with_the_reason,
    edits_never_break_sold_inventory,
    unpublished_events_leave_the_public_catalog,
    admins_manage_roles_and_disable_accounts_at_once,
);

fn admin_routes(document: &Value) -> Vec<(Method, String)> {
    let mut routes = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/admin") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .split('/')
                .map(|part| if part.starts_with('{') { "x_1" } else { part })
                .collect::<Vec<_>>()
                .join("/");
            routes.push((method.to_uppercase().parse().unwrap(), concrete));
        }
    }
    routes
}

async fn every_admin_route_needs_the_admin_role(app: &TestApp) {
    let routes = admin_routes(&app.get_json("/openapi.json").await);
    assert!(routes.len() >= 20, "found only {} admin routes", routes.len());
    let customer = app.user().await;
    let staff = app.user().await;
    let admin = app.admin().await;
    let (_, users) = app.get(Some(&admin), "/api/v1/admin/users?limit=100").await;
    let staff_id =
        users["items"].as_array().unwrap().iter().find(|u| u["email"] == staff.email.as_str()).unwrap()["id"]
            .clone();
    let (status, _) = app
        .send(
            Method::PUT,
            Some(&admin),
            &format!("/api/v1/admin/users/{}/role", staff_id.as_str().unwrap()),
            Some(json!({"role": "staff"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for (method, path) in routes {
        let body = Some(json!({}));
        assert_eq!(
            app.send(method.clone(), None, &path, body.clone()).await.0,
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert_eq!(
            app.send(method.clone(), Some(&customer), &path, body.clone()).await.0,
            StatusCode::FORBIDDEN,
            "{method} {path}"
        );
        assert_eq!(
            app.send(method.clone(), Some(&staff), &path, body.clone()).await.0,
            StatusCode::FORBIDDEN,
            "{method} {path}"
        );
        let (status, _) = app.send(method.clone(), Some(&admin), &path, body).await;
        assert!(
            status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
            "{method} {path}: {status}"
        );
    }
}

/// A three-row hall with an aisle, an accessible seat and a GA standing area.
fn layout() -> Value {
    json!({"sections": [
        {"name": "Parkett", "kind": "seated", "rows": [
            {"label": "A", "category": "standard", "seats": 8, "gaps_after": [4], "overrides": [{"number": 1, "category": "accessible"}]},
            {"label": "B", "category": "standard", "seats": 8, "gaps_after": [4]},
            {"label": "C", "category": "premium", "seats": 6, "first_number": 2}
        ]},
        {"name": "Standing", "kind": "general_admission", "capacity": 40, "category": "standing"}
    ]})
}

async fn an_admin_puts_a_show_on_sale_and_sees_it_sell(app: &TestApp) {
    let admin = app.admin().await;
    let (status, venue) = app
        .post(
            Some(&admin),
            "/api/v1/admin/venues",
            json!({"name": "Kino Nord", "city": "Leipzig", "time_zone": "Europe/Berlin"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{venue}");
    let venue_id = venue["id"].as_str().unwrap();
    let (status, hall) = app
        .post(
            Some(&admin),
            &format!("/api/v1/admin/venues/{venue_id}/halls"),
            json!({"name": "Saal A", "layout": layout()}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hall}");
    assert_eq!(hall["places"], 8 + 8 + 6 + 40);
    assert_eq!(hall["categories"], json!(["accessible", "premium", "standard", "standing"]));
    let (status, event) = app.post(Some(&admin), "/api/v1/admin/events", json!({
        "kind": "movie", "title": "Nordlicht", "synopsis": "Lights over Leipzig.", "genres": ["Drama"], "runtime_minutes": 97, "rating": "12"
    }), None).await;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    let starts_at =
        (START + Duration::days(2)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let (status, showtime) = app
        .post(
            Some(&admin),
            "/api/v1/admin/showtimes",
            json!({
                "event_id": event["id"], "hall_id": hall["id"], "starts_at": starts_at, "currency": "EUR",
                "prices": {"standard": 1100, "premium": 1500, "accessible": 800, "standing": 900}
            }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{showtime}");
    assert_eq!(showtime["seats_total"], 62);
    let showtime_id = showtime["id"].as_str().unwrap();

    let list = app.get_json("/movie/list?city=Leipzig").await;
    assert_eq!(list["items"][0]["title"], "Nordlicht");
    let map = app.get_json(&format!("/api/v1/showtimes/{showtime_id}/seats")).await;
    let seat =
        map["tickets"].as_array().unwrap().iter().find(|t| t["label"] == "Parkett C3").unwrap().clone();
    assert_eq!(seat["price"]["amount"], 1500);

    let buyer = app.user().await;
    let (status, bought) = app
        .post(
            Some(&buyer),
            &format!("/ticket/{}", seat["id"].as_str().unwrap()),
            json!({"payment_token": "tok_visa"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bought}");

    let (status, report) =
        app.get(Some(&admin), &format!("/api/v1/admin/showtimes/{showtime_id}/report")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((report["sold"].as_i64(), report["available"].as_i64()), (Some(1), Some(61)));
    assert_eq!(report["gross"], json!({"amount": 1500, "currency": "EUR"}));
    let premium =
        report["categories"].as_array().unwrap().iter().find(|c| c["category"] == "premium").unwrap();
    assert_eq!((premium["sold"].as_i64(), premium["available"].as_i64()), (Some(1), Some(5)));
    let response = app
        .client
        .get(app.url(&format!("/api/v1/admin/events/{}/report.csv", event["id"].as_str().unwrap())))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = response.text().await.unwrap();
    assert!(csv.starts_with(
        "showtime_id,starts_at,event,venue,hall,category,sold,held,available,gross_amount,currency\n"
    ));
    assert!(csv.contains(&format!("{showtime_id},")), "{csv}");
    assert!(csv.contains(",premium,1,0,5,1500,EUR"), "{csv}");
    let (_, event_report) = app
        .get(Some(&admin), &format!("/api/v1/admin/events/{}/report", event["id"].as_str().unwrap()))
        .await;
    assert_eq!(event_report["sold"], 1);

    let (status, audit) = app.get(Some(&admin), "/api/v1/admin/audit?limit=100").await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> =
        audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in ["venue.create", "hall.create", "event.create", "showtime.create", "order.confirmed"] {
        assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
    }
    let order = audit["items"].as_array().unwrap().iter().find(|e| e["action"] == "order.confirmed").unwrap();
    assert_eq!(order["actor_email"], buyer.email.as_str());
    assert_eq!(order["ip"], "127.0.0.1");
    assert_eq!(order["target"], bought["order"]["id"]);
    let (_, filtered) = app.get(Some(&admin), "/api/v1/admin/audit?action=showtime.create").await;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    // Append-only: there is no route to change it.
    assert_eq!(
        app.send(Method::DELETE, Some(&admin), "/api/v1/admin/audit", None).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

async fn broken_layouts_are_refused_with_the_reason(app: &TestApp) {
    let admin = app.admin().await;
    let (_, venue) = app
        .post(
            Some(&admin),
            "/api/v1/admin/venues",
            json!({"name": "V", "city": "C", "time_zone": "UTC"}),
            None,
        )
        .await;
    let path = format!("/api/v1/admin/venues/{}/halls", venue["id"].as_str().unwrap());
    let row = |label: &str, seats: u32| json!({"label": label, "category": "standard", "seats": seats});
    for (layout, reason) in [
        (json!({"sections": []}), "at least one section"),
        (
            json!({"sections": [{"name": "S", "kind": "seated", "rows": [row("A", 4), row("A", 4)]}]}),
            "duplicate row",
        ),
        (json!({"sections": [{"name": "S", "kind": "seated", "rows": [row("A", 0)]}]}), "is empty"),
        (json!({"sections": [{"name": "S", "kind": "seated", "rows": []}]}), "has no rows"),
        (
            json!({"sections": [{"name": "S", "kind": "seated", "rows": [{"label": "A", "category": "standard", "seats": 4, "overrides": [{"number": 2, "category": "accessible"}, {"number": 2, "category": "premium"}]}]}]}),
            "duplicate seat",
        ),
        (
            json!({"sections": [{"name": "S", "kind": "seated", "rows": [{"label": "A", "category": "standard", "seats": 4, "overrides": [{"number": 9, "category": "accessible"}]}]}]}),
            "has no seat 9",
        ),
        (json!({"sections": [{"name": "S", "kind": "seated", "rows": [row("A", 100_000)]}]}), "too long"),
        (
            json!({"sections": [{"name": "F", "kind": "general_admission", "capacity": 5_000_000, "category": "ga"}]}),
            "at most 100000",
        ),
        (
            json!({"sections": [{"name": "S", "kind": "seated", "rows": [row("A", 2)]}, {"name": "s", "kind": "seated", "rows": [row("A", 2)]}]}),
            "duplicate section",
        ),
        (
            json!({"sections": [{"name": "S", "kind": "seated", "rows": [{"label": "A", "category": "Gold Seats", "seats": 2}]}]}),
            "category",
        ),
    ] {
        let (status, problem) =
            app.post(Some(&admin), &path, json!({"name": "H", "layout": layout}), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{layout}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains(reason), "{reason:?} not in {problem}");
    }
    let (status, _) = app
        .post(
            Some(&admin),
            &path,
            json!({"name": "H", "layout": {"sections": [{"name": "S", "kind": "opera_box"}]}}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown section kinds are malformed input");
    let (_, halls) =
        app.get(Some(&admin), &format!("/api/v1/admin/venues/{}/halls", venue["id"].as_str().unwrap())).await;
    assert!(halls.as_array().unwrap().is_empty(), "nothing was created");
}

async fn edits_never_break_sold_inventory(app: &TestApp) {
    let admin = app.admin().await;
    let showtime = app.showtime("Heat").await;
    let seats = app.seat_ids(&showtime).await;
    let buyer = app.user().await;
    let (status, _) = app
        .post(Some(&buyer), &format!("/ticket/{}", seats[0]), json!({"payment_token": "tok_visa"}), None)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let summary = app.get_json(&format!("/api/v1/showtimes/{}", showtime.id)).await;
    let hall = app.store.get_showtime(&showtime.id, START).await.unwrap().unwrap().showtime.hall_id;

    let small = json!({"sections": [{"name": "Stalls", "kind": "seated", "rows": [{"label": "A", "category": "standard", "seats": 3}]}]});
    let (status, problem) =
        app.send(Method::PUT, Some(&admin), &format!("/api/v1/admin/halls/{hall}/layout"), Some(small)).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{problem}");
    let (status, _) = app
        .send(Method::DELETE, Some(&admin), &format!("/api/v1/admin/showtimes/{}", showtime.id), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let prices = json!({"prices": {"standard": 2000, "premium": 2500, "floor": 900}});
    let (status, changed) = app
        .send(
            Method::PUT,
            Some(&admin),
            &format!("/api/v1/admin/showtimes/{}/prices", showtime.id),
            Some(prices),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        app.get_json(&format!("/ticket/{}/price", seats[0])).await["price"]["amount"],
        1200,
        "sold at the old price"
    );
    assert_eq!(app.get_json(&format!("/ticket/{}/price", seats[1])).await["price"]["amount"], 2000);
    let missing = json!({"prices": {"standard": 2000}});
    assert_eq!(
        app.send(
            Method::PUT,
            Some(&admin),
            &format!("/api/v1/admin/showtimes/{}/prices", showtime.id),
            Some(missing)
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let (status, cancelled) = app
        .post(Some(&admin), &format!("/api/v1/admin/showtimes/{}/cancel", showtime.id), json!({}), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(cancelled["cancelled_at"].is_string());
    let (status, problem) = app.hold(&buyer, &showtime, &seats[1..2]).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("not_on_sale")));
    assert!(app.get_json("/movie/list").await["items"].as_array().unwrap().is_empty());
    assert_eq!(
        app.get_json(&format!("/ticket/{}/price", seats[0])).await["status"],
        "available",
        "cancelling refunded the sold ticket (and the showtime sells nothing more)"
    );
    let _ = summary;

    // A showtime without sales can be deleted.
    let unsold = app.showtime("Alien").await;
    let (status, _) =
        app.send(Method::DELETE, Some(&admin), &format!("/api/v1/admin/showtimes/{}", unsold.id), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(None, &format!("/api/v1/showtimes/{}", unsold.id)).await.0, StatusCode::NOT_FOUND);
}

async fn unpublished_events_leave_the_public_catalog(app: &TestApp) {
    let admin = app.admin().await;
    let showtime = app.showtime("Heat").await;
    let path = format!("/api/v1/admin/events/{}", showtime.event_id);
    let (status, patched) = app
        .send(
            Method::PATCH,
            Some(&admin),
            &path,
            Some(json!({"title": "Heat (Director's Cut)", "genres": ["crime"]})),
        )
        .await;
    assert_eq!((status, patched["title"].as_str()), (StatusCode::OK, Some("Heat (Director's Cut)")));
    let (status, _) = app.post(Some(&admin), &format!("{path}/unpublish"), json!({}), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(app.get_json("/movie/list").await["items"].as_array().unwrap().is_empty());
    assert_eq!(app.get(None, &format!("/movie/{}", showtime.event_id)).await.0, StatusCode::NOT_FOUND);
    let (_, all) = app.get(Some(&admin), "/api/v1/admin/events").await;
    assert_eq!(all[0]["published"], false, "admins see everything");
    let (_, showtimes) = app.get(Some(&admin), &format!("{path}/showtimes")).await;
    assert_eq!(showtimes.as_array().unwrap().len(), 1);
    app.post(Some(&admin), &format!("{path}/publish"), json!({}), None).await;
    assert_eq!(app.get_json("/movie/list").await["items"][0]["title"], "Heat (Director's Cut)");
}

async fn admins_manage_roles_and_disable_accounts_at_once(app: &TestApp) {
    let admin = app.admin().await;
    let ada = app.user().await;
    let (_, users) = app.get(Some(&admin), "/api/v1/admin/users").await;
    let find = |email: &str| {
        users["items"].as_array().unwrap().iter().find(|u| u["email"] == email).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (ada_id, admin_id) = (find(&ada.email), find(&admin.email));

    let (status, changed) = app
        .send(
            Method::PUT,
            Some(&admin),
            &format!("/api/v1/admin/users/{ada_id}/role"),
            Some(json!({"role": "staff"})),
        )
        .await;
    assert_eq!((status, changed["role"].as_str()), (StatusCode::OK, Some("staff")));
    assert_eq!(app.get(Some(&ada), "/api/v1/me").await.1["role"], "staff");
    let (status, _) = app
        .send(
            Method::PUT,
            Some(&admin),
            &format!("/api/v1/admin/users/{ada_id}/role"),
            Some(json!({"role": "emperor"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, disabled) =
        app.post(Some(&admin), &format!("/api/v1/admin/users/{ada_id}/disable"), json!({}), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(disabled["disabled_at"].is_string());
    assert_eq!(
        app.get(Some(&ada), "/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED,
        "the token stops working at once"
    );
    let login = json!({"email": ada.email, "password": "correct horse battery"});
    assert_eq!(app.post(None, "/api/v1/auth/login", login.clone(), None).await.0, StatusCode::UNAUTHORIZED);
    app.post(Some(&admin), &format!("/api/v1/admin/users/{ada_id}/enable"), json!({}), None).await;
    assert_eq!(app.post(None, "/api/v1/auth/login", login, None).await.0, StatusCode::OK);

    let (status, _) =
        app.post(Some(&admin), &format!("/api/v1/admin/users/{admin_id}/disable"), json!({}), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no locking oneself out");
    assert_eq!(
        app.post(Some(&admin), "/api/v1/admin/users/usr_nope/disable", json!({}), None).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, audit) = app.get(Some(&admin), &format!("/api/v1/admin/audit?target={ada_id}")).await;
    let actions: Vec<&str> =
        audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["login.succeeded", "user.enable", "user.disable", "user.role"]);
}
