//! User management and the audit log.

use super::TAG_ADMIN;
use crate::auth::AdminUser;
use crate::dto::UserOut;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path, Query};
use crate::routes::catalog::bounded;
use crate::routes::page::{decode_id_cursor, encode_cursor, finish, page_size};
use crate::routes::schema;
use crate::security::ClientIp;
use crate::{AppState, audit};
use axum::extract::State;
use marquee_domain::Error;
use marquee_domain::account::{Role, User};
use marquee_domain::ids::UserId;
use marquee_store::AuditFilter;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserOut {
    #[serde(flatten)]
    pub user: UserOut,
    #[serde(with = "time::serde::rfc3339::option")]
    pub disabled_at: Option<OffsetDateTime>,
}

impl From<&User> for AdminUserOut {
    fn from(user: &User) -> Self {
        Self { user: UserOut::from(user), disabled_at: user.disabled_at }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<AdminUserOut>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 100 (default 20).
    #[param(inline, value_type = Option<schema::PageLimit>)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(inline, value_type = Option<schema::Cursor>)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleIn {
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditOut {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub ip: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub details: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditOut>,
    pub next_cursor: Option<String>,
}

/// The longest `action` or `target` filter of the audit log: actions are dotted names of
/// under 40 characters (`showtime.waiting_room.delete`), targets are ids of 36.
pub const MAX_AUDIT_FILTER_CHARS: usize = 64;

schema::schema_type!(/// `action` and `target` of the audit log.
    AuditFilterText => || schema::url_text(MAX_AUDIT_FILTER_CHARS));

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// e.g. `login.failed`, `order.confirmed`, `showtime.create`, `user.role`.
    #[param(inline, value_type = Option<AuditFilterText>)]
    pub action: Option<String>,
    /// The user who acted.
    #[param(inline, value_type = Option<UserId>)]
    pub actor_id: Option<String>,
    /// Id of the object acted on.
    #[param(inline, value_type = Option<AuditFilterText>)]
    pub target: Option<String>,
    /// 1 to 100 (default 20).
    #[param(inline, value_type = Option<schema::PageLimit>)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(inline, value_type = Option<schema::Cursor>)]
    pub cursor: Option<String>,
}

/// Every user, oldest first.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = TAG_ADMIN, security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = UserPage), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_users(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<UserPage>, ApiError> {
    let limit = page_size(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(|cursor| decode_id_cursor(cursor, UserId::PREFIX))
        .transpose()?
        .map(UserId::from_raw);
    let users = state.store.list_users(limit + 1, after.as_ref()).await?;
    let (users, next_cursor) = finish(users, limit, |last| encode_cursor(&[last.id.as_str()]));
    Ok(axum::Json(UserPage { items: users.iter().map(AdminUserOut::from).collect(), next_cursor }))
}

/// The other admin user named in the path; admins cannot change or disable themselves (so
/// the last admin cannot lock everyone out by accident).
async fn other_user(state: &AppState, admin: &User, user_id: String) -> Result<UserId, ApiError> {
    let id = UserId::from_raw(user_id);
    if id == admin.id {
        return Err(Error::invalid("admins cannot change their own role or disable themselves").into());
    }
    state.store.get_user(&id).await?.ok_or(Error::NotFound("user"))?;
    Ok(id)
}

/// Changes a user's role (`customer`, `staff`, `admin`).
#[utoipa::path(put, path = "/api/v1/admin/users/{user_id}/role", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("user_id" = inline(UserId), Path)), request_body = RoleIn,
    responses((status = 200, body = AdminUserOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn change_role(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(user_id): Path<String>,
    Json(body): Json<RoleIn>,
) -> Result<axum::Json<AdminUserOut>, ApiError> {
    let id = other_user(&state, &admin, user_id).await?;
    let user = state.store.set_user_role(&id, body.role).await?;
    state.sessions.forget_user(&id);
    audit::record(&state, Some(&admin), ip, "user.role", Some(id.as_str()), json!({ "role": body.role }))
        .await;
    Ok(axum::Json(AdminUserOut::from(&user)))
}

/// Disables an account: it cannot log in, and its tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/admin/users/{user_id}/disable", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("user_id" = inline(UserId), Path)),
    responses((status = 200, body = AdminUserOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn disable_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(user_id): Path<String>,
) -> Result<axum::Json<AdminUserOut>, ApiError> {
    set_disabled(&state, &admin, ip, user_id, true).await
}

/// Enables a disabled account again (it must log in anew).
#[utoipa::path(post, path = "/api/v1/admin/users/{user_id}/enable", tag = TAG_ADMIN, security(("bearer" = [])),
    params(("user_id" = inline(UserId), Path)),
    responses((status = 200, body = AdminUserOut), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Admins cannot change their own account", body = Problem, content_type = "application/problem+json")))]
pub async fn enable_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ip: ClientIp,
    Path(user_id): Path<String>,
) -> Result<axum::Json<AdminUserOut>, ApiError> {
    set_disabled(&state, &admin, ip, user_id, false).await
}

async fn set_disabled(
    state: &AppState,
    admin: &User,
    ip: ClientIp,
    user_id: String,
    disabled: bool,
) -> Result<axum::Json<AdminUserOut>, ApiError> {
    let id = other_user(state, admin, user_id).await?;
    let user = state.store.set_user_disabled(&id, disabled, state.clock.now()).await?;
    state.sessions.forget_user(&id);
    let action = if disabled { "user.disable" } else { "user.enable" };
    audit::record(state, Some(admin), ip, action, Some(id.as_str()), json!({})).await;
    Ok(axum::Json(AdminUserOut::from(&user)))
}

/// The audit log, newest first. Read-only: nothing in the API changes or deletes it.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = TAG_ADMIN, security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_audit(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Query(query): Query<AuditQuery>,
) -> Result<axum::Json<AuditPage>, ApiError> {
    let limit = page_size(query.limit)?;
    let filter = AuditFilter {
        action: bounded("action", query.action, MAX_AUDIT_FILTER_CHARS)?,
        actor_id: query.actor_id.map(UserId::from_raw),
        target: bounded("target", query.target, MAX_AUDIT_FILTER_CHARS)?,
        // One more than the page: a next page is promised only if there is one.
        limit: limit + 1,
        before: query
            .cursor
            .as_deref()
            .map(|cursor| decode_id_cursor(cursor, marquee_domain::audit::AuditEntry::ID_PREFIX))
            .transpose()?,
    };
    let entries = state.store.list_audit(&filter).await?;
    let (entries, next_cursor) = finish(entries, limit, |last| encode_cursor(&[&last.id]));
    let items = entries
        .into_iter()
        .map(|entry| AuditOut {
            details: serde_json::from_str(&entry.details).unwrap_or(serde_json::Value::Null),
            id: entry.id,
            at: entry.at,
            actor_id: entry.actor_id.map(|id| id.to_string()),
            actor_email: entry.actor_email,
            ip: entry.ip,
            action: entry.action,
            target: entry.target,
        })
        .collect();
    Ok(axum::Json(AuditPage { items, next_cursor }))
}
