//! The web pages' side of the server: pages and assets with their security headers, the
//! browser's cookie session with its CSRF check, the payment client settings and the sales
//! timeline the box office charts. (The pages themselves are tested in Chromium: `e2e/`.)

use crate::helpers::{TestApp, read};
use crate::on_both_backends;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, ETAG, IF_NONE_MATCH, SET_COOKIE};
use serde_json::{Value, json};

on_both_backends!(
    pages_and_assets_are_served_with_a_strict_policy_and_revalidated,
    a_cookie_session_reads_freely_but_writes_only_with_its_csrf_token,
    logging_out_ends_the_cookie_session,
    the_checkout_learns_how_to_pay,
    the_sales_timeline_counts_paid_tickets_net_of_refunds,
    the_catalog_filters_by_the_visitors_day_and_lists_venues,
    my_orders_say_until_when_they_may_be_cancelled_and_a_used_ticket_may_not_be,
    a_ticket_is_not_admitted_while_its_order_is_being_refunded,
    over_https_the_session_cookies_are_secure_host_cookies,
    logging_in_again_needs_no_csrf_token,
    the_door_lists_todays_showtimes_whatever_their_sale,
);

/// A browser: the cookies a web login set, sent back by hand.
struct Browser {
    cookies: String,
    csrf: String,
}

async fn web_register(app: &TestApp, email: &str) -> Browser {
    let response = app
        .client
        .post(app.url("/api/v1/auth/web/register"))
        .json(&json!({ "email": email, "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let set: Vec<String> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect();
    let session = set.iter().find(|c| c.starts_with("marquee_session=")).expect("session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax") && session.contains("Path=/"));
    let csrf_cookie = set.iter().find(|c| c.starts_with("marquee_csrf=")).expect("csrf cookie");
    assert!(!csrf_cookie.contains("HttpOnly"), "the page's scripts read it");
    let body: Value = response.json().await.unwrap();
    assert!(body.get("token").is_none(), "the token stays in the HttpOnly cookie");
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let pair = |cookie: &str| cookie.split(';').next().unwrap().to_owned();
    assert_eq!(pair(csrf_cookie), format!("marquee_csrf={csrf}"));
    Browser { cookies: format!("{}; {}", pair(session), pair(csrf_cookie)), csrf }
}

async fn pages_and_assets_are_served_with_a_strict_policy_and_revalidated(app: &TestApp) {
    for path in
        ["/", "/events/evt_x", "/showtimes/sho_x", "/checkout/hld_x", "/tickets", "/login", "/admin", "/door"]
    {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        let csp = response.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"));
        let html = response.text().await.unwrap();
        assert!(html.contains("<main id=\"main\""), "{path}: the layout");
    }
    let response = app.client.get(app.url("/assets/app.js")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8");
    let etag = response.headers()[ETAG].clone();
    let again = app.client.get(app.url("/assets/app.js")).header(IF_NONE_MATCH, etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let css = app.client.get(app.url("/assets/style.css")).send().await.unwrap();
    assert_eq!(css.headers()[CONTENT_TYPE], "text/css; charset=utf-8");

    // A browser lost on the site gets a page; the API keeps answering problem documents.
    let lost =
        app.client.get(app.url("/no/such/page")).header("accept", "text/html,*/*").send().await.unwrap();
    assert_eq!(lost.status(), StatusCode::NOT_FOUND);
    assert_eq!(lost.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(lost.text().await.unwrap().contains("Page not found"));
    let api = app.client.get(app.url("/api/v1/nope")).header("accept", "text/html").send().await.unwrap();
    let (status, body) = read(api).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));

    for missing in
        ["/assets/nope.js", "/assets/../Cargo.toml", "/assets/%2e%2e/Cargo.toml", "/assets/..%2fCargo.toml"]
    {
        let (status, body) = read(app.client.get(app.url(missing)).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(body["code"], "not_found");
    }
}

async fn a_cookie_session_reads_freely_but_writes_only_with_its_csrf_token(app: &TestApp) {
    let showtime = app.showtime("Cookies").await;
    let seats = app.seat_ids(&showtime).await;
    let browser = web_register(app, "browser@example.com").await;

    // Reads need no CSRF token.
    let me = app.client.get(app.url("/api/v1/me")).header(COOKIE, &browser.cookies).send().await.unwrap();
    let (status, me) = read(me).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "browser@example.com");

    // A write without the token (what another site can make a browser send) is refused and
    // changes nothing; so is one with a wrong token.
    let hold = json!({ "showtime_id": showtime.id, "ticket_ids": [seats[0]] });
    for token in [None, Some("forged"), Some("")] {
        let mut request =
            app.client.post(app.url("/api/v1/holds")).header(COOKIE, &browser.cookies).json(&hold);
        if let Some(token) = token {
            request = request.header("X-CSRF-Token", token);
        }
        let (status, body) = read(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{token:?}");
        assert_eq!(body["code"], "csrf_rejected");
    }
    let map = app.get_json(&format!("/api/v1/showtimes/{}/seats", showtime.id)).await;
    assert_eq!(map["held"], 0, "nothing was held");

    // With its token it goes through.
    let response = app
        .client
        .post(app.url("/api/v1/holds"))
        .header(COOKIE, &browser.cookies)
        .header("X-CSRF-Token", &browser.csrf)
        .json(&hold)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Another session's token does not fit this one.
    let other = web_register(app, "other@example.com").await;
    let response = app
        .client
        .post(app.url("/api/v1/holds"))
        .header(COOKIE, &browser.cookies)
        .header("X-CSRF-Token", &other.csrf)
        .json(&json!({ "showtime_id": showtime.id, "ticket_ids": [seats[1]] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Bearer clients are untouched: no CSRF token needed, whatever cookies ride along.
    let api_user = app.user().await;
    let response = app
        .client
        .post(app.url("/api/v1/holds"))
        .bearer_auth(&api_user.token)
        .header(COOKIE, &browser.cookies)
        .json(&json!({ "showtime_id": showtime.id, "ticket_ids": [seats[2]] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    // A stale cookie does not block logging in again.
    let login = app
        .client
        .post(app.url("/api/v1/auth/web/login"))
        .header(COOKIE, "marquee_session=expired-or-forged")
        .json(&json!({ "email": "browser@example.com", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let (status, body) = read(
        app.client
            .post(app.url("/api/v1/auth/web/login"))
            .json(&json!({ "email": "browser@example.com", "password": "wrong password!" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "invalid_credentials");
}

async fn logging_out_ends_the_cookie_session(app: &TestApp) {
    let browser = web_register(app, "leaving@example.com").await;
    let logout = |csrf: Option<&str>| {
        let mut request =
            app.client.post(app.url("/api/v1/auth/web/logout")).header(COOKIE, &browser.cookies);
        if let Some(csrf) = csrf {
            request = request.header("X-CSRF-Token", csrf);
        }
        request.send()
    };
    // Another site cannot log the browser out either.
    assert_eq!(logout(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    let response = logout(Some(&browser.csrf)).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared: Vec<&str> =
        response.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap()).collect();
    assert!(cleared.iter().any(|c| c.starts_with("marquee_session=;") && c.contains("Max-Age=0")));
    assert!(cleared.iter().any(|c| c.starts_with("marquee_csrf=;") && c.contains("Max-Age=0")));
    let me = app.client.get(app.url("/api/v1/me")).header(COOKIE, &browser.cookies).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "the old cookie no longer works");
}

async fn the_checkout_learns_how_to_pay(app: &TestApp) {
    let config = app.get_json("/api/v1/payments/config").await;
    assert_eq!(config["provider"], "test");
    assert_eq!(config["cancellation_cutoff_hours"], 24);
    assert_eq!(
        (config["max_tickets_per_hold"].as_u64(), config["hold_seconds"].as_i64()),
        (Some(10), Some(600))
    );
    assert_eq!(config["max_held_tickets_per_showtime"], 20);
    let cards = config["test_cards"].as_array().unwrap();
    let outcome = |token: &str| cards.iter().find(|c| c["token"] == token).map(|c| c["outcome"].clone());
    assert_eq!(outcome("tok_visa"), Some(json!("succeeds")));
    assert_eq!(outcome("tok_chargeDeclined"), Some(json!("declined")));
    // Every listed card does what it says at the test gateway.
    let showtime = app.showtime("Cards").await;
    let seats = app.seat_ids(&showtime).await;
    for (card, seat) in cards.iter().zip(&seats) {
        let buyer = app.user().await;
        let (_, hold) = app.hold(&buyer, &showtime, std::slice::from_ref(seat)).await;
        let (status, _) =
            app.pay(&buyer, hold["id"].as_str().unwrap(), card["token"].as_str().unwrap(), Some("k")).await;
        let expected =
            if card["outcome"] == "succeeds" { StatusCode::CREATED } else { StatusCode::PAYMENT_REQUIRED };
        assert_eq!(status, expected, "{card}");
    }
}

async fn the_sales_timeline_counts_paid_tickets_net_of_refunds(app: &TestApp) {
    let showtime = app.showtime("Timeline").await;
    let seats = app.seat_ids(&showtime).await;
    let admin = app.admin().await;
    let path = format!("/api/v1/admin/showtimes/{}/sales", showtime.id);
    let (status, empty) = app.get(Some(&admin), &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty["buckets"], json!([]));

    let buyer = app.user().await;
    let (_, hold) = app.hold(&buyer, &showtime, &seats[..3]).await;
    let (status, order) = app.pay(&buyer, hold["id"].as_str().unwrap(), "tok_visa", Some("a")).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    // A declined attempt sells nothing.
    let (_, hold) = app.hold(&buyer, &showtime, &seats[3..4]).await;
    app.pay(&buyer, hold["id"].as_str().unwrap(), "tok_chargeDeclined", Some("b")).await;
    app.clock.advance(time::Duration::minutes(3));
    let (_, hold) = app.hold(&buyer, &showtime, &seats[5..7]).await;
    app.pay(&buyer, hold["id"].as_str().unwrap(), "tok_visa", Some("c")).await;

    let (_, timeline) = app.get(Some(&admin), &path).await;
    assert_eq!(timeline["bucket_seconds"], 60);
    let buckets = timeline["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 2, "{timeline}");
    assert_eq!(
        (buckets[0]["tickets"].as_i64(), buckets[0]["cumulative_tickets"].as_i64()),
        (Some(3), Some(3))
    );
    assert_eq!(buckets[0]["gross"], json!({ "amount": 3600, "currency": "EUR" }));
    assert_eq!(
        (buckets[1]["tickets"].as_i64(), buckets[1]["cumulative_tickets"].as_i64()),
        (Some(2), Some(5))
    );

    // A refunded ticket no longer counts.
    let ticket = order["tickets"][0]["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            Some(&admin),
            &format!("/api/v1/admin/orders/{}/refund", order["order"]["id"].as_str().unwrap()),
            json!({ "ticket_ids": [ticket] }),
            Some("refund-1"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, timeline) = app.get(Some(&admin), &path).await;
    assert_eq!(timeline["buckets"][0]["tickets"], 2);
    assert_eq!(timeline["buckets"][1]["cumulative_tickets"], 4);

    let customer = app.user().await;
    assert_eq!(app.get(Some(&customer), &path).await.0, StatusCode::FORBIDDEN);
    let (status, _) = app.get(Some(&admin), "/api/v1/admin/showtimes/sho_nope/sales").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn the_catalog_filters_by_the_visitors_day_and_lists_venues(app: &TestApp) {
    // The test showtime starts at 2030-05-02 10:00 UTC.
    app.showtime("Day filter").await;
    let titles = |path: String| async move {
        let page = app.get_json(&path).await;
        page["items"].as_array().unwrap().len()
    };
    assert_eq!(titles("/api/v1/events?date=2030-05-02".into()).await, 1, "a UTC day by default");
    // In Kiribati (UTC+14) 2 May ends at 10:00 UTC, just before the show: it is on 3 May there.
    assert_eq!(titles("/api/v1/events?date=2030-05-02&utc_offset_minutes=840".into()).await, 0);
    assert_eq!(titles("/api/v1/events?date=2030-05-03&utc_offset_minutes=840".into()).await, 1);
    // In Hawaii (UTC-10) 2 May starts at 10:00 UTC, exactly when the show starts.
    assert_eq!(titles("/api/v1/showtimes?date=2030-05-02&utc_offset_minutes=-600".into()).await, 1);
    assert_eq!(titles("/api/v1/showtimes?date=2030-05-01&utc_offset_minutes=-600".into()).await, 0);
    let (status, body) = app.get(None, "/api/v1/events?date=2030-05-02&utc_offset_minutes=5000").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "bad_request");

    let venues = app.get_json("/api/v1/venues").await;
    assert_eq!(
        venues,
        json!([{ "id": venues[0]["id"], "name": "Test Palace", "city": "Berlin", "time_zone": "Europe/Berlin" }])
    );
}

async fn my_orders_say_until_when_they_may_be_cancelled_and_a_used_ticket_may_not_be(app: &TestApp) {
    // The test showtime starts a day after the clock's START; the cutoff is 24 hours.
    let showtime = app.showtime("Cancellable").await;
    let seats = app.seat_ids(&showtime).await;
    let buyer = app.user().await;
    let (_, hold) = app.hold(&buyer, &showtime, &seats[..2]).await;
    app.clock.advance(time::Duration::minutes(-30));
    let (status, bought) = app.pay(&buyer, hold["id"].as_str().unwrap(), "tok_visa", Some("p")).await;
    assert_eq!(status, StatusCode::CREATED, "{bought}");
    let order_id = bought["order"]["id"].as_str().unwrap().to_owned();
    let until = "2030-05-01T10:00:00Z"; // the show (2 May 10:00) less 24 hours
    let (_, order) = app.get(Some(&buyer), &format!("/api/v1/orders/{order_id}")).await;
    assert_eq!(order["cancellable_until"], until);
    let (_, page) = app.get(Some(&buyer), "/api/v1/orders").await;
    assert_eq!(page["items"][0]["cancellable_until"], until);

    // A ticket used at the door makes the order non-refundable for the customer.
    let ticket = bought["tickets"][0]["id"].as_str().unwrap();
    let (_, eticket) = app.get(Some(&buyer), &format!("/api/v1/tickets/{ticket}")).await;
    let admin = app.admin().await;
    let (status, body) =
        app.post(Some(&admin), "/api/v1/checkin", json!({ "code": eticket["code"] }), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, order) = app.get(Some(&buyer), &format!("/api/v1/orders/{order_id}")).await;
    assert!(order.get("cancellable_until").is_none(), "a used ticket: {order}");
    let (status, body) =
        app.post(Some(&buyer), &format!("/api/v1/orders/{order_id}/cancel"), json!({}), Some("c")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("already admitted"), "{body}");
    let map = app.get_json(&format!("/api/v1/showtimes/{}/seats", showtime.id)).await;
    assert_eq!(map["sold"], 2, "nothing was refunded");

    // Past the cutoff the order no longer says it may be cancelled.
    app.clock.advance(time::Duration::hours(1));
    let (_, order) = app.get(Some(&buyer), &format!("/api/v1/orders/{order_id}")).await;
    assert!(order.get("cancellable_until").is_none(), "{order}");
}

async fn a_ticket_is_not_admitted_while_its_order_is_being_refunded(app: &TestApp) {
    use marquee_domain::clock::Clock;
    use marquee_domain::ids::OrderId;
    let showtime = app.showtime("Refund race").await;
    let seats = app.seat_ids(&showtime).await;
    let buyer = app.user().await;
    let (_, hold) = app.hold(&buyer, &showtime, &seats[..2]).await;
    let (_, bought) = app.pay(&buyer, hold["id"].as_str().unwrap(), "tok_visa", Some("p")).await;
    let order_id = OrderId::from_raw(bought["order"]["id"].as_str().unwrap());
    // A refund has begun (the provider has not answered yet): its tickets may be void in a moment.
    // The capture is marked lazily, after the answer; the booking service's own refunds wait
    // for it the same way.
    app.booking.flush_capture_marks().await;
    app.store
        .begin_refund(&marquee_store::NewRefund::whole("ref_pending", &order_id, "test", app.clock.now()))
        .await
        .unwrap();
    let ticket = bought["tickets"][0]["id"].as_str().unwrap();
    let (_, eticket) = app.get(Some(&buyer), &format!("/api/v1/tickets/{ticket}")).await;
    let admin = app.admin().await;
    let (status, body) =
        app.post(Some(&admin), "/api/v1/checkin", json!({ "code": eticket["code"] }), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("refund"), "{body}");
    let (_, eticket) = app.get(Some(&buyer), &format!("/api/v1/tickets/{ticket}")).await;
    assert!(eticket["checked_in_at"].is_null(), "not admitted: {eticket}");
}

async fn over_https_the_session_cookies_are_secure_host_cookies(app: &TestApp) {
    // As behind a TLS-terminating proxy: the request names the public host.
    let register = app
        .client
        .post(app.url("/api/v1/auth/web/register"))
        .header("host", "tickets.example.com")
        .json(&json!({ "email": "secure@example.com", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), StatusCode::CREATED);
    let set: Vec<String> =
        register.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let session =
        set.iter().find(|c| c.starts_with("__Host-marquee_session=")).expect("a __Host- session cookie");
    assert!(
        session.contains("; Secure") && session.contains("HttpOnly") && session.contains("Path=/"),
        "{session}"
    );
    assert!(!session.contains("Domain="), "__Host- cookies have no domain");
    let csrf = set.iter().find(|c| c.starts_with("__Host-marquee_csrf=")).expect("a __Host- csrf cookie");
    assert!(csrf.contains("; Secure"));
    let token = session.trim_start_matches("__Host-marquee_session=").split(';').next().unwrap();

    let me = |cookie: String| {
        app.client
            .get(app.url("/api/v1/me"))
            .header("host", "tickets.example.com")
            .header(COOKIE, cookie)
            .send()
    };
    assert_eq!(me(format!("__Host-marquee_session={token}")).await.unwrap().status(), StatusCode::OK);
    // The same token under the plain name is not accepted on an HTTPS site: that name could
    // have been planted by another subdomain.
    assert_eq!(me(format!("marquee_session={token}")).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

async fn logging_in_again_needs_no_csrf_token(app: &TestApp) {
    let browser = web_register(app, "again@example.com").await;
    // The page lost its CSRF cookie (cleared by hand, say) but kept the session cookie: it can
    // still log in again, which replaces the session.
    let session = browser.cookies.split("; ").next().unwrap().to_owned();
    let login = app
        .client
        .post(app.url("/api/v1/auth/web/login"))
        .header(COOKIE, &session)
        .json(&json!({ "email": "again@example.com", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let old = app.client.get(app.url("/api/v1/me")).header(COOKIE, &session).send().await.unwrap();
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED, "the old session was replaced");
}

async fn the_door_lists_todays_showtimes_whatever_their_sale(app: &TestApp) {
    let showtime = app.showtime("Door list").await;
    let admin = app.admin().await;
    let customer = app.user().await;
    assert_eq!(app.get(Some(&customer), "/api/v1/checkin/showtimes").await.0, StatusCode::FORBIDDEN);
    // Taken off the public pages: the door still admits to it.
    let (status, body) = app
        .post(Some(&admin), &format!("/api/v1/admin/events/{}/unpublish", showtime.event_id), json!({}), None)
        .await;
    assert!(status.is_success(), "{status} {body}");
    let public = app.get_json("/api/v1/showtimes").await;
    assert_eq!(public["items"], json!([]));
    let ids = |page: Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
    };
    let (status, door) = app.get(Some(&admin), "/api/v1/checkin/showtimes").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(door), vec![showtime.id.to_string()]);
    // It starts a day after START: two days later it is no longer today's.
    app.clock.advance(time::Duration::hours(37));
    let (_, door) = app.get(Some(&admin), "/api/v1/checkin/showtimes").await;
    assert!(ids(door).is_empty());
}

/// With Stripe configured, checkout alone may load Stripe.js and its frames.
mod with_stripe {
    use super::*;
    use marquee_api::{ApiConfig, PaymentClient};

    fn stripe() -> ApiConfig {
        ApiConfig {
            payment_client: PaymentClient::Stripe { publishable_key: Some("pk_test_marquee".into()) },
            ..TestApp::test_config()
        }
    }

    crate::on_both_backends_with!(only_checkout_may_load_stripe => stripe());

    async fn only_checkout_may_load_stripe(app: &TestApp) {
        let csp = |path: &'static str| async move {
            let response = app.client.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            response.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned()
        };
        let checkout = csp("/checkout/hld_x").await;
        assert!(checkout.contains("script-src 'self' https://js.stripe.com"), "{checkout}");
        assert!(!checkout.contains("unsafe-inline"));
        for other in ["/", "/showtimes/sho_x", "/tickets", "/admin"] {
            let policy = csp(other).await;
            assert!(!policy.contains("stripe"), "{other}: {policy}");
        }
        let config = app.get_json("/api/v1/payments/config").await;
        assert_eq!(
            (config["provider"].as_str(), config["publishable_key"].as_str()),
            (Some("stripe"), Some("pk_test_marquee"))
        );
        assert_eq!(config["test_cards"], json!([]));
    }
}
