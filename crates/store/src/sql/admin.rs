//! [`AdminStore`] for both backends: box-office changes, reports, users, audit, throttling.

use super::{
    DynamicQuery, EVENT_COLUMNS, SHOWTIME_SUMMARY_SELECT, SqlStore, USER_COLUMNS, db, event_from_row,
    instant, is_foreign_key_violation, showtime_summary_from_row, user_from_row,
};
use crate::{AccountStore, AdminStore, AuditFilter, CategorySales, Sale, ShowtimeSummary};
use async_trait::async_trait;
use marquee_domain::account::{Role, User};
use marquee_domain::audit::AuditEntry;
use marquee_domain::catalog::{Event, Hall, HallLayout, Showtime, Venue};
use marquee_domain::clock::{from_millis, to_millis};
use marquee_domain::ids::{EventId, HallId, SectionId, ShowtimeId, UserId, VenueId};
use marquee_domain::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Postgres, Row, Transaction};
use std::collections::BTreeMap;
use time::OffsetDateTime;

fn venue_from_row(row: &PgRow) -> Result<Venue> {
    Ok(Venue {
        id: VenueId::from_raw(row.try_get::<String, _>("id").map_err(db)?),
        name: row.try_get("name").map_err(db)?,
        city: row.try_get("city").map_err(db)?,
        time_zone: row.try_get("time_zone").map_err(db)?,
    })
}

fn hall_from_row(row: &PgRow) -> Result<Hall> {
    let layout: String = row.try_get("layout").map_err(db)?;
    Ok(Hall {
        id: HallId::from_raw(row.try_get::<String, _>("id").map_err(db)?),
        venue_id: VenueId::from_raw(row.try_get::<String, _>("venue_id").map_err(db)?),
        name: row.try_get("name").map_err(db)?,
        layout: serde_json::from_str(&layout)
            .map_err(|e| Error::internal(format!("bad layout JSON: {e}")))?,
    })
}

fn audit_from_row(row: &PgRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.try_get("id").map_err(db)?,
        at: instant(row, "at")?,
        actor_id: row.try_get::<Option<String>, _>("actor_id").map_err(db)?.map(UserId::from_raw),
        actor_email: row.try_get("actor_email").map_err(db)?,
        ip: row.try_get("ip").map_err(db)?,
        action: row.try_get("action").map_err(db)?,
        target: row.try_get("target").map_err(db)?,
        details: row.try_get("details").map_err(db)?,
    })
}

impl SqlStore {
    /// Deletes a venue or hall (`what`) that nothing refers to: `in_use` (taking `$1`) finds a
    /// showtime that still does, in which case nothing changes and `Conflict(refusal)` is the
    /// answer. The last statement deletes the row itself; none deleted means `NotFound`. On
    /// PostgreSQL a showtime created at the same moment makes the foreign key refuse the
    /// delete, which is the same conflict.
    async fn delete_unused(
        &self,
        what: &'static str,
        id: &str,
        in_use: &str,
        deletes: &[&str],
        refusal: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let used = sqlx::query(AssertSqlSafe(in_use.to_owned()))
            .bind(id.to_owned())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if used.is_some() {
            return Err(Error::Conflict(refusal.to_owned()));
        }
        let mut deleted = 0;
        for sql in deletes {
            let result =
                sqlx::query(AssertSqlSafe((*sql).to_owned())).bind(id.to_owned()).execute(&mut *tx).await;
            deleted = match result {
                Ok(result) => result.rows_affected(),
                Err(error) if is_foreign_key_violation(&error) => {
                    return Err(Error::Conflict(refusal.to_owned()));
                }
                Err(error) => return Err(db(error)),
            };
        }
        if deleted == 0 {
            return Err(Error::NotFound(what));
        }
        tx.commit().await.map_err(db)
    }

    /// Refuses with `Conflict` when any of the showtimes matched by `scope` (a condition on
    /// `t`, the tickets table, with `$1` bound to `scope_id`) has sold or live held tickets, or
    /// any order at all.
    async fn ensure_untouched(
        tx: &mut Transaction<'_, Postgres>,
        scope: &str,
        scope_id: &str,
        now: OffsetDateTime,
        what: &str,
    ) -> Result<()> {
        let sql = format!(
            "SELECT COUNT(*) AS n FROM tickets t WHERE {scope} AND \
             (t.status = 'sold' OR (t.status = 'held' AND t.hold_expires_at > $2))"
        );
        let touched: i64 = sqlx::query(AssertSqlSafe(sql))
            .bind(scope_id.to_owned())
            .bind(to_millis(now))
            .fetch_one(&mut **tx)
            .await
            .map_err(db)?
            .try_get("n")
            .map_err(db)?;
        if touched > 0 {
            return Err(Error::Conflict(format!("{what}: {touched} tickets are sold or held")));
        }
        // Orders keep their hold and tickets as the record of what was bought or tried, even
        // once refunded, expired or failed: a showtime with any cannot lose its tickets.
        let sql = format!(
            "SELECT COUNT(*) AS n FROM orders o WHERE o.showtime_id IN (SELECT t.showtime_id FROM tickets t WHERE {scope})"
        );
        let orders: i64 = sqlx::query(AssertSqlSafe(sql))
            .bind(scope_id.to_owned())
            .fetch_one(&mut **tx)
            .await
            .map_err(db)?
            .try_get("n")
            .map_err(db)?;
        if orders > 0 {
            return Err(Error::Conflict(format!(
                "{what}: it has {orders} orders (paid, refunded, unpaid or expired), which keep their tickets"
            )));
        }
        Ok(())
    }

    /// Removes the tickets of unsold showtimes matched by `showtime_scope` (a condition on
    /// `showtimes`, `$1` bound to `scope_id`), with the finished holds that pointed at them.
    async fn purge_tickets(
        tx: &mut Transaction<'_, Postgres>,
        showtime_scope: &str,
        scope_id: &str,
    ) -> Result<()> {
        let showtimes = format!("SELECT id FROM showtimes WHERE {showtime_scope}");
        for statement in [
            format!("DELETE FROM queue_entries WHERE showtime_id IN ({showtimes})"),
            format!("DELETE FROM waiting_rooms WHERE showtime_id IN ({showtimes})"),
            format!("DELETE FROM inventory_events WHERE showtime_id IN ({showtimes})"),
            format!(
                "DELETE FROM hold_items WHERE hold_id IN (SELECT id FROM holds WHERE showtime_id IN ({showtimes}))"
            ),
            format!("DELETE FROM holds WHERE showtime_id IN ({showtimes})"),
            format!("DELETE FROM tickets WHERE showtime_id IN ({showtimes})"),
        ] {
            sqlx::query(AssertSqlSafe(statement))
                .bind(scope_id.to_owned())
                .execute(&mut **tx)
                .await
                .map_err(db)?;
        }
        Ok(())
    }
}

#[async_trait]
impl AdminStore for SqlStore {
    async fn list_users(&self, limit: u32, after: Option<&UserId>) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id > $1 ORDER BY u.id LIMIT $2");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(after.map_or("", |id| id.as_str()).to_owned())
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(db)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn set_user_role(&self, id: &UserId, role: Role) -> Result<User> {
        let changed = sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(role.as_str())
            .execute(&self.write)
            .await
            .map_err(db)?
            .rows_affected();
        if changed == 0 {
            return Err(Error::NotFound("user"));
        }
        self.get_user(id).await?.ok_or(Error::NotFound("user"))
    }

    async fn set_user_disabled(&self, id: &UserId, disabled: bool, now: OffsetDateTime) -> Result<User> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(disabled.then(|| to_millis(now)))
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if changed == 0 {
            return Err(Error::NotFound("user"));
        }
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        self.get_user(id).await?.ok_or(Error::NotFound("user"))
    }

    async fn login_failures(&self, key: &str) -> Result<(i64, Option<OffsetDateTime>)> {
        let row = sqlx::query("SELECT failures, last_failure_at FROM login_failures WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        match row {
            None => Ok((0, None)),
            Some(row) => Ok((row.try_get("failures").map_err(db)?, Some(instant(&row, "last_failure_at")?))),
        }
    }

    async fn record_login_failure(
        &self,
        key: &str,
        now: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO login_failures (key, failures, last_failure_at) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN login_failures.last_failure_at < $3 THEN 1 ELSE login_failures.failures + 1 END, \
               last_failure_at = $2 \
             RETURNING failures",
        )
        .bind(key)
        .bind(to_millis(now))
        .bind(to_millis(forget_before))
        .fetch_one(&self.write)
        .await
        .map_err(db)?;
        row.try_get("failures").map_err(db)
    }

    async fn clear_login_failures(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(&self.write)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        insert_audit(&self.write, entry).await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let mut query = DynamicQuery::new("SELECT * FROM audit_log WHERE 1 = 1");
        if let Some(action) = &filter.action {
            let action = query.text(action.clone());
            query.push(&format!(" AND action = {action}"));
        }
        if let Some(actor) = &filter.actor_id {
            let actor = query.text(actor.as_str());
            query.push(&format!(" AND actor_id = {actor}"));
        }
        if let Some(target) = &filter.target {
            let target = query.text(target.clone());
            query.push(&format!(" AND target = {target}"));
        }
        if let Some(before) = &filter.before {
            let before = query.text(before.clone());
            query.push(&format!(" AND id < {before}"));
        }
        let limit = query.int(i64::from(filter.limit));
        query.push(&format!(" ORDER BY id DESC LIMIT {limit}"));
        let rows = query.build().fetch_all(&self.read).await.map_err(db)?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn list_venues(&self) -> Result<Vec<Venue>> {
        let rows =
            sqlx::query("SELECT * FROM venues ORDER BY name, id").fetch_all(&self.read).await.map_err(db)?;
        rows.iter().map(venue_from_row).collect()
    }

    async fn get_venue(&self, id: &VenueId) -> Result<Option<Venue>> {
        let row = sqlx::query("SELECT * FROM venues WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        row.as_ref().map(venue_from_row).transpose()
    }

    async fn get_hall(&self, id: &HallId) -> Result<Option<Hall>> {
        let row = sqlx::query("SELECT * FROM halls WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        row.as_ref().map(hall_from_row).transpose()
    }

    async fn list_halls(&self, venue_id: &VenueId) -> Result<Vec<Hall>> {
        let rows = sqlx::query("SELECT * FROM halls WHERE venue_id = $1 ORDER BY name, id")
            .bind(venue_id.as_str())
            .fetch_all(&self.read)
            .await
            .map_err(db)?;
        rows.iter().map(hall_from_row).collect()
    }

    async fn update_venue(&self, venue: &Venue) -> Result<()> {
        let changed = sqlx::query("UPDATE venues SET name = $2, city = $3, time_zone = $4 WHERE id = $1")
            .bind(venue.id.as_str())
            .bind(venue.name.clone())
            .bind(venue.city.clone())
            .bind(venue.time_zone.clone())
            .execute(&self.write)
            .await
            .map_err(db)?
            .rows_affected();
        if changed == 0 { Err(Error::NotFound("venue")) } else { Ok(()) }
    }

    async fn delete_venue(&self, id: &VenueId) -> Result<()> {
        let halls = "SELECT id FROM halls WHERE venue_id = $1";
        self.delete_unused(
            "venue",
            id.as_str(),
            &format!("SELECT id FROM showtimes WHERE hall_id IN ({halls}) LIMIT 1"),
            &[
                &format!("DELETE FROM sections WHERE hall_id IN ({halls})"),
                "DELETE FROM halls WHERE venue_id = $1",
                "DELETE FROM venues WHERE id = $1",
            ],
            "a venue whose halls have showtimes cannot be deleted; delete or keep its showtimes first",
        )
        .await
    }

    async fn rename_hall(&self, id: &HallId, name: &str) -> Result<()> {
        let changed = sqlx::query("UPDATE halls SET name = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(name.to_owned())
            .execute(&self.write)
            .await
            .map_err(db)?
            .rows_affected();
        if changed == 0 { Err(Error::NotFound("hall")) } else { Ok(()) }
    }

    async fn delete_hall(&self, id: &HallId) -> Result<()> {
        self.delete_unused(
            "hall",
            id.as_str(),
            "SELECT id FROM showtimes WHERE hall_id = $1 LIMIT 1",
            &["DELETE FROM sections WHERE hall_id = $1", "DELETE FROM halls WHERE id = $1"],
            "a hall with showtimes cannot be deleted; delete its showtimes first (cancelled and past ones too)",
        )
        .await
    }

    async fn replace_hall_layout(&self, id: &HallId, layout: &HallLayout, now: OffsetDateTime) -> Result<()> {
        let showtimes: Vec<Showtime> = {
            let mut tx = self.begin_write().await?;
            let exists = sqlx::query("SELECT id FROM halls WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
            if exists.is_none() {
                return Err(Error::NotFound("hall"));
            }
            Self::ensure_untouched(
                &mut tx,
                "t.showtime_id IN (SELECT id FROM showtimes WHERE hall_id = $1)",
                id.as_str(),
                now,
                "the layout cannot change under showtimes with sales",
            )
            .await?;
            Self::purge_tickets(&mut tx, "hall_id = $1", id.as_str()).await?;
            sqlx::query("DELETE FROM sections WHERE hall_id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            sqlx::query("UPDATE halls SET layout = $2 WHERE id = $1")
                .bind(id.as_str())
                .bind(serde_json::to_string(layout).map_err(Error::internal)?)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            for (position, section) in layout.sections.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO sections (id, hall_id, position, name, kind) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(SectionId::generate().into_string())
                .bind(id.as_str())
                .bind(position as i64)
                .bind(section.name.trim().to_owned())
                .bind(super::section_kind(section))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
            let rows = sqlx::query(AssertSqlSafe(format!("{SHOWTIME_SUMMARY_SELECT} WHERE sh.hall_id = $2")))
                .bind(to_millis(now))
                .bind(id.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
            let showtimes = rows
                .iter()
                .map(|row| showtime_summary_from_row(row).map(|s| s.showtime))
                .collect::<Result<Vec<_>>>()?;
            // The new tickets are written in the same transaction as the new layout.
            let mut tickets = 0;
            for showtime in &showtimes {
                tickets += super::insert_tickets(&mut tx, showtime, layout, id).await?;
            }
            tx.commit().await.map_err(db)?;
            self.refresh_statistics(tickets).await;
            showtimes
        };
        tracing::info!(hall = %id, showtimes = showtimes.len(), "hall layout replaced; tickets regenerated");
        Ok(())
    }

    async fn list_all_events(&self, limit: u32, after: Option<(String, EventId)>) -> Result<Vec<Event>> {
        let mut query = DynamicQuery::new(&format!("SELECT {EVENT_COLUMNS} FROM events e"));
        if let Some((title, id)) = after {
            let title = query.text(title);
            let id = query.text(id.into_string());
            query.push(&format!(" WHERE (e.title > {title} OR (e.title = {title} AND e.id > {id}))"));
        }
        let limit = query.int(i64::from(limit));
        query.push(&format!(" ORDER BY e.title, e.id LIMIT {limit}"));
        let rows = query.build().fetch_all(&self.read).await.map_err(db)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn update_event(&self, event: &Event) -> Result<()> {
        let changed = sqlx::query(
            "UPDATE events SET kind = $2, title = $3, synopsis = $4, poster_url = $5, genres = $6, \
             runtime_minutes = $7, rating = $8, artist = $9, published = $10 WHERE id = $1",
        )
        .bind(event.id.as_str())
        .bind(event.kind.as_str())
        .bind(event.title.clone())
        .bind(event.synopsis.clone())
        .bind(event.poster_url.clone())
        .bind(format!(",{},", event.genres.join(",")))
        .bind(event.runtime_minutes)
        .bind(event.rating.clone())
        .bind(event.artist.clone())
        .bind(i64::from(event.published))
        .execute(&self.write)
        .await
        .map_err(db)?
        .rows_affected();
        if changed == 0 { Err(Error::NotFound("event")) } else { Ok(()) }
    }

    async fn list_event_showtimes(
        &self,
        event_id: &EventId,
        now: OffsetDateTime,
    ) -> Result<Vec<ShowtimeSummary>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{SHOWTIME_SUMMARY_SELECT} WHERE sh.event_id = $2 ORDER BY sh.starts_at, sh.id"
        )))
        .bind(to_millis(now))
        .bind(event_id.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db)?;
        rows.iter().map(showtime_summary_from_row).collect()
    }

    async fn update_showtime_prices(&self, id: &ShowtimeId, prices: &BTreeMap<String, i64>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query("UPDATE showtimes SET prices = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(serde_json::to_string(prices).map_err(Error::internal)?)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if changed == 0 {
            return Err(Error::NotFound("showtime"));
        }
        for (category, amount) in prices {
            sqlx::query("UPDATE tickets SET price_amount = $3 WHERE showtime_id = $1 AND category = $2 AND status <> 'sold'")
                .bind(id.as_str())
                .bind(category.clone())
                .bind(*amount)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn cancel_showtime(&self, id: &ShowtimeId, now: OffsetDateTime) -> Result<()> {
        let changed =
            sqlx::query("UPDATE showtimes SET cancelled_at = COALESCE(cancelled_at, $2) WHERE id = $1")
                .bind(id.as_str())
                .bind(to_millis(now))
                .execute(&self.write)
                .await
                .map_err(db)?
                .rows_affected();
        if changed == 0 { Err(Error::NotFound("showtime")) } else { Ok(()) }
    }

    async fn delete_showtime(&self, id: &ShowtimeId, now: OffsetDateTime) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT id FROM showtimes WHERE id = $1{}", super::FOR_UPDATE);
        if sqlx::query(AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .is_none()
        {
            return Err(Error::NotFound("showtime"));
        }
        Self::ensure_untouched(
            &mut tx,
            "t.showtime_id = $1",
            id.as_str(),
            now,
            "a showtime with sales cannot be deleted; cancel it instead",
        )
        .await?;
        Self::purge_tickets(&mut tx, "id = $1", id.as_str()).await?;
        sqlx::query("DELETE FROM showtimes WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn sales_timeline(&self, id: &ShowtimeId) -> Result<Vec<Sale>> {
        let rows = sqlx::query(
            "SELECT o.created_at, COUNT(*) AS tickets, CAST(SUM(oi.price_amount) AS BIGINT) AS amount \
             FROM orders o JOIN order_items oi ON oi.order_id = o.id AND oi.live = 1 \
             WHERE o.showtime_id = $1 AND o.status IN ('confirmed', 'partially_refunded') \
             GROUP BY o.id, o.created_at ORDER BY o.created_at, o.id",
        )
        .bind(id.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok(Sale {
                    at: from_millis(row.try_get("created_at").map_err(db)?),
                    tickets: row.try_get("tickets").map_err(db)?,
                    amount: row.try_get("amount").map_err(db)?,
                })
            })
            .collect()
    }

    async fn sales_report(&self, id: &ShowtimeId, now: OffsetDateTime) -> Result<Vec<CategorySales>> {
        let rows = sqlx::query(
            "SELECT t.category, \
               COALESCE(SUM(CASE WHEN t.status = 'sold' THEN 1 ELSE 0 END), 0) AS sold, \
               COALESCE(SUM(CASE WHEN t.status = 'held' AND t.hold_expires_at > $2 THEN 1 ELSE 0 END), 0) AS held, \
               COUNT(*) AS total, \
               CAST(COALESCE(SUM(CASE WHEN t.status = 'sold' THEN \
                 (SELECT oi.price_amount FROM order_items oi WHERE oi.ticket_id = t.id AND oi.live = 1) ELSE 0 END), 0) AS BIGINT) AS gross \
             FROM tickets t WHERE t.showtime_id = $1 GROUP BY t.category ORDER BY t.category",
        )
        .bind(id.as_str())
        .bind(to_millis(now))
        .fetch_all(&self.read)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| {
                let (sold, held, total): (i64, i64, i64) = (
                    row.try_get("sold").map_err(db)?,
                    row.try_get("held").map_err(db)?,
                    row.try_get("total").map_err(db)?,
                );
                Ok(CategorySales {
                    category: row.try_get("category").map_err(db)?,
                    sold,
                    held,
                    available: total - sold - held,
                    gross_amount: row.try_get("gross").map_err(db)?,
                })
            })
            .collect()
    }
}

/// Appends an audit entry, on its own or in the transaction of the operation it records.
pub(super) async fn insert_audit(executor: impl sqlx::PgExecutor<'_>, entry: &AuditEntry) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor_id, actor_email, ip, action, target, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&entry.id)
    .bind(to_millis(entry.at))
    .bind(entry.actor_id.as_ref().map(|id| id.as_str()))
    .bind(&entry.actor_email)
    .bind(&entry.ip)
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(&entry.details)
    .execute(executor)
    .await
    .map_err(db)?;
    Ok(())
}
