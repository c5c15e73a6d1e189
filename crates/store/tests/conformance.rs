//! The storage conformance suite: every test runs against SQLite and against PostgreSQL, each
//! in a fresh database, and both backends must give the same answers.

use marquee_domain::Error;
use marquee_domain::account::{Email, Role, User};
use marquee_domain::audit::AuditEntry;
use marquee_domain::catalog::{
    Event, EventKind, Hall, HallLayout, RowLayout, SeatOverride, SectionKind, SectionLayout, Showtime, Venue,
};
use marquee_domain::ids::{EventId, HallId, HoldId, OrderId, ShowtimeId, TicketId, UserId, VenueId};
use marquee_domain::inventory::{HoldSelection, HoldStatus, OrderStatus, TicketStatus};
use marquee_domain::money::Money;
use marquee_store::testing::TestDatabase;
use marquee_store::{
    AttemptStatus, AuditFilter, Backend, BeginPayment, CategorySales, Confirmation, EventFilter, KeyClaim,
    KeyResource, NewHold, NewRefund, OutboxMessage, RefundStatus, ShowtimeFilter, SqlStore, SqliteStore,
    Store, StoreOptions,
};
use std::collections::BTreeSet;
use std::sync::Arc;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2030-03-01 12:00 UTC);

/// Runs each listed test once per backend, in its own database.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::run(marquee_store::Backend::Sqlite, super::$name).await }) *
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::run(marquee_store::Backend::Postgres, super::$name).await }) *
        }
    };
}

conformance!(
    accounts_have_unique_emails_and_expiring_sessions,
    a_showtime_has_one_ticket_per_seat_and_ga_place,
    the_availability_view_agrees_with_the_seat_map,
    the_catalog_lists_published_events_on_sale_with_filters_and_pages,
    a_hold_takes_all_requested_tickets_or_none,
    tickets_of_an_expired_hold_are_available_again_at_once,
    a_quantity_hold_takes_free_places_of_a_section,
    holds_refuse_unknown_tickets_and_showtimes_not_on_sale,
    confirming_a_hold_sells_its_tickets_exactly_once,
    a_hold_whose_tickets_were_taken_after_expiry_cannot_be_confirmed,
    releasing_a_hold_frees_its_tickets,
    the_sweeper_frees_expired_holds,
    idempotency_keys_are_claimed_by_the_writes_they_belong_to,
    a_confirmation_is_audited_in_its_own_transaction,
    capture_marks_move_only_authorized_attempts,
    a_refund_says_where_it_stands,
    racing_holds_never_share_a_ticket,
    a_user_may_hold_only_so_many_tickets_of_a_showtime,
    admins_change_roles_and_disabling_ends_sessions,
    login_failures_are_counted_per_key_and_forgotten,
    the_audit_log_is_appended_and_filtered_newest_first,
    a_layout_changes_only_while_nothing_is_sold_or_held,
    price_changes_spare_sold_tickets,
    cancelled_showtimes_sell_nothing_and_deleting_needs_no_sales,
    the_sales_report_counts_by_category,
    outbox_messages_are_claimed_by_one_sender_at_a_time,
    a_showtime_with_a_waiting_room_is_held_only_with_an_admission,
);

async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(database) = TestDatabase::new(backend).await else { return };
    let store = database.store().await;
    test(store.clone()).await;
    store.close().await;
    database.drop_database().await;
}

/// A small cinema: "Stalls" with rows A (5 standard seats, seat 1 accessible) and B (5 premium),
/// and a GA "Floor" of 20 places; one showtime on sale at [`NOW`].
struct Fixture {
    event: Event,
    showtime: Showtime,
}

async fn fixture(store: &Arc<dyn Store>, title: &str, city: &str, genres: &[&str]) -> Fixture {
    let venue = Venue {
        id: VenueId::generate(),
        name: format!("{city} Palace"),
        city: city.into(),
        time_zone: "Europe/Berlin".into(),
    };
    store.create_venue(&venue).await.unwrap();
    let row = |label: &str, category: &str| RowLayout {
        label: label.into(),
        category: category.into(),
        seats: 5,
        first_number: 1,
        gaps_after: vec![],
        overrides: vec![],
    };
    let mut row_a = row("A", "standard");
    row_a.overrides.push(SeatOverride { number: 1, category: "accessible".into() });
    let layout = HallLayout {
        sections: vec![
            SectionLayout {
                name: "Stalls".into(),
                kind: SectionKind::Seated { rows: vec![row_a, row("B", "premium")] },
            },
            SectionLayout {
                name: "Floor".into(),
                kind: SectionKind::GeneralAdmission { capacity: 20, category: "floor".into() },
            },
        ],
    };
    let categories = layout.validate().unwrap();
    let hall = Hall { id: HallId::generate(), venue_id: venue.id.clone(), name: "Hall 1".into(), layout };
    store.create_hall(&hall).await.unwrap();
    let event = Event {
        id: EventId::generate(),
        kind: EventKind::Movie,
        title: title.into(),
        synopsis: "A test film.".into(),
        poster_url: None,
        genres: genres.iter().map(|g| g.to_string()).collect(),
        runtime_minutes: Some(120),
        rating: Some("PG".into()),
        artist: None,
        published: true,
        created_at: NOW,
    };
    store.create_event(&event).await.unwrap();
    let showtime = Showtime {
        id: ShowtimeId::generate(),
        event_id: event.id.clone(),
        hall_id: hall.id.clone(),
        starts_at: NOW + Duration::days(2),
        on_sale_from: NOW - Duration::hours(1),
        on_sale_until: NOW + Duration::days(2),
        currency: "EUR".into(),
        prices: [("standard", 1000), ("premium", 1500), ("accessible", 800), ("floor", 500)]
            .into_iter()
            .map(|(c, p)| (c.to_string(), p))
            .collect(),
    };
    showtime.validate(&categories).unwrap();
    store.create_showtime(&showtime).await.unwrap();
    Fixture { event, showtime }
}

async fn user(store: &Arc<dyn Store>, email: &str) -> User {
    let user = User {
        id: UserId::generate(),
        email: Email::parse(email).unwrap(),
        role: Role::Customer,
        created_at: NOW,
        disabled_at: None,
    };
    store.create_user(&user, "hash").await.unwrap();
    user
}

async fn seat_ids(store: &Arc<dyn Store>, showtime: &ShowtimeId) -> Vec<TicketId> {
    store
        .seat_map(showtime, NOW)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.row.is_some())
        .map(|t| t.id)
        .collect()
}

fn new_hold(user: &User, showtime: &ShowtimeId, selection: HoldSelection, now: OffsetDateTime) -> NewHold {
    NewHold {
        admitted: false,
        max_held_per_user: 1000,
        id: HoldId::generate(),
        user_id: user.id.clone(),
        showtime_id: showtime.clone(),
        selection,
        now,
        expires_at: now + Duration::minutes(10),
        claim: None,
    }
}

/// Starts paying for a hold (the write-ahead record).
async fn begin(
    store: &Arc<dyn Store>,
    hold: &marquee_domain::inventory::Hold,
    now: OffsetDateTime,
) -> marquee_domain::Result<marquee_store::PaymentAttempt> {
    store
        .begin_payment(&BeginPayment {
            attempt_id: format!("pay_{}", OrderId::generate()),
            new_order_id: OrderId::generate(),
            hold_id: hold.id.clone(),
            user_id: hold.user_id.clone(),
            provider: "test".into(),
            now,
            claim: None,
        })
        .await
}

fn message() -> OutboxMessage {
    OutboxMessage::new("order_confirmed", "buyer@example.com", "Your order".into(), "Thanks".into())
}

/// The whole purchase as the booking service runs it: record, confirm, capture.
async fn pay(
    store: &Arc<dyn Store>,
    hold: &marquee_domain::inventory::Hold,
    now: OffsetDateTime,
) -> marquee_domain::Result<marquee_domain::inventory::Order> {
    let attempt = begin(store, hold, now).await?;
    let order = confirmed(
        store.confirm_payment(&attempt.id, &format!("pi_{}", attempt.id), &message(), None, now).await?,
    );
    store.record_attempt(&attempt.id, AttemptStatus::Captured, None, None, now).await?;
    Ok(order)
}

/// The order a confirmation sold to; a test failure for any other outcome.
fn confirmed(confirmation: Confirmation) -> marquee_domain::inventory::Order {
    match confirmation {
        Confirmation::Confirmed(order) => *order,
        other => panic!("expected a confirmed order, got {other:?}"),
    }
}

async fn accounts_have_unique_emails_and_expiring_sessions(store: Arc<dyn Store>) {
    let ada = user(&store, "ada@example.com").await;
    let again = User { id: UserId::generate(), ..ada.clone() };
    assert!(matches!(store.create_user(&again, "x").await, Err(Error::EmailTaken)));

    let (found, hash) = store.user_credentials(&ada.email).await.unwrap().unwrap();
    assert_eq!((found.id, hash.as_str()), (ada.id.clone(), "hash"));
    assert!(store.user_credentials(&Email::parse("nobody@example.com").unwrap()).await.unwrap().is_none());

    store.create_session("token-hash", &ada.id, NOW, NOW + Duration::hours(1)).await.unwrap();
    assert_eq!(store.session_user("token-hash", NOW).await.unwrap().map(|u| u.id), Some(ada.id.clone()));
    assert!(store.session_user("token-hash", NOW + Duration::hours(1)).await.unwrap().is_none(), "expired");
    store.delete_session("token-hash").await.unwrap();
    assert!(store.session_user("token-hash", NOW).await.unwrap().is_none(), "logged out");
}

async fn a_showtime_has_one_ticket_per_seat_and_ga_place(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &["crime"]).await;
    let map = store.seat_map(&fixture.showtime.id, NOW).await.unwrap();
    assert_eq!(map.len(), 10 + 20);
    assert!(map.iter().all(|t| t.status == TicketStatus::Available));
    assert_eq!(map[0].label, "Stalls A1");
    assert_eq!((map[0].category.as_str(), map[0].price.clone()), ("accessible", Money::new(800, "EUR")));
    assert_eq!(map[5].price, Money::new(1500, "EUR"));
    assert_eq!(map[10].row, None);
    assert_eq!(map[10].price, Money::new(500, "EUR"));

    let summary = store.get_showtime(&fixture.showtime.id, NOW).await.unwrap().unwrap();
    assert_eq!((summary.seats_available, summary.seats_total), (30, 30));
    assert_eq!(summary.price_from, Some(Money::new(500, "EUR")));
    let ticket = store.get_ticket(&map[3].id, NOW).await.unwrap().unwrap();
    assert_eq!(ticket, map[3]);
    assert!(store.get_ticket(&TicketId::generate(), NOW).await.unwrap().is_none());
}

/// The statuses the availability view is built from are the seat map's, ticket for ticket:
/// sold, held, and a hold past its expiry counted available again before any sweep.
async fn the_availability_view_agrees_with_the_seat_map(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let (ada, bob) = (user(&store, "ada@example.com").await, user(&store, "bob@example.com").await);
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let bought = store
        .create_hold(&new_hold(&ada, &fixture.showtime.id, HoldSelection::Tickets(seats[0..2].to_vec()), NOW))
        .await
        .unwrap();
    pay(&store, &bought, NOW).await.unwrap();
    let long = store
        .create_hold(&new_hold(&ada, &fixture.showtime.id, HoldSelection::Tickets(seats[2..4].to_vec()), NOW))
        .await
        .unwrap();
    // Made nine minutes earlier: it expires one minute from NOW.
    let early = NOW - Duration::minutes(9);
    let short = HoldSelection::Quantity { section: "Floor".into(), quantity: 3 };
    store.create_hold(&new_hold(&bob, &fixture.showtime.id, short, early)).await.unwrap();

    for (now, first_expiry) in
        [(NOW, NOW + Duration::minutes(1)), (NOW + Duration::minutes(5), long.expires_at)]
    {
        let view = store.ticket_statuses(&fixture.showtime.id, now).await.unwrap();
        let map: Vec<TicketStatus> =
            store.seat_map(&fixture.showtime.id, now).await.unwrap().into_iter().map(|t| t.status).collect();
        assert_eq!(view.statuses, map, "at {now}");
        assert_eq!(view.first_hold_expiry, Some(first_expiry), "at {now}");
    }
    let count =
        |view: &marquee_store::TicketStatuses, wanted| view.statuses.iter().filter(|s| **s == wanted).count();
    let view = store.ticket_statuses(&fixture.showtime.id, NOW).await.unwrap();
    assert_eq!((count(&view, TicketStatus::Sold), count(&view, TicketStatus::Held)), (2, 5));
    let later = store.ticket_statuses(&fixture.showtime.id, NOW + Duration::minutes(5)).await.unwrap();
    assert_eq!(count(&later, TicketStatus::Held), 2, "the expired hold's places count as free");
    let unknown = store.ticket_statuses(&ShowtimeId::from_raw("sho_none"), NOW).await.unwrap();
    assert!(unknown.statuses.is_empty() && unknown.first_hold_expiry.is_none());
}

async fn the_catalog_lists_published_events_on_sale_with_filters_and_pages(store: Arc<dyn Store>) {
    let heat = fixture(&store, "Heat", "Berlin", &["crime", "thriller"]).await;
    fixture(&store, "Amélie", "Paris", &["comedy"]).await;
    fixture(&store, "Alien", "Berlin", &["sci-fi"]).await;

    let list = |filter: EventFilter| {
        let store = store.clone();
        async move {
            store
                .list_events(&EventFilter { limit: 10, ..filter }, NOW)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.event.title)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(EventFilter::default()).await, ["Alien", "Amélie", "Heat"]);
    assert_eq!(list(EventFilter { query: Some("EA".into()), ..Default::default() }).await, ["Heat"]);
    assert_eq!(
        list(EventFilter { query: Some("%".into()), ..Default::default() }).await,
        Vec::<String>::new()
    );
    assert_eq!(list(EventFilter { genre: Some("thriller".into()), ..Default::default() }).await, ["Heat"]);
    assert_eq!(
        list(EventFilter { city: Some("berlin".into()), ..Default::default() }).await,
        ["Alien", "Heat"]
    );
    let day = (NOW + Duration::days(2)).date().midnight().assume_utc();
    assert_eq!(list(EventFilter { day: Some(day), ..Default::default() }).await.len(), 3);
    let today = NOW.date().midnight().assume_utc();
    assert!(list(EventFilter { day: Some(today), ..Default::default() }).await.is_empty());
    assert!(list(EventFilter { kind: Some(EventKind::Concert), ..Default::default() }).await.is_empty());

    let first_page = store.list_events(&EventFilter { limit: 2, ..Default::default() }, NOW).await.unwrap();
    let last = &first_page[1].event;
    let after = Some((last.title.clone(), last.id.clone()));
    let second_page =
        store.list_events(&EventFilter { limit: 2, after, ..Default::default() }, NOW).await.unwrap();
    assert_eq!(second_page.iter().map(|s| s.event.title.as_str()).collect::<Vec<_>>(), ["Heat"]);

    // After sales close nothing is listed.
    assert!(
        store
            .list_events(&EventFilter { limit: 10, ..Default::default() }, NOW + Duration::days(3))
            .await
            .unwrap()
            .is_empty()
    );

    let showtimes = store
        .list_showtimes(
            &ShowtimeFilter { event_id: Some(heat.event.id.clone()), limit: 10, ..Default::default() },
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(showtimes.len(), 1);
    assert_eq!((showtimes[0].city.as_str(), showtimes[0].hall_name.as_str()), ("Berlin", "Hall 1"));
    assert_eq!(store.get_event(&heat.event.id).await.unwrap().unwrap(), heat.event);
}

async fn a_hold_takes_all_requested_tickets_or_none(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let (ada, bob) = (user(&store, "ada@example.com").await, user(&store, "bob@example.com").await);
    let seats = seat_ids(&store, &fixture.showtime.id).await;

    let first = new_hold(&ada, &fixture.showtime.id, HoldSelection::Tickets(seats[0..2].to_vec()), NOW);
    let hold = store.create_hold(&first).await.unwrap();
    assert_eq!(hold.status, HoldStatus::Active);
    assert_eq!(hold.tickets.len(), 2);
    assert_eq!(hold.total().unwrap(), Money::new(1800, "EUR"));
    // The answer is what was written (PostgreSQL's hold function returns it; nothing is read back).
    assert_eq!(store.get_hold(&hold.id, NOW).await.unwrap().unwrap(), hold);

    let overlapping = new_hold(&bob, &fixture.showtime.id, HoldSelection::Tickets(seats[1..3].to_vec()), NOW);
    match store.create_hold(&overlapping).await {
        Err(Error::TicketsUnavailable { ticket_ids }) => assert_eq!(ticket_ids, vec![seats[1].clone()]),
        other => panic!("expected TicketsUnavailable, got {other:?}"),
    }
    let third = store.get_ticket(&seats[2], NOW).await.unwrap().unwrap();
    assert_eq!(third.status, TicketStatus::Available, "a refused hold takes nothing");
    assert!(store.get_hold(&overlapping.id, NOW).await.unwrap().is_none());
    let counts = store.inventory_counts(&fixture.showtime.id, NOW).await.unwrap();
    assert_eq!((counts.available, counts.held, counts.sold), (28, 2, 0));
}

async fn tickets_of_an_expired_hold_are_available_again_at_once(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let (ada, bob) = (user(&store, "ada@example.com").await, user(&store, "bob@example.com").await);
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let held = store
        .create_hold(&new_hold(
            &ada,
            &fixture.showtime.id,
            HoldSelection::Tickets(vec![seats[0].clone()]),
            NOW,
        ))
        .await
        .unwrap();

    let later = NOW + Duration::minutes(10);
    assert_eq!(store.get_ticket(&seats[0], later).await.unwrap().unwrap().status, TicketStatus::Available);
    assert_eq!(store.get_hold(&held.id, later).await.unwrap().unwrap().status, HoldStatus::Expired);
    let taken = store
        .create_hold(&new_hold(
            &bob,
            &fixture.showtime.id,
            HoldSelection::Tickets(vec![seats[0].clone()]),
            later,
        ))
        .await
        .unwrap();
    assert_eq!(taken.tickets[0].id, seats[0]);
}

async fn a_quantity_hold_takes_free_places_of_a_section(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let ada = user(&store, "ada@example.com").await;
    let quantity = |quantity| HoldSelection::Quantity { section: "floor".into(), quantity };
    let mut taken = BTreeSet::new();
    for _ in 0..2 {
        let hold = store.create_hold(&new_hold(&ada, &fixture.showtime.id, quantity(8), NOW)).await.unwrap();
        assert!(hold.tickets.iter().all(|t| t.section == "Floor"));
        taken.extend(hold.tickets.into_iter().map(|t| t.id));
    }
    assert_eq!(taken.len(), 16, "no place given twice");
    match store.create_hold(&new_hold(&ada, &fixture.showtime.id, quantity(5), NOW)).await {
        Err(Error::NotEnoughPlaces { requested: 5, available: 4 }) => {}
        other => panic!("expected NotEnoughPlaces, got {other:?}"),
    }
    let unknown = HoldSelection::Quantity { section: "Balcony".into(), quantity: 1 };
    assert!(matches!(
        store.create_hold(&new_hold(&ada, &fixture.showtime.id, unknown, NOW)).await,
        Err(Error::Invalid(_))
    ));
    // Once ada's holds expired, their places count as free even before the sweeper ran:
    // the 4 never held and the 16 of the expired holds make the whole floor.
    let bob = user(&store, "bob@example.com").await;
    let later = NOW + Duration::minutes(10);
    let floor = store.create_hold(&new_hold(&bob, &fixture.showtime.id, quantity(20), later)).await.unwrap();
    let floor: BTreeSet<TicketId> = floor.tickets.into_iter().map(|t| t.id).collect();
    assert_eq!(floor.len(), 20);
    assert!(taken.is_subset(&floor), "the expired holds' places were taken too");
}

async fn holds_refuse_unknown_tickets_and_showtimes_not_on_sale(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let ada = user(&store, "ada@example.com").await;
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let stranger = TicketId::generate();
    let selection = HoldSelection::Tickets(vec![seats[0].clone(), stranger.clone()]);
    match store.create_hold(&new_hold(&ada, &fixture.showtime.id, selection.clone(), NOW)).await {
        Err(Error::UnknownTickets { ticket_ids }) => assert_eq!(ticket_ids, vec![stranger]),
        other => panic!("expected UnknownTickets, got {other:?}"),
    }
    let closed = NOW + Duration::days(2);
    let one = HoldSelection::Tickets(vec![seats[0].clone()]);
    assert!(matches!(
        store.create_hold(&new_hold(&ada, &fixture.showtime.id, one.clone(), closed)).await,
        Err(Error::NotOnSale)
    ));
    let nowhere = ShowtimeId::generate();
    assert!(matches!(
        store.create_hold(&new_hold(&ada, &nowhere, one, NOW)).await,
        Err(Error::NotFound("showtime"))
    ));
}

async fn confirming_a_hold_sells_its_tickets_exactly_once(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let ada = user(&store, "ada@example.com").await;
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let hold = store
        .create_hold(&new_hold(&ada, &fixture.showtime.id, HoldSelection::Tickets(seats[4..6].to_vec()), NOW))
        .await
        .unwrap();
    let order = pay(&store, &hold, NOW).await.unwrap();
    assert_eq!(order.total, Money::new(2500, "EUR"));
    assert_eq!(order.tickets.iter().map(|t| t.id.clone()).collect::<Vec<_>>(), seats[4..6].to_vec());
    assert!(order.tickets.iter().all(|t| t.status == TicketStatus::Sold));

    assert!(matches!(pay(&store, &hold, NOW).await, Err(Error::HoldNotActive { status: "purchased" })));
    let after = store.get_hold(&hold.id, NOW).await.unwrap().unwrap();
    assert_eq!((after.status, after.order_id.as_ref()), (HoldStatus::Purchased, Some(&order.id)));
    assert!(matches!(store.release_hold(&hold.id, NOW).await, Err(Error::HoldNotActive { .. })));
    // Sold stays sold long after the hold would have expired.
    let much_later = NOW + Duration::days(1);
    assert_eq!(store.get_ticket(&seats[4], much_later).await.unwrap().unwrap().status, TicketStatus::Sold);
    assert_eq!(store.get_order(&order.id).await.unwrap().unwrap(), order);
    assert_eq!(store.list_orders(&ada.id, 10, None).await.unwrap(), vec![order]);
    let counts = store.inventory_counts(&fixture.showtime.id, much_later).await.unwrap();
    assert_eq!((counts.available, counts.held, counts.sold), (28, 0, 2));

    // Another user's payment attempt for this hold finds nothing.
    let mut foreign = hold.clone();
    foreign.user_id = UserId::generate();
    assert!(matches!(begin(&store, &foreign, NOW).await, Err(Error::NotFound("hold"))));
}

async fn a_hold_whose_tickets_were_taken_after_expiry_cannot_be_confirmed(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let (ada, bob) = (user(&store, "ada@example.com").await, user(&store, "bob@example.com").await);
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let slow = store
        .create_hold(&new_hold(&ada, &fixture.showtime.id, HoldSelection::Tickets(seats[0..2].to_vec()), NOW))
        .await
        .unwrap();
    let later = NOW + Duration::minutes(11);
    store
        .create_hold(&new_hold(
            &bob,
            &fixture.showtime.id,
            HoldSelection::Tickets(vec![seats[1].clone()]),
            later,
        ))
        .await
        .unwrap();
    assert!(matches!(pay(&store, &slow, later).await, Err(Error::HoldExpired)));
    assert_eq!(store.get_ticket(&seats[0], later).await.unwrap().unwrap().status, TicketStatus::Available);
    assert_eq!(store.get_ticket(&seats[1], later).await.unwrap().unwrap().status, TicketStatus::Held);

    // A hold that expired but whose tickets nobody took can still be paid for.
    let lucky = store
        .create_hold(&new_hold(
            &ada,
            &fixture.showtime.id,
            HoldSelection::Tickets(vec![seats[3].clone()]),
            NOW,
        ))
        .await
        .unwrap();
    let attempt = begin(&store, &lucky, NOW).await.unwrap();
    let lucky = store.confirm_payment(&attempt.id, "pi_lucky", &message(), None, later).await.unwrap();
    assert!(matches!(lucky, Confirmation::Confirmed(_)), "{lucky:?}");
    let again = store.confirm_payment(&attempt.id, "pi_lucky", &message(), None, later).await.unwrap();
    assert_eq!(again, Confirmation::AlreadyPaid, "confirming twice is an outcome, and changes nothing");

    // Paying began while the hold was active, and its tickets were taken once it expired: the
    // confirmation is refused, and that the order expired is recorded (a kept outcome, not a
    // rolled-back error), as is the hold's end.
    let carol = user(&store, "carol@example.com").await;
    let started = store
        .create_hold(&new_hold(
            &bob,
            &fixture.showtime.id,
            HoldSelection::Tickets(vec![seats[5].clone()]),
            NOW,
        ))
        .await
        .unwrap();
    let attempt = begin(&store, &started, NOW).await.unwrap();
    store
        .create_hold(&new_hold(
            &carol,
            &fixture.showtime.id,
            HoldSelection::Tickets(vec![seats[5].clone()]),
            later,
        ))
        .await
        .unwrap();
    let refused = store.confirm_payment(&attempt.id, "pi_late", &message(), None, later).await;
    assert_eq!(refused.unwrap(), Confirmation::TicketsGone);
    assert_eq!(store.get_order(&attempt.order_id).await.unwrap().unwrap().status, OrderStatus::Expired);
    assert_eq!(store.get_hold(&started.id, later).await.unwrap().unwrap().status, HoldStatus::Expired);
    assert_eq!(store.get_ticket(&seats[5], later).await.unwrap().unwrap().status, TicketStatus::Held);
}

async fn releasing_a_hold_frees_its_tickets(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let ada = user(&store, "ada@example.com").await;
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let hold = store
        .create_hold(&new_hold(&ada, &fixture.showtime.id, HoldSelection::Tickets(seats[0..3].to_vec()), NOW))
        .await
        .unwrap();
    let released = store.release_hold(&hold.id, NOW).await.unwrap();
    assert_eq!(released.status, HoldStatus::Released);
    assert!(released.tickets.iter().all(|t| t.status == TicketStatus::Available));
    assert_eq!(store.release_hold(&hold.id, NOW).await.unwrap().status, HoldStatus::Released, "idempotent");
    assert!(matches!(pay(&store, &hold, NOW).await, Err(Error::HoldNotActive { status: "released" })));
    assert!(matches!(store.release_hold(&HoldId::generate(), NOW).await, Err(Error::NotFound("hold"))));
}

async fn the_sweeper_frees_expired_holds(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let ada = user(&store, "ada@example.com").await;
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let old = store
        .create_hold(&new_hold(&ada, &fixture.showtime.id, HoldSelection::Tickets(seats[0..2].to_vec()), NOW))
        .await
        .unwrap();
    let later = NOW + Duration::minutes(5);
    let fresh = store
        .create_hold(&new_hold(
            &ada,
            &fixture.showtime.id,
            HoldSelection::Tickets(vec![seats[2].clone()]),
            later,
        ))
        .await
        .unwrap();
    let sweep_time = NOW + Duration::minutes(12);
    assert_eq!(store.sweep_expired_holds(sweep_time).await.unwrap(), 2);
    assert_eq!(store.get_hold(&old.id, NOW).await.unwrap().unwrap().status, HoldStatus::Expired);
    assert_eq!(store.get_hold(&fresh.id, sweep_time).await.unwrap().unwrap().status, HoldStatus::Active);
    assert_eq!(store.sweep_expired_holds(sweep_time).await.unwrap(), 0);
}

async fn idempotency_keys_are_claimed_by_the_writes_they_belong_to(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let ada = user(&store, "ada@example.com").await;
    let claim = |key: &str, owner: &str| KeyClaim {
        user_id: ada.id.clone(),
        key: key.to_owned(),
        request_hash: "h1".to_owned(),
        owner: owner.to_owned(),
    };
    let seat = |i: usize| HoldSelection::Tickets(vec![seats[i].clone()]);
    let claimed_hold = |selection, claim: &KeyClaim| NewHold {
        claim: Some(claim.clone()),
        ..new_hold(&ada, &fixture.showtime.id, selection, NOW)
    };
    assert_eq!(store.idempotency_key(&ada.id, "k1").await.unwrap(), None);

    // The hold claims the key in its own transaction, naming itself.
    let first = claim("k1", "req_1");
    let hold = store.create_hold(&claimed_hold(seat(0), &first)).await.unwrap();
    let record = store.idempotency_key(&ada.id, "k1").await.unwrap().unwrap();
    assert_eq!(record.request_hash, "h1");
    assert_eq!(record.answer, None);
    assert_eq!(record.owner.as_deref(), Some("req_1"));
    assert_eq!(record.resource, Some(KeyResource::Hold(hold.id.clone())));
    assert_eq!(record.claimed_at, NOW);

    // Another request with the key fails whole: its hold is rolled back with the claim.
    let rival = claim("k1", "req_2");
    let refused = store.create_hold(&claimed_hold(seat(1), &rival)).await;
    assert!(matches!(refused, Err(Error::IdempotencyInProgress)), "{refused:?}");
    let map = store.seat_map(&fixture.showtime.id, NOW).await.unwrap();
    let status = |id: &TicketId| map.iter().find(|t| &t.id == id).unwrap().status;
    assert_eq!(status(&seats[1]), TicketStatus::Available, "the refused claim's hold was rolled back");

    // The same request's payment moves the claim on to its attempt.
    let attempt = store
        .begin_payment(&BeginPayment {
            attempt_id: "pay_k1".into(),
            new_order_id: OrderId::generate(),
            hold_id: hold.id.clone(),
            user_id: ada.id.clone(),
            provider: "test".into(),
            now: NOW,
            claim: Some(first.clone()),
        })
        .await
        .unwrap();
    let record = store.idempotency_key(&ada.id, "k1").await.unwrap().unwrap();
    assert_eq!(record.resource, Some(KeyResource::Payment(attempt.id.clone())));

    // Only the owner answers; the answer is kept.
    store.answer_idempotency_key(&rival, 409, "{\"no\":1}", NOW).await.unwrap();
    assert_eq!(store.idempotency_key(&ada.id, "k1").await.unwrap().unwrap().answer, None);
    store.answer_idempotency_key(&first, 201, "{\"ok\":true}", NOW).await.unwrap();
    let record = store.idempotency_key(&ada.id, "k1").await.unwrap().unwrap();
    assert_eq!(record.answer, Some((201, "{\"ok\":true}".to_owned())));
    store.answer_idempotency_key(&first, 500, "{}", NOW).await.unwrap();
    assert_eq!(store.idempotency_key(&ada.id, "k1").await.unwrap().unwrap().answer.unwrap().0, 201);

    // A refused write claims nothing; its answer is stored on its own.
    store.create_hold(&new_hold(&ada, &fixture.showtime.id, seat(2), NOW)).await.unwrap();
    let taken = claim("k2", "req_3");
    let refused = store.create_hold(&claimed_hold(seat(2), &taken)).await;
    assert!(matches!(refused, Err(Error::TicketsUnavailable { .. })), "{refused:?}");
    assert_eq!(store.idempotency_key(&ada.id, "k2").await.unwrap(), None);
    store.answer_idempotency_key(&taken, 409, "{\"taken\":1}", NOW).await.unwrap();
    let record = store.idempotency_key(&ada.id, "k2").await.unwrap().unwrap();
    assert_eq!((record.answer.unwrap().0, record.resource), (409, None));

    // Taking over: not while its request holds it; at once once let go of; once stale.
    let lost = claim("k3", "req_4");
    store.create_hold(&claimed_hold(seat(3), &lost)).await.unwrap();
    let later = NOW + Duration::seconds(30);
    assert!(
        !store
            .adopt_idempotency_key(&ada.id, "k3", "req_5", later, NOW - Duration::minutes(1))
            .await
            .unwrap()
    );
    store.release_idempotency_key(&lost).await.unwrap();
    assert_eq!(store.idempotency_key(&ada.id, "k3").await.unwrap().unwrap().owner, None);
    assert!(
        store.adopt_idempotency_key(&ada.id, "k3", "req_5", later, NOW - Duration::minutes(1)).await.unwrap()
    );
    let record = store.idempotency_key(&ada.id, "k3").await.unwrap().unwrap();
    assert_eq!((record.owner.as_deref(), record.claimed_at), (Some("req_5"), later));
    let much_later = later + Duration::minutes(2);
    assert!(
        store
            .adopt_idempotency_key(&ada.id, "k3", "req_6", much_later, much_later - Duration::minutes(1))
            .await
            .unwrap(),
        "claimed by a node that is gone"
    );
    assert!(
        !store.adopt_idempotency_key(&ada.id, "k1", "req_7", much_later, much_later).await.unwrap(),
        "an answered key is never taken over"
    );

    // A refund claims the key with its order.
    let bob = user(&store, "bob@example.com").await;
    let held = store.create_hold(&new_hold(&bob, &fixture.showtime.id, seat(4), NOW)).await.unwrap();
    let order = pay(&store, &held, NOW).await.unwrap();
    let cancel = KeyClaim { user_id: bob.id.clone(), ..claim("k1", "req_8") };
    store
        .begin_refund(&NewRefund {
            refuse_used: true,
            claim: Some(cancel.clone()),
            ..NewRefund::whole("ref_k1", &order.id, "changed plans", NOW)
        })
        .await
        .unwrap();
    let record = store.idempotency_key(&bob.id, "k1").await.unwrap().unwrap();
    assert_eq!(
        record.resource,
        Some(KeyResource::Refund { refund_id: "ref_k1".into(), order_id: order.id.clone() }),
        "keys are per user: bob's k1 is not ada's"
    );
    assert_eq!(
        KeyResource::from_stored(&record.resource.unwrap().to_stored()).unwrap(),
        KeyResource::Refund { refund_id: "ref_k1".into(), order_id: order.id }
    );
}

async fn a_confirmation_is_audited_in_its_own_transaction(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let ada = user(&store, "ada@example.com").await;
    let entry = |target: &str| AuditEntry {
        id: AuditEntry::new_id(),
        at: NOW,
        actor_id: Some(ada.id.clone()),
        actor_email: Some(ada.email.as_str().to_owned()),
        ip: Some("192.0.2.1".into()),
        action: "order.confirmed".into(),
        target: Some(target.to_owned()),
        details: "{}".into(),
    };
    let selection = HoldSelection::Tickets(vec![seats[0].clone()]);
    let hold =
        store.create_hold(&new_hold(&ada, &fixture.showtime.id, selection.clone(), NOW)).await.unwrap();
    let attempt = begin(&store, &hold, NOW).await.unwrap();
    let audited = entry(attempt.order_id.as_str());
    store.confirm_payment(&attempt.id, "pi_1", &message(), Some(&audited), NOW).await.unwrap();
    let log = store.list_audit(&AuditFilter { limit: 10, ..AuditFilter::default() }).await.unwrap();
    assert_eq!(log, vec![audited]);

    // A confirmation that sells nothing (the tickets were taken after expiry) audits nothing.
    let late = NOW + Duration::minutes(11);
    let hold = store
        .create_hold(&new_hold(
            &ada,
            &fixture.showtime.id,
            HoldSelection::Tickets(vec![seats[1].clone()]),
            NOW,
        ))
        .await
        .unwrap();
    let attempt = begin(&store, &hold, NOW).await.unwrap();
    let bob = user(&store, "bob@example.com").await;
    let taken = HoldSelection::Tickets(vec![seats[1].clone()]);
    store.create_hold(&new_hold(&bob, &fixture.showtime.id, taken, late)).await.unwrap();
    let refused = store.confirm_payment(&attempt.id, "pi_2", &message(), Some(&entry("late")), late).await;
    assert_eq!(refused.unwrap(), Confirmation::TicketsGone);
    let log = store.list_audit(&AuditFilter { limit: 10, ..AuditFilter::default() }).await.unwrap();
    assert_eq!(log.len(), 1);
}

async fn capture_marks_move_only_authorized_attempts(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let ada = user(&store, "ada@example.com").await;
    let mut attempts = Vec::new();
    for seat in &seats[0..3] {
        let selection = HoldSelection::Tickets(vec![seat.clone()]);
        let hold = store.create_hold(&new_hold(&ada, &fixture.showtime.id, selection, NOW)).await.unwrap();
        attempts.push(begin(&store, &hold, NOW).await.unwrap().id);
    }
    // Two confirmed (authorized), one declined.
    for id in &attempts[0..2] {
        store.confirm_payment(id, &format!("pi_{id}"), &message(), None, NOW).await.unwrap();
    }
    store.record_attempt(&attempts[2], AttemptStatus::Failed, None, Some("declined"), NOW).await.unwrap();
    let later = NOW + Duration::seconds(1);
    let mut marked = attempts.clone();
    marked.push("pay_unknown".into());
    store.mark_captured(&marked, later).await.unwrap();
    let status = |id: &String| {
        let store = store.clone();
        let id = id.clone();
        async move { store.get_attempt(&id).await.unwrap().unwrap() }
    };
    for id in &attempts[0..2] {
        let attempt = status(id).await;
        assert_eq!((attempt.status, attempt.updated_at), (AttemptStatus::Captured, later));
        assert_eq!(attempt.reference, Some(format!("pi_{id}")), "the reference is kept");
    }
    assert_eq!(status(&attempts[2]).await.status, AttemptStatus::Failed, "a failed attempt stays failed");
    store.mark_captured(&[], later).await.unwrap();
}

async fn a_refund_says_where_it_stands(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Refunded", "Lyon", &[]).await;
    let ada = user(&store, "ada@example.com").await;
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let mut orders = Vec::new();
    for seat in &seats[..2] {
        let selection = HoldSelection::Tickets(vec![seat.clone()]);
        let held = store.create_hold(&new_hold(&ada, &fixture.showtime.id, selection, NOW)).await.unwrap();
        orders.push(pay(&store, &held, NOW).await.unwrap());
    }
    assert_eq!(store.refund_status("ref_none").await.unwrap(), None);

    store.begin_refund(&NewRefund::whole("ref_ok", &orders[0].id, "changed plans", NOW)).await.unwrap();
    assert_eq!(store.refund_status("ref_ok").await.unwrap(), Some(RefundStatus::Pending));
    let refunded = store.complete_refund("ref_ok", &message(), NOW).await.unwrap();
    assert_eq!(refunded.status, OrderStatus::Refunded);
    assert_eq!(store.refund_status("ref_ok").await.unwrap(), Some(RefundStatus::Succeeded));

    store.begin_refund(&NewRefund::whole("ref_no", &orders[1].id, "changed plans", NOW)).await.unwrap();
    store.fail_refund("ref_no", "declined by the provider", NOW).await.unwrap();
    assert_eq!(store.refund_status("ref_no").await.unwrap(), Some(RefundStatus::Failed));
    let kept = store.get_order(&orders[1].id).await.unwrap().unwrap();
    assert_eq!(kept.status, OrderStatus::Confirmed, "a failed refund leaves the order as it was");
}

async fn racing_holds_never_share_a_ticket(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(user(&store, &format!("racer{i}@example.com")).await);
    }
    // 64 attempts at overlapping pairs of 10 seats, plus quantity holds on the floor.
    let mut tasks = Vec::new();
    for attempt in 0..64usize {
        let store = store.clone();
        let user = users[attempt % users.len()].clone();
        let showtime = fixture.showtime.id.clone();
        let selection = if attempt % 4 == 3 {
            HoldSelection::Quantity { section: "Floor".into(), quantity: 3 }
        } else {
            let first = attempt % (seats.len() - 1);
            HoldSelection::Tickets(vec![seats[first].clone(), seats[first + 1].clone()])
        };
        tasks.push(tokio::spawn(async move {
            store.create_hold(&new_hold(&user, &showtime, selection, NOW)).await
        }));
    }
    let mut held = Vec::new();
    let mut floor_places = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(hold) => {
                floor_places += hold.tickets.iter().filter(|t| t.section == "Floor").count();
                held.extend(hold.tickets.into_iter().map(|t| t.id));
            }
            Err(Error::TicketsUnavailable { .. } | Error::NotEnoughPlaces { .. }) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    let unique: BTreeSet<_> = held.iter().cloned().collect();
    assert_eq!(unique.len(), held.len(), "a ticket was given to two holds");
    let counts = store.inventory_counts(&fixture.showtime.id, NOW).await.unwrap();
    assert_eq!(counts.held as usize, held.len(), "every taken ticket belongs to a successful hold");
    assert_eq!(floor_places, 18, "16 attempts at 3 of 20 floor places: exactly 6 succeed");
    assert!(held.len() - floor_places >= 6, "pairs of 10 seats: at least 3 disjoint pairs win");
}

async fn a_user_may_hold_only_so_many_tickets_of_a_showtime(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let ada = user(&store, "ada@example.com").await;
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let capped = |selection, now| NewHold {
        max_held_per_user: 3,
        ..new_hold(&ada, &fixture.showtime.id, selection, now)
    };
    store.create_hold(&capped(HoldSelection::Tickets(seats[0..2].to_vec()), NOW)).await.unwrap();
    let too_many = capped(HoldSelection::Tickets(seats[2..4].to_vec()), NOW);
    assert!(matches!(store.create_hold(&too_many).await, Err(Error::HoldLimitReached { limit: 3 })));
    store.create_hold(&capped(HoldSelection::Tickets(vec![seats[2].clone()]), NOW)).await.unwrap();
    // Expired holds do not count.
    let later = NOW + Duration::minutes(11);
    store.create_hold(&capped(HoldSelection::Tickets(seats[5..8].to_vec()), later)).await.unwrap();
}

async fn admins_change_roles_and_disabling_ends_sessions(store: Arc<dyn Store>) {
    let ada = user(&store, "ada@example.com").await;
    user(&store, "bob@example.com").await;
    assert_eq!(store.set_user_role(&ada.id, Role::Admin).await.unwrap().role, Role::Admin);
    assert!(matches!(
        store.set_user_role(&UserId::generate(), Role::Admin).await,
        Err(Error::NotFound("user"))
    ));
    let page = store.list_users(1, None).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(store.list_users(10, Some(&page[0].id)).await.unwrap().len(), 1);

    store.create_session("ada-token", &ada.id, NOW, NOW + Duration::hours(1)).await.unwrap();
    let disabled = store.set_user_disabled(&ada.id, true, NOW).await.unwrap();
    assert_eq!(disabled.disabled_at, Some(NOW));
    assert!(store.session_user("ada-token", NOW).await.unwrap().is_none(), "sessions end at once");
    assert!(store.user_credentials(&ada.email).await.unwrap().is_none(), "cannot log in");
    store.create_session("late-token", &ada.id, NOW, NOW + Duration::hours(1)).await.unwrap();
    assert!(
        store.session_user("late-token", NOW).await.unwrap().is_none(),
        "no session of a disabled user works"
    );
    let enabled = store.set_user_disabled(&ada.id, false, NOW).await.unwrap();
    assert_eq!(enabled.disabled_at, None);
    assert!(store.user_credentials(&ada.email).await.unwrap().is_some());
}

async fn login_failures_are_counted_per_key_and_forgotten(store: Arc<dyn Store>) {
    let forget = NOW - Duration::minutes(15);
    assert_eq!(store.login_failures("email:a").await.unwrap(), (0, None));
    assert_eq!(store.record_login_failure("email:a", NOW, forget).await.unwrap(), 1);
    assert_eq!(store.record_login_failure("email:a", NOW, forget).await.unwrap(), 2);
    assert_eq!(store.record_login_failure("ip:1.2.3.4", NOW, forget).await.unwrap(), 1);
    assert_eq!(store.login_failures("email:a").await.unwrap(), (2, Some(NOW)));
    let much_later = NOW + Duration::hours(1);
    assert_eq!(
        store.record_login_failure("email:a", much_later, much_later - Duration::minutes(15)).await.unwrap(),
        1
    );
    store.clear_login_failures("email:a").await.unwrap();
    assert_eq!(store.login_failures("email:a").await.unwrap(), (0, None));
}

async fn the_audit_log_is_appended_and_filtered_newest_first(store: Arc<dyn Store>) {
    let ada = user(&store, "ada@example.com").await;
    for (action, actor) in
        [("login.succeeded", Some(&ada)), ("login.failed", None), ("showtime.create", Some(&ada))]
    {
        store
            .append_audit(&AuditEntry {
                id: AuditEntry::new_id(),
                at: NOW,
                actor_id: actor.map(|u| u.id.clone()),
                actor_email: actor.map(|u| u.email.as_str().to_owned()),
                ip: Some("127.0.0.1".into()),
                action: action.into(),
                target: None,
                details: "{}".into(),
            })
            .await
            .unwrap();
    }
    let all = store.list_audit(&AuditFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["showtime.create", "login.failed", "login.succeeded"]
    );
    let by_ada = store
        .list_audit(&AuditFilter { limit: 10, actor_id: Some(ada.id.clone()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(by_ada.len(), 2);
    let failed = store
        .list_audit(&AuditFilter { limit: 10, action: Some("login.failed".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    let older = store
        .list_audit(&AuditFilter { limit: 10, before: Some(all[0].id.clone()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(older.len(), 2);
}

async fn a_layout_changes_only_while_nothing_is_sold_or_held(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let ada = user(&store, "ada@example.com").await;
    let hall = store.get_hall(&fixture.showtime.hall_id).await.unwrap().unwrap();
    let mut smaller = hall.layout.clone();
    smaller.sections.truncate(1);
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let hold = store
        .create_hold(&new_hold(
            &ada,
            &fixture.showtime.id,
            HoldSelection::Tickets(vec![seats[0].clone()]),
            NOW,
        ))
        .await
        .unwrap();
    assert!(matches!(store.replace_hall_layout(&hall.id, &smaller, NOW).await, Err(Error::Conflict(_))));
    store.release_hold(&hold.id, NOW).await.unwrap();
    store.replace_hall_layout(&hall.id, &smaller, NOW).await.unwrap();
    assert_eq!(
        store.seat_map(&fixture.showtime.id, NOW).await.unwrap().len(),
        10,
        "tickets follow the new layout"
    );
    assert_eq!(store.get_hall(&hall.id).await.unwrap().unwrap().layout, smaller);
    assert!(matches!(
        store.replace_hall_layout(&HallId::generate(), &smaller, NOW).await,
        Err(Error::NotFound("hall"))
    ));

    // An order keeps its hold and tickets as a record even when nothing was sold (its payment
    // failed, then its hold ran out): the layout then stays, a conflict, never a 500.
    let second = self::fixture(&store, "Ronin", "Berlin", &[]).await;
    let seats = seat_ids(&store, &second.showtime.id).await;
    let hold = store
        .create_hold(&new_hold(
            &ada,
            &second.showtime.id,
            HoldSelection::Tickets(vec![seats[0].clone()]),
            NOW,
        ))
        .await
        .unwrap();
    let attempt = begin(&store, &hold, NOW).await.unwrap();
    store.record_attempt(&attempt.id, AttemptStatus::Failed, None, Some("declined"), NOW).await.unwrap();
    let later = NOW + Duration::hours(1);
    let hall = store.get_hall(&second.showtime.hall_id).await.unwrap().unwrap();
    let refused = store.replace_hall_layout(&hall.id, &smaller, later).await;
    assert!(matches!(&refused, Err(Error::Conflict(reason)) if reason.contains("orders")), "{refused:?}");
    let refused = store.delete_showtime(&second.showtime.id, later).await;
    assert!(matches!(&refused, Err(Error::Conflict(reason)) if reason.contains("orders")), "{refused:?}");
    assert_eq!(store.seat_map(&second.showtime.id, later).await.unwrap().len(), 30, "nothing changed");
}

async fn price_changes_spare_sold_tickets(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let ada = user(&store, "ada@example.com").await;
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let hold = store
        .create_hold(&new_hold(
            &ada,
            &fixture.showtime.id,
            HoldSelection::Tickets(vec![seats[1].clone()]),
            NOW,
        ))
        .await
        .unwrap();
    pay(&store, &hold, NOW).await.unwrap();
    let mut prices = fixture.showtime.prices.clone();
    prices.insert("standard".into(), 2000);
    store.update_showtime_prices(&fixture.showtime.id, &prices).await.unwrap();
    assert_eq!(
        store.get_ticket(&seats[1], NOW).await.unwrap().unwrap().price.amount,
        1000,
        "sold at the old price"
    );
    assert_eq!(store.get_ticket(&seats[2], NOW).await.unwrap().unwrap().price.amount, 2000);
    let summary = store.get_showtime(&fixture.showtime.id, NOW).await.unwrap().unwrap();
    assert_eq!(summary.showtime.prices["standard"], 2000);
}

async fn cancelled_showtimes_sell_nothing_and_deleting_needs_no_sales(store: Arc<dyn Store>) {
    let sold = fixture(&store, "Heat", "Berlin", &[]).await;
    let unsold = fixture(&store, "Alien", "Berlin", &[]).await;
    let ada = user(&store, "ada@example.com").await;
    let seats = seat_ids(&store, &sold.showtime.id).await;
    let hold = store
        .create_hold(&new_hold(&ada, &sold.showtime.id, HoldSelection::Tickets(vec![seats[0].clone()]), NOW))
        .await
        .unwrap();
    pay(&store, &hold, NOW).await.unwrap();
    assert!(matches!(store.delete_showtime(&sold.showtime.id, NOW).await, Err(Error::Conflict(_))));
    store.cancel_showtime(&sold.showtime.id, NOW).await.unwrap();
    let again = new_hold(&ada, &sold.showtime.id, HoldSelection::Tickets(vec![seats[1].clone()]), NOW);
    assert!(matches!(store.create_hold(&again).await, Err(Error::NotOnSale)));
    let listed = store.list_events(&EventFilter { limit: 10, ..Default::default() }, NOW).await.unwrap();
    assert_eq!(listed.iter().map(|e| e.event.title.as_str()).collect::<Vec<_>>(), ["Alien"]);
    assert!(store.get_showtime(&sold.showtime.id, NOW).await.unwrap().unwrap().cancelled_at.is_some());

    // An expired hold does not stand in the way of deleting an unsold showtime.
    let unsold_seats = seat_ids(&store, &unsold.showtime.id).await;
    store
        .create_hold(&new_hold(
            &ada,
            &unsold.showtime.id,
            HoldSelection::Tickets(vec![unsold_seats[0].clone()]),
            NOW,
        ))
        .await
        .unwrap();
    assert!(matches!(store.delete_showtime(&unsold.showtime.id, NOW).await, Err(Error::Conflict(_))));
    store.delete_showtime(&unsold.showtime.id, NOW + Duration::minutes(11)).await.unwrap();
    assert!(store.get_showtime(&unsold.showtime.id, NOW).await.unwrap().is_none());
    assert!(store.seat_map(&unsold.showtime.id, NOW).await.unwrap().is_empty());
    assert!(matches!(store.delete_showtime(&unsold.showtime.id, NOW).await, Err(Error::NotFound(_))));
    assert_eq!(store.list_event_showtimes(&sold.event.id, NOW).await.unwrap().len(), 1);
}

async fn the_sales_report_counts_by_category(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let ada = user(&store, "ada@example.com").await;
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    // Seats 0 (accessible) and 5, 6 (premium) sold; seat 1 (standard) held.
    let hold = store
        .create_hold(&new_hold(
            &ada,
            &fixture.showtime.id,
            HoldSelection::Tickets(vec![seats[0].clone(), seats[5].clone(), seats[6].clone()]),
            NOW,
        ))
        .await
        .unwrap();
    pay(&store, &hold, NOW).await.unwrap();
    store
        .create_hold(&new_hold(
            &ada,
            &fixture.showtime.id,
            HoldSelection::Tickets(vec![seats[1].clone()]),
            NOW,
        ))
        .await
        .unwrap();
    let report = store.sales_report(&fixture.showtime.id, NOW).await.unwrap();
    let row = |category: &str, sold, held, available, gross_amount| CategorySales {
        category: category.into(),
        sold,
        held,
        available,
        gross_amount,
    };
    assert_eq!(
        report,
        vec![
            row("accessible", 1, 0, 0, 800),
            row("floor", 0, 0, 20, 0),
            row("premium", 2, 0, 3, 3000),
            row("standard", 0, 1, 3, 0),
        ]
    );
}

async fn outbox_messages_are_claimed_by_one_sender_at_a_time(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Mail", "Bonn", &["drama"]).await;
    let buyer = user(&store, "buyer@example.com").await;
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let hold = store
        .create_hold(&new_hold(
            &buyer,
            &fixture.showtime.id,
            HoldSelection::Tickets(seats[..1].to_vec()),
            NOW,
        ))
        .await
        .unwrap();
    pay(&store, &hold, NOW).await.unwrap();
    let lease = Duration::seconds(60);
    // Eight nodes ask at once: one gets the confirmation, the others nothing.
    let claims = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.due_messages(NOW, NOW + lease, 10).await.unwrap().len() })
    });
    let mut claimed = 0;
    for claim in claims {
        claimed += claim.await.unwrap();
    }
    assert_eq!(claimed, 1);
    assert!(store.due_messages(NOW + Duration::seconds(59), NOW + lease, 10).await.unwrap().is_empty());
    // The claimer died without a word: after the lease someone else sends it.
    let again =
        store.due_messages(NOW + Duration::seconds(61), NOW + Duration::seconds(121), 10).await.unwrap();
    assert_eq!(again.len(), 1);
    store.message_delivered(&again[0].id, NOW + Duration::seconds(62)).await.unwrap();
    assert!(
        store.due_messages(NOW + Duration::hours(1), NOW + Duration::hours(2), 10).await.unwrap().is_empty()
    );
}

async fn a_showtime_with_a_waiting_room_is_held_only_with_an_admission(store: Arc<dyn Store>) {
    let fixture = fixture(&store, "Queued", "Linz", &["drama"]).await;
    let ada = user(&store, "ada@example.com").await;
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let hold = |admitted| NewHold {
        admitted,
        ..new_hold(&ada, &fixture.showtime.id, HoldSelection::Tickets(seats[..1].to_vec()), NOW)
    };
    let room = marquee_domain::queue::WaitingRoom {
        showtime_id: fixture.showtime.id.clone(),
        opens_at: NOW,
        admit_per_minute: 60,
        admission_ttl: Duration::minutes(10),
        admitted: 0,
        advanced_at: NOW,
    };
    store.put_waiting_room(&room).await.unwrap();
    assert!(matches!(store.create_hold(&hold(false)).await, Err(Error::AdmissionRequired(_))));
    assert_eq!(store.inventory_counts(&fixture.showtime.id, NOW).await.unwrap().held, 0, "nothing taken");
    store.create_hold(&hold(true)).await.unwrap();
    // Without the waiting room, anyone holds again.
    store.delete_waiting_room(&fixture.showtime.id).await.unwrap();
    let other = NewHold {
        selection: HoldSelection::Tickets(seats[1..2].to_vec()),
        id: HoldId::generate(),
        ..hold(false)
    };
    store.create_hold(&other).await.unwrap();
}

/// Runs `psql` against the replica (used to pause and resume its replay, also from `Drop`).
fn replica_sql(hostport: &str, sql: &str) -> bool {
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5433"));
    std::process::Command::new("psql")
        .args(["-h", host, "-p", port, "-U", "postgres", "-d", "postgres", "-Atqc", sql])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Resumes the replica's replay however the test ends (a paused replica would stall the next).
struct ResumeReplay(String);

impl Drop for ResumeReplay {
    fn drop(&mut self) {
        replica_sql(&self.0, "SELECT pg_wal_replay_resume()");
    }
}

/// A PostgreSQL streaming replica (scripts/pg-replica.sh, on 127.0.0.1:5433 or
/// `MARQUEE_TEST_REPLICA`) serves the catalog listings; while its replay is paused (a lagging
/// replica) the listings are stale, but every seat decision still reads the primary: a ticket
/// sold after the pause is never sold again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lagging_replica_serves_stale_listings_but_never_decides_a_seat() {
    let hostport = std::env::var("MARQUEE_TEST_REPLICA").unwrap_or_else(|_| "127.0.0.1:5433".into());
    if !replica_sql(&hostport, "SELECT pg_is_in_recovery()") {
        assert!(std::env::var("CI").is_err(), "CI=true but no replica answers at {hostport}");
        eprintln!("skipping: no PostgreSQL replica at {hostport} (run scripts/pg-replica.sh)");
        return;
    }
    let Some(database) = TestDatabase::new(Backend::Postgres).await else { return };
    let primary = database.store().await;
    let first = fixture(&primary, "Before the Lag", "Vienna", &["drama"]).await;
    let replica_url = database.url.replacen("127.0.0.1:5432", &hostport, 1);
    // The new database reaches the replica by streaming like everything else: wait for it.
    let options =
        StoreOptions { max_connections: 4, replica_url: Some(replica_url), ..StoreOptions::default() };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let store = loop {
        if let Ok(store) =
            SqlStore::connect(&database.url, &options).await.map(|store| Arc::new(store) as Arc<dyn Store>)
        {
            let listed = store.list_events(&EventFilter { limit: 10, ..EventFilter::default() }, NOW).await;
            if listed.is_ok_and(|events| events.len() == 1) {
                break store;
            }
            store.close().await;
        }
        assert!(std::time::Instant::now() < deadline, "the replica never caught up");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };

    assert!(replica_sql(&hostport, "SELECT pg_wal_replay_pause()"));
    let _resume = ResumeReplay(hostport.clone());
    let second = fixture(&primary, "During the Lag", "Vienna", &["drama"]).await;
    let listed = store.list_events(&EventFilter { limit: 10, ..EventFilter::default() }, NOW).await.unwrap();
    assert_eq!(listed.len(), 1, "listings come from the (paused) replica");
    let showtimes =
        ShowtimeFilter { event_id: Some(second.event.id.clone()), limit: 10, ..ShowtimeFilter::default() };
    assert!(store.list_showtimes(&showtimes, NOW).await.unwrap().is_empty());
    // Decisions read the primary: the new showtime is there, and a seat sold during the lag is
    // not sold again, through this store or the primary's.
    assert!(store.get_showtime(&second.showtime.id, NOW).await.unwrap().is_some());
    let seats = seat_ids(&store, &second.showtime.id).await;
    let (alice, bob) = (user(&store, "alice@example.com").await, user(&store, "bob@example.com").await);
    let hold = store
        .create_hold(&new_hold(&alice, &second.showtime.id, HoldSelection::Tickets(seats[..2].to_vec()), NOW))
        .await
        .unwrap();
    pay(&store, &hold, NOW).await.unwrap();
    let again = store
        .create_hold(&new_hold(&bob, &second.showtime.id, HoldSelection::Tickets(seats[1..3].to_vec()), NOW))
        .await;
    assert!(matches!(again, Err(Error::TicketsUnavailable { .. })), "{again:?}");
    let seat_map = store.seat_map(&second.showtime.id, NOW).await.unwrap();
    assert_eq!(seat_map.iter().filter(|t| t.status == TicketStatus::Sold).count(), 2);
    let first_seats = seat_ids(&store, &first.showtime.id).await;
    assert_eq!(first_seats.len(), 10);

    // Once replay resumes, the listings catch up.
    drop(_resume);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while store.list_events(&EventFilter { limit: 10, ..EventFilter::default() }, NOW).await.unwrap().len()
        < 2
    {
        assert!(std::time::Instant::now() < deadline, "the replica never caught up after resuming");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    store.close().await;
    primary.close().await;
    database.drop_database().await;
}

/// Each backend's commit pipeline answers only after its batch's commit returned: a commit
/// that fails (as a failed `fsync` or WAL flush would make it fail) is an error to every
/// caller of the batch and sells nothing, and the same request succeeds once commits succeed
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_failed_commit_is_an_error_and_sells_nothing() {
    let Some(database) = TestDatabase::new(Backend::Sqlite).await else { return };
    let sqlite = Arc::new(SqliteStore::open(&database.url, &TestDatabase::options()).unwrap());
    let store: Arc<dyn Store> = sqlite.clone();
    store.migrate().await.unwrap();
    a_failed_commit_is_an_error_and_sells_nothing(store, move || sqlite.fail_next_commit()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_failed_commit_is_an_error_and_sells_nothing() {
    let Some(database) = TestDatabase::new(Backend::Postgres).await else { return };
    let postgres = Arc::new(SqlStore::connect(&database.url, &TestDatabase::options()).await.unwrap());
    let store: Arc<dyn Store> = postgres.clone();
    store.migrate().await.unwrap();
    a_failed_commit_is_an_error_and_sells_nothing(store, move || postgres.fail_next_commit()).await;
    database.drop_database().await;
}

async fn a_failed_commit_is_an_error_and_sells_nothing(store: Arc<dyn Store>, fail_next_commit: impl Fn()) {
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let ada = user(&store, "ada@example.com").await;
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let wanted = HoldSelection::Tickets(seats[0..2].to_vec());

    fail_next_commit();
    assert!(store.create_hold(&new_hold(&ada, &fixture.showtime.id, wanted.clone(), NOW)).await.is_err());
    for seat in &seats[0..2] {
        assert_eq!(store.get_ticket(seat, NOW).await.unwrap().unwrap().status, TicketStatus::Available);
    }

    let hold = store.create_hold(&new_hold(&ada, &fixture.showtime.id, wanted, NOW)).await.unwrap();
    let attempt = begin(&store, &hold, NOW).await.unwrap();
    fail_next_commit();
    assert!(store.confirm_payment(&attempt.id, "pi_1", &message(), None, NOW).await.is_err());
    assert_eq!(store.get_ticket(&seats[0], NOW).await.unwrap().unwrap().status, TicketStatus::Held);
    assert_eq!(store.get_hold(&hold.id, NOW).await.unwrap().unwrap().status, HoldStatus::Active);
    assert!(
        store
            .order_attempts(&attempt.order_id)
            .await
            .unwrap()
            .iter()
            .all(|a| a.status == AttemptStatus::Started)
    );

    let order = confirmed(store.confirm_payment(&attempt.id, "pi_1", &message(), None, NOW).await.unwrap());
    assert_eq!(order.tickets.len(), 2);
    assert_eq!(store.get_ticket(&seats[0], NOW).await.unwrap().unwrap().status, TicketStatus::Sold);
    assert_eq!(store.commit_stats().unwrap().failed_commits, 2);
    store.close().await;
}

/// Three nodes on one PostgreSQL, each with its own commit pipeline, race for the same seats
/// and floor places, and pay for what they got: no ticket is held or sold twice, every hold
/// that succeeded is whole, and what the database says was sold is exactly what the nodes
/// were told.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_three_nodes_with_their_own_pipelines_never_sell_a_seat_twice() {
    let Some(database) = TestDatabase::new(Backend::Postgres).await else { return };
    let mut nodes: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..3 {
        nodes.push(Arc::new(SqlStore::connect(&database.url, &TestDatabase::options()).await.unwrap()));
    }
    nodes[0].migrate().await.unwrap();
    let fixture = fixture(&nodes[0], "Heat", "Berlin", &[]).await;
    let seats = seat_ids(&nodes[0], &fixture.showtime.id).await;
    let mut users = Vec::new();
    for i in 0..12 {
        users.push(user(&nodes[0], &format!("racer{i}@example.com")).await);
    }
    let mut tasks = Vec::new();
    for attempt in 0..240usize {
        let store = nodes[attempt % nodes.len()].clone();
        let user = users[attempt % users.len()].clone();
        let showtime = fixture.showtime.id.clone();
        let selection = if attempt % 4 == 3 {
            HoldSelection::Quantity { section: "Floor".into(), quantity: 2 }
        } else {
            // Overlapping runs of three seats, walked in both directions so that batches of
            // different nodes want each other's seats.
            let first = if attempt % 2 == 0 {
                attempt % (seats.len() - 2)
            } else {
                seats.len() - 3 - attempt % (seats.len() - 2)
            };
            HoldSelection::Tickets(seats[first..first + 3].to_vec())
        };
        tasks.push(tokio::spawn(async move {
            let hold = match store.create_hold(&new_hold(&user, &showtime, selection, NOW)).await {
                Ok(hold) => hold,
                Err(
                    Error::TicketsUnavailable { .. }
                    | Error::NotEnoughPlaces { .. }
                    | Error::HoldLimitReached { .. },
                ) => {
                    return None;
                }
                Err(other) => panic!("unexpected error {other:?}"),
            };
            let order = pay(&store, &hold, NOW).await.expect("a fresh hold is paid for");
            Some(order)
        }));
    }
    let mut sold = Vec::new();
    for task in tasks {
        if let Some(order) = task.await.unwrap() {
            sold.extend(order.tickets.into_iter().map(|t| t.id));
        }
    }
    let unique: BTreeSet<_> = sold.iter().cloned().collect();
    assert_eq!(unique.len(), sold.len(), "a ticket was sold to two orders");
    for node in &nodes {
        let counts = node.inventory_counts(&fixture.showtime.id, NOW).await.unwrap();
        assert_eq!(counts.sold as usize, sold.len(), "every node sees exactly what was sold");
        assert_eq!(counts.held, 0);
    }
    assert!(sold.len() >= 20, "the floor alone sells out: {} sold", sold.len());
    let batches: u64 = nodes.iter().map(|node| node.commit_stats().unwrap().commits).sum();
    assert!(batches > 0);
    for node in &nodes {
        node.close().await;
    }
    database.drop_database().await;
}

/// A hold never waits for a place another transaction is taking (migration 0008): with a
/// seat and the whole floor locked by an open transaction — another commit pipeline's batch,
/// here or on another node — a hold for that seat is refused as unavailable and a hold on the
/// floor as not enough places, at once instead of after that transaction; once it ends without
/// taking them, the same holds succeed. (Waiting is what made batches of several pipelines
/// wait on each other whole, and deadlock.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_hold_never_waits_for_a_place_another_batch_is_taking() {
    let Some(database) = TestDatabase::new(Backend::Postgres).await else { return };
    let store = database.store().await;
    let fixture = fixture(&store, "Heat", "Berlin", &[]).await;
    let ada = user(&store, "ada@example.com").await;
    let seats = seat_ids(&store, &fixture.showtime.id).await;
    let floor: Vec<String> = store
        .seat_map(&fixture.showtime.id, NOW)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.row.is_none())
        .map(|t| t.id.as_str().to_owned())
        .collect();
    assert_eq!(floor.len(), 20);
    let other = sqlx::PgPool::connect(&database.url).await.unwrap();
    let mut batch = other.begin().await.unwrap();
    let mut locked = floor.clone();
    locked.push(seats[1].as_str().to_owned());
    sqlx::query("SELECT id FROM tickets WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(&locked)
        .execute(&mut *batch)
        .await
        .unwrap();

    // Not a timer on speed: a hold that waited would wait until `batch` ends, i.e. forever.
    let limit = std::time::Duration::from_secs(20);
    let chosen = HoldSelection::Tickets(seats[0..3].to_vec());
    let floor_two = HoldSelection::Quantity { section: "Floor".into(), quantity: 2 };
    let seat_hold = new_hold(&ada, &fixture.showtime.id, chosen.clone(), NOW);
    match tokio::time::timeout(limit, store.create_hold(&seat_hold)).await {
        Ok(Err(Error::TicketsUnavailable { ticket_ids })) => assert_eq!(ticket_ids, [seats[1].clone()]),
        other => panic!("expected the locked seat to read as taken, got {other:?}"),
    }
    let floor_hold = new_hold(&ada, &fixture.showtime.id, floor_two.clone(), NOW);
    match tokio::time::timeout(limit, store.create_hold(&floor_hold)).await {
        Ok(Err(Error::NotEnoughPlaces { requested: 2, available: 0 })) => {}
        other => panic!("expected the locked floor to read as taken, got {other:?}"),
    }
    for seat in [&seats[0], &seats[2]] {
        let ticket = store.get_ticket(seat, NOW).await.unwrap().unwrap();
        assert_eq!(ticket.status, TicketStatus::Available, "a refused hold keeps nothing");
    }

    batch.rollback().await.unwrap();
    let hold = store.create_hold(&new_hold(&ada, &fixture.showtime.id, chosen, NOW)).await.unwrap();
    assert_eq!(hold.tickets.len(), 3);
    let hold = store.create_hold(&new_hold(&ada, &fixture.showtime.id, floor_two, NOW)).await.unwrap();
    assert_eq!(hold.tickets.len(), 2);
    other.close().await;
    store.close().await;
    database.drop_database().await;
}
