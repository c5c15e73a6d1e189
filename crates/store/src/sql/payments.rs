//! [`PaymentStore`] for both backends.
//!
//! Every order status change goes through [`transition`], which checks the domain's state
//! machine and writes the history row in the same transaction.

use super::pipeline::work;
use super::{SqlStore, db, from_millis, instant, keys};
use crate::KeyResource;
use crate::live::InventoryChange;
use crate::payments::{
    AttemptStatus, BeginPayment, CheckIn, Confirmation, NewRefund, OutboxMessage, PaymentAttempt,
    PaymentStore, Refund, RefundStatus, SoldTicket,
};
use async_trait::async_trait;
use marquee_domain::audit::AuditEntry;
use marquee_domain::clock::to_millis;
use marquee_domain::ids::{HoldId, OrderId, ShowtimeId, TicketId, UserId};
use marquee_domain::inventory::{HoldStatus, Order, OrderStatus};
use marquee_domain::money::Money;
use marquee_domain::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, Row};
use time::OffsetDateTime;

/// A refund with what applying it needs: the provider reference and the currency.
const REFUND_SELECT: &str = "SELECT r.*, a.reference, o.currency FROM refunds r \
     JOIN payment_attempts a ON a.id = r.attempt_id JOIN orders o ON o.id = r.order_id";

const ATTEMPT_SELECT: &str =
    "SELECT a.*, o.hold_id, o.user_id FROM payment_attempts a JOIN orders o ON o.id = a.order_id";

fn attempt_from_row(row: &PgRow) -> Result<PaymentAttempt> {
    Ok(PaymentAttempt {
        id: row.try_get("id").map_err(db)?,
        order_id: OrderId::from_raw(row.try_get::<String, _>("order_id").map_err(db)?),
        hold_id: HoldId::from_raw(row.try_get::<String, _>("hold_id").map_err(db)?),
        user_id: UserId::from_raw(row.try_get::<String, _>("user_id").map_err(db)?),
        provider: row.try_get("provider").map_err(db)?,
        reference: row.try_get("reference").map_err(db)?,
        status: AttemptStatus::parse(&row.try_get::<String, _>("status").map_err(db)?)?,
        amount: Money::new(
            row.try_get("amount").map_err(db)?,
            row.try_get::<String, _>("currency").map_err(db)?,
        ),
        refunded: row.try_get("refunded").map_err(db)?,
        created_at: instant(row, "created_at")?,
        updated_at: instant(row, "updated_at")?,
    })
}

fn refund_from_row(row: &PgRow) -> Result<Refund> {
    let ticket_ids: Vec<String> = serde_json::from_str(&row.try_get::<String, _>("ticket_ids").map_err(db)?)
        .map_err(|e| Error::internal(format!("bad refund ticket list: {e}")))?;
    Ok(Refund {
        id: row.try_get("id").map_err(db)?,
        order_id: OrderId::from_raw(row.try_get::<String, _>("order_id").map_err(db)?),
        attempt_id: row.try_get("attempt_id").map_err(db)?,
        reference: row.try_get::<Option<String>, _>("reference").map_err(db)?.unwrap_or_default(),
        amount: Money::new(
            row.try_get("amount").map_err(db)?,
            row.try_get::<String, _>("currency").map_err(db)?,
        ),
        ticket_ids: ticket_ids.into_iter().map(TicketId::from_raw).collect(),
        reason: row.try_get("reason").map_err(db)?,
    })
}

/// Moves an order to `to`, if the state machine allows it, and records why.
async fn transition(
    tx: &mut PgConnection,
    order_id: &OrderId,
    to: OrderStatus,
    reason: &str,
    now: i64,
) -> Result<OrderStatus> {
    let row = sqlx::query("SELECT status FROM orders WHERE id = $1")
        .bind(order_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(Error::NotFound("order"))?;
    let from = OrderStatus::parse(&row.try_get::<String, _>("status").map_err(db)?)?;
    from.transition(to)?;
    sqlx::query("UPDATE orders SET status = $2, updated_at = $3 WHERE id = $1")
        .bind(order_id.as_str())
        .bind(to.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    sqlx::query("INSERT INTO order_transitions (order_id, from_status, to_status, at, reason) VALUES ($1, $2, $3, $4, $5)")
        .bind(order_id.as_str())
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(now)
        .bind(reason.to_owned())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    Ok(from)
}

async fn enqueue(tx: &mut PgConnection, message: &OutboxMessage, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, kind, recipient, subject, body, created_at, attempts, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $6)",
    )
    .bind(message.id.clone())
    .bind(message.kind.clone())
    .bind(message.recipient.clone())
    .bind(message.subject.clone())
    .bind(message.body.clone())
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    Ok(())
}

impl SqlStore {
    async fn attempt_in(tx: &mut PgConnection, attempt_id: &str) -> Result<PaymentAttempt> {
        let sql = format!("{ATTEMPT_SELECT} WHERE a.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(attempt_id.to_owned())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("payment attempt"))?;
        attempt_from_row(&row)
    }

    /// The status an order falls back to when its attempt failed: `expired` once the hold ran
    /// out, else `payment_failed`.
    async fn failed_order_status(tx: &mut PgConnection, hold_id: &HoldId, now: i64) -> Result<OrderStatus> {
        let row = sqlx::query("SELECT status, expires_at FROM holds WHERE id = $1")
            .bind(hold_id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        let status = HoldStatus::effective(
            &row.try_get::<String, _>("status").map_err(db)?,
            instant(&row, "expires_at")?,
            from_millis(now),
        )?;
        Ok(if status == HoldStatus::Active { OrderStatus::PaymentFailed } else { OrderStatus::Expired })
    }

    async fn load_order_in(tx: &mut PgConnection, order_id: &OrderId) -> Result<Order> {
        let row = sqlx::query("SELECT * FROM orders WHERE id = $1")
            .bind(order_id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        SqlStore::load_orders(tx, vec![row]).await?.pop().ok_or(Error::NotFound("order"))
    }

    /// Runs in the commit pipeline: one call of `marquee_begin_payment` (migration 0006); the
    /// attempt is answered from what was written.
    async fn begin_payment_in(tx: &mut PgConnection, begin: &BeginPayment) -> Result<PaymentAttempt> {
        let now = to_millis(begin.now);
        let row = sqlx::query(
            "SELECT outcome, order_ref, amount, currency_code, hold_status, hold_expires_at \
             FROM marquee_begin_payment($1, $2, $3, $4, $5, $6)",
        )
        .bind(begin.hold_id.as_str())
        .bind(begin.user_id.as_str())
        .bind(begin.new_order_id.as_str())
        .bind(begin.attempt_id.as_str())
        .bind(begin.provider.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        match row.try_get::<String, _>("outcome").map_err(db)?.as_str() {
            "started" => {}
            "no_hold" => return Err(Error::NotFound("hold")),
            "hold_not_active" => {
                let status = HoldStatus::effective(
                    &row.try_get::<String, _>("hold_status").map_err(db)?,
                    instant(&row, "hold_expires_at")?,
                    begin.now,
                )?;
                status.ensure_active()?;
                return Err(Error::internal(format!(
                    "marquee_begin_payment refused an active hold ({status:?})"
                )));
            }
            "order_expired" => return Err(Error::HoldExpired),
            "already_paid" => return Err(Error::HoldNotActive { status: "purchased" }),
            "payment_in_progress" => return Err(Error::PaymentInProgress),
            other => return Err(Error::internal(format!("marquee_begin_payment answered {other:?}"))),
        }
        if let Some(claim) = &begin.claim {
            keys::claim_in(tx, claim, &KeyResource::Payment(begin.attempt_id.clone()), begin.now).await?;
        }
        Ok(PaymentAttempt {
            id: begin.attempt_id.clone(),
            order_id: OrderId::from_raw(row.try_get::<String, _>("order_ref").map_err(db)?),
            hold_id: begin.hold_id.clone(),
            user_id: begin.user_id.clone(),
            provider: begin.provider.clone(),
            reference: None,
            status: AttemptStatus::Started,
            amount: Money::new(
                row.try_get("amount").map_err(db)?,
                row.try_get::<String, _>("currency_code").map_err(db)?,
            ),
            refunded: 0,
            created_at: from_millis(now),
            updated_at: from_millis(now),
        })
    }

    /// Runs in the commit pipeline: one call of `marquee_confirm_payment` (migration 0006),
    /// then the order for the answer. Every outcome is kept (the pipeline releases the
    /// savepoint): `TicketsGone` has written the order's expiry.
    async fn confirm_payment_in(
        tx: &mut PgConnection,
        attempt_id: &str,
        reference: &str,
        message: &OutboxMessage,
        audit: Option<&AuditEntry>,
        now: OffsetDateTime,
    ) -> Result<Confirmation> {
        let row = sqlx::query(
            "SELECT outcome, order_ref FROM marquee_confirm_payment($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(attempt_id)
        .bind(reference)
        .bind(to_millis(now))
        .bind(message.id.as_str())
        .bind(message.kind.as_str())
        .bind(message.recipient.as_str())
        .bind(message.subject.as_str())
        .bind(message.body.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        match row.try_get::<String, _>("outcome").map_err(db)?.as_str() {
            "confirmed" => {}
            "no_attempt" => return Err(Error::NotFound("payment attempt")),
            "order_expired" | "tickets_taken" => return Ok(Confirmation::TicketsGone),
            "already_paid" => return Ok(Confirmation::AlreadyPaid),
            other => return Err(Error::internal(format!("marquee_confirm_payment answered {other:?}"))),
        }
        if let Some(entry) = audit {
            super::admin::insert_audit(&mut *tx, entry).await?;
        }
        let order_id = OrderId::from_raw(row.try_get::<String, _>("order_ref").map_err(db)?);
        Ok(Confirmation::Confirmed(Box::new(Self::load_order_in(tx, &order_id).await?)))
    }

    /// Puts an order's live tickets (or the listed ones) back on sale and marks their items
    /// refunded. Returns how many tickets stay live in the order.
    async fn release_order_tickets(
        tx: &mut PgConnection,
        order_id: &OrderId,
        ticket_ids: &[TicketId],
        now: OffsetDateTime,
    ) -> Result<i64> {
        let showtime: String = sqlx::query("SELECT showtime_id FROM orders WHERE id = $1")
            .bind(order_id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?
            .try_get("showtime_id")
            .map_err(db)?;
        let mut freed = Vec::with_capacity(ticket_ids.len());
        for ticket in ticket_ids {
            sqlx::query("UPDATE order_items SET live = 0 WHERE order_id = $1 AND ticket_id = $2")
                .bind(order_id.as_str())
                .bind(ticket.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            let released = sqlx::query(
                "UPDATE tickets SET status = 'available', order_id = NULL, hold_id = NULL, hold_expires_at = NULL, \
                 checked_in_at = NULL WHERE id = $1 AND order_id = $2",
            )
            .bind(ticket.as_str())
            .bind(order_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
            if released == 1 {
                freed.push(ticket.as_str().to_owned());
            }
        }
        super::live::record_change(&mut *tx, &showtime, InventoryChange::Refunded, &freed, now).await?;
        sqlx::query("SELECT COUNT(*) AS n FROM order_items WHERE order_id = $1 AND live = 1")
            .bind(order_id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?
            .try_get("n")
            .map_err(db)
    }
}

impl SqlStore {
    /// Runs in the commit pipeline.
    async fn record_attempt_in(
        tx: &mut PgConnection,
        attempt_id: &str,
        status: AttemptStatus,
        reference: Option<&str>,
        failure: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let now = to_millis(now);
        let attempt = Self::attempt_in(&mut *tx, attempt_id).await?;
        sqlx::query(
            "UPDATE payment_attempts SET status = $2, reference = COALESCE($3, reference), failure = COALESCE($4, failure), \
             updated_at = $5 WHERE id = $1",
        )
        .bind(attempt_id.to_owned())
        .bind(status.as_str())
        .bind(reference.map(str::to_owned))
        .bind(failure.map(str::to_owned))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if matches!(status, AttemptStatus::Failed | AttemptStatus::Voided) {
            let current = sqlx::query("SELECT status FROM orders WHERE id = $1")
                .bind(attempt.order_id.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
            if current.try_get::<String, _>("status").map_err(db)? == OrderStatus::PendingPayment.as_str() {
                let next = Self::failed_order_status(&mut *tx, &attempt.hold_id, now).await?;
                transition(&mut *tx, &attempt.order_id, next, failure.unwrap_or("payment failed"), now)
                    .await?;
            }
        }
        Ok(())
    }

    /// Runs in the commit pipeline.
    async fn cancel_unpaid_order_in(
        tx: &mut PgConnection,
        attempt_id: &str,
        failure: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        let now = to_millis(now);
        let attempt = Self::attempt_in(&mut *tx, attempt_id).await?;
        let live: Vec<TicketId> =
            sqlx::query("SELECT ticket_id FROM order_items WHERE order_id = $1 AND live = 1")
                .bind(attempt.order_id.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?
                .iter()
                .map(|row| row.try_get::<String, _>("ticket_id").map(TicketId::from_raw))
                .collect::<Result<_, _>>()
                .map_err(db)?;
        Self::release_order_tickets(&mut *tx, &attempt.order_id, &live, from_millis(now)).await?;
        transition(&mut *tx, &attempt.order_id, OrderStatus::Cancelled, failure, now).await?;
        sqlx::query(
            "UPDATE payment_attempts SET status = 'failed', failure = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(attempt_id.to_owned())
        .bind(failure.to_owned())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        Ok(())
    }
}

#[async_trait]
impl PaymentStore for SqlStore {
    async fn begin_payment(&self, begin: &BeginPayment) -> Result<PaymentAttempt> {
        self.retrying(|| {
            let begin = begin.clone();
            async move {
                let buyer = begin.user_id.clone();
                let work = work(move |tx| Box::pin(async move { Self::begin_payment_in(tx, &begin).await }));
                self.pipeline.run_for(buyer.as_str(), work).await
            }
        })
        .await
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
        self.retrying(|| {
            let (attempt_id, reference, failure) = (attempt_id.clone(), reference.clone(), failure.clone());
            self.pipeline.run(work(move |tx| {
                Box::pin(async move {
                    Self::record_attempt_in(
                        tx,
                        &attempt_id,
                        status,
                        reference.as_deref(),
                        failure.as_deref(),
                        now,
                    )
                    .await
                })
            }))
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
        let (attempt_id, reference) = (attempt_id.to_owned(), reference.to_owned());
        self.retrying(|| {
            let (attempt_id, reference, message) = (attempt_id.clone(), reference.clone(), message.clone());
            let audit = audit.cloned();
            self.pipeline.run(work(move |tx| {
                Box::pin(async move {
                    Self::confirm_payment_in(tx, &attempt_id, &reference, &message, audit.as_ref(), now).await
                })
            }))
        })
        .await
    }

    async fn mark_captured(&self, attempt_ids: &[String], now: OffsetDateTime) -> Result<()> {
        let attempt_ids = attempt_ids.to_vec();
        self.retrying(|| {
            let attempt_ids = attempt_ids.clone();
            self.pipeline.run(work(move |tx| {
                Box::pin(async move {
                    // Locked in id order, like every multi-row write here.
                    sqlx::query(
                        "WITH marked AS (SELECT id FROM payment_attempts \
                         WHERE id = ANY($1) AND status = 'authorized' ORDER BY id FOR UPDATE) \
                         UPDATE payment_attempts a SET status = 'captured', updated_at = $2 \
                         FROM marked WHERE a.id = marked.id",
                    )
                    .bind(&attempt_ids)
                    .bind(to_millis(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                    Ok(())
                })
            }))
        })
        .await
    }

    async fn cancel_unpaid_order(&self, attempt_id: &str, failure: &str, now: OffsetDateTime) -> Result<()> {
        let (attempt_id, failure) = (attempt_id.to_owned(), failure.to_owned());
        self.retrying(|| {
            let (attempt_id, failure) = (attempt_id.clone(), failure.clone());
            self.pipeline.run(work(move |tx| {
                Box::pin(async move { Self::cancel_unpaid_order_in(tx, &attempt_id, &failure, now).await })
            }))
        })
        .await
    }

    async fn get_attempt(&self, attempt_id: &str) -> Result<Option<PaymentAttempt>> {
        let sql = format!("{ATTEMPT_SELECT} WHERE a.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(attempt_id.to_owned())
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        row.as_ref().map(attempt_from_row).transpose()
    }

    async fn order_attempts(&self, order_id: &OrderId) -> Result<Vec<PaymentAttempt>> {
        let sql = format!("{ATTEMPT_SELECT} WHERE a.order_id = $1 ORDER BY a.id");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(order_id.as_str())
            .fetch_all(&self.read)
            .await
            .map_err(db)?;
        rows.iter().map(attempt_from_row).collect()
    }

    async fn attempt_by_reference(&self, provider: &str, reference: &str) -> Result<Option<PaymentAttempt>> {
        let sql = format!("{ATTEMPT_SELECT} WHERE a.provider = $1 AND a.reference = $2");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(provider.to_owned())
            .bind(reference.to_owned())
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        row.as_ref().map(attempt_from_row).transpose()
    }

    async fn unsettled_attempts(&self, before: OffsetDateTime) -> Result<Vec<PaymentAttempt>> {
        let sql = format!(
            "{ATTEMPT_SELECT} WHERE a.status IN ('started', 'unknown', 'authorized') AND a.updated_at < $1 ORDER BY a.id LIMIT 500"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(to_millis(before))
            .fetch_all(&self.read)
            .await
            .map_err(db)?;
        rows.iter().map(attempt_from_row).collect()
    }

    async fn begin_refund(&self, refund: &NewRefund) -> Result<Refund> {
        let (refund_id, order_id, reason) = (refund.id.as_str(), &refund.order_id, refund.reason.as_str());
        let now = to_millis(refund.now);
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT status, currency FROM orders WHERE id = $1{}", super::FOR_UPDATE);
        let order = sqlx::query(AssertSqlSafe(sql))
            .bind(order_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("order"))?;
        let status = OrderStatus::parse(&order.try_get::<String, _>("status").map_err(db)?)?;
        if !status.holds_tickets() {
            return Err(Error::Conflict(format!("a {} order cannot be refunded", status.as_str())));
        }
        if refund_under_way(&mut tx, order_id).await? {
            return Err(Error::Conflict("a refund of this order is already in progress".into()));
        }
        let live: Vec<(String, i64)> =
            sqlx::query("SELECT ticket_id, price_amount FROM order_items WHERE order_id = $1 AND live = 1 ORDER BY ticket_id")
                .bind(order_id.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?
                .iter()
                .map(|row| Ok((row.try_get("ticket_id")?, row.try_get("price_amount")?)))
                .collect::<Result<_, sqlx::Error>>()
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
            for (ticket, _) in &chosen {
                let used = sqlx::query(
                    "SELECT label FROM tickets WHERE id = $1 AND order_id = $2 AND checked_in_at IS NOT NULL",
                )
                .bind(ticket.as_str())
                .bind(order_id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
                if let Some(row) = used {
                    let label: String = row.try_get("label").map_err(db)?;
                    return Err(Error::Conflict(format!("{label} was already admitted at the door")));
                }
            }
        }
        let attempt = sqlx::query(
            "SELECT id, reference FROM payment_attempts WHERE order_id = $1 AND status = 'captured'",
        )
        .bind(order_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or_else(|| {
            Error::Conflict("the order's payment is not captured yet; try again shortly".into())
        })?;
        let amount = chosen
            .iter()
            .try_fold(0i64, |total, (_, price)| total.checked_add(*price))
            .ok_or_else(|| Error::internal("the refund's amount does not fit in 64 bits"))?;
        let ids: Vec<&String> = chosen.iter().map(|(id, _)| id).collect();
        sqlx::query(
            "INSERT INTO refunds (id, order_id, attempt_id, amount, ticket_ids, reason, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)",
        )
        .bind(refund_id.to_owned())
        .bind(order_id.as_str())
        .bind(attempt.try_get::<String, _>("id").map_err(db)?)
        .bind(amount)
        .bind(serde_json::to_string(&ids).map_err(Error::internal)?)
        .bind(reason.to_owned())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(claim) = &refund.claim {
            let resource =
                KeyResource::Refund { refund_id: refund_id.to_owned(), order_id: order_id.clone() };
            keys::claim_in(&mut tx, claim, &resource, refund.now).await?;
        }
        if let Some(entry) = &refund.audit {
            super::admin::insert_audit(&mut *tx, entry).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(Refund {
            id: refund_id.to_owned(),
            order_id: order_id.clone(),
            attempt_id: attempt.try_get("id").map_err(db)?,
            reference: attempt.try_get::<Option<String>, _>("reference").map_err(db)?.unwrap_or_default(),
            amount: Money::new(amount, order.try_get::<String, _>("currency").map_err(db)?),
            ticket_ids: chosen.into_iter().map(|(id, _)| TicketId::from_raw(id)).collect(),
            reason: reason.to_owned(),
        })
    }

    async fn complete_refund(
        &self,
        refund_id: &str,
        message: &OutboxMessage,
        now: OffsetDateTime,
    ) -> Result<Order> {
        let now_ms = to_millis(now);
        let mut tx = self.begin_write().await?;
        let sql = format!("{REFUND_SELECT} WHERE r.id = $1 FOR UPDATE OF r");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(refund_id.to_owned())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("refund"))?;
        let refund = refund_from_row(&row)?;
        if row.try_get::<String, _>("status").map_err(db)? != "pending" {
            let order = Self::load_order_in(&mut tx, &refund.order_id).await?;
            return Ok(order);
        }
        let left = Self::release_order_tickets(&mut tx, &refund.order_id, &refund.ticket_ids, now).await?;
        let next = if left == 0 { OrderStatus::Refunded } else { OrderStatus::PartiallyRefunded };
        transition(&mut tx, &refund.order_id, next, &refund.reason, now_ms).await?;
        sqlx::query("UPDATE refunds SET status = 'succeeded', updated_at = $2 WHERE id = $1")
            .bind(refund_id.to_owned())
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("UPDATE payment_attempts SET refunded = refunded + $2, updated_at = $3 WHERE id = $1")
            .bind(refund.attempt_id.clone())
            .bind(refund.amount.amount)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        enqueue(&mut tx, message, now_ms).await?;
        let order = Self::load_order_in(&mut tx, &refund.order_id).await?;
        tx.commit().await.map_err(db)?;
        Ok(order)
    }

    async fn fail_refund(&self, refund_id: &str, failure: &str, now: OffsetDateTime) -> Result<()> {
        sqlx::query("UPDATE refunds SET status = 'failed', reason = reason || ': ' || $2, updated_at = $3 WHERE id = $1 AND status = 'pending'")
            .bind(refund_id.to_owned())
            .bind(failure.to_owned())
            .bind(to_millis(now))
            .execute(&self.write)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn pending_refunds(&self, before: OffsetDateTime) -> Result<Vec<Refund>> {
        let sql = format!(
            "{REFUND_SELECT} WHERE r.status = 'pending' AND r.updated_at < $1 ORDER BY r.id LIMIT 500"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(to_millis(before))
            .fetch_all(&self.read)
            .await
            .map_err(db)?;
        rows.iter().map(refund_from_row).collect()
    }

    async fn refund_status(&self, refund_id: &str) -> Result<Option<RefundStatus>> {
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM refunds WHERE id = $1")
            .bind(refund_id)
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        status.as_deref().map(RefundStatus::parse).transpose()
    }

    async fn orders_with_tickets(&self, showtime_id: &ShowtimeId) -> Result<Vec<OrderId>> {
        let rows = sqlx::query(
            "SELECT id FROM orders WHERE showtime_id = $1 AND status IN ('confirmed', 'partially_refunded') ORDER BY id",
        )
        .bind(showtime_id.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db)?;
        rows.iter().map(|row| row.try_get::<String, _>("id").map(OrderId::from_raw).map_err(db)).collect()
    }

    async fn check_in(
        &self,
        ticket_id: &TicketId,
        order_id: &OrderId,
        showtime_id: Option<&ShowtimeId>,
        now: OffsetDateTime,
    ) -> Result<CheckIn> {
        let row = sqlx::query(
            "SELECT showtime_id, status, order_id, checked_in_at, label FROM tickets WHERE id = $1",
        )
        .bind(ticket_id.as_str())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?
        .ok_or_else(|| Error::InvalidTicketCode("no such ticket".into()))?;
        let ticket_showtime = ShowtimeId::from_raw(row.try_get::<String, _>("showtime_id").map_err(db)?);
        if showtime_id.is_some_and(|expected| *expected != ticket_showtime) {
            return Err(Error::WrongShowtime);
        }
        // Under the order's lock, like a refund's start: a ticket is never both admitted and
        // refunded because the two crossed.
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT id FROM orders WHERE id = $1{}", super::FOR_UPDATE);
        sqlx::query(AssertSqlSafe(sql)).bind(order_id.as_str()).fetch_optional(&mut *tx).await.map_err(db)?;
        if refund_under_way(&mut tx, order_id).await? {
            return Err(Error::Conflict("a refund of this ticket's order is under way; do not admit".into()));
        }
        let admitted = sqlx::query(
            "UPDATE tickets SET checked_in_at = $3 WHERE id = $1 AND order_id = $2 AND status = 'sold' AND checked_in_at IS NULL",
        )
        .bind(ticket_id.as_str())
        .bind(order_id.as_str())
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        tx.commit().await.map_err(db)?;
        if admitted == 1 {
            return Ok(CheckIn::Admitted {
                ticket_id: ticket_id.clone(),
                label: row.try_get("label").map_err(db)?,
                showtime_id: ticket_showtime,
            });
        }
        // Lost the race, scanned twice, or void: read the row as it is now.
        let row = sqlx::query("SELECT status, order_id, checked_in_at FROM tickets WHERE id = $1")
            .bind(ticket_id.as_str())
            .fetch_one(&self.write)
            .await
            .map_err(db)?;
        let sold_to_this_order = row.try_get::<String, _>("status").is_ok_and(|s| s == "sold")
            && row
                .try_get::<Option<String>, _>("order_id")
                .is_ok_and(|o| o.as_deref() == Some(order_id.as_str()));
        if !sold_to_this_order {
            return Err(Error::TicketVoid);
        }
        match row.try_get::<Option<i64>, _>("checked_in_at").map_err(db)? {
            Some(at) => Ok(CheckIn::AlreadyAdmitted { at: from_millis(at) }),
            None => Err(Error::Contention),
        }
    }

    async fn sold_ticket(&self, ticket_id: &TicketId) -> Result<Option<SoldTicket>> {
        let row = sqlx::query(
            "SELECT t.order_id, t.checked_in_at, o.user_id FROM tickets t JOIN orders o ON o.id = t.order_id \
             WHERE t.id = $1 AND t.status = 'sold'",
        )
        .bind(ticket_id.as_str())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?;
        row.map(|row| {
            Ok(SoldTicket {
                order_id: OrderId::from_raw(row.try_get::<String, _>("order_id").map_err(db)?),
                user_id: UserId::from_raw(row.try_get::<String, _>("user_id").map_err(db)?),
                checked_in_at: row.try_get::<Option<i64>, _>("checked_in_at").map_err(db)?.map(from_millis),
            })
        })
        .transpose()
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key.to_owned())
            .bind(value.to_owned())
            .execute(&self.write)
            .await
            .map_err(db)?;
        sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key.to_owned())
            .fetch_one(&self.write)
            .await
            .map_err(db)?
            .try_get("value")
            .map_err(db)
    }

    async fn seen_webhook_event(&self, id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT id FROM webhook_events WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(&self.write)
            .await
            .map_err(db)?;
        Ok(row.is_some())
    }

    async fn record_webhook_event(&self, id: &str, kind: &str, now: OffsetDateTime) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO webhook_events (id, type, received_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.to_owned())
        .bind(kind.to_owned())
        .bind(to_millis(now))
        .execute(&self.write)
        .await
        .map_err(db)?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn due_messages(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        // The outer condition is checked again on a row another node claimed meanwhile
        // (PostgreSQL re-reads a row it waited for), so no message is claimed twice.
        let rows = sqlx::query(
            "UPDATE outbox SET next_attempt_at = $2 \
             WHERE delivered_at IS NULL AND next_attempt_at <= $1 AND id IN \
             (SELECT id FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= $1 \
              ORDER BY next_attempt_at, id LIMIT $3) \
             RETURNING *",
        )
        .bind(to_millis(now))
        .bind(to_millis(lease_until))
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await
        .map_err(db)?;
        let mut messages: Vec<OutboxMessage> = rows.iter().map(message_from_row).collect::<Result<_>>()?;
        messages.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(messages)
    }

    async fn message_delivered(&self, id: &str, now: OffsetDateTime) -> Result<()> {
        sqlx::query("UPDATE outbox SET delivered_at = $2, attempts = attempts + 1 WHERE id = $1")
            .bind(id.to_owned())
            .bind(to_millis(now))
            .execute(&self.write)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn message_failed(&self, id: &str, error: &str, next_attempt_at: OffsetDateTime) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = $1",
        )
        .bind(id.to_owned())
        .bind(error.to_owned())
        .bind(to_millis(next_attempt_at))
        .execute(&self.write)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn messages_to(&self, recipient: &str) -> Result<Vec<(OutboxMessage, Option<OffsetDateTime>)>> {
        let rows = sqlx::query("SELECT * FROM outbox WHERE recipient = $1 ORDER BY created_at, id")
            .bind(recipient.to_owned())
            .fetch_all(&self.read)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|row| {
                let delivered = row.try_get::<Option<i64>, _>("delivered_at").map_err(db)?.map(from_millis);
                Ok((message_from_row(row)?, delivered))
            })
            .collect()
    }
}

fn message_from_row(row: &PgRow) -> Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: row.try_get("id").map_err(db)?,
        kind: row.try_get("kind").map_err(db)?,
        recipient: row.try_get("recipient").map_err(db)?,
        subject: row.try_get("subject").map_err(db)?,
        body: row.try_get("body").map_err(db)?,
        attempts: row.try_get("attempts").map_err(db)?,
    })
}

/// Whether a refund of the order has begun and not finished.
async fn refund_under_way(tx: &mut PgConnection, order_id: &OrderId) -> Result<bool> {
    let pending: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM refunds WHERE order_id = $1 AND status = 'pending'")
            .bind(order_id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?
            .try_get("n")
            .map_err(db)?;
    Ok(pending > 0)
}
