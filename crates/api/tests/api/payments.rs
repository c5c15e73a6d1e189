//! Money and admission: crashes at every step of a purchase, reconciliation, refunds and
//! resale, e-tickets, check-in, notifications.

use crate::helpers::{TestApp, TestShowtime, TestUser};
use crate::on_both_backends;
use marquee_booking::Step;
use marquee_domain::payment::ProviderState;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use time::Duration;

on_both_backends!(
    a_crash_at_any_step_of_a_purchase_is_settled_by_the_reconciler,
    a_retry_of_a_purchase_whose_answer_was_lost_gets_its_outcome,
    an_authorization_whose_seats_were_lost_meanwhile_is_voided,
    provider_declines_and_failures_sell_nothing,
    a_refunded_seat_is_sold_again_and_only_the_new_code_admits,
    customers_cancel_only_before_the_cutoff,
    admins_refund_single_tickets_and_cancelled_showtimes_refund_everyone,
    the_door_admits_a_ticket_once_and_refuses_bad_codes,
    concurrent_scans_of_one_code_admit_it_once,
    tickets_and_their_qr_codes_are_for_their_owner_only,
    messages_are_queued_with_the_change_and_retried_until_delivered,
);

/// The promise, checked from both sides after reconciliation: every captured payment (net of
/// refunds) pays for an order that holds tickets, every such order has exactly one captured
/// payment, sold tickets are exactly the live tickets of those orders, and nothing is left
/// unsettled (once the lazy capture marks are written).
async fn assert_money_and_tickets_agree(app: &TestApp, showtime: &TestShowtime) {
    // Capture marks are written lazily; the check is of the state once they are.
    app.booking.flush_capture_marks().await;
    let mut orders = Vec::new();
    for user in app.store.list_users(1000, None).await.unwrap() {
        orders.extend(app.store.list_orders(&user.id, 100, None).await.unwrap());
    }
    let captured: BTreeMap<String, i64> = app.gateway.captured().into_iter().collect();
    let mut paid_references = BTreeSet::new();
    let mut live_tickets = Vec::new();
    for order in &orders {
        let attempts = app.store.order_attempts(&order.id).await.unwrap();
        let captured_attempts: Vec<_> =
            attempts.iter().filter(|a| a.status == marquee_store::AttemptStatus::Captured).collect();
        assert!(
            attempts.iter().all(|a| !matches!(
                a.status,
                marquee_store::AttemptStatus::Started
                    | marquee_store::AttemptStatus::Unknown
                    | marquee_store::AttemptStatus::Authorized
            )),
            "unsettled attempt left: {attempts:?}"
        );
        if order.status.holds_tickets() {
            assert_eq!(
                captured_attempts.len(),
                1,
                "order {} is {:?} with {} captured payments",
                order.id,
                order.status,
                captured_attempts.len()
            );
            let reference = captured_attempts[0].reference.clone().unwrap();
            assert!(
                captured.get(&reference).is_some_and(|net| *net > 0),
                "order {} has no money at the provider",
                order.id
            );
            paid_references.insert(reference);
            let sold: Vec<_> = order
                .tickets
                .iter()
                .filter(|t| t.status == marquee_domain::inventory::TicketStatus::Sold)
                .collect();
            live_tickets.extend(sold.iter().map(|t| t.id.clone()));
        }
    }
    for (reference, net) in &captured {
        if *net > 0 {
            assert!(paid_references.contains(reference), "money kept without tickets: {reference}");
        }
    }
    let unique: BTreeSet<_> = live_tickets.iter().collect();
    assert_eq!(unique.len(), live_tickets.len(), "a ticket is in two live orders");
    let map = app.get_json(&format!("/api/v1/showtimes/{}/seats", showtime.id)).await;
    assert_eq!(
        map["sold"].as_u64().unwrap() as usize,
        live_tickets.len(),
        "sold seats = tickets of paid orders"
    );
    let authorized_left =
        app.gateway.payments().iter().filter(|p| p.state == ProviderState::Authorized).count();
    assert_eq!(authorized_left, 0, "an authorization was left dangling");
}

async fn reconcile(app: &TestApp) -> marquee_booking::ReconcileReport {
    app.clock.advance(Duration::seconds(61));
    app.booking.reconcile(Duration::seconds(60)).await.unwrap()
}

async fn order_of(app: &TestApp, user: &TestUser) -> Value {
    let (_, orders) = app.get(Some(user), "/api/v1/orders").await;
    orders["items"][0].clone()
}

async fn a_crash_at_any_step_of_a_purchase_is_settled_by_the_reconciler(app: &TestApp) {
    let showtime = app.showtime("Crash").await;
    let seats = app.seat_ids(&showtime).await;
    let cases = [
        (Some(Step::PaymentRecorded), "tok_visa", "payment_failed", 0),
        (Some(Step::Authorized), "tok_visa", "confirmed", 1),
        (Some(Step::Confirmed), "tok_visa", "confirmed", 1),
        (Some(Step::Captured), "tok_visa", "confirmed", 1),
        (None, "tok_timeout", "confirmed", 1),
    ];
    for (index, (step, token, expected, sold)) in cases.into_iter().enumerate() {
        let buyer = app.user().await;
        let (_, hold) = app.hold(&buyer, &showtime, &seats[index * 2..index * 2 + 2]).await;
        app.faults.set(step);
        let (status, problem) = app.pay(&buyer, hold["id"].as_str().unwrap(), token, None).await;
        app.faults.set(None);
        assert!(status.is_server_error(), "{step:?}/{token}: {status} {problem}");
        let report = reconcile(app).await;
        let order = order_of(app, &buyer).await;
        assert_eq!(order["order"]["status"], expected, "{step:?}/{token}: {report:?}");
        let map = app.get_json(&format!("/api/v1/showtimes/{}/seats", showtime.id)).await;
        let owned = map["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| {
                t["status"] == "sold" && seats[index * 2..index * 2 + 2].iter().any(|s| t["id"] == s.as_str())
            })
            .count();
        assert_eq!(owned, sold * 2, "{step:?}/{token}");
        assert_money_and_tickets_agree(app, &showtime).await;
    }
    // The seats of the attempt the provider never saw are still held: nothing was lost.
    assert_eq!(app.get_json(&format!("/ticket/{}/price", seats[0])).await["status"], "held");
    assert_eq!(reconcile(app).await, marquee_booking::ReconcileReport::default(), "nothing left to settle");
}

/// A purchase that failed after its payment began (here: a crash injected after each step)
/// left its `Idempotency-Key` claimed by its payment attempt. A retry with the key learns what
/// became of that attempt — never a second order or charge: the order once confirmed and
/// captured, "in progress" while the provider's answer is awaited, and a new run once it
/// surely failed.
async fn a_retry_of_a_purchase_whose_answer_was_lost_gets_its_outcome(app: &TestApp) {
    let showtime = app.showtime("Retry").await;
    let seats = app.seat_ids(&showtime).await;
    let in_progress = |(status, body): &(StatusCode, Value)| {
        *status == StatusCode::CONFLICT && body["code"] == "idempotency_in_progress"
    };

    // Lost after the order was confirmed, before the capture: "in progress" until the capture
    // is known (a refused capture would cancel the order), then that order.
    let ada = app.user().await;
    let (_, hold) = app.hold(&ada, &showtime, &seats[0..2]).await;
    let hold_id = hold["id"].as_str().unwrap();
    app.faults.set(Some(Step::Confirmed));
    let (status, _) = app.pay(&ada, hold_id, "tok_visa", Some("ada-1")).await;
    app.faults.set(None);
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let answer = app.pay(&ada, hold_id, "tok_visa", Some("ada-1")).await;
    assert!(in_progress(&answer), "{answer:?}");
    reconcile(app).await;
    let (status, retried) = app.pay(&ada, hold_id, "tok_visa", Some("ada-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{retried}");
    assert_eq!(retried["order"]["status"], "confirmed");
    assert_eq!(retried["order"]["id"], order_of(app, &ada).await["order"]["id"], "the one order");
    assert_eq!(app.gateway.payments().len(), 1, "one payment at the provider");

    // Lost before the provider answered: "in progress" until the reconciler learns the
    // outcome, then that outcome.
    let bob = app.user().await;
    let (_, hold) = app.hold(&bob, &showtime, &seats[2..4]).await;
    let hold_id = hold["id"].as_str().unwrap();
    app.faults.set(Some(Step::Authorized));
    let (status, _) = app.pay(&bob, hold_id, "tok_visa", Some("bob-1")).await;
    app.faults.set(None);
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let answer = app.pay(&bob, hold_id, "tok_visa", Some("bob-1")).await;
    assert!(in_progress(&answer), "{answer:?}");
    reconcile(app).await;
    let (status, retried) = app.pay(&bob, hold_id, "tok_visa", Some("bob-1")).await;
    assert_eq!((status, &retried["order"]["status"]), (StatusCode::CREATED, &json!("confirmed")));
    assert_eq!(app.gateway.payments().len(), 2);

    // Lost before the provider heard of it: once the reconciler marked the attempt failed,
    // the retry takes the key over and pays for the same hold.
    let cyd = app.user().await;
    let (_, hold) = app.hold(&cyd, &showtime, &seats[4..6]).await;
    let hold_id = hold["id"].as_str().unwrap();
    app.faults.set(Some(Step::PaymentRecorded));
    let (status, _) = app.pay(&cyd, hold_id, "tok_visa", Some("cyd-1")).await;
    app.faults.set(None);
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let answer = app.pay(&cyd, hold_id, "tok_visa", Some("cyd-1")).await;
    assert!(in_progress(&answer), "{answer:?}");
    reconcile(app).await;
    let (status, paid) = app.pay(&cyd, hold_id, "tok_visa", Some("cyd-1")).await;
    assert_eq!((status, &paid["order"]["status"]), (StatusCode::CREATED, &json!("confirmed")), "{paid}");
    let (again_status, again) = app.pay(&cyd, hold_id, "tok_visa", Some("cyd-1")).await;
    assert_eq!((again_status, &again), (StatusCode::CREATED, &paid), "then replayed as answered");

    // The one-step purchase too: lost before the provider heard of it, the retry pays for the
    // hold it made (the ticket is not refused as held by its own buyer's hold).
    let dan = app.user().await;
    let path = format!("/ticket/{}", seats[6]);
    app.faults.set(Some(Step::PaymentRecorded));
    let (status, _) = app.post(Some(&dan), &path, json!({"payment_token": "tok_visa"}), Some("dan-1")).await;
    app.faults.set(None);
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    reconcile(app).await;
    let (status, bought) =
        app.post(Some(&dan), &path, json!({"payment_token": "tok_visa"}), Some("dan-1")).await;
    assert_eq!((status, &bought["order"]["status"]), (StatusCode::CREATED, &json!("confirmed")), "{bought}");

    reconcile(app).await;
    assert_money_and_tickets_agree(app, &showtime).await;
    let sold = app.get_json(&format!("/api/v1/showtimes/{}/seats", showtime.id)).await["sold"].as_i64();
    assert_eq!(sold, Some(7), "2 + 2 + 2 + 1 seats, each sold once");
}

async fn an_authorization_whose_seats_were_lost_meanwhile_is_voided(app: &TestApp) {
    let showtime = app.showtime("Lost").await;
    let seats = app.seat_ids(&showtime).await;
    let (slow, fast) = (app.user().await, app.user().await);
    let (_, hold) = app.hold(&slow, &showtime, &seats[0..2]).await;
    app.faults.set(Some(Step::Authorized));
    let (status, _) = app.pay(&slow, hold["id"].as_str().unwrap(), "tok_visa", None).await;
    app.faults.set(None);
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    // The hold runs out and someone else buys one of its seats before the reconciler runs.
    app.clock.advance(Duration::minutes(11));
    let (status, _) = app
        .post(Some(&fast), &format!("/ticket/{}", seats[1]), json!({"payment_token": "tok_visa"}), None)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let report = reconcile(app).await;
    assert_eq!(report.released, 1, "{report:?}");
    assert_eq!(order_of(app, &slow).await["order"]["status"], "expired");
    assert_eq!(app.gateway.payments().iter().filter(|p| p.state == ProviderState::Voided).count(), 1);
    assert_money_and_tickets_agree(app, &showtime).await;
}

async fn provider_declines_and_failures_sell_nothing(app: &TestApp) {
    let showtime = app.showtime("Declines").await;
    let seats = app.seat_ids(&showtime).await;
    let buyer = app.user().await;
    let (_, hold) = app.hold(&buyer, &showtime, &seats[0..1]).await;
    let hold_id = hold["id"].as_str().unwrap();
    let (status, body) = app.pay(&buyer, hold_id, "tok_insufficientFunds", None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("payment declined: insufficient_funds"))
    );
    let (status, body) = app.pay(&buyer, hold_id, "tok_processingError", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("payment_unavailable"))
    );
    assert_eq!(order_of(app, &buyer).await["order"]["status"], "payment_failed");
    let (status, _) = app.pay(&buyer, hold_id, "tok_visa", None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_money_and_tickets_agree(app, &showtime).await;
}

async fn buy(app: &TestApp, user: &TestUser, showtime: &TestShowtime, seats: &[String]) -> Value {
    let (status, hold) = app.hold(user, showtime, seats).await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    let (status, purchase) = app.pay(user, hold["id"].as_str().unwrap(), "tok_visa", None).await;
    assert_eq!(status, StatusCode::CREATED, "{purchase}");
    purchase
}

async fn ticket_code(app: &TestApp, user: &TestUser, ticket_id: &str) -> String {
    let (status, ticket) = app.get(Some(user), &format!("/api/v1/tickets/{ticket_id}")).await;
    assert_eq!(status, StatusCode::OK, "{ticket}");
    ticket["code"].as_str().unwrap().to_owned()
}

async fn staff(app: &TestApp) -> TestUser {
    let staff = app.user().await;
    let email = marquee_domain::account::Email::parse(&staff.email).unwrap();
    let (user, _) = app.store.user_credentials(&email).await.unwrap().unwrap();
    app.store.set_user_role(&user.id, marquee_domain::account::Role::Staff).await.unwrap();
    staff
}

async fn a_refunded_seat_is_sold_again_and_only_the_new_code_admits(app: &TestApp) {
    let showtime = app.showtime("Resale").await;
    let seats = app.seat_ids(&showtime).await;
    let (first, second, door) = (app.user().await, app.user().await, staff(app).await);
    let purchase = buy(app, &first, &showtime, &seats[0..1]).await;
    let order_id = purchase["order"]["id"].as_str().unwrap();
    let old_code = ticket_code(app, &first, &seats[0]).await;

    let (status, cancelled) = app
        .post(Some(&first), &format!("/api/v1/orders/{order_id}/cancel"), json!({}), Some("cancel-1"))
        .await;
    assert_eq!(
        (status, cancelled["order"]["status"].as_str()),
        (StatusCode::OK, Some("refunded")),
        "{cancelled}"
    );
    assert_eq!(
        app.get_json(&format!("/ticket/{}/price", seats[0])).await["status"],
        "available",
        "back on sale at once"
    );
    assert_eq!(app.gateway.captured()[0].1, 0, "the money went back");

    buy(app, &second, &showtime, &seats[0..1]).await;
    let new_code = ticket_code(app, &second, &seats[0]).await;
    assert_ne!(old_code, new_code);
    assert_eq!(
        app.get(Some(&first), &format!("/api/v1/tickets/{}", seats[0])).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, problem) = app.post(Some(&door), "/api/v1/checkin", json!({"code": old_code}), None).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::GONE, Some("ticket_void")));
    let (status, admitted) = app.post(Some(&door), "/api/v1/checkin", json!({"code": new_code}), None).await;
    assert_eq!((status, admitted["result"].as_str()), (StatusCode::OK, Some("admitted")));
    assert_money_and_tickets_agree(app, &showtime).await;
    let admin = app.admin().await;
    let (_, audit) = app.get(Some(&admin), "/api/v1/admin/audit?action=order.refund").await;
    assert_eq!(audit["items"][0]["target"], order_id);
}

async fn customers_cancel_only_before_the_cutoff(app: &TestApp) {
    let showtime = app.showtime("Cutoff").await; // starts a day after the test clock's start
    let seats = app.seat_ids(&showtime).await;
    let buyer = app.user().await;
    let purchase = buy(app, &buyer, &showtime, &seats[0..1]).await;
    app.clock.advance(Duration::minutes(1)); // now less than 24 hours before the show
    let path = format!("/api/v1/orders/{}/cancel", purchase["order"]["id"].as_str().unwrap());
    let (status, problem) = app.post(Some(&buyer), &path, json!({}), None).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("refund_window_closed")));
    let stranger = app.user().await;
    assert_eq!(app.post(Some(&stranger), &path, json!({}), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get_json(&format!("/ticket/{}/price", seats[0])).await["status"], "sold");
}

async fn admins_refund_single_tickets_and_cancelled_showtimes_refund_everyone(app: &TestApp) {
    let showtime = app.showtime("Refunds").await;
    let seats = app.seat_ids(&showtime).await;
    let (ada, bob, admin) = (app.user().await, app.user().await, app.admin().await);
    let purchase = buy(app, &ada, &showtime, &seats[0..2]).await;
    buy(app, &bob, &showtime, &seats[2..3]).await;
    let order_id = purchase["order"]["id"].as_str().unwrap();
    let path = format!("/api/v1/admin/orders/{order_id}/refund");
    let (status, partial) =
        app.post(Some(&admin), &path, json!({"ticket_ids": [seats[0]], "reason": "broken seat"}), None).await;
    assert_eq!(
        (status, partial["order"]["status"].as_str()),
        (StatusCode::OK, Some("partially_refunded")),
        "{partial}"
    );
    assert_eq!(app.get_json(&format!("/ticket/{}/price", seats[0])).await["status"], "available");
    assert_eq!(app.get_json(&format!("/ticket/{}/price", seats[1])).await["status"], "sold");
    let (status, _) = app.post(Some(&admin), &path, json!({"ticket_ids": [seats[0]]}), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a ticket is refunded once");
    assert_eq!(app.post(Some(&ada), &path, json!({}), None).await.0, StatusCode::FORBIDDEN);

    let (status, _) = app
        .post(Some(&admin), &format!("/api/v1/admin/showtimes/{}/cancel", showtime.id), json!({}), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(order_of(app, &ada).await["order"]["status"], "refunded");
    assert_eq!(order_of(app, &bob).await["order"]["status"], "refunded");
    assert!(app.gateway.captured().iter().all(|(_, net)| *net == 0), "every cent went back");
    let map = app.get_json(&format!("/api/v1/showtimes/{}/seats", showtime.id)).await;
    assert_eq!(map["sold"], 0);
    assert_money_and_tickets_agree(app, &showtime).await;
}

async fn the_door_admits_a_ticket_once_and_refuses_bad_codes(app: &TestApp) {
    let showtime = app.showtime("Door").await;
    let other = app.showtime("Elsewhere").await;
    let seats = app.seat_ids(&showtime).await;
    let (buyer, door) = (app.user().await, staff(app).await);
    buy(app, &buyer, &showtime, &seats[0..1]).await;
    let code = ticket_code(app, &buyer, &seats[0]).await;
    assert_eq!(
        app.post(Some(&buyer), "/api/v1/checkin", json!({"code": code}), None).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, problem) =
        app.post(Some(&door), "/api/v1/checkin", json!({"code": code, "showtime_id": other.id}), None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_showtime"))
    );
    let (status, admitted) = app
        .post(Some(&door), "/api/v1/checkin", json!({"code": code, "showtime_id": showtime.id}), None)
        .await;
    assert_eq!((status, admitted["label"].as_str()), (StatusCode::OK, Some("Stalls A1")));
    app.clock.advance(Duration::seconds(5));
    let (status, again) = app.post(Some(&door), "/api/v1/checkin", json!({"code": code}), None).await;
    assert_eq!((status, again["code"].as_str()), (StatusCode::CONFLICT, Some("already_checked_in")));
    assert_eq!(again["admitted_at"], "2030-05-01T10:00:00Z");
    let mut tampered = code.clone();
    tampered.replace_range(10..11, if &code[10..11] == "A" { "B" } else { "A" });
    for bad in [tampered.as_str(), "MQ1.e30.e30", "not a code"] {
        let (status, problem) = app.post(Some(&door), "/api/v1/checkin", json!({"code": bad}), None).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_ticket_code")),
            "{bad}"
        );
    }
    let keys = app.get_json("/api/v1/checkin/keys").await;
    assert_eq!(keys["keys"][0]["alg"], "Ed25519");
    assert_eq!(keys["keys"][0]["public_key"].as_str().unwrap().len(), 43);
}

async fn concurrent_scans_of_one_code_admit_it_once(app: &TestApp) {
    let showtime = app.showtime("Rush").await;
    let seats = app.seat_ids(&showtime).await;
    let (buyer, door) = (app.user().await, staff(app).await);
    buy(app, &buyer, &showtime, &seats[0..1]).await;
    let code = ticket_code(app, &buyer, &seats[0]).await;
    let mut scans = Vec::new();
    for _ in 0..20 {
        let (client, url, token, code) =
            (app.client.clone(), app.url("/api/v1/checkin"), door.token.clone(), code.clone());
        scans.push(tokio::spawn(async move {
            client.post(url).bearer_auth(token).json(&json!({"code": code})).send().await.unwrap().status()
        }));
    }
    let mut statuses = Vec::new();
    for scan in scans {
        statuses.push(scan.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 19, "{statuses:?}");
}

async fn tickets_and_their_qr_codes_are_for_their_owner_only(app: &TestApp) {
    let showtime = app.showtime("QR").await;
    let seats = app.seat_ids(&showtime).await;
    let (buyer, other) = (app.user().await, app.user().await);
    buy(app, &buyer, &showtime, &seats[0..1]).await;
    let (status, ticket) = app.get(Some(&buyer), &format!("/api/v1/tickets/{}", seats[0])).await;
    assert_eq!((status, ticket["label"].as_str()), (StatusCode::OK, Some("Stalls A1")));
    let response = app
        .client
        .get(app.url(&format!("/api/v1/tickets/{}/qr.svg", seats[0])))
        .bearer_auth(&buyer.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    assert!(response.text().await.unwrap().starts_with("<?xml"));
    for path in [
        format!("/api/v1/tickets/{}", seats[0]),
        format!("/api/v1/tickets/{}/qr.svg", seats[0]),
        format!("/api/v1/tickets/{}", seats[1]),
    ] {
        assert_eq!(app.send(Method::GET, Some(&other), &path, None).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(app.get(None, &format!("/api/v1/tickets/{}", seats[0])).await.0, StatusCode::UNAUTHORIZED);
}

/// A sender that fails its first `failures` deliveries.
struct Flaky(std::sync::Mutex<u32>, std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl marquee_api::notify::Sender for Flaky {
    async fn send(&self, message: &marquee_store::OutboxMessage) -> Result<(), String> {
        let mut failures = self.0.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
            return Err("mail server down".into());
        }
        self.1.lock().unwrap().push(message.subject.clone());
        Ok(())
    }
}

async fn messages_are_queued_with_the_change_and_retried_until_delivered(app: &TestApp) {
    let showtime = app.showtime("Mail").await;
    let seats = app.seat_ids(&showtime).await;
    let (buyer, admin) = (app.user().await, app.admin().await);
    let purchase = buy(app, &buyer, &showtime, &seats[0..1]).await;
    let order_id = purchase["order"]["id"].as_str().unwrap().to_owned();
    app.post(Some(&admin), &format!("/api/v1/admin/orders/{order_id}/refund"), json!({}), None).await;
    let queued = app.store.messages_to(&buyer.email).await.unwrap();
    let kinds: Vec<&str> = queued.iter().map(|(m, _)| m.kind.as_str()).collect();
    assert_eq!(kinds, ["order_confirmed", "order_refunded"]);
    assert!(
        queued[0].0.body.contains("Stalls A1") && queued[0].0.body.contains("12.00 EUR"),
        "{}",
        queued[0].0.body
    );

    let sender = Flaky(std::sync::Mutex::new(2), std::sync::Mutex::new(Vec::new()));
    let delivered =
        marquee_api::notify::deliver_due(app.store.as_ref(), &sender, app.clock.as_ref()).await.unwrap();
    assert_eq!(delivered, 0, "the mail server is down; nothing is lost");
    assert_eq!(
        marquee_api::notify::deliver_due(app.store.as_ref(), &sender, app.clock.as_ref()).await.unwrap(),
        0,
        "not due before the backoff"
    );
    app.clock.advance(Duration::seconds(10));
    assert_eq!(
        marquee_api::notify::deliver_due(app.store.as_ref(), &sender, app.clock.as_ref()).await.unwrap(),
        2
    );
    assert_eq!(sender.1.lock().unwrap().len(), 2);
    assert!(
        app.store.messages_to(&buyer.email).await.unwrap().iter().all(|(_, delivered)| delivered.is_some())
    );
}
