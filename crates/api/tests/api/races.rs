//! Many clients at once, over real HTTP: no ticket is ever sold twice, every success is a
//! sale, and no failed attempt leaves anything held.

use crate::helpers::{TestApp, TestShowtime, TestUser, read};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

on_both_backends!(
    five_hundred_buyers_racing_for_fifty_seats_never_oversell,
    racing_multi_ticket_holds_are_all_or_nothing,
    concurrent_retries_with_one_idempotency_key_charge_once,
);

/// Every order of every user, as (order id, ticket ids).
async fn all_orders(app: &TestApp, users: &[TestUser]) -> Vec<(String, Vec<String>)> {
    let mut orders = Vec::new();
    for user in users {
        let (status, page) = app.get(Some(user), "/api/v1/orders?limit=100").await;
        assert_eq!(status, StatusCode::OK);
        for item in page["items"].as_array().unwrap() {
            let tickets = item["tickets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned())
                .collect();
            orders.push((item["order"]["id"].as_str().unwrap().to_owned(), tickets));
        }
    }
    orders
}

async fn seat_counts(app: &TestApp, showtime: &TestShowtime) -> (i64, i64, i64) {
    let map = app.get_json(&format!("/api/v1/showtimes/{}/seats", showtime.id)).await;
    (map["available"].as_i64().unwrap(), map["held"].as_i64().unwrap(), map["sold"].as_i64().unwrap())
}

async fn five_hundred_buyers_racing_for_fifty_seats_never_oversell(app: &TestApp) {
    let showtime = app.showtime("Rush").await;
    let seats = Arc::new(app.seat_ids(&showtime).await);
    assert_eq!(seats.len(), 50);
    let mut users = Vec::new();
    for _ in 0..50 {
        users.push(app.user().await);
    }
    let app_url = app.address.clone();
    let client = app.client.clone();
    // 500 one-step purchases, ten per seat, one in ten with a declined card.
    let mut attempts = Vec::new();
    for attempt in 0..500usize {
        let (client, url, seats) = (client.clone(), app_url.clone(), seats.clone());
        let user = users[attempt % users.len()].clone();
        let seat = seats[(attempt * 7) % seats.len()].clone();
        let token = if attempt % 10 == 9 { "tok_chargeDeclined" } else { "tok_visa" };
        attempts.push(tokio::spawn(async move {
            let response = client
                .post(format!("{url}/ticket/{seat}"))
                .bearer_auth(&user.token)
                .json(&json!({ "payment_token": token }))
                .send()
                .await
                .unwrap();
            let (status, body) = read(response).await;
            (seat, status, body)
        }));
    }
    let mut sold_by_response: BTreeMap<String, usize> = BTreeMap::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for attempt in attempts {
        let (seat, status, body) = attempt.await.unwrap();
        *statuses.entry(status.as_u16()).or_default() += 1;
        match status {
            StatusCode::CREATED => {
                assert_eq!(body["tickets"][0]["id"], seat);
                *sold_by_response.entry(seat).or_default() += 1;
            }
            StatusCode::CONFLICT | StatusCode::PAYMENT_REQUIRED => {}
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(sold_by_response.values().all(|&n| n == 1), "a seat was sold twice: {sold_by_response:?}");
    let successes: usize = sold_by_response.values().sum();
    let orders = all_orders(app, &users).await;
    let ordered: Vec<&String> = orders.iter().flat_map(|(_, tickets)| tickets).collect();
    let unique: BTreeSet<&String> = ordered.iter().copied().collect();
    assert_eq!(unique.len(), ordered.len(), "a ticket is in two orders");
    assert_eq!(ordered.len(), successes, "orders hold exactly the tickets of successful responses");
    let (_, held, sold) = seat_counts(app, &showtime).await;
    assert_eq!(held, 0, "no failed attempt left a seat held");
    assert_eq!(sold as usize, successes);
    assert_eq!(app.gateway.captured().len(), successes, "one charge per sale, none for losers");
    assert!(successes >= 40, "most seats sell ({statuses:?})");
}

async fn racing_multi_ticket_holds_are_all_or_nothing(app: &TestApp) {
    let showtime = app.showtime("Rush").await;
    let seats = Arc::new(app.seat_ids(&showtime).await);
    let mut users = Vec::new();
    for _ in 0..20 {
        users.push(app.user().await);
    }
    let mut attempts = Vec::new();
    for attempt in 0..300usize {
        let (client, url, seats) = (app.client.clone(), app.address.clone(), seats.clone());
        let user = users[attempt % users.len()].clone();
        let first = (attempt * 13) % (seats.len() - 3);
        let size = 2 + attempt % 3;
        let wanted: Vec<String> = seats[first..first + size].to_vec();
        let showtime_id = showtime.id.to_string();
        attempts.push(tokio::spawn(async move {
            let response = client
                .post(format!("{url}/api/v1/holds"))
                .bearer_auth(&user.token)
                .json(&json!({ "showtime_id": showtime_id, "ticket_ids": wanted }))
                .send()
                .await
                .unwrap();
            let (status, body) = read(response).await;
            (wanted, status, body)
        }));
    }
    let mut held: Vec<String> = Vec::new();
    for attempt in attempts {
        let (wanted, status, body) = attempt.await.unwrap();
        match status {
            StatusCode::CREATED => {
                let got: Vec<String> = body["tickets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["id"].as_str().unwrap().to_owned())
                    .collect();
                assert_eq!(got, wanted, "a hold gets exactly what it asked for");
                held.extend(got);
            }
            StatusCode::CONFLICT if body["code"] == "hold_limit" => {}
            StatusCode::CONFLICT => {
                let named: Vec<&Value> = body["ticket_ids"].as_array().unwrap().iter().collect();
                assert!(
                    !named.is_empty()
                        && named.iter().all(|id| wanted.iter().any(|w| w == id.as_str().unwrap()))
                );
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let unique: BTreeSet<&String> = held.iter().collect();
    assert_eq!(unique.len(), held.len(), "a seat is in two holds");
    let (_, held_on_map, sold) = seat_counts(app, &showtime).await;
    assert_eq!((held_on_map as usize, sold), (held.len(), 0), "refused holds took nothing");
}

async fn concurrent_retries_with_one_idempotency_key_charge_once(app: &TestApp) {
    let showtime = app.showtime("Rush").await;
    let seats = app.seat_ids(&showtime).await;
    let ada = app.user().await;
    let (_, hold) = app.hold(&ada, &showtime, &seats[0..2]).await;
    let hold_id = hold["id"].as_str().unwrap().to_owned();
    let mut attempts = Vec::new();
    for attempt in 0..20 {
        let (client, url, token, hold_id) =
            (app.client.clone(), app.address.clone(), ada.token.clone(), hold_id.clone());
        // Half retry with one key, half double-click without any key.
        let key = (attempt % 2 == 0).then_some("double-click");
        attempts.push(tokio::spawn(async move {
            let mut request = client
                .post(format!("{url}/api/v1/orders"))
                .bearer_auth(token)
                .json(&json!({ "hold_id": hold_id, "payment_token": "tok_visa" }));
            if let Some(key) = key {
                request = request.header("Idempotency-Key", key);
            }
            read(request.send().await.unwrap()).await
        }));
    }
    let mut order_ids = BTreeSet::new();
    for attempt in attempts {
        let (status, body) = attempt.await.unwrap();
        match status {
            StatusCode::CREATED => {
                order_ids.insert(body["order"]["id"].as_str().unwrap().to_owned());
            }
            StatusCode::CONFLICT => {
                let code = body["code"].as_str().unwrap();
                assert!(
                    ["idempotency_in_progress", "hold_not_active", "payment_in_progress"].contains(&code),
                    "{body}"
                );
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(order_ids.len(), 1, "every success names the one order");
    assert_eq!(app.gateway.captured().len(), 1, "one charge");
    assert_eq!(app.gateway.payments().len(), 1, "no second authorization was made");
    assert_eq!(all_orders(app, &[ada]).await.len(), 1);
}
