//! Live seat maps (the showtime event stream) and waiting rooms.

use crate::helpers::{START, SseStream, TestApp, TestUser};
use crate::on_both_backends;
use marquee_domain::clock::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use time::Duration;
use time::format_description::well_known::Rfc3339;

fn ids(event: &Value) -> Vec<String> {
    event["ticket_ids"].as_array().unwrap().iter().map(|id| id.as_str().unwrap().to_owned()).collect()
}

async fn stream_shows_every_change_and_resumes_after_a_reconnect(app: &TestApp) {
    let showtime = app.showtime("Live").await;
    let seats = app.seat_ids(&showtime).await;
    let path = format!("/api/v1/showtimes/{}/stream", showtime.id);
    let mut stream = SseStream::open(app, &path, None).await;
    let snapshot = stream.next().await;
    assert_eq!(snapshot.event, "snapshot");
    let view = snapshot.json();
    assert_eq!(view["available"], 80);
    assert_eq!(snapshot.id.as_deref(), Some(view["version"].to_string().as_str()));

    let buyer = app.user().await;
    let (status, held) = app.hold(&buyer, &showtime, &seats[..2]).await;
    assert_eq!(status, StatusCode::CREATED);
    let event = stream.next_named("inventory").await;
    let change = event.json();
    assert_eq!((change["change"].as_str(), change["status"].as_str()), (Some("held"), Some("held")));
    assert_eq!(ids(&change), seats[..2].to_vec());
    let after_hold = event.id.clone().unwrap();

    let (status, _) = app.pay(&buyer, held["id"].as_str().unwrap(), "tok_visa", None).await;
    assert_eq!(status, StatusCode::CREATED);
    let sold = stream.next_named("inventory").await.json();
    assert_eq!((sold["change"].as_str(), ids(&sold)), (Some("sold"), seats[..2].to_vec()));

    let (_, other) = app.hold(&buyer, &showtime, &seats[2..3]).await;
    assert_eq!(stream.next_named("inventory").await.json()["change"], "held");
    let (status, _) = app.delete(&buyer, &format!("/api/v1/holds/{}", other["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK);
    let released = stream.next_named("inventory").await.json();
    assert_eq!((released["status"].as_str(), ids(&released)), (Some("available"), seats[2..3].to_vec()));

    // A hold that runs out: the sweeper's expiry shows up too.
    let (_, lapsing) = app.hold(&buyer, &showtime, &seats[3..4]).await;
    assert_eq!(lapsing["tickets"].as_array().unwrap().len(), 1);
    assert_eq!(stream.next_named("inventory").await.json()["change"], "held");
    app.clock.advance(Duration::minutes(11));
    assert_eq!(app.store.sweep_expired_holds(app.clock.now()).await.unwrap(), 1);
    let expired = stream.next_named("inventory").await.json();
    assert_eq!((expired["change"].as_str(), ids(&expired)), (Some("expired"), seats[3..4].to_vec()));

    // Reconnecting after the hold event replays exactly what came after it, in order.
    let mut resumed = SseStream::open(app, &path, Some(&after_hold)).await;
    let mut replayed = Vec::new();
    for _ in 0..5 {
        let event = resumed.next().await;
        assert_eq!(event.event, "inventory", "no snapshot when resuming");
        replayed.push(event.json()["change"].as_str().unwrap().to_owned());
    }
    assert_eq!(replayed, ["sold", "held", "released", "held", "expired"]);

    // An id the feed never had (or pruned long ago) gets a fresh snapshot instead.
    let mut lost = SseStream::open(app, &path, Some("999999999")).await;
    let fresh = lost.next().await;
    assert_eq!(fresh.event, "snapshot");
    assert_eq!(fresh.json()["sold"], 2);
    let (status, _) = app.get(None, "/api/v1/showtimes/sho_nope/stream").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn seat_map_versions_let_a_client_join_the_stream_without_missing_a_change(app: &TestApp) {
    let showtime = app.showtime("Versions").await;
    let seats = app.seat_ids(&showtime).await;
    let buyer = app.user().await;
    app.hold(&buyer, &showtime, &seats[..1]).await;
    let map = app.get_json(&format!("/api/v1/showtimes/{}/seats", showtime.id)).await;
    let version = map["version"].to_string();
    assert_eq!(map["held"], 1);
    // A change between loading the map and opening the stream is not lost.
    app.hold(&buyer, &showtime, &seats[1..2]).await;
    let path = format!("/api/v1/showtimes/{}/stream", showtime.id);
    let mut stream = SseStream::open(app, &path, Some(&version)).await;
    // Delivery is at least once: a change the map already showed may come again (applying a
    // change is idempotent), never one less.
    loop {
        let next = stream.next().await;
        assert_eq!(next.event, "inventory");
        if ids(&next.json()) == seats[1..2] {
            break;
        }
        assert_eq!(ids(&next.json()), seats[..1].to_vec(), "only the change the map showed may repeat");
    }
}

async fn admin_puts_a_showtime_on_sale_through_a_queue(app: &TestApp) -> String {
    let admin = app.admin().await;
    let showtime = app.showtime("Queued").await;
    let opens_at = (START + Duration::minutes(5)).format(&Rfc3339).unwrap();
    let path = format!("/api/v1/admin/showtimes/{}/waiting-room", showtime.id);
    let body = json!({ "opens_at": opens_at, "admit_per_minute": 60, "admission_minutes": 10 });
    let (status, room) = app.send(reqwest::Method::PUT, Some(&admin), &path, Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{room}");
    assert_eq!((room["queued"].as_i64(), room["admitted"].as_i64()), (Some(0), Some(0)));
    let customer = app.user().await;
    let (status, _) = app.send(reqwest::Method::PUT, Some(&customer), &path, Some(body)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let bad = json!({ "opens_at": opens_at, "admit_per_minute": 0, "admission_minutes": 10 });
    let (status, _) = app.send(reqwest::Method::PUT, Some(&admin), &path, Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    showtime.id.to_string()
}

async fn join(app: &TestApp, user: &TestUser, showtime: &str) -> Value {
    let (status, place) =
        app.post(Some(user), &format!("/api/v1/showtimes/{showtime}/queue"), json!({}), None).await;
    assert_eq!(status, StatusCode::OK, "{place}");
    place
}

async fn place(app: &TestApp, user: &TestUser, showtime: &str) -> Value {
    let (status, place) = app.get(Some(user), &format!("/api/v1/showtimes/{showtime}/queue")).await;
    assert_eq!(status, StatusCode::OK, "{place}");
    place
}

async fn hold_with(
    app: &TestApp,
    user: &TestUser,
    showtime: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(app.url("/api/v1/holds"))
        .bearer_auth(&user.token)
        .json(&json!({ "showtime_id": showtime, "section": "Floor", "quantity": 1 }));
    if let Some(token) = token {
        request = request.header("X-Admission-Token", token);
    }
    crate::helpers::read(request.send().await.unwrap()).await
}

async fn the_waiting_room_admits_in_one_order_at_its_pace_and_holds_need_the_admission(app: &TestApp) {
    let showtime = admin_puts_a_showtime_on_sale_through_a_queue(app).await;
    let early = users(app, 5).await;
    // Before the opening: everyone is in the lobby, nobody can hold.
    for user in &early {
        let place = join(app, user, &showtime).await;
        assert_eq!(place["status"], "lobby");
        assert!(place["place"].is_null());
    }
    let (status, problem) = hold_with(app, &early[0], &showtime, None).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (StatusCode::FORBIDDEN, Some("urn:marquee:problem:admission_required"))
    );
    // The design sheet's one-step purchase is no way around the queue.
    let map = app.get_json(&format!("/api/v1/showtimes/{showtime}/seats")).await;
    let seat = map["tickets"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .post(Some(&early[0]), &format!("/ticket/{seat}"), json!({ "payment_token": "tok_visa" }), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Opened: the lobby's order was drawn; places 1..5, nobody admitted in the first second.
    app.clock.advance(Duration::minutes(5));
    let mut places = BTreeSet::new();
    for user in &early {
        let place = place(app, user, &showtime).await;
        assert_eq!(place["status"], "waiting", "{place}");
        places.insert(place["place"].as_i64().unwrap());
        // Joining again (a reconnect, a second tab) never moves anyone.
        assert_eq!(join(app, user, &showtime).await["place"], place["place"]);
    }
    assert_eq!(places, (1..=5).collect());
    let late = app.user().await;
    assert_eq!(join(app, &late, &showtime).await["place"], 6, "arrivals after the opening queue behind");

    // One a second: after 2.5 s, places 1 and 2 are admitted, 3 is next.
    app.clock.advance(Duration::milliseconds(2500));
    let mut admitted = Vec::new();
    for user in &early {
        let place = place(app, user, &showtime).await;
        match place["place"].as_i64().unwrap() {
            1 | 2 => {
                assert_eq!(place["status"], "admitted", "{place}");
                admitted.push((user.clone(), place["admission_token"].as_str().unwrap().to_owned()));
            }
            n => assert_eq!(
                (place["status"].as_str(), place["ahead"].as_i64()),
                (Some("waiting"), Some(n - 3))
            ),
        }
    }
    assert_eq!(admitted.len(), 2);
    let (first, token) = &admitted[0];
    let (second, _) = &admitted[1];
    let (status, hold) = hold_with(app, first, &showtime, Some(token)).await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    // The token is the account's own: useless to anyone else, and worthless once forged.
    let (status, _) = hold_with(app, second, &showtime, Some(token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = hold_with(app, first, &showtime, Some(&format!("{token}x"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The admission lasts ten minutes; then the place is spent.
    app.clock.advance(Duration::minutes(11));
    let (status, problem) = hold_with(app, first, &showtime, Some(token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(place(app, first, &showtime).await["status"], "expired");
    // Rejoining after that goes to the back (behind the late arrival).
    assert_eq!(join(app, first, &showtime).await["place"], 6);
    // Leaving empties the place.
    let (status, _) = app.delete(&late, &format!("/api/v1/showtimes/{showtime}/queue")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(Some(&late), &format!("/api/v1/showtimes/{showtime}/queue")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Without a waiting room there is no queue to join.
    let plain = app.showtime("Plain").await;
    let (status, _) =
        app.post(Some(&late), &format!("/api/v1/showtimes/{}/queue", plain.id), json!({}), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn users(app: &TestApp, n: usize) -> Vec<TestUser> {
    let mut users = Vec::new();
    for _ in 0..n {
        users.push(app.user().await);
    }
    users
}

async fn a_crowd_joining_at_once_gets_distinct_places_and_the_stream_shows_the_queue(app: &TestApp) {
    let showtime = admin_puts_a_showtime_on_sale_through_a_queue(app).await;
    app.clock.advance(Duration::minutes(5));
    let mut stream = SseStream::open(app, &format!("/api/v1/showtimes/{showtime}/stream"), None).await;
    let first = stream.next_named("queue").await.json();
    assert_eq!((first["queued"].as_i64(), first["admitted"].as_i64()), (Some(0), Some(0)));
    let users = users(app, 40).await;
    let joins = users.iter().map(|user| join(app, user, &showtime));
    futures_util::future::join_all(joins).await;
    let mut places = BTreeSet::new();
    for user in &users {
        places.insert(place(app, user, &showtime).await["place"].as_i64().unwrap());
    }
    assert_eq!(places, (1..=40).collect(), "one order: every joiner has a place of their own");
    app.clock.advance(Duration::seconds(3));
    loop {
        let queue = stream.next_named("queue").await.json();
        if queue["queued"] == 40 && queue["admitted"] == 3 {
            break;
        }
    }
}

on_both_backends!(
    stream_shows_every_change_and_resumes_after_a_reconnect,
    seat_map_versions_let_a_client_join_the_stream_without_missing_a_change,
    the_waiting_room_admits_in_one_order_at_its_pace_and_holds_need_the_admission,
    a_crowd_joining_at_once_gets_distinct_places_and_the_stream_shows_the_queue,
);
