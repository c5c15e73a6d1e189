//! A model-based test of the seat inventory: random sequences of holds, releases, the passing
//! of time, the sweeper, payments, refunds and door check-ins run against a small in-memory
//! model and against the real store, on SQLite and on PostgreSQL. Every answer must be
//! the same, and at the end every ticket, hold and order must be in the state the model says.
//!
//! The model is deliberately naive (vectors and loops, no SQL), so that it is easy to believe:
//! it is the specification of what the store's transactions must add up to. It does not pin
//! which free places a general-admission hold picks (an optimisation, not a rule): it accepts
//! any choice of the right size among the places that are free, and then follows it.
//!
//! Each case gets a fresh database. `MARQUEE_MODEL_CASES` sets how many cases run per backend
//! (24 by default: well under a minute; try 500 before changing the inventory code).

use marquee_domain::Error;
use marquee_domain::account::{Email, Role, User};
use marquee_domain::catalog::{
    Event, EventKind, Hall, HallLayout, RowLayout, SectionKind, SectionLayout, Showtime, Venue,
};
use marquee_domain::ids::{EventId, HallId, HoldId, OrderId, ShowtimeId, TicketId, UserId, VenueId};
use marquee_domain::inventory::{HoldSelection, HoldStatus, OrderStatus, TicketStatus};
use marquee_store::testing::TestDatabase;
use marquee_store::{
    AttemptStatus, Backend, BeginPayment, CheckIn, Confirmation, InventoryCounts, NewHold, NewRefund,
    OutboxMessage, Store,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const START: OffsetDateTime = datetime!(2030-03-01 12:00 UTC);
/// Seats of the hall: rows A and B of four seats each (model tickets `0..SEATS`).
const SEATS: usize = 8;
/// Places of the general-admission floor (model tickets `SEATS..SEATS + PLACES`).
const PLACES: usize = 6;
const USERS: usize = 3;
/// Most tickets of the showtime one user may hold at once.
const MAX_HELD_PER_USER: u32 = 5;
const HOLD_TTL_MINUTES: i64 = 10;
const DEFAULT_CASES: u32 = 24;
const MAX_STEPS: usize = 40;

#[test]
fn the_sqlite_store_behaves_like_the_model() {
    check_against_the_model(Backend::Sqlite);
}

#[test]
fn the_postgres_store_behaves_like_the_model() {
    check_against_the_model(Backend::Postgres);
}

// ---- operations ----

/// One step of a scenario. Holds, orders and attempts are named by an [`Index`] into the ones
/// made so far, so that shrinking keeps a scenario meaningful.
#[derive(Clone, Debug)]
enum Op {
    /// Hold these seats (model ticket numbers), all or none.
    HoldSeats {
        user: usize,
        seats: Vec<usize>,
    },
    /// Hold any `quantity` places of the floor.
    HoldPlaces {
        user: usize,
        quantity: u32,
    },
    Release {
        hold: Index,
    },
    /// Let time pass (holds live [`HOLD_TTL_MINUTES`]), then maybe run the sweeper.
    Advance {
        minutes: i64,
        sweep: bool,
    },
    /// Start paying for a hold (the write-ahead attempt), to be confirmed by a later step.
    BeginPayment {
        hold: Index,
    },
    /// The provider authorised an attempt: confirm the order, then record the capture.
    ConfirmPayment {
        attempt: Index,
    },
    /// The provider declined an attempt still under way; the buyer may try again.
    DeclinePayment {
        attempt: Index,
    },
    /// Begin and confirm at once, as a buyer whose card works does.
    Purchase {
        hold: Index,
    },
    /// Refund a whole order, or one of its live tickets.
    Refund {
        order: Index,
        one_ticket: Option<Index>,
    },
    /// Scan one of an order's tickets at the door.
    CheckIn {
        order: Index,
        ticket: Index,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let seats = proptest::sample::subsequence((0..SEATS).collect::<Vec<_>>(), 1..=3);
    prop_oneof![
        4 => (0..USERS, seats).prop_map(|(user, seats)| Op::HoldSeats { user, seats }),
        3 => (0..USERS, 1..=4u32).prop_map(|(user, quantity)| Op::HoldPlaces { user, quantity }),
        1 => any::<Index>().prop_map(|hold| Op::Release { hold }),
        2 => (prop_oneof![Just(HOLD_TTL_MINUTES), 1..=12i64], any::<bool>()).prop_map(|(minutes, sweep)| Op::Advance { minutes, sweep }),
        2 => any::<Index>().prop_map(|hold| Op::BeginPayment { hold }),
        1 => any::<Index>().prop_map(|attempt| Op::ConfirmPayment { attempt }),
        2 => any::<Index>().prop_map(|attempt| Op::DeclinePayment { attempt }),
        3 => any::<Index>().prop_map(|hold| Op::Purchase { hold }),
        2 => (any::<Index>(), proptest::option::of(any::<Index>()))
            .prop_map(|(order, one_ticket)| Op::Refund { order, one_ticket }),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(order, ticket)| Op::CheckIn { order, ticket }),
    ]
}

/// What an operation answered, in model terms (ticket numbers, hold and order positions).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// Nothing to do (e.g. releasing when no hold exists yet); the store is not called.
    Skipped,
    TimePassed,
    Swept {
        tickets_freed: u64,
    },
    Held {
        tickets: BTreeSet<usize>,
    },
    Released {
        status: HoldStatus,
    },
    /// A payment attempt was written, for the order at this position.
    Paying {
        order: usize,
    },
    Sold {
        order: usize,
        tickets: BTreeSet<usize>,
    },
    /// A declined attempt was recorded; its order is now in this status.
    Declined {
        status: OrderStatus,
    },
    Refunded {
        status: OrderStatus,
    },
    Admitted {
        ticket: usize,
    },
    AlreadyAdmitted,
    Refused(Refusal),
}

/// The kinds of refusal the inventory gives, and the details worth comparing.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Refusal {
    TicketsUnavailable {
        tickets: BTreeSet<usize>,
    },
    NotEnoughPlaces {
        requested: u32,
        available: u32,
    },
    HoldLimitReached,
    HoldExpired,
    HoldNotActive,
    PaymentInProgress,
    /// `Conflict`: the order holds no tickets (any more).
    NotRefundable,
    TicketVoid,
    /// Anything else is a bug in the store or in this test.
    Unexpected(String),
}

// ---- the model ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Free,
    /// Held by the hold at this position: the stored state, which stays until a release, a
    /// sale or the sweeper, even after the hold expired.
    Held(usize),
    Sold(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StoredHold {
    Active,
    Released,
    Expired,
    Purchased,
}

#[derive(Debug)]
struct ModelHold {
    user: usize,
    tickets: BTreeSet<usize>,
    expires_at: OffsetDateTime,
    stored: StoredHold,
}

#[derive(Debug)]
struct ModelOrder {
    hold: usize,
    status: OrderStatus,
    /// Every ticket the order ever sold (the store lists refunded ones too).
    tickets: BTreeSet<usize>,
    /// The tickets it sells now.
    live: BTreeSet<usize>,
}

#[derive(Debug)]
struct ModelAttempt {
    order: usize,
    /// Started and not yet answered: a second attempt for the order must wait.
    in_flight: bool,
}

#[derive(Debug)]
struct Model {
    now: OffsetDateTime,
    places: Vec<Place>,
    checked_in: Vec<bool>,
    holds: Vec<ModelHold>,
    orders: Vec<ModelOrder>,
    attempts: Vec<ModelAttempt>,
}

impl Model {
    fn new() -> Self {
        Self {
            now: START,
            places: vec![Place::Free; SEATS + PLACES],
            checked_in: vec![false; SEATS + PLACES],
            holds: Vec::new(),
            orders: Vec::new(),
            attempts: Vec::new(),
        }
    }

    /// Whether a hold may still be used (its time has not run out).
    fn unexpired(&self, hold: usize) -> bool {
        self.holds[hold].expires_at > self.now
    }

    /// Free now: never taken, or held by a hold whose time ran out.
    fn takeable(&self, ticket: usize) -> bool {
        match self.places[ticket] {
            Place::Free => true,
            Place::Held(hold) => !self.unexpired(hold),
            Place::Sold(_) => false,
        }
    }

    fn status(&self, ticket: usize) -> TicketStatus {
        match self.places[ticket] {
            Place::Sold(_) => TicketStatus::Sold,
            _ if self.takeable(ticket) => TicketStatus::Available,
            _ => TicketStatus::Held,
        }
    }

    fn hold_status(&self, hold: usize) -> HoldStatus {
        match self.holds[hold].stored {
            StoredHold::Active if self.unexpired(hold) => HoldStatus::Active,
            StoredHold::Active | StoredHold::Expired => HoldStatus::Expired,
            StoredHold::Released => HoldStatus::Released,
            StoredHold::Purchased => HoldStatus::Purchased,
        }
    }

    fn held_by(&self, user: usize) -> usize {
        (0..self.places.len())
            .filter(|&t| matches!(self.places[t], Place::Held(h) if self.holds[h].user == user && self.unexpired(h)))
            .count()
    }

    fn take(&mut self, user: usize, tickets: BTreeSet<usize>) -> Outcome {
        let hold = self.holds.len();
        for &ticket in &tickets {
            self.places[ticket] = Place::Held(hold);
        }
        self.holds.push(ModelHold {
            user,
            tickets: tickets.clone(),
            expires_at: self.now + Duration::minutes(HOLD_TTL_MINUTES),
            stored: StoredHold::Active,
        });
        Outcome::Held { tickets }
    }

    fn hold_seats(&mut self, user: usize, seats: &[usize]) -> Outcome {
        // The store checks the user's cap before it tries to take the seats.
        if self.held_by(user) + seats.len() > MAX_HELD_PER_USER as usize {
            return Outcome::Refused(Refusal::HoldLimitReached);
        }
        let taken: BTreeSet<usize> = seats.iter().copied().filter(|&t| !self.takeable(t)).collect();
        if !taken.is_empty() {
            return Outcome::Refused(Refusal::TicketsUnavailable { tickets: taken });
        }
        self.take(user, seats.iter().copied().collect())
    }

    /// `picked` is what the store chose; it is followed if it is a valid choice, otherwise the
    /// model answers with its own choice and the comparison fails.
    fn hold_places(&mut self, user: usize, quantity: u32, picked: Option<&BTreeSet<usize>>) -> Outcome {
        let free: BTreeSet<usize> = (SEATS..SEATS + PLACES).filter(|&t| self.takeable(t)).collect();
        if free.len() < quantity as usize {
            return Outcome::Refused(Refusal::NotEnoughPlaces {
                requested: quantity,
                available: free.len() as u32,
            });
        }
        if self.held_by(user) + quantity as usize > MAX_HELD_PER_USER as usize {
            return Outcome::Refused(Refusal::HoldLimitReached);
        }
        let choice = match picked {
            Some(picked) if picked.len() == quantity as usize && picked.is_subset(&free) => picked.clone(),
            _ => free.into_iter().take(quantity as usize).collect(),
        };
        self.take(user, choice)
    }

    fn release(&mut self, hold: usize) -> Outcome {
        match self.holds[hold].stored {
            StoredHold::Purchased => return Outcome::Refused(Refusal::HoldNotActive),
            StoredHold::Active => {
                for place in &mut self.places {
                    if *place == Place::Held(hold) {
                        *place = Place::Free;
                    }
                }
                self.holds[hold].stored =
                    if self.unexpired(hold) { StoredHold::Released } else { StoredHold::Expired };
            }
            StoredHold::Released | StoredHold::Expired => {}
        }
        Outcome::Released { status: self.hold_status(hold) }
    }

    fn advance(&mut self, minutes: i64, sweep: bool) -> Outcome {
        self.now += Duration::minutes(minutes);
        if !sweep {
            return Outcome::TimePassed;
        }
        let mut freed = 0;
        for ticket in 0..self.places.len() {
            if matches!(self.places[ticket], Place::Held(_)) && self.takeable(ticket) {
                self.places[ticket] = Place::Free;
                freed += 1;
            }
        }
        for hold in 0..self.holds.len() {
            if self.holds[hold].stored == StoredHold::Active && !self.unexpired(hold) {
                self.holds[hold].stored = StoredHold::Expired;
            }
        }
        Outcome::Swept { tickets_freed: freed }
    }

    fn begin_payment(&mut self, hold: usize) -> Outcome {
        match self.hold_status(hold) {
            HoldStatus::Active => {}
            HoldStatus::Expired => return Outcome::Refused(Refusal::HoldExpired),
            HoldStatus::Released | HoldStatus::Purchased => return Outcome::Refused(Refusal::HoldNotActive),
        }
        let order = match self.orders.iter().position(|o| o.hold == hold) {
            Some(order) => {
                match self.orders[order].status {
                    OrderStatus::PendingPayment => {
                        if self.attempts.iter().any(|a| a.order == order && a.in_flight) {
                            return Outcome::Refused(Refusal::PaymentInProgress);
                        }
                    }
                    // The last attempt was declined: try again.
                    OrderStatus::PaymentFailed => self.orders[order].status = OrderStatus::PendingPayment,
                    OrderStatus::Expired => return Outcome::Refused(Refusal::HoldExpired),
                    _ => return Outcome::Refused(Refusal::HoldNotActive),
                }
                order
            }
            None => {
                self.orders.push(ModelOrder {
                    hold,
                    status: OrderStatus::PendingPayment,
                    tickets: BTreeSet::new(),
                    live: BTreeSet::new(),
                });
                self.orders.len() - 1
            }
        };
        self.attempts.push(ModelAttempt { order, in_flight: true });
        Outcome::Paying { order }
    }

    fn confirm_payment(&mut self, attempt: usize) -> Outcome {
        let order = self.attempts[attempt].order;
        match self.orders[order].status {
            // A late authorisation of a declined attempt pays too.
            OrderStatus::PendingPayment | OrderStatus::PaymentFailed => {}
            OrderStatus::Expired => return Outcome::Refused(Refusal::HoldExpired),
            _ => return Outcome::Refused(Refusal::HoldNotActive),
        }
        let hold = self.orders[order].hold;
        let tickets = self.holds[hold].tickets.clone();
        // The hold's time may have run out: what counts is that nobody took its tickets since.
        if !tickets.iter().all(|&t| self.places[t] == Place::Held(hold)) {
            self.orders[order].status = OrderStatus::Expired;
            if self.holds[hold].stored == StoredHold::Active {
                self.holds[hold].stored = StoredHold::Expired;
            }
            return Outcome::Refused(Refusal::HoldExpired);
        }
        for &ticket in &tickets {
            self.places[ticket] = Place::Sold(order);
            self.checked_in[ticket] = false;
        }
        self.holds[hold].stored = StoredHold::Purchased;
        self.attempts[attempt].in_flight = false;
        let sold = &mut self.orders[order];
        sold.status = OrderStatus::Confirmed;
        sold.tickets = tickets.clone();
        sold.live = tickets.clone();
        Outcome::Sold { order, tickets }
    }

    /// Only attempts still under way are declined (a provider does not decline a payment it
    /// authorised).
    fn decline_payment(&mut self, attempt: usize) -> Outcome {
        let order = self.attempts[attempt].order;
        self.attempts[attempt].in_flight = false;
        if self.orders[order].status == OrderStatus::PendingPayment {
            let hold = self.orders[order].hold;
            self.orders[order].status = if self.hold_status(hold) == HoldStatus::Active {
                OrderStatus::PaymentFailed
            } else {
                OrderStatus::Expired
            };
        }
        Outcome::Declined { status: self.orders[order].status }
    }

    fn refund(&mut self, order: usize, one_ticket: Option<usize>) -> Outcome {
        if !self.orders[order].status.holds_tickets() {
            return Outcome::Refused(Refusal::NotRefundable);
        }
        let refunded: Vec<usize> = match one_ticket {
            Some(ticket) => vec![ticket],
            None => self.orders[order].live.iter().copied().collect(),
        };
        for ticket in refunded {
            self.orders[order].live.remove(&ticket);
            self.places[ticket] = Place::Free;
            self.checked_in[ticket] = false;
        }
        let status = if self.orders[order].live.is_empty() {
            OrderStatus::Refunded
        } else {
            OrderStatus::PartiallyRefunded
        };
        self.orders[order].status = status;
        Outcome::Refunded { status }
    }

    fn check_in(&mut self, order: usize, ticket: usize) -> Outcome {
        if self.places[ticket] != Place::Sold(order) {
            return Outcome::Refused(Refusal::TicketVoid);
        }
        if self.checked_in[ticket] {
            return Outcome::AlreadyAdmitted;
        }
        self.checked_in[ticket] = true;
        Outcome::Admitted { ticket }
    }

    fn counts(&self) -> InventoryCounts {
        let mut counts = InventoryCounts::default();
        for ticket in 0..self.places.len() {
            match self.status(ticket) {
                TicketStatus::Available => counts.available += 1,
                TicketStatus::Held => counts.held += 1,
                TicketStatus::Sold => counts.sold += 1,
            }
        }
        counts
    }
}

// ---- the real store ----

struct Real {
    store: Arc<dyn Store>,
    url: String,
    showtime: ShowtimeId,
    users: Vec<User>,
    /// Model ticket number → ticket id, and back.
    tickets: Vec<TicketId>,
    numbers: BTreeMap<TicketId, usize>,
    holds: Vec<HoldId>,
    orders: Vec<OrderId>,
    attempts: Vec<String>,
    now: OffsetDateTime,
}

impl Real {
    async fn new(database: &TestDatabase) -> Self {
        let store = database.store().await;
        let showtime = fixture(&store).await;
        let mut users = Vec::new();
        for n in 0..USERS {
            let user = User {
                id: UserId::generate(),
                email: Email::parse(&format!("buyer{n}@example.com")).unwrap(),
                role: Role::Customer,
                created_at: START,
                disabled_at: None,
            };
            store.create_user(&user, "hash").await.unwrap();
            users.push(user);
        }
        let map = store.seat_map(&showtime, START).await.unwrap();
        // Seats first, then the floor's places, each in seat-map order.
        let tickets: Vec<TicketId> = map
            .iter()
            .filter(|t| t.row.is_some())
            .chain(map.iter().filter(|t| t.row.is_none()))
            .map(|t| t.id.clone())
            .collect();
        assert_eq!(tickets.len(), SEATS + PLACES, "the fixture's hall");
        let numbers = tickets.iter().enumerate().map(|(n, id)| (id.clone(), n)).collect();
        Self {
            store,
            url: database.url.clone(),
            showtime,
            users,
            tickets,
            numbers,
            holds: Vec::new(),
            orders: Vec::new(),
            attempts: Vec::new(),
            now: START,
        }
    }

    fn numbers_of<'a>(&self, ids: impl IntoIterator<Item = &'a TicketId>) -> BTreeSet<usize> {
        ids.into_iter().map(|id| self.numbers.get(id).copied().unwrap_or(usize::MAX)).collect()
    }

    fn refusal(&self, error: Error) -> Outcome {
        Outcome::Refused(match error {
            Error::TicketsUnavailable { ticket_ids } => {
                Refusal::TicketsUnavailable { tickets: self.numbers_of(&ticket_ids) }
            }
            Error::NotEnoughPlaces { requested, available } => {
                Refusal::NotEnoughPlaces { requested, available }
            }
            Error::HoldLimitReached { .. } => Refusal::HoldLimitReached,
            Error::HoldExpired => Refusal::HoldExpired,
            Error::HoldNotActive { .. } => Refusal::HoldNotActive,
            Error::PaymentInProgress => Refusal::PaymentInProgress,
            Error::Conflict(_) => Refusal::NotRefundable,
            Error::TicketVoid => Refusal::TicketVoid,
            other => Refusal::Unexpected(format!("{other:?}")),
        })
    }

    async fn hold(&mut self, user: usize, selection: HoldSelection) -> Outcome {
        let hold = NewHold {
            admitted: false,
            max_held_per_user: MAX_HELD_PER_USER,
            id: HoldId::generate(),
            user_id: self.users[user].id.clone(),
            showtime_id: self.showtime.clone(),
            selection,
            now: self.now,
            expires_at: self.now + Duration::minutes(HOLD_TTL_MINUTES),
            claim: None,
        };
        match self.store.create_hold(&hold).await {
            Ok(created) => {
                self.holds.push(created.id.clone());
                Outcome::Held { tickets: self.numbers_of(created.tickets.iter().map(|t| &t.id)) }
            }
            Err(error) => self.refusal(error),
        }
    }

    async fn release(&mut self, hold: usize) -> Outcome {
        match self.store.release_hold(&self.holds[hold], self.now).await {
            Ok(released) => Outcome::Released { status: released.status },
            Err(error) => self.refusal(error),
        }
    }

    async fn advance(&mut self, minutes: i64, sweep: bool) -> Outcome {
        self.now += Duration::minutes(minutes);
        if !sweep {
            return Outcome::TimePassed;
        }
        match self.store.sweep_expired_holds(self.now).await {
            Ok(tickets_freed) => Outcome::Swept { tickets_freed },
            Err(error) => self.refusal(error),
        }
    }

    async fn begin_payment(&mut self, hold: usize) -> Outcome {
        let owner = self.store.get_hold(&self.holds[hold], self.now).await.ok().flatten();
        let Some(owner) = owner else { return Outcome::Refused(Refusal::Unexpected("no such hold".into())) };
        let begin = BeginPayment {
            attempt_id: format!("pay_{}", OrderId::generate()),
            new_order_id: OrderId::generate(),
            hold_id: self.holds[hold].clone(),
            user_id: owner.user_id,
            provider: "test".into(),
            now: self.now,
            claim: None,
        };
        match self.store.begin_payment(&begin).await {
            Ok(attempt) => {
                self.attempts.push(attempt.id);
                let order = match self.orders.iter().position(|o| *o == attempt.order_id) {
                    Some(order) => order,
                    None => {
                        self.orders.push(attempt.order_id);
                        self.orders.len() - 1
                    }
                };
                Outcome::Paying { order }
            }
            Err(error) => self.refusal(error),
        }
    }

    async fn confirm_payment(&mut self, attempt: usize) -> Outcome {
        let id = self.attempts[attempt].clone();
        let message =
            OutboxMessage::new("order_confirmed", "buyer@example.com", "Your order".into(), "Thanks".into());
        let confirmed = self.store.confirm_payment(&id, &format!("pi_{id}"), &message, None, self.now).await;
        let order = match confirmed {
            Ok(Confirmation::Confirmed(order)) => order,
            Ok(Confirmation::TicketsGone) => return Outcome::Refused(Refusal::HoldExpired),
            Ok(Confirmation::AlreadyPaid) => return Outcome::Refused(Refusal::HoldNotActive),
            Err(error) => return self.refusal(error),
        };
        if let Err(error) =
            self.store.record_attempt(&id, AttemptStatus::Captured, None, None, self.now).await
        {
            return self.refusal(error);
        }
        let position = self.orders.iter().position(|o| *o == order.id).unwrap_or(usize::MAX);
        Outcome::Sold { order: position, tickets: self.numbers_of(order.tickets.iter().map(|t| &t.id)) }
    }

    async fn decline_payment(&mut self, attempt: usize) -> Outcome {
        let id = self.attempts[attempt].clone();
        let recorded = self
            .store
            .record_attempt(&id, AttemptStatus::Failed, None, Some("card declined"), self.now)
            .await;
        if let Err(error) = recorded {
            return self.refusal(error);
        }
        let Ok(Some(attempt)) = self.store.get_attempt(&id).await else {
            return Outcome::Refused(Refusal::Unexpected("the attempt vanished".into()));
        };
        match self.store.get_order(&attempt.order_id).await {
            Ok(Some(order)) => Outcome::Declined { status: order.status },
            Ok(None) => Outcome::Refused(Refusal::Unexpected("the order vanished".into())),
            Err(error) => self.refusal(error),
        }
    }

    async fn refund(&mut self, order: usize, one_ticket: Option<usize>) -> Outcome {
        let refund_id = format!("re_{}", OrderId::generate());
        let only = one_ticket.map(|t| vec![self.tickets[t].clone()]);
        let begun = self
            .store
            .begin_refund(&NewRefund {
                ticket_ids: only.clone(),
                ..NewRefund::whole(&refund_id, &self.orders[order], "model", self.now)
            })
            .await;
        if let Err(error) = begun {
            return self.refusal(error);
        }
        let message =
            OutboxMessage::new("order_refunded", "buyer@example.com", "Refund".into(), "Sorry".into());
        match self.store.complete_refund(&refund_id, &message, self.now).await {
            Ok(order) => Outcome::Refunded { status: order.status },
            Err(error) => self.refusal(error),
        }
    }

    async fn check_in(&mut self, order: usize, ticket: usize) -> Outcome {
        let answer = self
            .store
            .check_in(&self.tickets[ticket], &self.orders[order], Some(&self.showtime), self.now)
            .await;
        match answer {
            Ok(CheckIn::Admitted { ticket_id, .. }) => {
                Outcome::Admitted { ticket: self.numbers.get(&ticket_id).copied().unwrap_or(usize::MAX) }
            }
            Ok(CheckIn::AlreadyAdmitted { .. }) => Outcome::AlreadyAdmitted,
            Err(error) => self.refusal(error),
        }
    }
}

/// A hall with rows A and B of four seats and a floor of six places; one showtime on sale.
async fn fixture(store: &Arc<dyn Store>) -> ShowtimeId {
    let venue = Venue {
        id: VenueId::generate(),
        name: "Model Palace".into(),
        city: "Berlin".into(),
        time_zone: "Europe/Berlin".into(),
    };
    store.create_venue(&venue).await.unwrap();
    let row = |label: &str| RowLayout {
        label: label.into(),
        category: "standard".into(),
        seats: (SEATS / 2) as u32,
        first_number: 1,
        gaps_after: vec![],
        overrides: vec![],
    };
    let layout = HallLayout {
        sections: vec![
            SectionLayout {
                name: "Stalls".into(),
                kind: SectionKind::Seated { rows: vec![row("A"), row("B")] },
            },
            SectionLayout {
                name: "Floor".into(),
                kind: SectionKind::GeneralAdmission { capacity: PLACES as u32, category: "floor".into() },
            },
        ],
    };
    let categories = layout.validate().unwrap();
    let hall = Hall { id: HallId::generate(), venue_id: venue.id.clone(), name: "Hall 1".into(), layout };
    store.create_hall(&hall).await.unwrap();
    let event = Event {
        id: EventId::generate(),
        kind: EventKind::Movie,
        title: "The Model".into(),
        synopsis: "Sequences of operations.".into(),
        poster_url: None,
        genres: vec![],
        runtime_minutes: Some(90),
        rating: None,
        artist: None,
        published: true,
        created_at: START,
    };
    store.create_event(&event).await.unwrap();
    let showtime = Showtime {
        id: ShowtimeId::generate(),
        event_id: event.id.clone(),
        hall_id: hall.id.clone(),
        starts_at: START + Duration::days(2),
        on_sale_from: START - Duration::hours(1),
        on_sale_until: START + Duration::days(2),
        currency: "EUR".into(),
        prices: [("standard".to_string(), 1000), ("floor".to_string(), 500)].into_iter().collect(),
    };
    showtime.validate(&categories).unwrap();
    store.create_showtime(&showtime).await.unwrap();
    showtime.id
}

// ---- running a scenario ----

fn check_against_the_model(backend: Backend) {
    let cases = std::env::var("MARQUEE_MODEL_CASES")
        .ok()
        .map(|v| v.parse().expect("MARQUEE_MODEL_CASES must be a number"))
        .unwrap_or(DEFAULT_CASES);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // Skip the whole PostgreSQL half (outside CI) when no server answers.
    match runtime.block_on(TestDatabase::new(backend)) {
        Some(probe) => runtime.block_on(probe.drop_database()),
        None => return,
    }
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let scenarios = proptest::collection::vec(op(), 1..=MAX_STEPS);
    let result = runner.run(&scenarios, |ops| runtime.block_on(run_scenario(backend, ops)));
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, ops)) => {
            panic!("{backend:?}: the store and the model disagree: {reason}\nminimal scenario: {ops:#?}")
        }
        Err(error) => panic!("{backend:?}: {error}"),
    }
}

async fn run_scenario(backend: Backend, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let database = TestDatabase::new(backend).await.expect("the backend answered a moment ago");
    let mut real = Real::new(&database).await;
    let result = compare(&mut real, &ops).await;
    real.store.close().await;
    database.drop_database().await;
    result
}

/// Runs the scenario on both sides, step by step, then compares the final state.
async fn compare(real: &mut Real, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model = Model::new();
    for (step, op) in ops.iter().enumerate() {
        let (expected, actual) = apply(&mut model, real, op).await;
        prop_assert_eq!(&actual, &expected, "step {} ({:?}): the store answered differently", step, op);
        prop_assert_eq!(
            (real.holds.len(), real.orders.len(), real.attempts.len()),
            (model.holds.len(), model.orders.len(), model.attempts.len()),
            "step {}: bookkeeping",
            step
        );
    }
    compare_final_state(&model, real).await
}

async fn apply(model: &mut Model, real: &mut Real, op: &Op) -> (Outcome, Outcome) {
    match op {
        Op::HoldSeats { user, seats } => {
            let ids = seats.iter().map(|&s| real.tickets[s].clone()).collect();
            let actual = real.hold(*user, HoldSelection::Tickets(ids)).await;
            (model.hold_seats(*user, seats), actual)
        }
        Op::HoldPlaces { user, quantity } => {
            let selection = HoldSelection::Quantity { section: "Floor".into(), quantity: *quantity };
            let actual = real.hold(*user, selection).await;
            let picked = match &actual {
                Outcome::Held { tickets } => Some(tickets),
                _ => None,
            };
            (model.hold_places(*user, *quantity, picked), actual)
        }
        Op::Release { hold } if !model.holds.is_empty() => {
            let hold = hold.index(model.holds.len());
            (model.release(hold), real.release(hold).await)
        }
        Op::Advance { minutes, sweep } => {
            (model.advance(*minutes, *sweep), real.advance(*minutes, *sweep).await)
        }
        Op::BeginPayment { hold } if !model.holds.is_empty() => {
            let hold = hold.index(model.holds.len());
            (model.begin_payment(hold), real.begin_payment(hold).await)
        }
        Op::ConfirmPayment { attempt } if !model.attempts.is_empty() => {
            let attempt = attempt.index(model.attempts.len());
            (model.confirm_payment(attempt), real.confirm_payment(attempt).await)
        }
        Op::DeclinePayment { attempt } if !model.attempts.is_empty() => {
            let attempt = attempt.index(model.attempts.len());
            if !model.attempts[attempt].in_flight {
                return (Outcome::Skipped, Outcome::Skipped);
            }
            (model.decline_payment(attempt), real.decline_payment(attempt).await)
        }
        Op::Purchase { hold } if !model.holds.is_empty() => {
            let hold = hold.index(model.holds.len());
            let (expected, actual) = (model.begin_payment(hold), real.begin_payment(hold).await);
            if expected != actual || !matches!(expected, Outcome::Paying { .. }) {
                return (expected, actual);
            }
            let attempt = model.attempts.len() - 1;
            (model.confirm_payment(attempt), real.confirm_payment(attempt).await)
        }
        Op::Refund { order, one_ticket } if !model.orders.is_empty() => {
            let order = order.index(model.orders.len());
            let live: Vec<usize> = model.orders[order].live.iter().copied().collect();
            // One live ticket of the order; an order without any is refused whole.
            let one_ticket = match one_ticket {
                Some(pick) if !live.is_empty() => Some(live[pick.index(live.len())]),
                _ => None,
            };
            (model.refund(order, one_ticket), real.refund(order, one_ticket).await)
        }
        Op::CheckIn { order, ticket } if !model.orders.is_empty() => {
            let order = order.index(model.orders.len());
            let sold: Vec<usize> = model.orders[order].tickets.iter().copied().collect();
            if sold.is_empty() {
                return (Outcome::Skipped, Outcome::Skipped);
            }
            let ticket = sold[ticket.index(sold.len())];
            (model.check_in(order, ticket), real.check_in(order, ticket).await)
        }
        _ => (Outcome::Skipped, Outcome::Skipped),
    }
}

async fn compare_final_state(model: &Model, real: &Real) -> Result<(), TestCaseError> {
    let store = &real.store;
    let now = real.now;
    let failed = |what: &str, error: Error| TestCaseError::fail(format!("{what}: {error:?}"));

    // Every ticket's status on the seat map, and the counts.
    let map = store.seat_map(&real.showtime, now).await.map_err(|e| failed("seat map", e))?;
    let statuses: BTreeMap<usize, TicketStatus> =
        map.iter().map(|t| (real.numbers[&t.id], t.status)).collect();
    let expected: BTreeMap<usize, TicketStatus> =
        (0..model.places.len()).map(|t| (t, model.status(t))).collect();
    prop_assert_eq!(statuses, expected, "ticket statuses at the end");
    let counts = store.inventory_counts(&real.showtime, now).await.map_err(|e| failed("counts", e))?;
    prop_assert_eq!(counts, model.counts(), "inventory counts at the end");

    // Every hold's status and tickets.
    for (position, id) in real.holds.iter().enumerate() {
        let hold = store.get_hold(id, now).await.map_err(|e| failed("hold", e))?;
        let hold = hold.ok_or_else(|| TestCaseError::fail(format!("hold {position} vanished")))?;
        prop_assert_eq!(hold.status, model.hold_status(position), "status of hold {}", position);
        let tickets = real.numbers_of(hold.tickets.iter().map(|t| &t.id));
        prop_assert_eq!(&tickets, &model.holds[position].tickets, "tickets of hold {}", position);
    }

    // Every order's status and tickets.
    for (position, id) in real.orders.iter().enumerate() {
        let order = store.get_order(id).await.map_err(|e| failed("order", e))?;
        let order = order.ok_or_else(|| TestCaseError::fail(format!("order {position} vanished")))?;
        prop_assert_eq!(order.status, model.orders[position].status, "status of order {}", position);
        let tickets = real.numbers_of(order.tickets.iter().map(|t| &t.id));
        prop_assert_eq!(&tickets, &model.orders[position].tickets, "tickets of order {}", position);
    }

    // Who each sold ticket belongs to, and whether it was admitted.
    for (number, id) in real.tickets.iter().enumerate() {
        let sold = store.sold_ticket(id).await.map_err(|e| failed("sold ticket", e))?;
        let owner = sold.as_ref().map(|s| real.orders.iter().position(|o| *o == s.order_id));
        let expected = match model.places[number] {
            Place::Sold(order) => Some(Some(order)),
            _ => None,
        };
        prop_assert_eq!(owner, expected, "order of ticket {}", number);
        let admitted = sold.is_some_and(|s| s.checked_in_at.is_some());
        prop_assert_eq!(admitted, model.checked_in[number], "check-in of ticket {}", number);
    }

    // Straight from the tables, whatever the model says: the live order items are exactly the
    // sold tickets, each in one order, and that order holds tickets.
    let rows = TestDatabase::text_rows(
        &real.url,
        "SELECT i.ticket_id, i.order_id, o.status FROM order_items i JOIN orders o ON o.id = i.order_id \
         WHERE i.live = 1 ORDER BY i.ticket_id",
        3,
    )
    .await;
    let mut live: BTreeMap<usize, usize> = BTreeMap::new();
    for row in rows {
        let [ticket, order_id, status]: [String; 3] =
            row.try_into().map_err(|_| TestCaseError::fail("three columns"))?;
        let ticket = real.numbers[&TicketId::from_raw(ticket)];
        let order_id = OrderId::from_raw(order_id);
        let status = OrderStatus::parse(&status).map_err(|e| failed("order status", e))?;
        prop_assert!(status.holds_tickets(), "ticket {} is live in a {} order", ticket, status.as_str());
        let order = real.orders.iter().position(|o| *o == order_id).unwrap_or(usize::MAX);
        prop_assert!(live.insert(ticket, order).is_none(), "ticket {} is in two live orders", ticket);
    }
    let sold: BTreeMap<usize, usize> = (0..model.places.len())
        .filter_map(|t| match model.places[t] {
            Place::Sold(order) => Some((t, order)),
            _ => None,
        })
        .collect();
    prop_assert_eq!(live, sold, "live order items are the sold tickets");
    Ok(())
}
