//! Holding and buying: the full flow, expiry, idempotent retries, declines, ownership.

use crate::helpers::{TestApp, TestUser};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::json;
use time::Duration;

on_both_backends!(
    the_readme_flow_lists_shows_holds_and_buys,
    the_seed_route_buys_one_ticket_and_a_second_buyer_gets_409,
    a_quantity_hold_takes_general_admission_places,
    one_user_cannot_hoard_a_showtime,
    an_expired_hold_frees_its_seats_and_cannot_be_paid,
    a_retry_with_the_same_idempotency_key_makes_one_order_and_one_charge,
    a_declined_payment_sells_nothing_and_keeps_the_hold,
    a_declined_one_step_purchase_releases_the_ticket,
    releasing_a_hold_makes_its_seats_available,
    other_users_holds_and_orders_are_not_found,
);

async fn the_readme_flow_lists_shows_holds_and_buys(app: &TestApp) {
    let showtime = app.showtime("Heat").await;
    let list = app.get_json("/movie/list").await;
    assert_eq!(list["items"][0]["title"], "Heat");
    assert!(list["next_cursor"].is_null());
    let movie = app.get_json(&format!("/movie/{}", showtime.event_id)).await;
    assert_eq!(movie["showtimes"][0]["id"], showtime.id.to_string());
    assert_eq!(movie["showtimes"][0]["seats_available"], 80);
    assert_eq!(movie["showtimes"][0]["price_from"], json!({"amount": 900, "currency": "EUR"}));

    let seats = app.seat_ids(&showtime).await;
    let price = app.get_json(&format!("/ticket/{}/price", seats[45])).await;
    assert_eq!(price["seat"], "Stalls E6");
    assert_eq!(price["price"], json!({"amount": 1800, "currency": "EUR"}));
    assert_eq!(price["status"], "available");

    let ada = app.user().await;
    let (status, hold) = app.hold(&ada, &showtime, &seats[44..46]).await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    assert_eq!(hold["total"], json!({"amount": 3600, "currency": "EUR"}));
    assert_eq!(hold["status"], "active");
    let (status, purchase) = app.pay(&ada, hold["id"].as_str().unwrap(), "tok_visa", None).await;
    assert_eq!(status, StatusCode::CREATED, "{purchase}");
    assert_eq!(purchase["order"]["status"], "confirmed");
    assert_eq!(purchase["tickets"].as_array().unwrap().len(), 2);
    assert_eq!(purchase["tickets"][0]["status"], "sold");

    let order_id = purchase["order"]["id"].as_str().unwrap();
    let (status, order) = app.get(Some(&ada), &format!("/api/v1/orders/{order_id}")).await;
    assert_eq!(
        (status, &order["order"]["total"]),
        (StatusCode::OK, &json!({"amount": 3600, "currency": "EUR"}))
    );
    let (_, mine) = app.get(Some(&ada), "/api/v1/orders").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let (_, hold_after) =
        app.get(Some(&ada), &format!("/api/v1/holds/{}", hold["id"].as_str().unwrap())).await;
    assert_eq!(
        (hold_after["status"].as_str(), hold_after["order_id"].as_str()),
        (Some("purchased"), Some(order_id))
    );
    let map = app.get_json(&format!("/api/v1/showtimes/{}/seats", showtime.id)).await;
    assert_eq!(
        (map["sold"].as_i64(), map["held"].as_i64(), map["available"].as_i64()),
        (Some(2), Some(0), Some(78))
    );
    let live = app.get_json(&format!("/api/v1/showtimes/{}/availability", showtime.id)).await;
    let statuses = live["statuses"].as_str().unwrap();
    assert_eq!((statuses.len(), live["sold"].as_i64()), (80, Some(2)));
    assert_eq!(&statuses[44..46], "SS", "one character per ticket, in seat-map order");
    assert_eq!(app.gateway.captured().len(), 1);
}

async fn the_seed_route_buys_one_ticket_and_a_second_buyer_gets_409(app: &TestApp) {
    let showtime = app.showtime("Heat").await;
    let seats = app.seat_ids(&showtime).await;
    let (ada, bob) = (app.user().await, app.user().await);
    let path = format!("/ticket/{}", seats[0]);
    let (status, body) = app.post(Some(&ada), &path, json!({"payment_token": "tok_visa"}), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["order"]["status"], "confirmed");
    assert_eq!(body["tickets"][0]["id"], seats[0]);
    let (status, body) = app.post(Some(&bob), &path, json!({"payment_token": "tok_visa"}), None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("tickets_unavailable")));
    let (status, _) = app.post(None, &path, json!({"payment_token": "tok_visa"}), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_json(&format!("/ticket/{}/price", seats[0])).await["status"], "sold");
    assert_eq!(app.gateway.captured().len(), 1);
}

async fn a_quantity_hold_takes_general_admission_places(app: &TestApp) {
    let showtime = app.showtime("Heat").await;
    let (ada, bob, carol) = (app.user().await, app.user().await, app.user().await);
    let hold = |user: &TestUser, quantity: u32| {
        let body = json!({"showtime_id": showtime.id, "section": "Floor", "quantity": quantity});
        let user = user.clone();
        async move { app.post(Some(&user), "/api/v1/holds", body, None).await }
    };
    let (status, body) = hold(&ada, 25).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "more than 10 per hold: {body}");
    let (status, first) = hold(&ada, 10).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        first["tickets"].as_array().unwrap().iter().all(|t| t["section"] == "Floor" && t["row"].is_null())
    );
    assert_eq!(hold(&bob, 10).await.0, StatusCode::CREATED);
    assert_eq!(hold(&carol, 8).await.0, StatusCode::CREATED);
    let (status, body) = hold(&carol, 3).await;
    assert_eq!((status, body["available"].as_u64()), (StatusCode::CONFLICT, Some(2)), "{body}");
    let (status, order) = app.pay(&ada, first["id"].as_str().unwrap(), "tok_visa", None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(order["order"]["total"]["amount"], 9000);
}

async fn one_user_cannot_hoard_a_showtime(app: &TestApp) {
    let showtime = app.showtime("Heat").await;
    let ada = app.user().await;
    let body = json!({"showtime_id": showtime.id, "section": "Floor", "quantity": 10});
    assert_eq!(app.post(Some(&ada), "/api/v1/holds", body.clone(), None).await.0, StatusCode::CREATED);
    assert_eq!(app.post(Some(&ada), "/api/v1/holds", body.clone(), None).await.0, StatusCode::CREATED);
    let (status, problem) = app.post(Some(&ada), "/api/v1/holds", body, None).await;
    assert_eq!(
        (status, problem["code"].as_str(), problem["limit"].as_u64()),
        (StatusCode::CONFLICT, Some("hold_limit"), Some(20))
    );
}

async fn an_expired_hold_frees_its_seats_and_cannot_be_paid(app: &TestApp) {
    let showtime = app.showtime("Heat").await;
    let seats = app.seat_ids(&showtime).await;
    let (ada, bob) = (app.user().await, app.user().await);
    let (_, hold) = app.hold(&ada, &showtime, &seats[0..2]).await;
    let hold_id = hold["id"].as_str().unwrap();
    assert_eq!(app.get_json(&format!("/ticket/{}/price", seats[0])).await["status"], "held");
    let (status, _) = app.hold(&bob, &showtime, &seats[1..2]).await;
    assert_eq!(status, StatusCode::CONFLICT);

    app.clock.advance(Duration::minutes(10) + Duration::seconds(1));
    assert_eq!(app.get_json(&format!("/ticket/{}/price", seats[0])).await["status"], "available");
    let (_, expired) = app.get(Some(&ada), &format!("/api/v1/holds/{hold_id}")).await;
    assert_eq!(expired["status"], "expired");
    let (status, body) = app.pay(&ada, hold_id, "tok_visa", None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("hold_expired")));
    assert!(app.gateway.captured().is_empty(), "nothing is charged for an expired hold");
    let (status, _) = app.hold(&bob, &showtime, &seats[1..2]).await;
    assert_eq!(status, StatusCode::CREATED, "the expired hold's seat is free at once, without a sweep");
}

async fn a_retry_with_the_same_idempotency_key_makes_one_order_and_one_charge(app: &TestApp) {
    let showtime = app.showtime("Heat").await;
    let seats = app.seat_ids(&showtime).await;
    let ada = app.user().await;
    let (_, hold) = app.hold(&ada, &showtime, &seats[0..3]).await;
    let hold_id = hold["id"].as_str().unwrap();
    let (first_status, first) = app.pay(&ada, hold_id, "tok_visa", Some("order-attempt-1")).await;
    let (second_status, second) = app.pay(&ada, hold_id, "tok_visa", Some("order-attempt-1")).await;
    assert_eq!((first_status, second_status), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first, second, "the retry returns the original result");
    assert_eq!(app.gateway.captured().len(), 1, "charged once");
    let (_, orders) = app.get(Some(&ada), "/api/v1/orders").await;
    assert_eq!(orders["items"].as_array().unwrap().len(), 1, "one order");

    let (status, body) = app.pay(&ada, hold_id, "tok_mastercard", Some("order-attempt-1")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("idempotency_key_reused"))
    );

    // The seed route too: one ticket, two identical requests, one sale.
    let path = format!("/ticket/{}", seats[10]);
    let (a, first) = app.post(Some(&ada), &path, json!({"payment_token": "tok_visa"}), Some("buy-10")).await;
    let (b, again) = app.post(Some(&ada), &path, json!({"payment_token": "tok_visa"}), Some("buy-10")).await;
    assert_eq!((a, b), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first["order"]["id"], again["order"]["id"]);
    assert_eq!(app.gateway.captured().len(), 2);
    // Another user may use the same key for their own request.
    let bob = app.user().await;
    let (status, _) = app
        .post(
            Some(&bob),
            &format!("/ticket/{}", seats[11]),
            json!({"payment_token": "tok_visa"}),
            Some("buy-10"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn a_declined_payment_sells_nothing_and_keeps_the_hold(app: &TestApp) {
    let showtime = app.showtime("Heat").await;
    let seats = app.seat_ids(&showtime).await;
    let ada = app.user().await;
    let (_, hold) = app.hold(&ada, &showtime, &seats[0..2]).await;
    let hold_id = hold["id"].as_str().unwrap();
    let (status, body) = app.pay(&ada, hold_id, "tok_chargeDeclined", None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::PAYMENT_REQUIRED, Some("payment_declined")));
    let (status, body) = app.pay(&ada, hold_id, "tok_unknown", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_payment_token"))
    );
    let (status, body) = app.pay(&ada, hold_id, "4242 4242 4242 4242", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "card numbers are refused: {body}");

    let (_, after) = app.get(Some(&ada), &format!("/api/v1/holds/{hold_id}")).await;
    assert_eq!(after["status"], "active", "the hold survives a decline");
    let map = app.get_json(&format!("/api/v1/showtimes/{}/seats", showtime.id)).await;
    assert_eq!((map["sold"].as_i64(), map["held"].as_i64()), (Some(0), Some(2)));
    assert!(app.gateway.captured().is_empty());
    let (_, orders) = app.get(Some(&ada), "/api/v1/orders").await;
    assert_eq!(orders["items"].as_array().unwrap().len(), 1, "one order, whatever the attempts");
    assert_eq!(orders["items"][0]["order"]["status"], "payment_failed");

    let (status, paid) = app.pay(&ada, hold_id, "tok_visa", None).await;
    assert_eq!(status, StatusCode::CREATED, "a good card still buys the held seats");
    assert_eq!(paid["order"]["id"], orders["items"][0]["order"]["id"], "the same order, now paid");
    assert_eq!(paid["order"]["status"], "confirmed");
}

async fn a_declined_one_step_purchase_releases_the_ticket(app: &TestApp) {
    let showtime = app.showtime("Heat").await;
    let seats = app.seat_ids(&showtime).await;
    let ada = app.user().await;
    let path = format!("/ticket/{}", seats[3]);
    let (status, _) = app.post(Some(&ada), &path, json!({"payment_token": "tok_chargeDeclined"}), None).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(app.get_json(&format!("/ticket/{}/price", seats[3])).await["status"], "available");
    let (status, _) = app.post(Some(&ada), &path, json!({"payment_token": "tok_visa"}), None).await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn releasing_a_hold_makes_its_seats_available(app: &TestApp) {
    let showtime = app.showtime("Heat").await;
    let seats = app.seat_ids(&showtime).await;
    let (ada, bob) = (app.user().await, app.user().await);
    let (_, hold) = app.hold(&ada, &showtime, &seats[0..2]).await;
    let hold_path = format!("/api/v1/holds/{}", hold["id"].as_str().unwrap());
    let (status, released) = app.delete(&ada, &hold_path).await;
    assert_eq!((status, released["status"].as_str()), (StatusCode::OK, Some("released")));
    let (status, _) = app.hold(&bob, &showtime, &seats[0..2]).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = app.pay(&ada, hold["id"].as_str().unwrap(), "tok_visa", None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("hold_not_active")));
}

async fn other_users_holds_and_orders_are_not_found(app: &TestApp) {
    let showtime = app.showtime("Heat").await;
    let seats = app.seat_ids(&showtime).await;
    let (ada, mallory): (TestUser, TestUser) = (app.user().await, app.user().await);
    let (_, hold) = app.hold(&ada, &showtime, &seats[0..1]).await;
    let hold_id = hold["id"].as_str().unwrap();
    let hold_path = format!("/api/v1/holds/{hold_id}");
    assert_eq!(app.get(Some(&mallory), &hold_path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&mallory, &hold_path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.pay(&mallory, hold_id, "tok_visa", None).await.0, StatusCode::NOT_FOUND);
    let (_, purchase) = app.pay(&ada, hold_id, "tok_visa", None).await;
    let order_path = format!("/api/v1/orders/{}", purchase["order"]["id"].as_str().unwrap());
    assert_eq!(app.get(Some(&mallory), &order_path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(Some(&ada), &order_path).await.0, StatusCode::OK);
    let (_, theirs) = app.get(Some(&mallory), "/api/v1/orders").await;
    assert!(theirs["items"].as_array().unwrap().is_empty());
    assert_eq!(app.get(None, &order_path).await.0, StatusCode::UNAUTHORIZED);
}
