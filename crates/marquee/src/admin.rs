//! `marquee admin …`: administration that must not depend on an existing admin.

use anyhow::Context;
use clap::Subcommand;
use marquee_api::auth;
use marquee_domain::account::{Email, Password, Role, User};
use marquee_domain::audit::AuditEntry;
use marquee_domain::ids::UserId;
use marquee_store::Store;
use std::io::{BufRead, IsTerminal};
use time::OffsetDateTime;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create an admin account, or make an existing account an admin. The password is asked
    /// for (hidden) on a terminal, or read as one line from standard input.
    Create {
        /// The admin's e-mail address, their login name.
        #[arg(long)]
        email: String,
    },
}

pub async fn run(command: AdminCommand, store: &dyn Store, now: OffsetDateTime) -> anyhow::Result<()> {
    match command {
        AdminCommand::Create { email } => {
            let email = Email::parse(&email)?;
            if let Some((user, _)) = store.user_credentials(&email).await? {
                store.set_user_role(&user.id, Role::Admin).await?;
                audit(
                    store,
                    now,
                    "user.role",
                    &user,
                    serde_json::json!({ "role": "admin", "by": "command line" }),
                )
                .await?;
                println!("{} is now an admin", email.as_str());
                return Ok(());
            }
            let password = Password::parse(read_password()?)?;
            let hash = auth::hash_password(password).await?;
            let user =
                User { id: UserId::generate(), email, role: Role::Admin, created_at: now, disabled_at: None };
            store.create_user(&user, &hash).await?;
            audit(store, now, "admin.create", &user, serde_json::json!({ "by": "command line" })).await?;
            println!("admin {} created ({})", user.email.as_str(), user.id);
            Ok(())
        }
    }
}

/// What the command line changes is audited like what the box office changes: no actor (it is
/// whoever runs the binary on the server) and no address.
async fn audit(
    store: &dyn Store,
    now: OffsetDateTime,
    action: &str,
    user: &User,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    let entry = AuditEntry {
        id: AuditEntry::new_id(),
        at: now,
        actor_id: None,
        actor_email: None,
        ip: None,
        action: action.to_owned(),
        target: Some(user.id.to_string()),
        details: details.to_string(),
    };
    store.append_audit(&entry).await?;
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password (at least 10 characters): ")?;
        let second = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(first == second, "the passwords differ");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}
