//! [`LiveStore`] for both backends: the inventory change feed and waiting rooms.
//!
//! Feed entries are written by [`record_change`] inside the transaction that changes the
//! tickets, so the feed can never show a change that did not happen, nor miss one that did.
//! Across nodes, PostgreSQL's `LISTEN`/`NOTIFY` wakes the readers at once; readers also poll,
//! so a lost notification (or a database without `NOTIFY`) only delays an update.

use super::{DynamicQuery, SqlStore, db, from_millis, instant, is_unique_violation, to_millis};
use crate::live::{InventoryChange, InventoryEvent, LiveStore, QueueLength, QueuePlace, QueueSummary};
use async_trait::async_trait;
use marquee_domain::ids::{ShowtimeId, TicketId, UserId};
use marquee_domain::queue::WaitingRoom;
use marquee_domain::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// The `NOTIFY` channel of inventory changes.
const CHANNEL: &str = "marquee_inventory";

/// Appends a change to the feed, in the caller's transaction.
pub(super) async fn record_change(
    executor: impl sqlx::Executor<'_, Database = Postgres>,
    showtime_id: &str,
    change: InventoryChange,
    ticket_ids: &[String],
    now: OffsetDateTime,
) -> Result<()> {
    if ticket_ids.is_empty() {
        return Ok(());
    }
    sqlx::query("INSERT INTO inventory_events (showtime_id, kind, ticket_ids, at) VALUES ($1, $2, $3, $4)")
        .bind(showtime_id.to_owned())
        .bind(change.as_str())
        .bind(ticket_ids.join(" "))
        .bind(to_millis(now))
        .execute(executor)
        .await
        .map_err(db)?;
    Ok(())
}

fn event_from_row(row: &PgRow) -> Result<InventoryEvent> {
    let ticket_ids: String = row.try_get("ticket_ids").map_err(db)?;
    Ok(InventoryEvent {
        id: row.try_get("id").map_err(db)?,
        showtime_id: ShowtimeId::from_raw(row.try_get::<String, _>("showtime_id").map_err(db)?),
        change: InventoryChange::parse(&row.try_get::<String, _>("kind").map_err(db)?)?,
        ticket_ids: ticket_ids.split_whitespace().map(TicketId::from_raw).collect(),
        at: instant(row, "at")?,
    })
}

fn room_from_row(row: &PgRow) -> Result<WaitingRoom> {
    let per_minute: i64 = row.try_get("admit_per_minute").map_err(db)?;
    let ttl: i64 = row.try_get("admission_ttl_secs").map_err(db)?;
    Ok(WaitingRoom {
        showtime_id: ShowtimeId::from_raw(row.try_get::<String, _>("showtime_id").map_err(db)?),
        opens_at: instant(row, "opens_at")?,
        admit_per_minute: u32::try_from(per_minute).map_err(Error::internal)?,
        admission_ttl: time::Duration::seconds(ttl),
        admitted: row.try_get("admitted").map_err(db)?,
        advanced_at: instant(row, "advanced_at")?,
    })
}

impl SqlStore {
    /// Feed entries after `after` in id order, of one showtime or of all.
    async fn events_after(
        &self,
        showtime_id: Option<&ShowtimeId>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<InventoryEvent>> {
        let mut query = DynamicQuery::new("SELECT * FROM inventory_events WHERE id > ");
        let after = query.int(after);
        query.push(&after);
        if let Some(showtime_id) = showtime_id {
            let showtime = query.text(showtime_id.as_str());
            query.push(&format!(" AND showtime_id = {showtime}"));
        }
        let limit = query.int(i64::from(limit));
        query.push(&format!(" ORDER BY id LIMIT {limit}"));
        query.build().fetch_all(&self.read).await.map_err(db)?.iter().map(event_from_row).collect()
    }

    async fn queued(&self, showtime_id: &ShowtimeId) -> Result<i64> {
        sqlx::query("SELECT COUNT(*) AS n FROM queue_entries WHERE showtime_id = $1")
            .bind(showtime_id.as_str())
            .fetch_one(&self.read)
            .await
            .map_err(db)?
            .try_get("n")
            .map_err(db)
    }

    /// The room with admission brought up to `now`. Whichever node asks first moves it on;
    /// the update only applies to the state it was computed from, so two nodes racing cannot
    /// admit twice (the loser reads the winner's result).
    async fn advanced_room(
        &self,
        showtime_id: &ShowtimeId,
        now: OffsetDateTime,
    ) -> Result<Option<(WaitingRoom, i64)>> {
        for _ in 0..5 {
            let Some(room) = self.waiting_room(showtime_id).await? else { return Ok(None) };
            let queued = self.queued(showtime_id).await?;
            let Some((admitted, advanced_at)) = room.advance(queued, now) else {
                return Ok(Some((room, queued)));
            };
            let moved = sqlx::query(
                "UPDATE waiting_rooms SET admitted = $1, advanced_at = $2 \
                 WHERE showtime_id = $3 AND admitted = $4 AND advanced_at = $5",
            )
            .bind(admitted)
            .bind(to_millis(advanced_at))
            .bind(showtime_id.as_str())
            .bind(room.admitted)
            .bind(to_millis(room.advanced_at))
            .execute(&self.write)
            .await
            .map_err(db)?
            .rows_affected();
            if moved == 1 {
                return Ok(Some((WaitingRoom { admitted, advanced_at, ..room }, queued)));
            }
        }
        Err(Error::Contention)
    }

    async fn place_of(
        &self,
        room: WaitingRoom,
        queued: i64,
        user_id: &UserId,
        now: OffsetDateTime,
    ) -> Result<Option<QueuePlace>> {
        let row = sqlx::query(
            "SELECT e.place_key, e.joined_at, e.admitted_at, \
             (SELECT COUNT(*) FROM queue_entries a WHERE a.showtime_id = e.showtime_id AND a.place_key < e.place_key) AS ahead \
             FROM queue_entries e WHERE e.showtime_id = $1 AND e.user_id = $2",
        )
        .bind(room.showtime_id.as_str())
        .bind(user_id.as_str())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let index: i64 = row.try_get("ahead").map_err(db)?;
        let mut admitted_at = row.try_get::<Option<i64>, _>("admitted_at").map_err(db)?.map(from_millis);
        let mut newly_admitted = false;
        if admitted_at.is_none() && now >= room.opens_at && index < room.admitted {
            // Its turn has come: record the admission once (its lifetime counts from here). A
            // concurrent request of the same account may have recorded it first: keep theirs.
            let recorded = sqlx::query(
                "UPDATE queue_entries SET admitted_at = COALESCE(admitted_at, $1) \
                 WHERE showtime_id = $2 AND user_id = $3 RETURNING admitted_at",
            )
            .bind(to_millis(now))
            .bind(room.showtime_id.as_str())
            .bind(user_id.as_str())
            .fetch_optional(&self.write)
            .await
            .map_err(db)?;
            // Gone meanwhile (the account left the queue).
            let Some(recorded) = recorded else { return Ok(None) };
            let recorded: i64 = recorded.try_get("admitted_at").map_err(db)?;
            newly_admitted = recorded == to_millis(now);
            admitted_at = Some(from_millis(recorded));
        }
        Ok(Some(QueuePlace {
            room,
            index,
            joined_at: instant(&row, "joined_at")?,
            admitted_at,
            newly_admitted,
            queued,
        }))
    }
}

#[async_trait]
impl LiveStore for SqlStore {
    async fn inventory_events(&self, after: i64, limit: u32) -> Result<Vec<InventoryEvent>> {
        self.events_after(None, after, limit).await
    }

    async fn showtime_events(
        &self,
        showtime_id: &ShowtimeId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<InventoryEvent>> {
        self.events_after(Some(showtime_id), after, limit).await
    }

    async fn inventory_event_bounds(&self) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COALESCE(MIN(id), 0) AS oldest, COALESCE(MAX(id), 0) AS newest FROM inventory_events",
        )
        .fetch_one(&self.read)
        .await
        .map_err(db)?;
        Ok((row.try_get("oldest").map_err(db)?, row.try_get("newest").map_err(db)?))
    }

    async fn prune_inventory_events(&self, before: OffsetDateTime) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM inventory_events WHERE at < $1")
            .bind(to_millis(before))
            .execute(&self.write)
            .await
            .map_err(db)?
            .rows_affected())
    }

    async fn announce_inventory_change(&self) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(&self.write).await.map_err(db)?;
        Ok(())
    }

    async fn listen_inventory_changes(&self, wake: Arc<tokio::sync::Notify>) -> Result<()> {
        let Some(url) = self.postgres_url.clone() else { return Ok(()) };
        loop {
            let listened = async {
                let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
                listener.listen(CHANNEL).await?;
                // Changes made while we were not listening: let the reader look.
                wake.notify_one();
                loop {
                    listener.recv().await?;
                    wake.notify_one();
                }
                #[allow(unreachable_code)]
                Ok::<(), sqlx::Error>(())
            };
            if let Err(error) = listened.await {
                tracing::warn!(%error, "listening for inventory changes failed; retrying");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn put_waiting_room(&self, room: &WaitingRoom) -> Result<()> {
        room.validate()?;
        let result = sqlx::query(
            "INSERT INTO waiting_rooms (showtime_id, opens_at, admit_per_minute, admission_ttl_secs, admitted, advanced_at) \
             VALUES ($1, $2, $3, $4, 0, $2) \
             ON CONFLICT (showtime_id) DO UPDATE SET opens_at = excluded.opens_at, \
             admit_per_minute = excluded.admit_per_minute, admission_ttl_secs = excluded.admission_ttl_secs",
        )
        .bind(room.showtime_id.as_str())
        .bind(to_millis(room.opens_at))
        .bind(i64::from(room.admit_per_minute))
        .bind(room.admission_ttl.whole_seconds())
        .execute(&self.write)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if error.as_database_error().is_some_and(|e| e.is_foreign_key_violation()) => {
                Err(Error::NotFound("showtime"))
            }
            Err(error) => Err(db(error)),
        }
    }

    async fn delete_waiting_room(&self, showtime_id: &ShowtimeId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM queue_entries WHERE showtime_id = $1")
            .bind(showtime_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let deleted = sqlx::query("DELETE FROM waiting_rooms WHERE showtime_id = $1")
            .bind(showtime_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if deleted == 0 {
            return Err(Error::NotFound("waiting room"));
        }
        tx.commit().await.map_err(db)
    }

    async fn waiting_room(&self, showtime_id: &ShowtimeId) -> Result<Option<WaitingRoom>> {
        sqlx::query("SELECT * FROM waiting_rooms WHERE showtime_id = $1")
            .bind(showtime_id.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db)?
            .as_ref()
            .map(room_from_row)
            .transpose()
    }

    async fn join_queue(
        &self,
        showtime_id: &ShowtimeId,
        user_id: &UserId,
        place_key: i64,
        now: OffsetDateTime,
    ) -> Result<QueuePlace> {
        let mut key = place_key;
        for _ in 0..16 {
            let inserted = sqlx::query(
                "INSERT INTO queue_entries (showtime_id, user_id, place_key, joined_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (showtime_id, user_id) DO NOTHING",
            )
            .bind(showtime_id.as_str())
            .bind(user_id.as_str())
            .bind(key)
            .bind(to_millis(now))
            .execute(&self.write)
            .await;
            match inserted {
                Ok(_) => break,
                // Someone drew the same key: take the next one.
                Err(error) if is_unique_violation(&error) => key += 1,
                // No such waiting room (the entry must belong to one).
                Err(error) if error.as_database_error().is_some_and(|e| e.is_foreign_key_violation()) => {
                    return Err(Error::NotFound("waiting room"));
                }
                Err(error) => return Err(db(error)),
            }
        }
        self.queue_place(showtime_id, user_id, now).await?.ok_or(Error::Contention)
    }

    async fn queue_place(
        &self,
        showtime_id: &ShowtimeId,
        user_id: &UserId,
        now: OffsetDateTime,
    ) -> Result<Option<QueuePlace>> {
        let Some((room, queued)) = self.advanced_room(showtime_id, now).await? else { return Ok(None) };
        self.place_of(room, queued, user_id, now).await
    }

    async fn leave_queue(&self, showtime_id: &ShowtimeId, user_id: &UserId) -> Result<()> {
        sqlx::query("DELETE FROM queue_entries WHERE showtime_id = $1 AND user_id = $2")
            .bind(showtime_id.as_str())
            .bind(user_id.as_str())
            .execute(&self.write)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn queue_lengths(&self) -> Result<Vec<QueueLength>> {
        let rows = sqlx::query(
            "SELECT w.showtime_id, w.admitted, \
             (SELECT COUNT(*) FROM queue_entries q WHERE q.showtime_id = w.showtime_id) AS queued \
             FROM waiting_rooms w ORDER BY w.showtime_id",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok(QueueLength {
                    showtime_id: ShowtimeId::from_raw(row.try_get::<String, _>("showtime_id")?),
                    queued: row.try_get("queued")?,
                    admitted: row.try_get("admitted")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db)
    }

    async fn queue_summary(
        &self,
        showtime_id: &ShowtimeId,
        now: OffsetDateTime,
    ) -> Result<Option<QueueSummary>> {
        Ok(self.advanced_room(showtime_id, now).await?.map(|(room, queued)| QueueSummary { room, queued }))
    }
}
