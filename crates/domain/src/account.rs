//! Accounts: users, their roles, and the rules for emails and passwords.

use crate::error::{Error, Result};
use crate::ids::UserId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest accepted password, in bytes: hashing cost must not be chosen by an attacker.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The longest password, in characters, that is within [`MAX_PASSWORD_BYTES`] whatever its
/// script (UTF-8 takes at most four bytes a character). JSON Schema counts characters, not
/// bytes, so this is the `maxLength` the API document declares: every password a client
/// validates against it is accepted (longer ones are too, while within the byte bound).
pub const MAX_PASSWORD_CHARS_IN_ANY_SCRIPT: usize = MAX_PASSWORD_BYTES / 4;
/// Longest accepted email address (RFC 5321 path limit).
pub const MAX_EMAIL_BYTES: usize = 254;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    Staff,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "customer" => Ok(Role::Customer),
            "staff" => Ok(Role::Staff),
            "admin" => Ok(Role::Admin),
            other => Err(Error::internal(format!("unknown role {other:?} in storage"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub role: Role,
    pub created_at: OffsetDateTime,
    /// Set when an admin disabled the account: it can no longer log in or use its tokens.
    pub disabled_at: Option<OffsetDateTime>,
}

/// An email address, trimmed and lower-cased so that one mailbox is one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain.tld` shapes: one `@`, a non-empty local part, a domain with a dot,
    /// no whitespace or control characters. Deliverability is a mail server's business.
    pub fn parse(raw: &str) -> Result<Self> {
        let email = raw.trim().to_lowercase();
        let invalid = || Error::invalid("email must look like name@example.com");
        if email.len() > MAX_EMAIL_BYTES || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    /// Wraps an address read back from storage (already validated when written).
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that passed the length rules. It never prints.
pub struct Password(String);

impl Password {
    pub fn parse(raw: String) -> Result<Self> {
        if raw.chars().count() < MIN_PASSWORD_CHARS {
            return Err(Error::invalid(format!(
                "password must have at least {MIN_PASSWORD_CHARS} characters"
            )));
        }
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(Error::invalid(format!("password must have at most {MAX_PASSWORD_BYTES} bytes")));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse("  Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "ada@.com",
            "ada@example.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn passwords_need_ten_characters_and_at_most_1024_bytes() {
        assert!(Password::parse("123456789".into()).is_err());
        assert!(Password::parse("1234567890".into()).is_ok());
        assert!(Password::parse("x".repeat(1025)).is_err());
        assert!(
            Password::parse("\u{1F3AD}".repeat(MAX_PASSWORD_CHARS_IN_ANY_SCRIPT)).is_ok(),
            "four-byte characters"
        );
        assert_eq!(format!("{:?}", Password::parse("secret-secret".into()).unwrap()), "Password(***)");
    }
}
