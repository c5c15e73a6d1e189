//! The audit log: who did what, when, from which address.
//!
//! Entries are only ever appended. Admin changes, logins (successful or not), purchases,
//! refunds and role changes are recorded.

use crate::ids::UserId;
use time::OffsetDateTime;

/// One audit log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: String,
    pub at: OffsetDateTime,
    /// The user who acted; `None` for an anonymous actor (e.g. a failed login).
    pub actor_id: Option<UserId>,
    pub actor_email: Option<String>,
    /// The client's address as the server saw it (after trusted-proxy resolution).
    pub ip: Option<String>,
    /// What happened, e.g. `login.failed`, `showtime.create`, `user.role`.
    pub action: String,
    /// The id of the object acted on, if any.
    pub target: Option<String>,
    /// Extra facts as a JSON object (never secrets).
    pub details: String,
}

impl AuditEntry {
    /// The prefix of audit entries' ids.
    pub const ID_PREFIX: &'static str = "aud";

    pub fn new_id() -> String {
        crate::ids::prefixed(Self::ID_PREFIX)
    }
}
