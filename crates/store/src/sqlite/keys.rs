//! `Idempotency-Key`s on SQLite: claimed by the write they belong to, in its savepoint (see
//! [`crate::KeyClaim`]); answered, let go of and taken over by commands of their own.

use super::db;
use crate::{KeyClaim, KeyRecord, KeyResource};
use marquee_domain::clock::{from_millis, to_millis};
use marquee_domain::ids::UserId;
use marquee_domain::{Error, Result};
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

/// Claims the key for `resource` inside the running command: a first claim inserts it, the
/// same request's later write moves it on to what it wrote; a key another request holds (or
/// answered) fails the command with `IdempotencyInProgress`, rolling back its work.
pub fn claim(
    connection: &Connection,
    claim: &KeyClaim,
    resource: &KeyResource,
    now: OffsetDateTime,
) -> Result<()> {
    let claimed = connection
        .prepare_cached(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, status, created_at, owner, resource) \
             VALUES (?1, ?2, ?3, 'in_progress', ?4, ?5, ?6) \
             ON CONFLICT (user_id, key) DO UPDATE SET resource = excluded.resource \
             WHERE idempotency_keys.owner = excluded.owner AND idempotency_keys.status = 'in_progress' \
             AND idempotency_keys.request_hash = excluded.request_hash",
        )
        .and_then(|mut upsert| {
            upsert.execute(params![
                claim.user_id.as_str(),
                claim.key,
                claim.request_hash,
                to_millis(now),
                claim.owner,
                resource.to_stored()
            ])
        })
        .map_err(db)?;
    if claimed == 0 {
        return Err(Error::IdempotencyInProgress);
    }
    Ok(())
}

pub fn record(connection: &Connection, user_id: &UserId, key: &str) -> Result<Option<KeyRecord>> {
    type Row = (String, String, Option<i64>, Option<String>, Option<String>, Option<String>, i64);
    let row: Option<Row> = connection
        .prepare_cached(
            "SELECT request_hash, status, response_status, response_body, owner, resource, created_at \
             FROM idempotency_keys WHERE user_id = ?1 AND key = ?2",
        )
        .and_then(|mut select| {
            select
                .query_row(params![user_id.as_str(), key], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                        row.get(6)?,
                    ))
                })
                .optional()
        })
        .map_err(db)?;
    let Some((request_hash, status, response_status, response_body, owner, resource, claimed_at)) = row
    else {
        return Ok(None);
    };
    Ok(Some(crate::keys::record_from_parts(
        request_hash,
        &status,
        response_status,
        response_body,
        owner,
        resource.as_deref(),
        from_millis(claimed_at),
    )?))
}

pub fn answer(
    connection: &Connection,
    claim: &KeyClaim,
    status: u16,
    body: &str,
    now: OffsetDateTime,
) -> Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO idempotency_keys \
             (user_id, key, request_hash, status, created_at, owner, response_status, response_body) \
             VALUES (?1, ?2, ?3, 'done', ?4, ?5, ?6, ?7) \
             ON CONFLICT (user_id, key) DO UPDATE SET status = 'done', \
             response_status = excluded.response_status, response_body = excluded.response_body \
             WHERE idempotency_keys.owner = excluded.owner AND idempotency_keys.status = 'in_progress'",
        )
        .and_then(|mut upsert| {
            upsert.execute(params![
                claim.user_id.as_str(),
                claim.key,
                claim.request_hash,
                to_millis(now),
                claim.owner,
                i64::from(status),
                body
            ])
        })
        .map_err(db)?;
    Ok(())
}

pub fn release(connection: &Connection, claim: &KeyClaim) -> Result<()> {
    connection
        .prepare_cached(
            "UPDATE idempotency_keys SET owner = NULL \
             WHERE user_id = ?1 AND key = ?2 AND owner = ?3 AND status = 'in_progress'",
        )
        .and_then(|mut update| update.execute(params![claim.user_id.as_str(), claim.key, claim.owner]))
        .map_err(db)?;
    Ok(())
}

pub fn adopt(
    connection: &Connection,
    user_id: &UserId,
    key: &str,
    owner: &str,
    now: OffsetDateTime,
    stale_before: OffsetDateTime,
) -> Result<bool> {
    let adopted = connection
        .prepare_cached(
            // Let go of after its request wrote something, or claimed by a node now gone.
            "UPDATE idempotency_keys SET owner = ?3, created_at = ?4 \
             WHERE user_id = ?1 AND key = ?2 AND status = 'in_progress' \
             AND (created_at < ?5 OR (owner IS NULL AND resource IS NOT NULL))",
        )
        .and_then(|mut update| {
            update.execute(params![user_id.as_str(), key, owner, to_millis(now), to_millis(stale_before)])
        })
        .map_err(db)?;
    Ok(adopted == 1)
}
