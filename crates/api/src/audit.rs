//! Writing the audit log from request handlers.

use crate::AppState;
use crate::security::ClientIp;
use marquee_domain::account::User;
use marquee_domain::audit::AuditEntry;
use serde_json::Value;

/// Appends an entry. A failure to audit is logged, never shown to the client: the action it
/// records has already happened.
pub async fn record(
    state: &AppState,
    actor: Option<&User>,
    ip: ClientIp,
    action: &str,
    target: Option<&str>,
    details: Value,
) {
    let entry = AuditEntry {
        id: AuditEntry::new_id(),
        at: state.clock.now(),
        actor_id: actor.map(|user| user.id.clone()),
        actor_email: actor.map(|user| user.email.as_str().to_owned()),
        ip: ip.to_string_opt(),
        action: action.to_owned(),
        target: target.map(str::to_owned),
        details: details.to_string(),
    };
    if let Err(error) = state.store.append_audit(&entry).await {
        tracing::error!(%error, action, "could not write the audit log");
    }
}
