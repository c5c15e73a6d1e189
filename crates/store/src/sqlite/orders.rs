//! Orders with their tickets, as every part of the SQLite store shows them (an order's page,
//! a user's list of orders, what a refund returns).
//!
//! An order's row is read by the caller (selected as [`ORDER_COLUMNS`], mapped by
//! [`order_from_row`] with no tickets yet); [`load_orders`] then fills in the tickets of a whole
//! page of orders with one query per [`MAX_BOUND_VALUES`] orders, rather than one per order.

use super::db;
use super::rows::{
    in_seat_map_order, instant, optional_row, parsed, placeholders, ticket_columns_of, ticket_from_row,
};
use marquee_domain::Result;
use marquee_domain::ids::{HoldId, OrderId, ShowtimeId, UserId};
use marquee_domain::inventory::{Order, OrderStatus, Ticket};
use marquee_domain::money::Money;
use rusqlite::{Connection, Row, params_from_iter};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Most values bound to one statement. SQLite refuses more than its `SQLITE_MAX_VARIABLE_NUMBER`
/// (999 in builds older than 3.32, 32766 since); a long `IN` list is cut into chunks of this
/// size, which fits under either limit.
pub(crate) const MAX_BOUND_VALUES: usize = 900;

/// An order's columns as [`order_from_row`] reads them (by name: a query that joins other
/// tables selects no other column of the same name before them).
pub(crate) const ORDER_COLUMNS: &str = "id, user_id, showtime_id, hold_id, status, total_amount, currency, \
     payment_reference, created_at, updated_at";

/// An order row (selected as [`ORDER_COLUMNS`]) without its tickets: [`load_orders`] adds them.
pub(crate) fn order_from_row(row: &Row<'_>) -> rusqlite::Result<Order> {
    Ok(Order {
        id: OrderId::from_raw(row.get::<_, String>("id")?),
        user_id: UserId::from_raw(row.get::<_, String>("user_id")?),
        showtime_id: ShowtimeId::from_raw(row.get::<_, String>("showtime_id")?),
        hold_id: HoldId::from_raw(row.get::<_, String>("hold_id")?),
        status: parsed(row, "status", OrderStatus::parse)?,
        total: Money::new(row.get::<_, i64>("total_amount")?, row.get::<_, String>("currency")?),
        payment_reference: row.get("payment_reference")?,
        created_at: instant(row, "created_at")?,
        updated_at: instant(row, "updated_at")?,
        tickets: Vec::new(),
    })
}

/// The order `id` with its tickets, or `None` if there is no such order.
pub(crate) fn load_order(connection: &Connection, id: &OrderId) -> Result<Option<Order>> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?1");
    let order = optional_row(connection, &sql, [id.as_str()], order_from_row)?;
    let Some(order) = order else { return Ok(None) };
    Ok(load_orders(connection, vec![order])?.pop())
}

/// The orders (rows read by [`order_from_row`]), in the same order, each with its tickets in
/// seat-map order: every ticket the order ever had, a refunded one included, as it is now.
/// Sold tickets are sold whatever the clock says: statuses are read at the epoch, so no clock
/// (a hair behind or ahead of the writer's) turns a ticket of an order into anything else.
pub(crate) fn load_orders(connection: &Connection, mut orders: Vec<Order>) -> Result<Vec<Order>> {
    if orders.is_empty() {
        return Ok(orders);
    }
    let ids: Vec<String> = orders.iter().map(|order| order.id.as_str().to_owned()).collect();
    let mut tickets: BTreeMap<String, Vec<(i64, Ticket)>> = BTreeMap::new();
    for chunk in ids.chunks(MAX_BOUND_VALUES) {
        // Driven by the items' primary key (order id first), each ticket by its own.
        let sql = format!(
            "SELECT {}, sh.currency AS ticket_currency, oi.order_id AS item_order_id \
             FROM order_items oi JOIN tickets t ON t.id = oi.ticket_id \
             JOIN showtimes sh ON sh.id = t.showtime_id WHERE oi.order_id IN ({})",
            ticket_columns_of("t"),
            placeholders(1, chunk.len())
        );
        // Not cached: a statement per chunk size would push the fixed statements out of the cache.
        let mut select = connection.prepare(&sql).map_err(db)?;
        let rows = select
            .query_map(params_from_iter(chunk), |row| {
                let currency: String = row.get("ticket_currency")?;
                let order_id: String = row.get("item_order_id")?;
                Ok((order_id, ticket_from_row(row, &currency, OffsetDateTime::UNIX_EPOCH)?))
            })
            .map_err(db)?;
        for row in rows {
            let (order_id, ticket) = row.map_err(db)?;
            tickets.entry(order_id).or_default().push(ticket);
        }
    }
    for order in &mut orders {
        order.tickets = in_seat_map_order(tickets.remove(order.id.as_str()).unwrap_or_default());
    }
    Ok(orders)
}

#[cfg(test)]
pub(crate) mod tests {
    //! Also the fixture of the other SQLite store tests: a migrated store on a temporary file,
    //! a small catalog, and a connection that writes test data with plain SQL.

    use super::*;
    use crate::sqlite::SqliteStore;
    use crate::testing::TestDatabase;
    use crate::{Store, StoreOptions};
    use marquee_domain::inventory::TicketStatus;
    use rusqlite::params;

    /// The instant the tests happen at (milliseconds).
    pub(crate) const NOW: i64 = 1_900_000_000_000;

    /// Two users, one showtime `sho_1` in EUR with four seats. Their seat-map positions run
    /// against their ids (`tkt_4` first), so that id order and seat-map order differ.
    const CATALOG: &str = "
        INSERT INTO users (id, email, password_hash, role, created_at) VALUES
            ('usr_1', 'one@example.com', 'x', 'customer', 0),
            ('usr_2', 'two@example.com', 'x', 'customer', 0),
            ('usr_3', 'three@example.com', 'x', 'customer', 0),
            ('usr_4', 'four@example.com', 'x', 'customer', 0);
        INSERT INTO venues (id, name, city, time_zone) VALUES ('ven_1', 'Odeon', 'Paris', 'Europe/Paris');
        INSERT INTO halls (id, venue_id, name, layout) VALUES ('hal_1', 'ven_1', 'Hall 1', '{}');
        INSERT INTO sections (id, hall_id, position, name, kind)
            VALUES ('sec_1', 'hal_1', 0, 'Stalls', 'seated');
        INSERT INTO events (id, kind, title, synopsis, genres, created_at)
            VALUES ('evt_1', 'movie', 'Film', 'A film.', ',drama,', 0);
        INSERT INTO showtimes
            (id, event_id, hall_id, starts_at, on_sale_from, on_sale_until, currency, prices, created_at)
            VALUES ('sho_1', 'evt_1', 'hal_1', 1900100000000, 0, 1900100000000, 'EUR',
                    '{\"standard\":1000}', 0);
        INSERT INTO tickets (id, showtime_id, section_id, section_name, row_label, number, label, category,
                             price_amount, position, row_index, column_index) VALUES
            ('tkt_1', 'sho_1', 'sec_1', 'Stalls', 'A', 1, 'A1', 'standard', 1000, 4, 0, 0),
            ('tkt_2', 'sho_1', 'sec_1', 'Stalls', 'A', 2, 'A2', 'standard', 1500, 3, 0, 1),
            ('tkt_3', 'sho_1', 'sec_1', 'Stalls', 'A', 3, 'A3', 'standard', 1000, 2, 0, 2),
            ('tkt_4', 'sho_1', 'sec_1', 'Stalls', 'A', 4, 'A4', 'standard', 1000, 1, 0, 3);";

    /// A store on a fresh database, and a connection of its own to write test data.
    pub(crate) struct Fixture {
        pub(crate) store: SqliteStore,
        pub(crate) setup: Connection,
        _database: TestDatabase,
    }

    /// A migrated store with [`CATALOG`].
    pub(crate) async fn fixture() -> Fixture {
        let database = TestDatabase::sqlite();
        let store = SqliteStore::open(&database.url, &StoreOptions::default()).unwrap();
        store.migrate().await.unwrap();
        let setup = crate::sqlite::writer::open(store.path()).unwrap();
        setup.execute_batch(CATALOG).unwrap();
        Fixture { store, setup, _database: database }
    }

    /// Sells `tickets` to a new confirmed order `order` of `user`, paid by a captured attempt
    /// `pay_<order>` with the provider reference `ref_<order>`, as a confirmation leaves them.
    pub(crate) fn sell(setup: &Connection, order: &str, user: &str, tickets: &[&str]) {
        let hold = format!("hld_{order}");
        setup
            .execute(
                "INSERT INTO holds (id, user_id, showtime_id, status, created_at, expires_at, order_id) \
                 VALUES (?1, ?2, 'sho_1', 'purchased', ?3, ?3, ?4)",
                params![hold, user, NOW - 60_000, order],
            )
            .unwrap();
        let mut total = 0;
        for ticket in tickets {
            setup
                .execute("INSERT INTO hold_items (hold_id, ticket_id) VALUES (?1, ?2)", params![hold, ticket])
                .unwrap();
            setup
                .execute(
                    "UPDATE tickets SET status = 'sold', order_id = ?2, hold_id = ?3 WHERE id = ?1",
                    params![ticket, order, hold],
                )
                .unwrap();
            total += setup
                .query_row("SELECT price_amount FROM tickets WHERE id = ?1", [ticket], |row| {
                    row.get::<_, i64>(0)
                })
                .unwrap();
        }
        setup
            .execute(
                "INSERT INTO orders (id, user_id, showtime_id, hold_id, status, total_amount, currency, \
                 payment_provider, payment_reference, created_at, updated_at) \
                 VALUES (?1, ?2, 'sho_1', ?3, 'confirmed', ?4, 'EUR', 'fake', ?5, ?6, ?6)",
                params![order, user, hold, total, format!("ref_{order}"), NOW - 60_000],
            )
            .unwrap();
        for ticket in tickets {
            setup
                .execute(
                    "INSERT INTO order_items (order_id, ticket_id, price_amount, live) \
                     SELECT ?1, id, price_amount, 1 FROM tickets WHERE id = ?2",
                    params![order, ticket],
                )
                .unwrap();
        }
        setup
            .execute(
                "INSERT INTO payment_attempts (id, order_id, provider, reference, status, amount, currency, \
                 created_at, updated_at) VALUES (?1, ?2, 'fake', ?3, 'captured', ?4, 'EUR', ?5, ?5)",
                params![format!("pay_{order}"), order, format!("ref_{order}"), total, NOW - 60_000],
            )
            .unwrap();
    }

    #[tokio::test]
    async fn an_order_shows_its_tickets_in_seat_map_order_and_sold_whatever_the_clock() {
        let fixture = fixture().await;
        sell(&fixture.setup, "ord_1", "usr_1", &["tkt_1", "tkt_2", "tkt_4"]);
        let order = fixture
            .store
            .read(|connection| load_order(connection, &OrderId::from_raw("ord_1")))
            .await
            .unwrap()
            .expect("the order exists");
        let ids: Vec<&str> = order.tickets.iter().map(|ticket| ticket.id.as_str()).collect();
        assert_eq!(ids, ["tkt_4", "tkt_2", "tkt_1"], "seat-map order, not id order");
        assert!(order.tickets.iter().all(|ticket| ticket.status == TicketStatus::Sold));
        assert_eq!(order.tickets[1].price, Money::new(1500, "EUR"));
        assert_eq!(order.status, OrderStatus::Confirmed);
        assert_eq!(order.total, Money::new(3500, "EUR"));
        assert_eq!(order.payment_reference, "ref_ord_1");
        assert_eq!(order.hold_id.as_str(), "hld_ord_1");
        let missing =
            fixture.store.read(|connection| load_order(connection, &OrderId::from_raw("ord_x"))).await;
        assert!(missing.unwrap().is_none());
    }

    #[tokio::test]
    async fn orders_beyond_one_chunk_of_bound_values_all_get_their_tickets() {
        let fixture = fixture().await;
        let count = MAX_BOUND_VALUES as i64 + 50;
        // Many ticketless orders and two with tickets, one in each chunk (ids sort `ord_00009`,
        // `ord_0000a`, `ord_00010`, …, `ord_00950`, `ord_z`).
        fixture
            .setup
            .execute_batch(&format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
                 INSERT INTO holds (id, user_id, showtime_id, status, created_at, expires_at) \
                 SELECT printf('hld_%05d', i), 'usr_2', 'sho_1', 'expired', 0, 0 FROM n; \
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
                 INSERT INTO orders (id, user_id, showtime_id, hold_id, status, total_amount, currency, \
                 payment_provider, payment_reference, created_at, updated_at) \
                 SELECT printf('ord_%05d', i), 'usr_2', 'sho_1', printf('hld_%05d', i), 'expired', 0, 'EUR', \
                 'fake', '', i, i FROM n;"
            ))
            .unwrap();
        sell(&fixture.setup, "ord_0000a", "usr_1", &["tkt_1"]);
        sell(&fixture.setup, "ord_z", "usr_1", &["tkt_2", "tkt_3"]);
        let orders = fixture
            .store
            .read(|connection| {
                let sql = format!("SELECT {ORDER_COLUMNS} FROM orders ORDER BY id");
                let rows: Vec<Order> = connection
                    .prepare(&sql)
                    .unwrap()
                    .query_map([], order_from_row)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                load_orders(connection, rows)
            })
            .await
            .unwrap();
        assert_eq!(orders.len() as i64, count + 2);
        assert_eq!(orders[0].id.as_str(), "ord_00001", "the orders keep the order they were given in");
        let with_tickets: Vec<(&str, Vec<&str>)> = orders
            .iter()
            .filter(|order| !order.tickets.is_empty())
            .map(|order| (order.id.as_str(), order.tickets.iter().map(|ticket| ticket.id.as_str()).collect()))
            .collect();
        assert_eq!(with_tickets, [("ord_0000a", vec!["tkt_1"]), ("ord_z", vec!["tkt_3", "tkt_2"])]);
    }
}
