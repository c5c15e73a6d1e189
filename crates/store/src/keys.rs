//! What both backends share about stored `Idempotency-Key`s: how a stored row reads.

use crate::{KeyRecord, KeyResource};
use marquee_domain::{Error, Result};
use time::OffsetDateTime;

/// A stored key's row, read.
pub(crate) fn record_from_parts(
    request_hash: String,
    status: &str,
    response_status: Option<i64>,
    response_body: Option<String>,
    owner: Option<String>,
    resource: Option<&str>,
    claimed_at: OffsetDateTime,
) -> Result<KeyRecord> {
    let answer = match status {
        "done" => {
            let status =
                response_status.ok_or_else(|| Error::internal("an answered key without its status"))?;
            Some((u16::try_from(status).map_err(Error::internal)?, response_body.unwrap_or_default()))
        }
        _ => None,
    };
    Ok(KeyRecord {
        request_hash,
        answer,
        owner,
        resource: resource.map(KeyResource::from_stored).transpose()?,
        claimed_at,
    })
}
