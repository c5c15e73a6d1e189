//! [`LiveStore`] on SQLite: the inventory change feed and waiting rooms.
//!
//! Feed entries are written by [`super::rows::record_change`] in the command that changes the
//! tickets, so the feed never shows a change that did not happen, nor misses one that did.
//! A SQLite database has one node: there is nobody to announce a change to, and the feed's
//! readers poll it (see [`LiveStore::listen_inventory_changes`]).
//!
//! Looking at a queue brings its admission up to date, which writes. Every look runs first on
//! a reader; only a look that finds something due (admission to move on, an admission to
//! record) runs again as a command of the writer, which writes it. Thousands of waiting buyers
//! polling their place thus mostly read, and the writer stays free for the sale itself.

use super::rows::{
    all_rows, column_u32, instant, is_foreign_key_violation, is_unique_violation, one_row, optional_instant,
    optional_row, parsed,
};
use super::{SqliteStore, db};
use crate::live::{InventoryChange, InventoryEvent, LiveStore, QueueLength, QueuePlace, QueueSummary};
use async_trait::async_trait;
use marquee_domain::clock::{from_millis, to_millis};
use marquee_domain::ids::{ShowtimeId, TicketId, UserId};
use marquee_domain::queue::WaitingRoom;
use marquee_domain::{Error, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::sync::Arc;
use time::OffsetDateTime;

/// How many place keys a join tries when the one drawn is taken (two buyers drew the same):
/// each try takes the next key, so a collision costs one more insert, not a failure.
const MAX_PLACE_KEY_TRIES: usize = 16;

/// The columns [`event_from_row`] reads, of `inventory_events`.
const EVENT_COLUMNS: &str = "id, showtime_id, kind, ticket_ids, at";

/// The columns [`room_from_row`] reads, of `waiting_rooms`.
const ROOM_COLUMNS: &str =
    "showtime_id, opens_at, admit_per_minute, admission_ttl_secs, admitted, advanced_at";

/// A feed entry (selected as [`EVENT_COLUMNS`]); its ticket ids are stored space-separated.
fn event_from_row(row: &Row<'_>) -> rusqlite::Result<InventoryEvent> {
    let ticket_ids: String = row.get("ticket_ids")?;
    Ok(InventoryEvent {
        id: row.get("id")?,
        showtime_id: ShowtimeId::from_raw(row.get::<_, String>("showtime_id")?),
        change: parsed(row, "kind", InventoryChange::parse)?,
        ticket_ids: ticket_ids.split_whitespace().map(TicketId::from_raw).collect(),
        at: instant(row, "at")?,
    })
}

/// A waiting room (selected as [`ROOM_COLUMNS`]).
fn room_from_row(row: &Row<'_>) -> rusqlite::Result<WaitingRoom> {
    Ok(WaitingRoom {
        showtime_id: ShowtimeId::from_raw(row.get::<_, String>("showtime_id")?),
        opens_at: instant(row, "opens_at")?,
        admit_per_minute: column_u32(row, "admit_per_minute")?,
        admission_ttl: time::Duration::seconds(row.get("admission_ttl_secs")?),
        admitted: row.get("admitted")?,
        advanced_at: instant(row, "advanced_at")?,
    })
}

/// Feed entries after `after` in id order, of one showtime or of all, at most `limit`.
fn events_after(
    connection: &Connection,
    showtime_id: Option<&ShowtimeId>,
    after: i64,
    limit: u32,
) -> Result<Vec<InventoryEvent>> {
    let limit = i64::from(limit);
    match showtime_id {
        None => {
            let sql =
                format!("SELECT {EVENT_COLUMNS} FROM inventory_events WHERE id > ?1 ORDER BY id LIMIT ?2");
            all_rows(connection, &sql, params![after, limit], event_from_row)
        }
        Some(showtime_id) => {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM inventory_events WHERE showtime_id = ?1 AND id > ?2 \
                 ORDER BY id LIMIT ?3"
            );
            all_rows(connection, &sql, params![showtime_id.as_str(), after, limit], event_from_row)
        }
    }
}

/// A showtime's waiting room as stored.
fn waiting_room(connection: &Connection, showtime_id: &str) -> Result<Option<WaitingRoom>> {
    let sql = format!("SELECT {ROOM_COLUMNS} FROM waiting_rooms WHERE showtime_id = ?1");
    optional_row(connection, &sql, [showtime_id], room_from_row)
}

/// How many places a showtime's queue has.
fn queued(connection: &Connection, showtime_id: &str) -> Result<i64> {
    connection
        .prepare_cached("SELECT COUNT(*) FROM queue_entries WHERE showtime_id = ?1")
        .and_then(|mut count| count.query_row([showtime_id], |row| row.get(0)))
        .map_err(db)
}

/// Whether a look at a queue runs on a reader (and may only find what is due) or on the
/// writer (and writes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// On a reader: what is due is reported ([`Look::Due`]), not written.
    Read,
    /// On the writer: what is due is written.
    Write,
}

/// What a look at a queue found.
enum Look<T> {
    /// The answer, with everything due written (or nothing due).
    Found(T),
    /// A reader found something to write first: look again on the writer.
    Due,
}

/// The room with admission brought up to `now`, and its queue's length; `None` without a
/// waiting room. On the writer nothing can come between the read and the update, so the
/// update needs no condition on the state it was computed from.
fn advanced_room(
    connection: &Connection,
    showtime_id: &str,
    now: OffsetDateTime,
    access: Access,
) -> Result<Look<Option<(WaitingRoom, i64)>>> {
    let Some(room) = waiting_room(connection, showtime_id)? else { return Ok(Look::Found(None)) };
    let queued = queued(connection, showtime_id)?;
    let Some((admitted, advanced_at)) = room.advance(queued, now) else {
        return Ok(Look::Found(Some((room, queued))));
    };
    if access == Access::Read {
        return Ok(Look::Due);
    }
    let advanced_at = to_millis(advanced_at);
    connection
        .prepare_cached("UPDATE waiting_rooms SET admitted = ?2, advanced_at = ?3 WHERE showtime_id = ?1")
        .and_then(|mut update| update.execute(params![showtime_id, admitted, advanced_at]))
        .map_err(db)?;
    Ok(Look::Found(Some((WaitingRoom { admitted, advanced_at: from_millis(advanced_at), ..room }, queued))))
}

/// The account's place in the room's queue (of `queued` places), recording its admission
/// once its turn has come; `None` if it is not in the queue.
fn place_of(
    connection: &Connection,
    room: WaitingRoom,
    queued: i64,
    user_id: &str,
    now: OffsetDateTime,
    access: Access,
) -> Result<Look<Option<QueuePlace>>> {
    let place: Option<(i64, OffsetDateTime, Option<OffsetDateTime>)> = connection
        .prepare_cached(
            "SELECT e.joined_at, e.admitted_at, \
             (SELECT COUNT(*) FROM queue_entries a \
              WHERE a.showtime_id = e.showtime_id AND a.place_key < e.place_key) AS ahead \
             FROM queue_entries e WHERE e.showtime_id = ?1 AND e.user_id = ?2",
        )
        .and_then(|mut select| {
            select
                .query_row(params![room.showtime_id.as_str(), user_id], |row| {
                    Ok((row.get("ahead")?, instant(row, "joined_at")?, optional_instant(row, "admitted_at")?))
                })
                .optional()
        })
        .map_err(db)?;
    let Some((index, joined_at, mut admitted_at)) = place else { return Ok(Look::Found(None)) };
    let mut newly_admitted = false;
    if admitted_at.is_none() && now >= room.opens_at && index < room.admitted {
        if access == Access::Read {
            return Ok(Look::Due);
        }
        // Its turn has come: record the admission once (its lifetime counts from here).
        let recorded: Option<i64> = connection
            .prepare_cached(
                "UPDATE queue_entries SET admitted_at = COALESCE(admitted_at, ?1) \
                 WHERE showtime_id = ?2 AND user_id = ?3 RETURNING admitted_at",
            )
            .and_then(|mut update| {
                update
                    .query_row(params![to_millis(now), room.showtime_id.as_str(), user_id], |row| row.get(0))
                    .optional()
            })
            .map_err(db)?;
        // Gone meanwhile (cannot happen within one command; kept from the legacy store).
        let Some(recorded) = recorded else { return Ok(Look::Found(None)) };
        newly_admitted = recorded == to_millis(now);
        admitted_at = Some(from_millis(recorded));
    }
    Ok(Look::Found(Some(QueuePlace { room, index, joined_at, admitted_at, newly_admitted, queued })))
}

/// The account's place with admission brought up to `now` (see [`LiveStore::queue_place`]).
fn queue_place(
    connection: &Connection,
    showtime_id: &str,
    user_id: &str,
    now: OffsetDateTime,
    access: Access,
) -> Result<Look<Option<QueuePlace>>> {
    match advanced_room(connection, showtime_id, now, access)? {
        Look::Due => Ok(Look::Due),
        Look::Found(None) => Ok(Look::Found(None)),
        Look::Found(Some((room, queued))) => place_of(connection, room, queued, user_id, now, access),
    }
}

/// Joins the queue (see [`LiveStore::join_queue`]), as one command of the writer.
fn join_queue(
    connection: &Connection,
    showtime_id: &str,
    user_id: &str,
    place_key: i64,
    now: OffsetDateTime,
) -> Result<QueuePlace> {
    let mut insert = connection
        .prepare_cached(
            "INSERT INTO queue_entries (showtime_id, user_id, place_key, joined_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (showtime_id, user_id) DO NOTHING",
        )
        .map_err(db)?;
    let mut key = place_key;
    for _ in 0..MAX_PLACE_KEY_TRIES {
        match insert.execute(params![showtime_id, user_id, key, to_millis(now)]) {
            // A new place, or the account's place already (nothing inserted).
            Ok(_) => break,
            // Someone drew the same key: take the next one (the failed statement wrote nothing).
            Err(error) if is_unique_violation(&error) => key += 1,
            // No such waiting room (the entry must belong to one).
            Err(error) if is_foreign_key_violation(&error) => return Err(Error::NotFound("waiting room")),
            Err(error) => return Err(db(error)),
        }
    }
    match queue_place(connection, showtime_id, user_id, now, Access::Write)? {
        Look::Found(Some(place)) => Ok(place),
        // Every key tried was taken.
        Look::Found(None) => Err(Error::Contention),
        Look::Due => Err(Error::internal("a look at a queue on the writer left something due")),
    }
}

impl SqliteStore {
    /// Runs `look` on a reader and, if it finds something due, again on the writer, which
    /// writes what is due (see the module documentation).
    async fn look<T, F>(&self, look: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Connection, Access) -> Result<Look<T>> + Clone + Send + 'static,
    {
        let on_reader = look.clone();
        if let Look::Found(found) = self.read(move |connection| on_reader(connection, Access::Read)).await? {
            return Ok(found);
        }
        match self.write(move |connection| look(connection, Access::Write)).await? {
            Look::Found(found) => Ok(found),
            Look::Due => Err(Error::internal("a look at a queue on the writer left something due")),
        }
    }
}

#[async_trait]
impl LiveStore for SqliteStore {
    async fn inventory_events(&self, after: i64, limit: u32) -> Result<Vec<InventoryEvent>> {
        self.read(move |connection| events_after(connection, None, after, limit)).await
    }

    async fn showtime_events(
        &self,
        showtime_id: &ShowtimeId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<InventoryEvent>> {
        let showtime_id = showtime_id.clone();
        self.read(move |connection| events_after(connection, Some(&showtime_id), after, limit)).await
    }

    async fn inventory_event_bounds(&self) -> Result<(i64, i64)> {
        self.read(|connection| {
            one_row(
                connection,
                "SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), 0) FROM inventory_events",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
        })
        .await
    }

    async fn prune_inventory_events(&self, before: OffsetDateTime) -> Result<u64> {
        self.write(move |connection| {
            let deleted = connection
                .prepare_cached("DELETE FROM inventory_events WHERE at < ?1")
                .and_then(|mut delete| delete.execute([to_millis(before)]))
                .map_err(db)?;
            Ok(deleted as u64)
        })
        .await
    }

    /// One node writes and reads the database: there is no other node to tell (the legacy
    /// store sent `NOTIFY` on PostgreSQL only).
    async fn announce_inventory_change(&self) -> Result<()> {
        Ok(())
    }

    /// Returns at once, as the legacy store did without PostgreSQL: no other node writes, and
    /// this node's own changes wake its feed reader directly (which also polls).
    async fn listen_inventory_changes(&self, _wake: Arc<tokio::sync::Notify>) -> Result<()> {
        Ok(())
    }

    async fn put_waiting_room(&self, room: &WaitingRoom) -> Result<()> {
        room.validate()?;
        let room = room.clone();
        self.write(move |connection| {
            let put = connection
                .prepare_cached(
                    "INSERT INTO waiting_rooms \
                     (showtime_id, opens_at, admit_per_minute, admission_ttl_secs, admitted, advanced_at) \
                     VALUES (?1, ?2, ?3, ?4, 0, ?2) \
                     ON CONFLICT (showtime_id) DO UPDATE SET opens_at = excluded.opens_at, \
                     admit_per_minute = excluded.admit_per_minute, \
                     admission_ttl_secs = excluded.admission_ttl_secs",
                )
                .and_then(|mut upsert| {
                    upsert.execute(params![
                        room.showtime_id.as_str(),
                        to_millis(room.opens_at),
                        i64::from(room.admit_per_minute),
                        room.admission_ttl.whole_seconds()
                    ])
                });
            match put {
                Ok(_) => Ok(()),
                Err(error) if is_foreign_key_violation(&error) => Err(Error::NotFound("showtime")),
                Err(error) => Err(db(error)),
            }
        })
        .await
    }

    async fn delete_waiting_room(&self, showtime_id: &ShowtimeId) -> Result<()> {
        let showtime_id = showtime_id.clone();
        self.write(move |connection| {
            connection
                .prepare_cached("DELETE FROM queue_entries WHERE showtime_id = ?1")
                .and_then(|mut delete| delete.execute([showtime_id.as_str()]))
                .map_err(db)?;
            let deleted = connection
                .prepare_cached("DELETE FROM waiting_rooms WHERE showtime_id = ?1")
                .and_then(|mut delete| delete.execute([showtime_id.as_str()]))
                .map_err(db)?;
            if deleted == 0 {
                // Nothing was deleted, so the rollback of this error undoes nothing.
                return Err(Error::NotFound("waiting room"));
            }
            Ok(())
        })
        .await
    }

    async fn waiting_room(&self, showtime_id: &ShowtimeId) -> Result<Option<WaitingRoom>> {
        let showtime_id = showtime_id.clone();
        self.read(move |connection| waiting_room(connection, showtime_id.as_str())).await
    }

    async fn join_queue(
        &self,
        showtime_id: &ShowtimeId,
        user_id: &UserId,
        place_key: i64,
        now: OffsetDateTime,
    ) -> Result<QueuePlace> {
        let (showtime_id, user_id) = (showtime_id.clone(), user_id.clone());
        self.write(move |connection| {
            join_queue(connection, showtime_id.as_str(), user_id.as_str(), place_key, now)
        })
        .await
    }

    async fn queue_place(
        &self,
        showtime_id: &ShowtimeId,
        user_id: &UserId,
        now: OffsetDateTime,
    ) -> Result<Option<QueuePlace>> {
        let (showtime_id, user_id) = (showtime_id.clone(), user_id.clone());
        self.look(move |connection, access| {
            queue_place(connection, showtime_id.as_str(), user_id.as_str(), now, access)
        })
        .await
    }

    async fn leave_queue(&self, showtime_id: &ShowtimeId, user_id: &UserId) -> Result<()> {
        let (showtime_id, user_id) = (showtime_id.clone(), user_id.clone());
        self.write(move |connection| {
            connection
                .prepare_cached("DELETE FROM queue_entries WHERE showtime_id = ?1 AND user_id = ?2")
                .and_then(|mut delete| delete.execute(params![showtime_id.as_str(), user_id.as_str()]))
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn queue_lengths(&self) -> Result<Vec<QueueLength>> {
        self.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT w.showtime_id, w.admitted, \
                     (SELECT COUNT(*) FROM queue_entries q WHERE q.showtime_id = w.showtime_id) AS queued \
                     FROM waiting_rooms w ORDER BY w.showtime_id",
                )
                .and_then(|mut select| {
                    select
                        .query_map([], |row| {
                            Ok(QueueLength {
                                showtime_id: ShowtimeId::from_raw(row.get::<_, String>("showtime_id")?),
                                queued: row.get("queued")?,
                                admitted: row.get("admitted")?,
                            })
                        })?
                        .collect()
                })
                .map_err(db)
        })
        .await
    }

    async fn queue_summary(
        &self,
        showtime_id: &ShowtimeId,
        now: OffsetDateTime,
    ) -> Result<Option<QueueSummary>> {
        let showtime_id = showtime_id.clone();
        self.look(move |connection, access| {
            Ok(match advanced_room(connection, showtime_id.as_str(), now, access)? {
                Look::Due => Look::Due,
                Look::Found(room) => Look::Found(room.map(|(room, queued)| QueueSummary { room, queued })),
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::orders::tests::{NOW, fixture};
    use std::sync::atomic::Ordering;

    /// The instant `offset_ms` milliseconds after the tests' `NOW`.
    fn at(offset_ms: i64) -> OffsetDateTime {
        from_millis(NOW + offset_ms)
    }

    /// The waiting room of `sho_1`, opening at `NOW`, admitting at the given pace.
    fn room(admit_per_minute: u32) -> WaitingRoom {
        WaitingRoom {
            showtime_id: ShowtimeId::from_raw("sho_1"),
            opens_at: at(0),
            admit_per_minute,
            admission_ttl: time::Duration::minutes(10),
            admitted: 0,
            advanced_at: at(0),
        }
    }

    #[tokio::test]
    async fn the_feed_reads_in_id_order_per_showtime_and_prunes_by_age() {
        let fixture = fixture().await;
        let store = &fixture.store;
        assert_eq!(store.inventory_event_bounds().await.unwrap(), (0, 0));
        for (showtime, kind, tickets, offset) in [
            ("sho_1", "held", "tkt_1 tkt_2", 0),
            ("sho_2", "held", "tkt_9", 1_000),
            ("sho_1", "sold", "tkt_1 tkt_2", 2_000),
            ("sho_1", "released", "tkt_3", 3_000),
            ("sho_2", "expired", "tkt_9", 4_000),
        ] {
            fixture
                .setup
                .execute(
                    "INSERT INTO inventory_events (showtime_id, kind, ticket_ids, at) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![showtime, kind, tickets, NOW + offset],
                )
                .unwrap();
        }
        let all = store.inventory_events(0, 100).await.unwrap();
        assert_eq!(all.iter().map(|event| event.id).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(all[0].ticket_ids, [TicketId::from_raw("tkt_1"), TicketId::from_raw("tkt_2")]);
        assert_eq!((all[2].change, all[2].at), (InventoryChange::Sold, at(2_000)));
        let page = store.inventory_events(1, 2).await.unwrap();
        assert_eq!(page.iter().map(|event| event.id).collect::<Vec<_>>(), [2, 3]);
        let one = store.showtime_events(&ShowtimeId::from_raw("sho_1"), 1, 100).await.unwrap();
        assert_eq!(one.iter().map(|event| event.id).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(one[1].change, InventoryChange::Released);
        assert_eq!(store.inventory_event_bounds().await.unwrap(), (1, 5));

        assert_eq!(store.prune_inventory_events(at(2_000)).await.unwrap(), 2, "older than, not at");
        assert_eq!(store.inventory_event_bounds().await.unwrap(), (3, 5));
        assert_eq!(store.inventory_events(0, 100).await.unwrap().len(), 3);
        store.announce_inventory_change().await.unwrap();
        store.listen_inventory_changes(Arc::new(tokio::sync::Notify::new())).await.unwrap();
    }

    #[tokio::test]
    async fn the_queue_places_by_key_and_admits_at_its_pace() {
        let fixture = fixture().await;
        let store = &fixture.store;
        let showtime = ShowtimeId::from_raw("sho_1");
        let user = |n: u32| UserId::from_raw(format!("usr_{n}"));
        let join = store.join_queue(&showtime, &user(1), 30, at(-5_000)).await;
        assert!(matches!(join, Err(Error::NotFound("waiting room"))));
        let nowhere = WaitingRoom { showtime_id: ShowtimeId::from_raw("sho_x"), ..room(1) };
        assert!(matches!(store.put_waiting_room(&nowhere).await, Err(Error::NotFound("showtime"))));
        assert!(matches!(store.put_waiting_room(&room(0)).await, Err(Error::Invalid(_))));
        store.put_waiting_room(&room(1)).await.unwrap();
        assert_eq!(store.waiting_room(&showtime).await.unwrap(), Some(room(1)));

        // In the lobby (before the opening): places follow the keys drawn.
        let first = store.join_queue(&showtime, &user(1), 30, at(-5_000)).await.unwrap();
        assert_eq!((first.index, first.queued, first.joined_at), (0, 1, at(-5_000)));
        assert_eq!(store.join_queue(&showtime, &user(2), 10, at(-4_000)).await.unwrap().index, 0);
        assert_eq!(store.join_queue(&showtime, &user(3), 20, at(-3_000)).await.unwrap().index, 1);
        // Key 10 is taken: the next one, 11, is between 10 and 20.
        let bumped = store.join_queue(&showtime, &user(4), 10, at(-2_000)).await.unwrap();
        assert_eq!((bumped.index, bumped.queued), (1, 4));
        // Joining again keeps the place.
        let again = store.join_queue(&showtime, &user(1), 5, at(-1_000)).await.unwrap();
        assert_eq!((again.index, again.joined_at), (3, at(-5_000)));
        let keys: Vec<(String, i64)> = fixture
            .setup
            .prepare("SELECT user_id, place_key FROM queue_entries ORDER BY place_key")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let keys: Vec<(&str, i64)> = keys.iter().map(|(user, key)| (user.as_str(), *key)).collect();
        assert_eq!(keys, [("usr_2", 10), ("usr_4", 11), ("usr_3", 20), ("usr_1", 30)]);

        // One place a minute from the opening: a minute in, the first place is admitted, once.
        let commits = store.writer.stats().commits.load(Ordering::Relaxed);
        let waiting = store.queue_place(&showtime, &user(2), at(30_000)).await.unwrap().unwrap();
        assert_eq!((waiting.index, waiting.room.admitted, waiting.admitted_at), (0, 0, None));
        assert_eq!(
            store.writer.stats().commits.load(Ordering::Relaxed),
            commits,
            "nothing due: the look stayed on a reader"
        );
        let admitted = store.queue_place(&showtime, &user(2), at(60_000)).await.unwrap().unwrap();
        assert_eq!((admitted.room.admitted, admitted.room.advanced_at), (1, at(60_000)));
        assert_eq!((admitted.admitted_at, admitted.newly_admitted), (Some(at(60_000)), true));
        let later = store.queue_place(&showtime, &user(2), at(61_000)).await.unwrap().unwrap();
        assert_eq!((later.admitted_at, later.newly_admitted), (Some(at(60_000)), false));
        let next = store.queue_place(&showtime, &user(4), at(61_000)).await.unwrap().unwrap();
        assert_eq!((next.index, next.admitted_at), (1, None));
        let summary = store.queue_summary(&showtime, at(120_000)).await.unwrap().unwrap();
        assert_eq!((summary.queued, summary.room.admitted), (4, 2));
        let lengths = store.queue_lengths().await.unwrap();
        assert_eq!(lengths, [QueueLength { showtime_id: showtime.clone(), queued: 4, admitted: 2 }]);

        // Leaving, and rejoining at the back.
        store.leave_queue(&showtime, &user(3)).await.unwrap();
        assert!(store.queue_place(&showtime, &user(3), at(120_000)).await.unwrap().is_none());
        let back = store.join_queue(&showtime, &user(3), 40, at(120_000)).await.unwrap();
        assert_eq!((back.index, back.queued), (3, 4));

        store.delete_waiting_room(&showtime).await.unwrap();
        assert!(store.waiting_room(&showtime).await.unwrap().is_none());
        assert!(store.queue_summary(&showtime, at(120_000)).await.unwrap().is_none());
        assert!(store.queue_place(&showtime, &user(2), at(120_000)).await.unwrap().is_none());
        assert!(matches!(store.delete_waiting_room(&showtime).await, Err(Error::NotFound("waiting room"))));
        let entries: i64 =
            fixture.setup.query_row("SELECT COUNT(*) FROM queue_entries", [], |row| row.get(0)).unwrap();
        assert_eq!(entries, 0);
    }
}
