//! The SQLite writer's commands: holds, releases, the sweeper, payments and their
//! confirmation, idempotency keys. Each runs inside its own savepoint of a batch (see
//! [`super::writer`]); no row locks are needed, since only the writer writes.
//!
//! What a command returns is built from what it wrote (`RETURNING` gives the rows it changed),
//! never read back. An ordinary outcome that writes — a confirmation that finds the tickets
//! gone marks the order expired — is a value ([`Confirmation`]), not an error: an error rolls
//! the command back.

use super::db;
use super::rows::{
    TICKET_COLUMNS, all_rows, in_seat_map_order, one_row, optional_row, placeholders, record_change,
    ticket_columns_of, ticket_from_row,
};
use crate::live::InventoryChange;
use crate::payments::{AttemptStatus, BeginPayment, Confirmation, OutboxMessage, PaymentAttempt};
use crate::{KeyResource, NewHold};
use marquee_domain::audit::AuditEntry;
use marquee_domain::clock::{from_millis, to_millis};
use marquee_domain::ids::{HoldId, OrderId, ShowtimeId, TicketId, UserId};
use marquee_domain::inventory::{Hold, HoldSelection, HoldStatus, Order, OrderStatus, Ticket, TicketStatus};
use marquee_domain::money::Money;
use marquee_domain::{Error, Result};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;

/// Best available never takes an accessible seat in a seated section (the same rule as the
/// seat map's): those are held only by picking them by id.
const NOT_ACCESSIBLE: &str = " AND category NOT LIKE '%access%' AND category NOT LIKE '%wheel%'";

// ---- holds ----

/// A hold with its tickets, as readers see it at `now`.
pub(crate) fn load_hold(connection: &Connection, id: &HoldId, now: OffsetDateTime) -> Result<Option<Hold>> {
    let hold = connection
        .prepare_cached(
            "SELECT h.user_id, h.showtime_id, h.status, h.created_at, h.expires_at, h.order_id, sh.currency \
             FROM holds h JOIN showtimes sh ON sh.id = h.showtime_id WHERE h.id = ?1",
        )
        .and_then(|mut select| {
            select
                .query_row([id.as_str()], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, i64>(4)?,
                        row.get::<_, Option<String>>(5)?,
                        row.get::<_, String>(6)?,
                    ))
                })
                .optional()
        })
        .map_err(db)?;
    let Some((user_id, showtime_id, stored, created_at, expires_at, order_id, currency)) = hold else {
        return Ok(None);
    };
    let status = HoldStatus::effective(&stored, from_millis(expires_at), now)?;
    let sql = format!(
        "SELECT {} FROM hold_items hi JOIN tickets t ON t.id = hi.ticket_id WHERE hi.hold_id = ?1",
        ticket_columns_of("t")
    );
    let tickets: Vec<(i64, Ticket)> =
        all_rows(connection, &sql, [id.as_str()], |row| ticket_from_row(row, &currency, now))?;
    let mut tickets = in_seat_map_order(tickets);
    if status == HoldStatus::Active {
        // Still ours: shown as held even to a reader whose clock is a hair behind.
        for ticket in &mut tickets {
            ticket.status = TicketStatus::Held;
        }
    }
    Ok(Some(Hold {
        id: id.clone(),
        user_id: UserId::from_raw(user_id),
        showtime_id: ShowtimeId::from_raw(showtime_id),
        status,
        created_at: from_millis(created_at),
        expires_at: from_millis(expires_at),
        order_id: order_id.map(OrderId::from_raw),
        tickets,
    }))
}

/// Takes the selected tickets for the user, all or none (see `Store::create_hold`).
pub fn create_hold(connection: &Connection, hold: &NewHold) -> Result<Hold> {
    let now = to_millis(hold.now);
    let currency = check_on_sale(connection, hold, now)?;
    let already_held: i64 = connection
        .prepare_cached(
            // From the user's holds (an index range), not from the showtime's tickets.
            "SELECT COUNT(*) FROM holds h JOIN tickets t ON t.hold_id = h.id \
             WHERE h.user_id = ?1 AND h.showtime_id = ?2 AND t.status = 'held' AND t.hold_expires_at > ?3",
        )
        .and_then(|mut count| {
            count.query_row(params![hold.user_id.as_str(), hold.showtime_id.as_str(), now], |row| row.get(0))
        })
        .map_err(db)?;
    let ids = select_tickets(connection, hold, now)?;
    if already_held + ids.len() as i64 > i64::from(hold.max_held_per_user) {
        return Err(Error::HoldLimitReached { limit: hold.max_held_per_user });
    }
    let taken = take_tickets(connection, hold, &ids, &currency, now)?;
    if taken.len() != ids.len() {
        // All or nothing: the error rolls back the tickets that were taken.
        let taken: BTreeSet<&str> = taken.iter().map(|(_, ticket)| ticket.id.as_str()).collect();
        let unavailable =
            ids.iter().filter(|id| !taken.contains(id.as_str())).cloned().map(TicketId::from_raw);
        return Err(Error::TicketsUnavailable { ticket_ids: unavailable.collect() });
    }
    connection
        .prepare_cached(
            "INSERT INTO holds (id, user_id, showtime_id, status, created_at, expires_at) \
             VALUES (?1, ?2, ?3, 'active', ?4, ?5)",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                hold.id.as_str(),
                hold.user_id.as_str(),
                hold.showtime_id.as_str(),
                now,
                to_millis(hold.expires_at)
            ])
        })
        .map_err(db)?;
    let mut item = connection
        .prepare_cached("INSERT INTO hold_items (hold_id, ticket_id) VALUES (?1, ?2)")
        .map_err(db)?;
    for id in &ids {
        item.execute(params![hold.id.as_str(), id]).map_err(db)?;
    }
    record_change(connection, hold.showtime_id.as_str(), InventoryChange::Held, &ids, hold.now)?;
    if let Some(claim) = &hold.claim {
        super::keys::claim(connection, claim, &KeyResource::Hold(hold.id.clone()), hold.now)?;
    }
    Ok(Hold {
        id: hold.id.clone(),
        user_id: hold.user_id.clone(),
        showtime_id: hold.showtime_id.clone(),
        status: HoldStatus::Active,
        created_at: from_millis(now),
        expires_at: from_millis(to_millis(hold.expires_at)),
        order_id: None,
        tickets: in_seat_map_order(taken),
    })
}

/// The showtime is on sale (and, behind a waiting room, the caller was admitted): its currency.
fn check_on_sale(connection: &Connection, hold: &NewHold, now: i64) -> Result<String> {
    let (from, until, cancelled, currency, queued): (i64, i64, Option<i64>, String, bool) = connection
        .prepare_cached(
            "SELECT on_sale_from, on_sale_until, cancelled_at, currency, \
             EXISTS (SELECT 1 FROM waiting_rooms w WHERE w.showtime_id = showtimes.id) \
             FROM showtimes WHERE id = ?1",
        )
        .and_then(|mut window| {
            window
                .query_row([hold.showtime_id.as_str()], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
                })
                .optional()
        })
        .map_err(db)?
        .ok_or(Error::NotFound("showtime"))?;
    if !(from <= now && now < until) || cancelled.is_some() {
        return Err(Error::NotOnSale);
    }
    if queued && !hold.admitted {
        return Err(Error::AdmissionRequired("join the queue and hold with your admission"));
    }
    Ok(currency)
}

/// The ids a selection asks for, sorted.
fn select_tickets(connection: &Connection, hold: &NewHold, now: i64) -> Result<Vec<String>> {
    match &hold.selection {
        HoldSelection::Tickets(ids) => {
            let mut sorted: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
            sorted.sort();
            sorted.dedup();
            let sql = format!(
                "SELECT id FROM tickets WHERE showtime_id = ?1 AND id IN ({})",
                placeholders(2, sorted.len())
            );
            let mut statement = connection.prepare_cached(&sql).map_err(db)?;
            let values = std::iter::once(hold.showtime_id.as_str()).chain(sorted.iter().map(String::as_str));
            let found: BTreeSet<String> = statement
                .query_map(params_from_iter(values), |row| row.get(0))
                .and_then(Iterator::collect)
                .map_err(db)?;
            let unknown: Vec<TicketId> =
                sorted.iter().filter(|id| !found.contains(*id)).cloned().map(TicketId::from_raw).collect();
            if !unknown.is_empty() {
                return Err(Error::UnknownTickets { ticket_ids: unknown });
            }
            Ok(sorted)
        }
        HoldSelection::Quantity { section, quantity } => {
            let (section_id, seated): (String, bool) = connection
                .prepare_cached(
                    // The hall's few sections, not the showtime's thousands of tickets.
                    "SELECT s.id, s.kind = 'seated' FROM showtimes sh JOIN sections s ON s.hall_id = sh.hall_id \
                     WHERE sh.id = ?1 AND (s.id = ?2 OR LOWER(s.name) = LOWER(?2)) ORDER BY s.position LIMIT 1",
                )
                .and_then(|mut find| {
                    find.query_row(params![hold.showtime_id.as_str(), section.trim()], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .optional()
                })
                .map_err(db)?
                .ok_or_else(|| Error::invalid(format!("the showtime has no section {section:?}")))?;
            let accessible_filter = if seated { NOT_ACCESSIBLE } else { "" };
            let wanted = *quantity as usize;
            let mut ids: Vec<String> = Vec::with_capacity(wanted);
            // Free places first, then places of holds that expired but were not swept yet:
            // each is one ordered range of `tickets_by_section`.
            for state in ["status = 'available'", "status = 'held' AND hold_expires_at <= ?4"] {
                let missing = wanted - ids.len();
                if missing == 0 {
                    break;
                }
                let sql = format!(
                    "SELECT id FROM tickets WHERE section_id = ?1 AND showtime_id = ?2 AND {state} \
                     {accessible_filter} ORDER BY position LIMIT ?3"
                );
                let mut statement = connection.prepare_cached(&sql).map_err(db)?;
                let limit = missing as i64;
                let found: rusqlite::Result<Vec<String>> = if state.contains("?4") {
                    statement
                        .query_map(params![section_id, hold.showtime_id.as_str(), limit, now], |row| {
                            row.get(0)
                        })
                        .and_then(Iterator::collect)
                } else {
                    statement
                        .query_map(params![section_id, hold.showtime_id.as_str(), limit], |row| row.get(0))
                        .and_then(Iterator::collect)
                };
                let found = found.map_err(db)?;
                ids.extend(found);
            }
            if ids.len() < wanted {
                return Err(Error::NotEnoughPlaces { requested: *quantity, available: ids.len() as u32 });
            }
            ids.sort();
            Ok(ids)
        }
    }
}

/// Marks the tickets held by the hold where they are takeable; the ones taken, as the hold
/// shows them.
fn take_tickets(
    connection: &Connection,
    hold: &NewHold,
    ids: &[String],
    currency: &str,
    now: i64,
) -> Result<Vec<(i64, Ticket)>> {
    let sql = format!(
        "UPDATE tickets SET status = 'held', hold_id = ?1, hold_expires_at = ?2 \
         WHERE id IN ({}) AND (status = 'available' OR (status = 'held' AND hold_expires_at <= ?3)) \
         RETURNING {TICKET_COLUMNS}",
        placeholders(4, ids.len())
    );
    let expires_at = to_millis(hold.expires_at);
    let mut statement = connection.prepare_cached(&sql).map_err(db)?;
    let mut values: Vec<rusqlite::types::Value> =
        vec![hold.id.as_str().to_owned().into(), expires_at.into(), now.into()];
    values.extend(ids.iter().map(|id| id.clone().into()));
    statement
        .query_map(params_from_iter(values), |row| ticket_from_row(row, currency, hold.now))
        .and_then(Iterator::collect)
        .map_err(db)
}

/// Gives an active hold's tickets back (see `Store::release_hold`); the hold as it is then.
pub fn release_hold(connection: &Connection, id: &HoldId, now: OffsetDateTime) -> Result<Hold> {
    let (showtime_id, stored, expires_at): (String, String, i64) = optional_row(
        connection,
        "SELECT showtime_id, status, expires_at FROM holds WHERE id = ?1",
        [id.as_str()],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?
    .ok_or(Error::NotFound("hold"))?;
    match stored.as_str() {
        "purchased" => return Err(Error::HoldNotActive { status: "purchased" }),
        "active" => {
            let freed: Vec<String> = connection
                .prepare_cached(
                    "UPDATE tickets SET status = 'available', hold_id = NULL, hold_expires_at = NULL \
                     WHERE hold_id = ?1 AND status = 'held' RETURNING id",
                )
                .and_then(|mut free| free.query_map([id.as_str()], |row| row.get(0))?.collect())
                .map_err(db)?;
            record_change(connection, &showtime_id, InventoryChange::Released, &freed, now)?;
            let ended = if expires_at <= to_millis(now) { "expired" } else { "released" };
            connection
                .prepare_cached("UPDATE holds SET status = ?2 WHERE id = ?1")
                .and_then(|mut update| update.execute(params![id.as_str(), ended]))
                .map_err(db)?;
        }
        _ => {}
    }
    load_hold(connection, id, now)?.ok_or(Error::NotFound("hold"))
}

/// Tidies expired holds (see `Store::sweep_expired_holds`): the number of tickets freed.
pub fn sweep_expired_holds(connection: &Connection, now: OffsetDateTime) -> Result<u64> {
    let at = to_millis(now);
    let freed: Vec<(String, String)> = connection
        .prepare_cached(
            "UPDATE tickets SET status = 'available', hold_id = NULL, hold_expires_at = NULL \
             WHERE status = 'held' AND hold_expires_at <= ?1 RETURNING showtime_id, id",
        )
        .and_then(|mut sweep| sweep.query_map([at], |row| Ok((row.get(0)?, row.get(1)?)))?.collect())
        .map_err(db)?;
    let mut by_showtime: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (showtime, ticket) in &freed {
        by_showtime.entry(showtime).or_default().push(ticket.clone());
    }
    for (showtime, tickets) in &by_showtime {
        record_change(connection, showtime, InventoryChange::Expired, tickets, now)?;
    }
    connection
        .prepare_cached("UPDATE holds SET status = 'expired' WHERE status = 'active' AND expires_at <= ?1")
        .and_then(|mut expire| expire.execute([at]))
        .map_err(db)?;
    Ok(freed.len() as u64)
}

// ---- payments ----

/// An attempt with its order's hold, buyer, status and creation time.
struct AttemptInOrder {
    attempt: PaymentAttempt,
    order_status: OrderStatus,
    order_created_at: i64,
}

fn attempt_in_order(connection: &Connection, attempt_id: &str) -> Result<AttemptInOrder> {
    let row = connection
        .prepare_cached(
            "SELECT a.id, a.order_id, o.hold_id, o.user_id, a.provider, a.reference, a.status, a.amount, \
             a.currency, a.refunded, a.created_at, a.updated_at, o.status, o.created_at \
             FROM payment_attempts a JOIN orders o ON o.id = a.order_id WHERE a.id = ?1",
        )
        .and_then(|mut select| {
            select
                .query_row([attempt_id], |row| {
                    Ok((
                        (
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, String>(3)?,
                            row.get::<_, String>(4)?,
                            row.get::<_, Option<String>>(5)?,
                            row.get::<_, String>(6)?,
                        ),
                        (
                            row.get::<_, i64>(7)?,
                            row.get::<_, String>(8)?,
                            row.get::<_, i64>(9)?,
                            row.get::<_, i64>(10)?,
                            row.get::<_, i64>(11)?,
                            row.get::<_, String>(12)?,
                            row.get::<_, i64>(13)?,
                        ),
                    ))
                })
                .optional()
        })
        .map_err(db)?
        .ok_or(Error::NotFound("payment attempt"))?;
    let ((id, order_id, hold_id, user_id, provider, reference, status), tail) = row;
    let (amount, currency, refunded, created_at, updated_at, order_status, order_created_at) = tail;
    Ok(AttemptInOrder {
        attempt: PaymentAttempt {
            id,
            order_id: OrderId::from_raw(order_id),
            hold_id: HoldId::from_raw(hold_id),
            user_id: UserId::from_raw(user_id),
            provider,
            reference,
            status: AttemptStatus::parse(&status)?,
            amount: Money::new(amount, currency),
            refunded,
            created_at: from_millis(created_at),
            updated_at: from_millis(updated_at),
        },
        order_status: OrderStatus::parse(&order_status)?,
        order_created_at,
    })
}

/// Moves an order from `from` (its status, already read) to `to`, if the state machine allows
/// it, and records why.
pub(crate) fn transition(
    connection: &Connection,
    order_id: &OrderId,
    from: OrderStatus,
    to: OrderStatus,
    reason: &str,
    now: i64,
) -> Result<()> {
    from.transition(to)?;
    connection
        .prepare_cached("UPDATE orders SET status = ?2, updated_at = ?3 WHERE id = ?1")
        .and_then(|mut update| update.execute(params![order_id.as_str(), to.as_str(), now]))
        .map_err(db)?;
    connection
        .prepare_cached(
            "INSERT INTO order_transitions (order_id, from_status, to_status, at, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut insert| insert.execute(params![order_id.as_str(), from.as_str(), to.as_str(), now, reason]))
        .map_err(db)?;
    Ok(())
}

/// Creates the hold's order (or reuses it) and writes a `started` attempt (see
/// `PaymentStore::begin_payment`).
pub fn begin_payment(connection: &Connection, begin: &BeginPayment) -> Result<PaymentAttempt> {
    let now = to_millis(begin.now);
    let (_, stored, expires_at): (String, String, i64) = connection
        .prepare_cached("SELECT user_id, status, expires_at FROM holds WHERE id = ?1")
        .and_then(|mut select| {
            select
                .query_row([begin.hold_id.as_str()], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .optional()
        })
        .map_err(db)?
        .filter(|(owner, _, _)| owner == begin.user_id.as_str())
        .ok_or(Error::NotFound("hold"))?;
    HoldStatus::effective(&stored, from_millis(expires_at), begin.now)?.ensure_active()?;

    let existing: Option<(String, String, i64, String)> = connection
        .prepare_cached("SELECT id, status, total_amount, currency FROM orders WHERE hold_id = ?1")
        .and_then(|mut select| {
            select
                .query_row([begin.hold_id.as_str()], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .optional()
        })
        .map_err(db)?;
    let (order_id, total, currency) = match existing {
        None => {
            let (total, currency, showtime_id): (i64, String, String) = connection
                .prepare_cached(
                    "SELECT COALESCE(SUM(t.price_amount), 0), MIN(sh.currency), MIN(t.showtime_id) \
                     FROM hold_items hi JOIN tickets t ON t.id = hi.ticket_id \
                     JOIN showtimes sh ON sh.id = t.showtime_id WHERE hi.hold_id = ?1",
                )
                .and_then(|mut totals| {
                    totals.query_row([begin.hold_id.as_str()], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })
                })
                .map_err(db)?;
            connection
                .prepare_cached(
                    "INSERT INTO orders (id, user_id, showtime_id, hold_id, status, total_amount, currency, \
                     payment_provider, payment_reference, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, 'pending_payment', ?5, ?6, ?7, '', ?8, ?8)",
                )
                .and_then(|mut insert| {
                    insert.execute(params![
                        begin.new_order_id.as_str(),
                        begin.user_id.as_str(),
                        showtime_id,
                        begin.hold_id.as_str(),
                        total,
                        currency,
                        begin.provider,
                        now
                    ])
                })
                .map_err(db)?;
            connection
                .prepare_cached(
                    "INSERT INTO order_transitions (order_id, from_status, to_status, at, reason) \
                     VALUES (?1, NULL, 'pending_payment', ?2, 'checkout started')",
                )
                .and_then(|mut insert| insert.execute(params![begin.new_order_id.as_str(), now]))
                .map_err(db)?;
            (begin.new_order_id.clone(), total, currency)
        }
        Some((id, status, total, currency)) => {
            let order_id = OrderId::from_raw(id);
            match OrderStatus::parse(&status)? {
                OrderStatus::PaymentFailed => transition(
                    connection,
                    &order_id,
                    OrderStatus::PaymentFailed,
                    OrderStatus::PendingPayment,
                    "payment retried",
                    now,
                )?,
                OrderStatus::PendingPayment => {
                    let in_flight: i64 = connection
                        .prepare_cached(
                            "SELECT COUNT(*) FROM payment_attempts \
                             WHERE order_id = ?1 AND status IN ('started', 'unknown', 'authorized')",
                        )
                        .and_then(|mut count| count.query_row([order_id.as_str()], |row| row.get(0)))
                        .map_err(db)?;
                    if in_flight > 0 {
                        return Err(Error::PaymentInProgress);
                    }
                }
                OrderStatus::Expired => return Err(Error::HoldExpired),
                _ => return Err(Error::HoldNotActive { status: "purchased" }),
            }
            (order_id, total, currency)
        }
    };
    connection
        .prepare_cached(
            "INSERT INTO payment_attempts (id, order_id, provider, status, amount, currency, created_at, updated_at) \
             VALUES (?1, ?2, ?3, 'started', ?4, ?5, ?6, ?6)",
        )
        .and_then(|mut insert| {
            insert.execute(params![begin.attempt_id, order_id.as_str(), begin.provider, total, currency, now])
        })
        .map_err(db)?;
    if let Some(claim) = &begin.claim {
        super::keys::claim(connection, claim, &KeyResource::Payment(begin.attempt_id.clone()), begin.now)?;
    }
    Ok(PaymentAttempt {
        id: begin.attempt_id.clone(),
        order_id,
        hold_id: begin.hold_id.clone(),
        user_id: begin.user_id.clone(),
        provider: begin.provider.clone(),
        reference: None,
        status: AttemptStatus::Started,
        amount: Money::new(total, currency),
        refunded: 0,
        created_at: from_millis(now),
        updated_at: from_millis(now),
    })
}

/// Records the provider's answer for an attempt that did not confirm its order (see
/// `PaymentStore::record_attempt`).
pub fn record_attempt(
    connection: &Connection,
    attempt_id: &str,
    status: AttemptStatus,
    reference: Option<&str>,
    failure: Option<&str>,
    now: OffsetDateTime,
) -> Result<()> {
    let now = to_millis(now);
    let found = attempt_in_order(connection, attempt_id)?;
    connection
        .prepare_cached(
            "UPDATE payment_attempts SET status = ?2, reference = COALESCE(?3, reference), \
             failure = COALESCE(?4, failure), updated_at = ?5 WHERE id = ?1",
        )
        .and_then(|mut update| update.execute(params![attempt_id, status.as_str(), reference, failure, now]))
        .map_err(db)?;
    if matches!(status, AttemptStatus::Failed | AttemptStatus::Voided)
        && found.order_status == OrderStatus::PendingPayment
    {
        // The order falls back to `payment_failed`, or to `expired` once its hold ran out.
        let (stored, expires_at): (String, i64) = one_row(
            connection,
            "SELECT status, expires_at FROM holds WHERE id = ?1",
            [found.attempt.hold_id.as_str()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let hold = HoldStatus::effective(&stored, from_millis(expires_at), from_millis(now))?;
        let next = if hold == HoldStatus::Active { OrderStatus::PaymentFailed } else { OrderStatus::Expired };
        transition(
            connection,
            &found.attempt.order_id,
            OrderStatus::PendingPayment,
            next,
            failure.unwrap_or("payment failed"),
            now,
        )?;
    }
    Ok(())
}

/// Sells the hold's tickets to the attempt's order if every one is still held by the hold
/// (see `PaymentStore::confirm_payment`).
pub fn confirm_payment(
    connection: &Connection,
    attempt_id: &str,
    reference: &str,
    message: &OutboxMessage,
    audit: Option<&AuditEntry>,
    now: OffsetDateTime,
) -> Result<Confirmation> {
    let now_ms = to_millis(now);
    let found = attempt_in_order(connection, attempt_id)?;
    let attempt = &found.attempt;
    let status = match found.order_status {
        OrderStatus::PendingPayment => OrderStatus::PendingPayment,
        OrderStatus::PaymentFailed => {
            // A late answer for an attempt given up on: pay with it after all.
            transition(
                connection,
                &attempt.order_id,
                OrderStatus::PaymentFailed,
                OrderStatus::PendingPayment,
                "late authorization",
                now_ms,
            )?;
            OrderStatus::PendingPayment
        }
        OrderStatus::Expired => return Ok(Confirmation::TicketsGone),
        _ => return Ok(Confirmation::AlreadyPaid),
    };
    let held: Vec<(String, Option<String>)> = connection
        .prepare_cached(
            "SELECT t.status, t.hold_id FROM tickets t JOIN hold_items hi ON hi.ticket_id = t.id WHERE hi.hold_id = ?1",
        )
        .and_then(|mut select| {
            select.query_map([attempt.hold_id.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))?.collect()
        })
        .map_err(db)?;
    let still_ours = held
        .iter()
        .all(|(status, hold)| status == "held" && hold.as_deref() == Some(attempt.hold_id.as_str()));
    if held.is_empty() || !still_ours {
        transition(
            connection,
            &attempt.order_id,
            status,
            OrderStatus::Expired,
            "tickets taken after the hold expired",
            now_ms,
        )?;
        connection
            .prepare_cached("UPDATE holds SET status = 'expired' WHERE id = ?1 AND status = 'active'")
            .and_then(|mut update| update.execute([attempt.hold_id.as_str()]))
            .map_err(db)?;
        return Ok(Confirmation::TicketsGone);
    }
    let sql = format!(
        "UPDATE tickets SET status = 'sold', order_id = ?1, hold_expires_at = NULL, checked_in_at = NULL \
         WHERE hold_id = ?2 AND status = 'held' RETURNING {TICKET_COLUMNS}"
    );
    let sold: Vec<(i64, Ticket)> = connection
        .prepare_cached(&sql)
        .and_then(|mut sell| {
            sell.query_map(params![attempt.order_id.as_str(), attempt.hold_id.as_str()], |row| {
                ticket_from_row(row, &attempt.amount.currency, now)
            })?
            .collect()
        })
        .map_err(db)?;
    let Some(showtime_id) = sold.first().map(|(_, ticket)| ticket.showtime_id.clone()) else {
        return Err(Error::internal("a confirmation found its tickets held, then sold none"));
    };
    let ids: Vec<String> = sold.iter().map(|(_, ticket)| ticket.id.as_str().to_owned()).collect();
    record_change(connection, showtime_id.as_str(), InventoryChange::Sold, &ids, now)?;
    let mut item = connection
        .prepare_cached(
            "INSERT INTO order_items (order_id, ticket_id, price_amount, live) VALUES (?1, ?2, ?3, 1)",
        )
        .map_err(db)?;
    for (_, ticket) in &sold {
        item.execute(params![attempt.order_id.as_str(), ticket.id.as_str(), ticket.price.amount])
            .map_err(db)?;
    }
    transition(connection, &attempt.order_id, status, OrderStatus::Confirmed, "payment authorized", now_ms)?;
    connection
        .prepare_cached("UPDATE orders SET payment_reference = ?2 WHERE id = ?1")
        .and_then(|mut update| update.execute(params![attempt.order_id.as_str(), reference]))
        .map_err(db)?;
    connection
        .prepare_cached("UPDATE holds SET status = 'purchased', order_id = ?1 WHERE id = ?2")
        .and_then(|mut update| update.execute(params![attempt.order_id.as_str(), attempt.hold_id.as_str()]))
        .map_err(db)?;
    connection
        .prepare_cached(
            "UPDATE payment_attempts SET status = 'authorized', reference = ?2, updated_at = ?3 WHERE id = ?1",
        )
        .and_then(|mut update| update.execute(params![attempt_id, reference, now_ms]))
        .map_err(db)?;
    enqueue(connection, message, now_ms)?;
    if let Some(entry) = audit {
        super::admin::insert_audit(connection, entry)?;
    }
    Ok(Confirmation::Confirmed(Box::new(Order {
        id: attempt.order_id.clone(),
        user_id: attempt.user_id.clone(),
        showtime_id,
        hold_id: attempt.hold_id.clone(),
        status: OrderStatus::Confirmed,
        total: attempt.amount.clone(),
        payment_reference: reference.to_owned(),
        updated_at: from_millis(now_ms),
        created_at: from_millis(found.order_created_at),
        tickets: in_seat_map_order(sold),
    })))
}

/// Queues a message in the command's transaction.
pub(crate) fn enqueue(connection: &Connection, message: &OutboxMessage, now: i64) -> Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO outbox (id, kind, recipient, subject, body, created_at, attempts, next_attempt_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?6)",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                message.id,
                message.kind,
                message.recipient,
                message.subject,
                message.body,
                now
            ])
        })
        .map_err(db)?;
    Ok(())
}

/// A confirmed order whose payment could not be captured: `cancelled`, its live tickets back
/// on sale (see `PaymentStore::cancel_unpaid_order`).
pub fn cancel_unpaid_order(
    connection: &Connection,
    attempt_id: &str,
    failure: &str,
    now: OffsetDateTime,
) -> Result<()> {
    let now_ms = to_millis(now);
    let found = attempt_in_order(connection, attempt_id)?;
    let order_id = found.attempt.order_id.as_str();
    connection
        .prepare_cached("UPDATE order_items SET live = 0 WHERE order_id = ?1 AND live = 1")
        .and_then(|mut update| update.execute([order_id]))
        .map_err(db)?;
    let freed: Vec<(String, String)> = connection
        .prepare_cached(
            "UPDATE tickets SET status = 'available', order_id = NULL, hold_id = NULL, hold_expires_at = NULL, \
             checked_in_at = NULL WHERE order_id = ?1 RETURNING showtime_id, id",
        )
        .and_then(|mut release| release.query_map([order_id], |row| Ok((row.get(0)?, row.get(1)?)))?.collect())
        .map_err(db)?;
    if let Some((showtime, _)) = freed.first() {
        let ids: Vec<String> = freed.iter().map(|(_, id)| id.clone()).collect();
        record_change(connection, showtime, InventoryChange::Refunded, &ids, now)?;
    }
    transition(
        connection,
        &found.attempt.order_id,
        found.order_status,
        OrderStatus::Cancelled,
        failure,
        now_ms,
    )?;
    connection
        .prepare_cached(
            "UPDATE payment_attempts SET status = 'failed', failure = ?2, updated_at = ?3 WHERE id = ?1",
        )
        .and_then(|mut update| update.execute(params![attempt_id, failure, now_ms]))
        .map_err(db)?;
    Ok(())
}
