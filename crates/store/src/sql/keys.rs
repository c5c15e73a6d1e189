//! `Idempotency-Key`s on PostgreSQL: claimed by the write they belong to, in its transaction
//! (see [`crate::KeyClaim`]).

use super::db;
use crate::{KeyClaim, KeyRecord, KeyResource};
use marquee_domain::clock::{from_millis, to_millis};
use marquee_domain::ids::UserId;
use marquee_domain::{Error, Result};
use sqlx::{PgConnection, PgExecutor, Row};
use time::OffsetDateTime;

/// Claims the key for `resource` in the running transaction: a first claim inserts it, the
/// same request's later write moves it on to what it wrote; a key another request holds (or
/// answered) fails the write with `IdempotencyInProgress` (the caller's savepoint or
/// transaction rolls its work back). Another node's transaction claiming the same key at the
/// same moment makes this one wait for it, then fail.
pub async fn claim_in(
    tx: &mut PgConnection,
    claim: &KeyClaim,
    resource: &KeyResource,
    now: OffsetDateTime,
) -> Result<()> {
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, status, created_at, owner, resource) \
         VALUES ($1, $2, $3, 'in_progress', $4, $5, $6) \
         ON CONFLICT (user_id, key) DO UPDATE SET resource = excluded.resource \
         WHERE idempotency_keys.owner = excluded.owner AND idempotency_keys.status = 'in_progress' \
         AND idempotency_keys.request_hash = excluded.request_hash",
    )
    .bind(claim.user_id.as_str())
    .bind(&claim.key)
    .bind(&claim.request_hash)
    .bind(to_millis(now))
    .bind(&claim.owner)
    .bind(resource.to_stored())
    .execute(&mut *tx)
    .await
    .map_err(db)?
    .rows_affected();
    if claimed == 0 {
        return Err(Error::IdempotencyInProgress);
    }
    Ok(())
}

pub async fn record(executor: impl PgExecutor<'_>, user_id: &UserId, key: &str) -> Result<Option<KeyRecord>> {
    let Some(row) = sqlx::query(
        "SELECT request_hash, status, response_status, response_body, owner, resource, created_at \
         FROM idempotency_keys WHERE user_id = $1 AND key = $2",
    )
    .bind(user_id.as_str())
    .bind(key)
    .fetch_optional(executor)
    .await
    .map_err(db)?
    else {
        return Ok(None);
    };
    let resource: Option<String> = row.try_get("resource").map_err(db)?;
    Ok(Some(crate::keys::record_from_parts(
        row.try_get("request_hash").map_err(db)?,
        &row.try_get::<String, _>("status").map_err(db)?,
        row.try_get("response_status").map_err(db)?,
        row.try_get("response_body").map_err(db)?,
        row.try_get("owner").map_err(db)?,
        resource.as_deref(),
        from_millis(row.try_get("created_at").map_err(db)?),
    )?))
}

/// Runs in the commit pipeline.
pub async fn answer_in(
    tx: &mut PgConnection,
    claim: &KeyClaim,
    status: u16,
    body: &str,
    now: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO idempotency_keys \
         (user_id, key, request_hash, status, created_at, owner, response_status, response_body) \
         VALUES ($1, $2, $3, 'done', $4, $5, $6, $7) \
         ON CONFLICT (user_id, key) DO UPDATE SET status = 'done', \
         response_status = excluded.response_status, response_body = excluded.response_body \
         WHERE idempotency_keys.owner = excluded.owner AND idempotency_keys.status = 'in_progress'",
    )
    .bind(claim.user_id.as_str())
    .bind(&claim.key)
    .bind(&claim.request_hash)
    .bind(to_millis(now))
    .bind(&claim.owner)
    .bind(i64::from(status))
    .bind(body)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    Ok(())
}

pub async fn release(executor: impl PgExecutor<'_>, claim: &KeyClaim) -> Result<()> {
    sqlx::query(
        "UPDATE idempotency_keys SET owner = NULL \
         WHERE user_id = $1 AND key = $2 AND owner = $3 AND status = 'in_progress'",
    )
    .bind(claim.user_id.as_str())
    .bind(&claim.key)
    .bind(&claim.owner)
    .execute(executor)
    .await
    .map_err(db)?;
    Ok(())
}

pub async fn adopt(
    executor: impl PgExecutor<'_>,
    user_id: &UserId,
    key: &str,
    owner: &str,
    now: OffsetDateTime,
    stale_before: OffsetDateTime,
) -> Result<bool> {
    let adopted = sqlx::query(
        // Let go of after its request wrote something, or claimed by a node now gone.
        "UPDATE idempotency_keys SET owner = $3, created_at = $4 \
         WHERE user_id = $1 AND key = $2 AND status = 'in_progress' \
         AND (created_at < $5 OR (owner IS NULL AND resource IS NOT NULL))",
    )
    .bind(user_id.as_str())
    .bind(key)
    .bind(owner)
    .bind(to_millis(now))
    .bind(to_millis(stale_before))
    .execute(executor)
    .await
    .map_err(db)?
    .rows_affected();
    Ok(adopted == 1)
}
