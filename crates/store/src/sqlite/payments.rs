//! [`PaymentStore`] on SQLite: payment attempts, refunds, door check-in, settings, webhook
//! de-duplication and the notification outbox.
//!
//! Every write is one command of the writer (see [`super::writer`]): what the legacy store
//! did in one transaction is one closure here, and nothing another command writes can come
//! between its reads and its writes, so no row is locked. The commands that sell and cancel
//! (`begin_payment`, `record_attempt`, `confirm_payment`, `cancel_unpaid_order`) are those of
//! [`super::inventory`]. Every order status change goes through [`transition`], which checks
//! the domain's state machine and writes the history row in the same command.

use super::inventory;
use super::orders::load_order;
use super::rows::{all_rows, instant, one_row, optional_row, parsed, record_change};
use super::{SqliteStore, db};
use crate::KeyResource;
use crate::live::InventoryChange;
use crate::payments::{
    AttemptStatus, BeginPayment, CheckIn, Confirmation, NewRefund, OutboxMessage, PaymentAttempt,
    PaymentStore, Refund, RefundStatus, SoldTicket,
};
use async_trait::async_trait;
use marquee_domain::audit::AuditEntry;
use marquee_domain::clock::{from_millis, to_millis};
use marquee_domain::ids::{HoldId, OrderId, ShowtimeId, TicketId, UserId};
use marquee_domain::inventory::{Order, OrderStatus};
use marquee_domain::money::Money;
use marquee_domain::{Error, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;

/// Most unsettled attempts the reconciler is given per look: it settles them one by one and
/// looks again, so a backlog is worked through in pages instead of read whole.
const MAX_UNSETTLED_ATTEMPTS: i64 = 500;
/// Most pending refunds the reconciler is given per look (same reasoning as attempts).
const MAX_PENDING_REFUNDS: i64 = 500;

/// An attempt with its order's hold and buyer, as [`attempt_from_row`] reads it. Callers add
/// `WHERE …`.
const ATTEMPT_SELECT: &str = "SELECT a.id, a.order_id, o.hold_id, o.user_id, a.provider, a.reference, \
     a.status, a.amount, a.currency, a.refunded, a.created_at, a.updated_at \
     FROM payment_attempts a JOIN orders o ON o.id = a.order_id";

/// A refund with what applying it needs (the provider reference of the payment it gives back,
/// the order's currency) and its status, as [`refund_from_row`] reads it. Callers add `WHERE …`.
const REFUND_SELECT: &str = "SELECT r.id, r.order_id, r.attempt_id, r.amount, r.ticket_ids, r.reason, \
     r.status, a.reference, o.currency FROM refunds r \
     JOIN payment_attempts a ON a.id = r.attempt_id JOIN orders o ON o.id = r.order_id";

/// The columns [`message_from_row`] reads, of `outbox`.
const MESSAGE_COLUMNS: &str = "id, kind, recipient, subject, body, attempts";

/// A row of [`ATTEMPT_SELECT`] as an attempt.
fn attempt_from_row(row: &Row<'_>) -> rusqlite::Result<PaymentAttempt> {
    Ok(PaymentAttempt {
        id: row.get("id")?,
        order_id: OrderId::from_raw(row.get::<_, String>("order_id")?),
        hold_id: HoldId::from_raw(row.get::<_, String>("hold_id")?),
        user_id: UserId::from_raw(row.get::<_, String>("user_id")?),
        provider: row.get("provider")?,
        reference: row.get("reference")?,
        status: parsed(row, "status", AttemptStatus::parse)?,
        amount: Money::new(row.get::<_, i64>("amount")?, row.get::<_, String>("currency")?),
        refunded: row.get("refunded")?,
        created_at: instant(row, "created_at")?,
        updated_at: instant(row, "updated_at")?,
    })
}

/// A row of [`REFUND_SELECT`] as a refund (its ticket ids are stored as a JSON array).
fn refund_from_row(row: &Row<'_>) -> rusqlite::Result<Refund> {
    let ticket_ids = parsed(row, "ticket_ids", |text| {
        serde_json::from_str::<Vec<String>>(text)
            .map_err(|error| Error::internal(format!("bad refund ticket list: {error}")))
    })?;
    Ok(Refund {
        id: row.get("id")?,
        order_id: OrderId::from_raw(row.get::<_, String>("order_id")?),
        attempt_id: row.get("attempt_id")?,
        reference: row.get::<_, Option<String>>("reference")?.unwrap_or_default(),
        amount: Money::new(row.get::<_, i64>("amount")?, row.get::<_, String>("currency")?),
        ticket_ids: ticket_ids.into_iter().map(TicketId::from_raw).collect(),
        reason: row.get("reason")?,
    })
}

/// A row of `outbox` (selected as [`MESSAGE_COLUMNS`]) as a message.
fn message_from_row(row: &Row<'_>) -> rusqlite::Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: row.get("id")?,
        kind: row.get("kind")?,
        recipient: row.get("recipient")?,
        subject: row.get("subject")?,
        body: row.get("body")?,
        attempts: row.get("attempts")?,
    })
}

/// Moves an order to `to`, if the state machine allows it from the status it has, and
/// records why. Returns the status it had. `NotFound` without such an order, `Conflict` for
/// a transition the state machine forbids (the caller's command is then rolled back whole).
fn transition(
    connection: &Connection,
    order_id: &str,
    to: OrderStatus,
    reason: &str,
    now: i64,
) -> Result<OrderStatus> {
    let from: String =
        optional_row(connection, "SELECT status FROM orders WHERE id = ?1", [order_id], |row| row.get(0))?
            .ok_or(Error::NotFound("order"))?;
    let from = OrderStatus::parse(&from)?;
    inventory::transition(connection, &OrderId::from_raw(order_id), from, to, reason, now)?;
    Ok(from)
}

/// Whether a refund of the order has begun and not finished.
fn refund_under_way(connection: &Connection, order_id: &str) -> Result<bool> {
    one_row(
        connection,
        "SELECT EXISTS (SELECT 1 FROM refunds WHERE order_id = ?1 AND status = 'pending')",
        [order_id],
        |row| row.get(0),
    )
}

/// Puts the listed tickets of an order back on sale (their old codes void: `checked_in_at`
/// cleared, the order no longer theirs) and marks their items refunded, announcing the freed
/// ones on the inventory feed. Returns how many tickets stay live in the order.
fn release_order_tickets(
    connection: &Connection,
    order_id: &str,
    ticket_ids: &[TicketId],
    now: OffsetDateTime,
) -> Result<i64> {
    let showtime: String =
        one_row(connection, "SELECT showtime_id FROM orders WHERE id = ?1", [order_id], |row| row.get(0))?;
    let mut retire = connection
        .prepare_cached("UPDATE order_items SET live = 0 WHERE order_id = ?1 AND ticket_id = ?2")
        .map_err(db)?;
    let mut release = connection
        .prepare_cached(
            "UPDATE tickets SET status = 'available', order_id = NULL, hold_id = NULL, \
             hold_expires_at = NULL, checked_in_at = NULL WHERE id = ?1 AND order_id = ?2",
        )
        .map_err(db)?;
    let mut freed = Vec::with_capacity(ticket_ids.len());
    for ticket in ticket_ids {
        retire.execute(params![order_id, ticket.as_str()]).map_err(db)?;
        if release.execute(params![ticket.as_str(), order_id]).map_err(db)? == 1 {
            freed.push(ticket.as_str().to_owned());
        }
    }
    record_change(connection, &showtime, InventoryChange::Refunded, &freed, now)?;
    connection
        .prepare_cached("SELECT COUNT(*) FROM order_items WHERE order_id = ?1 AND live = 1")
        .and_then(|mut count| count.query_row([order_id], |row| row.get(0)))
        .map_err(db)
}

/// Writes a pending refund (see [`PaymentStore::begin_refund`]). It fails before writing
/// anything, so its errors roll nothing back that should stay.
fn begin_refund(connection: &Connection, refund: &NewRefund) -> Result<Refund> {
    let (refund_id, order_id, reason) = (refund.id.as_str(), &refund.order_id, refund.reason.as_str());
    let now = to_millis(refund.now);
    let (status, currency): (String, String) = optional_row(
        connection,
        "SELECT status, currency FROM orders WHERE id = ?1",
        [order_id.as_str()],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?
    .ok_or(Error::NotFound("order"))?;
    let status = OrderStatus::parse(&status)?;
    if !status.holds_tickets() {
        return Err(Error::Conflict(format!("a {} order cannot be refunded", status.as_str())));
    }
    if refund_under_way(connection, order_id.as_str())? {
        return Err(Error::Conflict("a refund of this order is already in progress".into()));
    }
    let live: Vec<(String, i64)> = connection
        .prepare_cached(
            "SELECT ticket_id, price_amount FROM order_items WHERE order_id = ?1 AND live = 1 \
             ORDER BY ticket_id",
        )
        .and_then(|mut select| {
            select.query_map([order_id.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))?.collect()
        })
        .map_err(db)?;
    let chosen: Vec<(String, i64)> = match &refund.ticket_ids {
        None => live,
        Some(ids) => {
            if ids.is_empty() {
                return Err(Error::invalid("name at least one ticket to refund"));
            }
            let mut chosen = Vec::new();
            for id in ids {
                let item = live.iter().find(|(ticket, _)| ticket == id.as_str()).ok_or_else(|| {
                    Error::invalid(format!("ticket {id} is not a live ticket of this order"))
                })?;
                if !chosen.contains(item) {
                    chosen.push(item.clone());
                }
            }
            chosen
        }
    };
    if refund.refuse_used {
        // Decided in the same command as the refund's row: a check-in (a command too) comes
        // wholly before it, and is seen here, or wholly after it, and sees the refund pending.
        let mut used = connection
            .prepare_cached(
                "SELECT label FROM tickets WHERE id = ?1 AND order_id = ?2 AND checked_in_at IS NOT NULL",
            )
            .map_err(db)?;
        for (ticket, _) in &chosen {
            let label: Option<String> = used
                .query_row(params![ticket, order_id.as_str()], |row| row.get(0))
                .optional()
                .map_err(db)?;
            if let Some(label) = label {
                return Err(Error::Conflict(format!("{label} was already admitted at the door")));
            }
        }
    }
    let (attempt_id, reference): (String, Option<String>) = connection
        .prepare_cached(
            "SELECT id, reference FROM payment_attempts WHERE order_id = ?1 AND status = 'captured'",
        )
        .and_then(|mut select| {
            select.query_row([order_id.as_str()], |row| Ok((row.get(0)?, row.get(1)?))).optional()
        })
        .map_err(db)?
        .ok_or_else(|| {
            Error::Conflict("the order's payment is not captured yet; try again shortly".into())
        })?;
    let amount = chosen
        .iter()
        .try_fold(0i64, |total, (_, price)| total.checked_add(*price))
        .ok_or_else(|| Error::internal("the refund's amount does not fit in 64 bits"))?;
    let ids: Vec<&String> = chosen.iter().map(|(id, _)| id).collect();
    let ids_json = serde_json::to_string(&ids).map_err(Error::internal)?;
    connection
        .prepare_cached(
            "INSERT INTO refunds \
             (id, order_id, attempt_id, amount, ticket_ids, reason, status, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7)",
        )
        .and_then(|mut insert| {
            insert.execute(params![refund_id, order_id.as_str(), attempt_id, amount, ids_json, reason, now])
        })
        .map_err(db)?;
    if let Some(claim) = &refund.claim {
        let resource = KeyResource::Refund { refund_id: refund_id.to_owned(), order_id: order_id.clone() };
        super::keys::claim(connection, claim, &resource, refund.now)?;
    }
    if let Some(entry) = &refund.audit {
        super::admin::insert_audit(connection, entry)?;
    }
    Ok(Refund {
        id: refund_id.to_owned(),
        order_id: order_id.clone(),
        attempt_id,
        reference: reference.unwrap_or_default(),
        amount: Money::new(amount, currency),
        ticket_ids: chosen.into_iter().map(|(id, _)| TicketId::from_raw(id)).collect(),
        reason: reason.to_owned(),
    })
}

/// Applies a refund the provider made (see [`PaymentStore::complete_refund`]); one that is no
/// longer pending (applied before, or failed) changes nothing and returns the order as it is.
fn complete_refund(
    connection: &Connection,
    refund_id: &str,
    message: &OutboxMessage,
    now: OffsetDateTime,
) -> Result<Order> {
    let now_ms = to_millis(now);
    let sql = format!("{REFUND_SELECT} WHERE r.id = ?1");
    let (refund, status): (Refund, String) =
        optional_row(connection, &sql, [refund_id], |row| Ok((refund_from_row(row)?, row.get("status")?)))?
            .ok_or(Error::NotFound("refund"))?;
    if status == "pending" {
        let order_id = refund.order_id.as_str();
        let left = release_order_tickets(connection, order_id, &refund.ticket_ids, now)?;
        let next = if left == 0 { OrderStatus::Refunded } else { OrderStatus::PartiallyRefunded };
        transition(connection, order_id, next, &refund.reason, now_ms)?;
        connection
            .prepare_cached("UPDATE refunds SET status = 'succeeded', updated_at = ?2 WHERE id = ?1")
            .and_then(|mut update| update.execute(params![refund_id, now_ms]))
            .map_err(db)?;
        connection
            .prepare_cached(
                "UPDATE payment_attempts SET refunded = refunded + ?2, updated_at = ?3 WHERE id = ?1",
            )
            .and_then(|mut update| update.execute(params![refund.attempt_id, refund.amount.amount, now_ms]))
            .map_err(db)?;
        inventory::enqueue(connection, message, now_ms)?;
    }
    // Read back in the command: the order with every ticket as the refund left it.
    load_order(connection, &refund.order_id)?.ok_or(Error::NotFound("order"))
}

/// Admits a sold ticket once (see [`PaymentStore::check_in`]). Only an admission writes, and
/// every error is decided when nothing was written: returning it as an error rolls back
/// nothing that the legacy store kept.
fn check_in(
    connection: &Connection,
    ticket_id: &TicketId,
    order_id: &OrderId,
    showtime_id: Option<&ShowtimeId>,
    now: OffsetDateTime,
) -> Result<CheckIn> {
    let (ticket_showtime, label): (String, String) = optional_row(
        connection,
        "SELECT showtime_id, label FROM tickets WHERE id = ?1",
        [ticket_id.as_str()],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?
    .ok_or_else(|| Error::InvalidTicketCode("no such ticket".into()))?;
    let ticket_showtime = ShowtimeId::from_raw(ticket_showtime);
    if showtime_id.is_some_and(|expected| *expected != ticket_showtime) {
        return Err(Error::WrongShowtime);
    }
    // In the same command as the check, like a refund's start: a ticket is never both
    // admitted and refunded because the two crossed.
    if refund_under_way(connection, order_id.as_str())? {
        return Err(Error::Conflict("a refund of this ticket's order is under way; do not admit".into()));
    }
    let admitted = connection
        .prepare_cached(
            "UPDATE tickets SET checked_in_at = ?3 \
             WHERE id = ?1 AND order_id = ?2 AND status = 'sold' AND checked_in_at IS NULL",
        )
        .and_then(|mut update| update.execute(params![ticket_id.as_str(), order_id.as_str(), to_millis(now)]))
        .map_err(db)?;
    if admitted == 1 {
        return Ok(CheckIn::Admitted { ticket_id: ticket_id.clone(), label, showtime_id: ticket_showtime });
    }
    // Scanned twice, or void: the row as it is.
    let (status, owner, checked_in_at): (String, Option<String>, Option<i64>) = one_row(
        connection,
        "SELECT status, order_id, checked_in_at FROM tickets WHERE id = ?1",
        [ticket_id.as_str()],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    if status != "sold" || owner.as_deref() != Some(order_id.as_str()) {
        return Err(Error::TicketVoid);
    }
    match checked_in_at {
        Some(at) => Ok(CheckIn::AlreadyAdmitted { at: from_millis(at) }),
        // Cannot happen within one command (the update would have admitted it); kept as the
        // legacy store answered a lost race.
        None => Err(Error::Contention),
    }
}

#[async_trait]
impl PaymentStore for SqliteStore {
    async fn begin_payment(&self, begin: &BeginPayment) -> Result<PaymentAttempt> {
        let begin = begin.clone();
        self.write(move |connection| inventory::begin_payment(connection, &begin)).await
    }

    async fn record_attempt(
        &self,
        attempt_id: &str,
        status: AttemptStatus,
        reference: Option<&str>,
        failure: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let (attempt_id, reference, failure) =
            (attempt_id.to_owned(), reference.map(str::to_owned), failure.map(str::to_owned));
        self.write(move |connection| {
            inventory::record_attempt(
                connection,
                &attempt_id,
                status,
                reference.as_deref(),
                failure.as_deref(),
                now,
            )
        })
        .await
    }

    async fn confirm_payment(
        &self,
        attempt_id: &str,
        reference: &str,
        message: &OutboxMessage,
        audit: Option<&AuditEntry>,
        now: OffsetDateTime,
    ) -> Result<Confirmation> {
        let (attempt_id, reference, message) = (attempt_id.to_owned(), reference.to_owned(), message.clone());
        let audit = audit.cloned();
        self.write(move |connection| {
            inventory::confirm_payment(connection, &attempt_id, &reference, &message, audit.as_ref(), now)
        })
        .await
    }

    async fn mark_captured(&self, attempt_ids: &[String], now: OffsetDateTime) -> Result<()> {
        let attempt_ids = attempt_ids.to_vec();
        self.write(move |connection| {
            let mut mark = connection
                .prepare_cached(
                    "UPDATE payment_attempts SET status = 'captured', updated_at = ?2 \
                     WHERE id = ?1 AND status = 'authorized'",
                )
                .map_err(db)?;
            for id in &attempt_ids {
                mark.execute(params![id, to_millis(now)]).map_err(db)?;
            }
            Ok(())
        })
        .await
    }

    async fn cancel_unpaid_order(&self, attempt_id: &str, failure: &str, now: OffsetDateTime) -> Result<()> {
        let (attempt_id, failure) = (attempt_id.to_owned(), failure.to_owned());
        self.write(move |connection| inventory::cancel_unpaid_order(connection, &attempt_id, &failure, now))
            .await
    }

    async fn get_attempt(&self, attempt_id: &str) -> Result<Option<PaymentAttempt>> {
        let attempt_id = attempt_id.to_owned();
        self.read(move |connection| {
            let sql = format!("{ATTEMPT_SELECT} WHERE a.id = ?1");
            optional_row(connection, &sql, [attempt_id], attempt_from_row)
        })
        .await
    }

    async fn order_attempts(&self, order_id: &OrderId) -> Result<Vec<PaymentAttempt>> {
        let order_id = order_id.clone();
        self.read(move |connection| {
            let sql = format!("{ATTEMPT_SELECT} WHERE a.order_id = ?1 ORDER BY a.id");
            all_rows(connection, &sql, [order_id.as_str()], attempt_from_row)
        })
        .await
    }

    async fn attempt_by_reference(&self, provider: &str, reference: &str) -> Result<Option<PaymentAttempt>> {
        let (provider, reference) = (provider.to_owned(), reference.to_owned());
        self.read(move |connection| {
            let sql = format!("{ATTEMPT_SELECT} WHERE a.provider = ?1 AND a.reference = ?2");
            optional_row(connection, &sql, params![provider, reference], attempt_from_row)
        })
        .await
    }

    async fn unsettled_attempts(&self, before: OffsetDateTime) -> Result<Vec<PaymentAttempt>> {
        self.read(move |connection| {
            let sql = format!(
                "{ATTEMPT_SELECT} WHERE a.status IN ('started', 'unknown', 'authorized') \
                 AND a.updated_at < ?1 ORDER BY a.id LIMIT ?2"
            );
            connection
                .prepare_cached(&sql)
                .and_then(|mut select| {
                    let page = params![to_millis(before), MAX_UNSETTLED_ATTEMPTS];
                    select.query_map(page, attempt_from_row)?.collect()
                })
                .map_err(db)
        })
        .await
    }

    async fn begin_refund(&self, refund: &NewRefund) -> Result<Refund> {
        let refund = refund.clone();
        self.write(move |connection| begin_refund(connection, &refund)).await
    }

    async fn complete_refund(
        &self,
        refund_id: &str,
        message: &OutboxMessage,
        now: OffsetDateTime,
    ) -> Result<Order> {
        let (refund_id, message) = (refund_id.to_owned(), message.clone());
        self.write(move |connection| complete_refund(connection, &refund_id, &message, now)).await
    }

    async fn fail_refund(&self, refund_id: &str, failure: &str, now: OffsetDateTime) -> Result<()> {
        let (refund_id, failure) = (refund_id.to_owned(), failure.to_owned());
        self.write(move |connection| {
            connection
                .prepare_cached(
                    "UPDATE refunds SET status = 'failed', reason = reason || ': ' || ?2, updated_at = ?3 \
                     WHERE id = ?1 AND status = 'pending'",
                )
                .and_then(|mut update| update.execute(params![refund_id, failure, to_millis(now)]))
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn pending_refunds(&self, before: OffsetDateTime) -> Result<Vec<Refund>> {
        self.read(move |connection| {
            let sql = format!(
                "{REFUND_SELECT} WHERE r.status = 'pending' AND r.updated_at < ?1 ORDER BY r.id LIMIT ?2"
            );
            connection
                .prepare_cached(&sql)
                .and_then(|mut select| {
                    select
                        .query_map(params![to_millis(before), MAX_PENDING_REFUNDS], refund_from_row)?
                        .collect()
                })
                .map_err(db)
        })
        .await
    }

    async fn refund_status(&self, refund_id: &str) -> Result<Option<RefundStatus>> {
        let refund_id = refund_id.to_owned();
        let status: Option<String> = self
            .read(move |connection| {
                connection
                    .prepare_cached("SELECT status FROM refunds WHERE id = ?1")
                    .and_then(|mut select| select.query_row([&refund_id], |row| row.get(0)).optional())
                    .map_err(db)
            })
            .await?;
        status.as_deref().map(RefundStatus::parse).transpose()
    }

    async fn orders_with_tickets(&self, showtime_id: &ShowtimeId) -> Result<Vec<OrderId>> {
        let showtime_id = showtime_id.clone();
        self.read(move |connection| {
            connection
                .prepare_cached(
                    "SELECT id FROM orders \
                     WHERE showtime_id = ?1 AND status IN ('confirmed', 'partially_refunded') ORDER BY id",
                )
                .and_then(|mut select| {
                    let id = |row: &Row<'_>| Ok(OrderId::from_raw(row.get::<_, String>(0)?));
                    select.query_map([showtime_id.as_str()], id)?.collect()
                })
                .map_err(db)
        })
        .await
    }

    async fn check_in(
        &self,
        ticket_id: &TicketId,
        order_id: &OrderId,
        showtime_id: Option<&ShowtimeId>,
        now: OffsetDateTime,
    ) -> Result<CheckIn> {
        let (ticket_id, order_id, showtime_id) = (ticket_id.clone(), order_id.clone(), showtime_id.cloned());
        self.write(move |connection| check_in(connection, &ticket_id, &order_id, showtime_id.as_ref(), now))
            .await
    }

    async fn sold_ticket(&self, ticket_id: &TicketId) -> Result<Option<SoldTicket>> {
        let ticket_id = ticket_id.clone();
        self.read(move |connection| {
            connection
                .prepare_cached(
                    "SELECT t.order_id, t.checked_in_at, o.user_id \
                     FROM tickets t JOIN orders o ON o.id = t.order_id WHERE t.id = ?1 AND t.status = 'sold'",
                )
                .and_then(|mut select| {
                    select
                        .query_row([ticket_id.as_str()], |row| {
                            Ok(SoldTicket {
                                order_id: OrderId::from_raw(row.get::<_, String>(0)?),
                                user_id: UserId::from_raw(row.get::<_, String>(2)?),
                                checked_in_at: row.get::<_, Option<i64>>(1)?.map(from_millis),
                            })
                        })
                        .optional()
                })
                .map_err(db)
        })
        .await
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |connection| {
            connection
                .prepare_cached(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                )
                .and_then(|mut insert| insert.execute(params![key, value]))
                .map_err(db)?;
            one_row(connection, "SELECT value FROM settings WHERE key = ?1", [key], |row| row.get(0))
        })
        .await
    }

    async fn seen_webhook_event(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        // A reader sees every committed write, and the writer answers only after committing.
        self.read(move |connection| {
            one_row(connection, "SELECT EXISTS (SELECT 1 FROM webhook_events WHERE id = ?1)", [id], |row| {
                row.get(0)
            })
        })
        .await
    }

    async fn record_webhook_event(&self, id: &str, kind: &str, now: OffsetDateTime) -> Result<bool> {
        let (id, kind) = (id.to_owned(), kind.to_owned());
        self.write(move |connection| {
            let inserted = connection
                .prepare_cached(
                    "INSERT INTO webhook_events (id, type, received_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .and_then(|mut insert| insert.execute(params![id, kind, to_millis(now)]))
                .map_err(db)?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn due_messages(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        // Choosing and leasing are one command: no other claim can come between them.
        self.write(move |connection| {
            let sql = format!(
                "UPDATE outbox SET next_attempt_at = ?2 \
                 WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= ?1 \
                 ORDER BY next_attempt_at, id LIMIT ?3) \
                 RETURNING {MESSAGE_COLUMNS}"
            );
            let mut messages: Vec<OutboxMessage> = connection
                .prepare_cached(&sql)
                .and_then(|mut claim| {
                    claim
                        .query_map(
                            params![to_millis(now), to_millis(lease_until), i64::from(limit)],
                            message_from_row,
                        )?
                        .collect()
                })
                .map_err(db)?;
            messages.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(messages)
        })
        .await
    }

    async fn message_delivered(&self, id: &str, now: OffsetDateTime) -> Result<()> {
        let id = id.to_owned();
        self.write(move |connection| {
            connection
                .prepare_cached("UPDATE outbox SET delivered_at = ?2, attempts = attempts + 1 WHERE id = ?1")
                .and_then(|mut update| update.execute(params![id, to_millis(now)]))
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn message_failed(&self, id: &str, error: &str, next_attempt_at: OffsetDateTime) -> Result<()> {
        let (id, error) = (id.to_owned(), error.to_owned());
        self.write(move |connection| {
            connection
                .prepare_cached(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 \
                     WHERE id = ?1",
                )
                .and_then(|mut update| update.execute(params![id, error, to_millis(next_attempt_at)]))
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn messages_to(&self, recipient: &str) -> Result<Vec<(OutboxMessage, Option<OffsetDateTime>)>> {
        let recipient = recipient.to_owned();
        self.read(move |connection| {
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS}, delivered_at FROM outbox WHERE recipient = ?1 \
                 ORDER BY created_at, id"
            );
            connection
                .prepare_cached(&sql)
                .and_then(|mut select| {
                    select
                        .query_map([recipient], |row| {
                            let delivered = row.get::<_, Option<i64>>("delivered_at")?.map(from_millis);
                            Ok((message_from_row(row)?, delivered))
                        })?
                        .collect()
                })
                .map_err(db)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::orders::tests::{NOW, fixture, sell};
    use marquee_domain::inventory::TicketStatus;

    /// The instant the tests happen at.
    fn now() -> OffsetDateTime {
        from_millis(NOW)
    }

    /// A refund's message to `one@example.com`.
    fn message(id: &str) -> OutboxMessage {
        OutboxMessage {
            id: id.to_owned(),
            kind: "order_refunded".into(),
            recipient: "one@example.com".into(),
            subject: "Refunded".into(),
            body: "Your refund".into(),
            attempts: 0,
        }
    }

    /// The ids as text, for comparisons.
    fn ids(tickets: &[TicketId]) -> Vec<&str> {
        tickets.iter().map(TicketId::as_str).collect()
    }

    /// A ticket's stored status and order.
    fn stored(setup: &Connection, ticket: &str) -> (String, Option<String>) {
        setup
            .query_row("SELECT status, order_id FROM tickets WHERE id = ?1", [ticket], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .unwrap()
    }

    #[tokio::test]
    async fn a_refund_puts_its_tickets_back_on_sale_and_moves_the_order_on_once() {
        let fixture = fixture().await;
        let store = &fixture.store;
        sell(&fixture.setup, "ord_1", "usr_1", &["tkt_1", "tkt_2"]);
        let order_id = OrderId::from_raw("ord_1");
        let some = [TicketId::from_raw("tkt_2")];

        let refund = store
            .begin_refund(&NewRefund {
                ticket_ids: Some(some.to_vec()),
                ..NewRefund::whole("rfd_1", &order_id, "changed plans", now())
            })
            .await
            .unwrap();
        assert_eq!(refund.amount, Money::new(1500, "EUR"));
        assert_eq!(refund.reference, "ref_ord_1");
        assert_eq!(refund.attempt_id, "pay_ord_1");
        assert_eq!(ids(&refund.ticket_ids), ["tkt_2"]);
        assert_eq!(store.pending_refunds(from_millis(NOW + 1)).await.unwrap(), std::slice::from_ref(&refund));
        assert!(store.pending_refunds(now()).await.unwrap().is_empty(), "touched at `now`, not before");
        let again = store.begin_refund(&NewRefund::whole("rfd_2", &order_id, "again", now())).await;
        assert!(matches!(again, Err(Error::Conflict(message)) if message.contains("already in progress")));

        let later = from_millis(NOW + 1_000);
        let order = store.complete_refund("rfd_1", &message("msg_1"), later).await.unwrap();
        assert_eq!(order.status, OrderStatus::PartiallyRefunded);
        assert_eq!(order.updated_at, later);
        let shown: Vec<(&str, TicketStatus)> =
            order.tickets.iter().map(|ticket| (ticket.id.as_str(), ticket.status)).collect();
        assert_eq!(shown, [("tkt_2", TicketStatus::Available), ("tkt_1", TicketStatus::Sold)]);
        assert_eq!(stored(&fixture.setup, "tkt_2"), ("available".to_owned(), None));
        assert_eq!(stored(&fixture.setup, "tkt_1"), ("sold".to_owned(), Some("ord_1".to_owned())));
        let feed: Vec<(String, String)> = fixture
            .setup
            .prepare("SELECT kind, ticket_ids FROM inventory_events ORDER BY id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(feed, [("refunded".to_owned(), "tkt_2".to_owned())]);
        let queued = store.messages_to("one@example.com").await.unwrap();
        assert_eq!(queued, [(message("msg_1"), None)]);
        let attempt = store.get_attempt("pay_ord_1").await.unwrap().unwrap();
        assert_eq!(attempt.refunded, 1500);

        // Applying it again changes nothing.
        let same = store.complete_refund("rfd_1", &message("msg_2"), from_millis(NOW + 2_000)).await.unwrap();
        assert_eq!(same, order);
        assert_eq!(store.messages_to("one@example.com").await.unwrap().len(), 1);

        // The rest of the order: every live ticket.
        let rest =
            store.begin_refund(&NewRefund::whole("rfd_3", &order_id, "the rest", later)).await.unwrap();
        assert_eq!(ids(&rest.ticket_ids), ["tkt_1"]);
        assert_eq!(rest.amount, Money::new(1000, "EUR"));
        let order = store.complete_refund("rfd_3", &message("msg_3"), later).await.unwrap();
        assert_eq!(order.status, OrderStatus::Refunded);
        assert!(order.tickets.iter().all(|ticket| ticket.status == TicketStatus::Available));
        assert_eq!(store.get_attempt("pay_ord_1").await.unwrap().unwrap().refunded, 2500);
        let transitions: Vec<(String, String)> = fixture
            .setup
            .prepare(
                "SELECT from_status, to_status FROM order_transitions WHERE order_id = 'ord_1' \
                 ORDER BY rowid",
            )
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            transitions,
            [
                ("confirmed".to_owned(), "partially_refunded".to_owned()),
                ("partially_refunded".to_owned(), "refunded".to_owned())
            ]
        );
        let over = store.begin_refund(&NewRefund::whole("rfd_4", &order_id, "more", later)).await;
        assert!(
            matches!(over, Err(Error::Conflict(message)) if message == "a refunded order cannot be refunded")
        );
        assert!(matches!(
            store.complete_refund("rfd_x", &message("msg_4"), later).await,
            Err(Error::NotFound("refund"))
        ));
    }

    #[tokio::test]
    async fn a_refund_is_refused_what_it_cannot_refund_and_writes_nothing_then() {
        let fixture = fixture().await;
        let store = &fixture.store;
        sell(&fixture.setup, "ord_1", "usr_1", &["tkt_1", "tkt_2"]);
        let order_id = OrderId::from_raw("ord_1");
        let missing =
            store.begin_refund(&NewRefund::whole("rfd_1", &OrderId::from_raw("ord_x"), "r", now())).await;
        assert!(matches!(missing, Err(Error::NotFound("order"))));
        let none = store
            .begin_refund(&NewRefund {
                ticket_ids: Some(vec![]),
                ..NewRefund::whole("rfd_1", &order_id, "r", now())
            })
            .await;
        assert!(
            matches!(none, Err(Error::Invalid(message)) if message == "name at least one ticket to refund")
        );
        let foreign = [TicketId::from_raw("tkt_3")];
        let foreign = store
            .begin_refund(&NewRefund {
                ticket_ids: Some(foreign.to_vec()),
                ..NewRefund::whole("rfd_1", &order_id, "r", now())
            })
            .await;
        let expected = "ticket tkt_3 is not a live ticket of this order";
        assert!(matches!(foreign, Err(Error::Invalid(message)) if message == expected));

        // Admitted at the door: refused only when asked to refuse used tickets.
        let admitted = store.check_in(&TicketId::from_raw("tkt_1"), &order_id, None, now()).await.unwrap();
        assert!(matches!(admitted, CheckIn::Admitted { .. }));
        let used = store
            .begin_refund(&NewRefund {
                refuse_used: true,
                ..NewRefund::whole("rfd_1", &order_id, "r", now())
            })
            .await;
        assert!(
            matches!(used, Err(Error::Conflict(message)) if message == "A1 was already admitted at the door")
        );
        let refunds: i64 =
            fixture.setup.query_row("SELECT COUNT(*) FROM refunds", [], |row| row.get(0)).unwrap();
        assert_eq!(refunds, 0, "no refund was written by the refusals");

        // Not captured yet.
        fixture.setup.execute("UPDATE payment_attempts SET status = 'authorized'", []).unwrap();
        let uncaptured = store.begin_refund(&NewRefund::whole("rfd_1", &order_id, "r", now())).await;
        assert!(matches!(uncaptured, Err(Error::Conflict(message)) if message.contains("not captured yet")));
        fixture.setup.execute("UPDATE payment_attempts SET status = 'captured'", []).unwrap();
        let refund = store.begin_refund(&NewRefund::whole("rfd_1", &order_id, "r", now())).await.unwrap();
        assert_eq!(ids(&refund.ticket_ids), ["tkt_1", "tkt_2"]);

        // A failed refund leaves the order as it was and may be begun again.
        store.fail_refund("rfd_1", "declined", now()).await.unwrap();
        let reason: String = fixture
            .setup
            .query_row("SELECT reason FROM refunds WHERE id = 'rfd_1'", [], |row| row.get(0))
            .unwrap();
        assert_eq!(reason, "r: declined");
        assert!(store.begin_refund(&NewRefund::whole("rfd_2", &order_id, "r", now())).await.is_ok());
    }

    #[tokio::test]
    async fn the_door_admits_a_ticket_once_and_never_a_refunded_one() {
        let fixture = fixture().await;
        let store = &fixture.store;
        sell(&fixture.setup, "ord_1", "usr_1", &["tkt_1", "tkt_2"]);
        let (order_id, showtime) = (OrderId::from_raw("ord_1"), ShowtimeId::from_raw("sho_1"));
        let (first, second) = (TicketId::from_raw("tkt_1"), TicketId::from_raw("tkt_2"));

        let admitted = store.check_in(&first, &order_id, Some(&showtime), now()).await.unwrap();
        assert_eq!(
            admitted,
            CheckIn::Admitted { ticket_id: first.clone(), label: "A1".into(), showtime_id: showtime }
        );
        let again = store.check_in(&first, &order_id, None, from_millis(NOW + 5_000)).await.unwrap();
        assert_eq!(again, CheckIn::AlreadyAdmitted { at: now() });
        let sold = store.sold_ticket(&first).await.unwrap().unwrap();
        assert_eq!(
            sold,
            SoldTicket {
                order_id: order_id.clone(),
                user_id: UserId::from_raw("usr_1"),
                checked_in_at: Some(now())
            }
        );

        let elsewhere = ShowtimeId::from_raw("sho_2");
        assert!(matches!(
            store.check_in(&second, &order_id, Some(&elsewhere), now()).await,
            Err(Error::WrongShowtime)
        ));
        let unknown = store.check_in(&TicketId::from_raw("tkt_x"), &order_id, None, now()).await;
        assert!(matches!(unknown, Err(Error::InvalidTicketCode(_))));
        let other_order = store.check_in(&second, &OrderId::from_raw("ord_2"), None, now()).await;
        assert!(matches!(other_order, Err(Error::TicketVoid)));

        // A refund under way: do not admit; once done, the ticket is void.
        let refund = [second.clone()];
        store
            .begin_refund(&NewRefund {
                ticket_ids: Some(refund.to_vec()),
                ..NewRefund::whole("rfd_1", &order_id, "r", now())
            })
            .await
            .unwrap();
        let during = store.check_in(&second, &order_id, None, now()).await;
        assert!(matches!(during, Err(Error::Conflict(message)) if message.contains("under way")));
        store.complete_refund("rfd_1", &message("msg_1"), now()).await.unwrap();
        assert!(matches!(store.check_in(&second, &order_id, None, now()).await, Err(Error::TicketVoid)));
        assert!(store.sold_ticket(&second).await.unwrap().is_none());
        let checked_in: Option<i64> = fixture
            .setup
            .query_row("SELECT checked_in_at FROM tickets WHERE id = 'tkt_2'", [], |row| row.get(0))
            .unwrap();
        assert_eq!(checked_in, None);
    }

    #[tokio::test]
    async fn a_claimed_message_is_not_claimed_again_before_its_lease_ends() {
        let fixture = fixture().await;
        let store = &fixture.store;
        for (id, due) in
            [("msg_b", NOW - 2_000), ("msg_a", NOW - 1_000), ("msg_c", NOW - 500), ("msg_d", NOW + 60_000)]
        {
            fixture
                .setup
                .execute(
                    "INSERT INTO outbox \
                     (id, kind, recipient, subject, body, created_at, attempts, next_attempt_at) \
                     VALUES (?1, 'k', 'one@example.com', 's', 'b', ?2, 0, ?2)",
                    params![id, due],
                )
                .unwrap();
        }
        let lease = from_millis(NOW + 30_000);
        let claimed = store.due_messages(now(), lease, 2).await.unwrap();
        let claimed: Vec<&str> = claimed.iter().map(|message| message.id.as_str()).collect();
        assert_eq!(claimed, ["msg_a", "msg_b"], "the two due first, sorted by id");
        let rest = store.due_messages(now(), lease, 10).await.unwrap();
        assert_eq!(rest.iter().map(|message| message.id.as_str()).collect::<Vec<_>>(), ["msg_c"]);
        assert!(
            store.due_messages(from_millis(NOW + 29_999), lease, 10).await.unwrap().is_empty(),
            "all leased"
        );

        store.message_delivered("msg_a", from_millis(NOW + 1_000)).await.unwrap();
        store.message_failed("msg_b", "smtp down", from_millis(NOW + 40_000)).await.unwrap();
        // The lease ran out: msg_c is due again (its claimer died); msg_a was delivered, msg_b
        // waits for its retry and msg_d for its time.
        let after_lease =
            store.due_messages(from_millis(NOW + 30_000), from_millis(NOW + 90_000), 10).await.unwrap();
        assert_eq!(after_lease.iter().map(|message| message.id.as_str()).collect::<Vec<_>>(), ["msg_c"]);
        let retried =
            store.due_messages(from_millis(NOW + 60_000), from_millis(NOW + 90_000), 10).await.unwrap();
        let retried: Vec<(&str, i64)> =
            retried.iter().map(|message| (message.id.as_str(), message.attempts)).collect();
        assert_eq!(retried, [("msg_b", 1), ("msg_d", 0)]);

        let sent = store.messages_to("one@example.com").await.unwrap();
        let sent: Vec<(&str, Option<OffsetDateTime>)> =
            sent.iter().map(|(message, delivered)| (message.id.as_str(), *delivered)).collect();
        assert_eq!(
            sent,
            [("msg_b", None), ("msg_a", Some(from_millis(NOW + 1_000))), ("msg_c", None), ("msg_d", None)],
            "by creation time"
        );
    }

    #[tokio::test]
    async fn settings_keep_their_first_value_and_webhook_events_count_once() {
        let fixture = fixture().await;
        let store = &fixture.store;
        assert_eq!(store.setting_or_insert("signing_key", "first").await.unwrap(), "first");
        assert_eq!(store.setting_or_insert("signing_key", "second").await.unwrap(), "first");
        assert_eq!(store.setting_or_insert("other", "second").await.unwrap(), "second");

        assert!(!store.seen_webhook_event("evt_1").await.unwrap());
        assert!(store.record_webhook_event("evt_1", "charge.refunded", now()).await.unwrap());
        assert!(!store.record_webhook_event("evt_1", "charge.refunded", now()).await.unwrap());
        assert!(store.seen_webhook_event("evt_1").await.unwrap());
    }

    #[tokio::test]
    async fn attempts_are_read_with_their_order_and_a_confirmation_too_late_keeps_the_expiry() {
        let fixture = fixture().await;
        let store = &fixture.store;
        sell(&fixture.setup, "ord_1", "usr_1", &["tkt_1"]);
        // A hold of tkt_3 for usr_2, paid for: an order and a started attempt.
        fixture
            .setup
            .execute_batch(&format!(
                "INSERT INTO holds (id, user_id, showtime_id, status, created_at, expires_at) \
                 VALUES ('hld_2', 'usr_2', 'sho_1', 'active', {NOW}, {NOW} + 600000); \
                 INSERT INTO hold_items (hold_id, ticket_id) VALUES ('hld_2', 'tkt_3'); \
                 UPDATE tickets SET status = 'held', hold_id = 'hld_2', hold_expires_at = {NOW} + 600000 \
                 WHERE id = 'tkt_3';"
            ))
            .unwrap();
        let begin = BeginPayment {
            attempt_id: "pay_2".into(),
            new_order_id: OrderId::from_raw("ord_2"),
            hold_id: HoldId::from_raw("hld_2"),
            user_id: UserId::from_raw("usr_2"),
            provider: "fake".into(),
            now: now(),
            claim: None,
        };
        let started = store.begin_payment(&begin).await.unwrap();
        assert_eq!(started.status, AttemptStatus::Started);
        assert_eq!(store.get_attempt("pay_2").await.unwrap(), Some(started.clone()));
        let attempts = store.order_attempts(&OrderId::from_raw("ord_2")).await.unwrap();
        assert_eq!(attempts, std::slice::from_ref(&started));
        assert!(store.get_attempt("pay_x").await.unwrap().is_none());
        let unsettled = store.unsettled_attempts(from_millis(NOW + 1)).await.unwrap();
        assert_eq!(unsettled, [started], "the captured attempt is settled");
        let found = store.attempt_by_reference("fake", "ref_ord_1").await.unwrap().unwrap();
        assert_eq!(
            (found.id.as_str(), found.hold_id.as_str(), found.user_id.as_str()),
            ("pay_ord_1", "hld_ord_1", "usr_1")
        );

        // Someone else took the ticket meanwhile: the order expires (written), and the caller
        // learns the tickets are gone.
        fixture.setup.execute("UPDATE tickets SET hold_id = 'hld_other' WHERE id = 'tkt_3'", []).unwrap();
        let late = store.confirm_payment("pay_2", "ref_2", &message("msg_1"), None, now()).await;
        assert_eq!(late.unwrap(), Confirmation::TicketsGone);
        let status: String = fixture
            .setup
            .query_row("SELECT status FROM orders WHERE id = 'ord_2'", [], |row| row.get(0))
            .unwrap();
        assert_eq!(status, "expired");
        assert!(
            store.orders_with_tickets(&ShowtimeId::from_raw("sho_1")).await.unwrap()
                == [OrderId::from_raw("ord_1")]
        );
    }
}
