//! Admission tokens of waiting rooms: proof that an account's turn in a showtime's queue has
//! come, presented when holding seats.
//!
//! A token is `adm1.<payload>.<mac>`: the showtime, the account and the expiry, signed with
//! HMAC-SHA256 under a key every node shares (configured, or generated once and kept in the
//! database). Checking one needs no database read, so the hold path stays as fast as without a
//! queue; a token is useless for another showtime or another account.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use marquee_domain::clock::{from_millis, to_millis};
use marquee_domain::ids::{ShowtimeId, UserId};
use marquee_domain::{Error, Result};
use sha2::Sha256;
use time::OffsetDateTime;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The settings key of the generated signing key.
pub const SETTING_KEY: &str = "admission_signing_key";

/// Issues and checks admission tokens under the nodes' shared key.
pub struct AdmissionSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for AdmissionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdmissionSigner")
    }
}

impl AdmissionSigner {
    /// A signer from a base64url key of at least 32 bytes.
    pub fn from_key(key: &str) -> Result<Self> {
        let key = URL_SAFE_NO_PAD
            .decode(key.trim())
            .map_err(|_| Error::invalid("the admission signing key must be base64url"))?;
        if key.len() < 32 {
            return Err(Error::invalid("the admission signing key must be at least 32 bytes"));
        }
        Ok(Self { key })
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(payload.as_bytes());
        mac
    }

    pub fn issue(&self, showtime: &ShowtimeId, user: &UserId, expires_at: OffsetDateTime) -> String {
        let payload = format!("{showtime} {user} {}", to_millis(expires_at));
        let tag = self.mac(&payload).finalize().into_bytes();
        format!("adm1.{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(tag))
    }

    /// Checks a token for this showtime, account and instant.
    pub fn verify(
        &self,
        token: &str,
        showtime: &ShowtimeId,
        user: &UserId,
        now: OffsetDateTime,
    ) -> Result<()> {
        let refused =
            || Error::AdmissionRequired("the admission token is not valid for this showtime and account");
        let mut parts = token.trim().split('.');
        let (Some("adm1"), Some(payload), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(refused());
        };
        let (Ok(payload), Ok(tag)) = (URL_SAFE_NO_PAD.decode(payload), URL_SAFE_NO_PAD.decode(tag)) else {
            return Err(refused());
        };
        let payload = String::from_utf8(payload).map_err(|_| refused())?;
        // Constant-time comparison.
        self.mac(&payload).verify_slice(&tag).map_err(|_| refused())?;
        let mut fields = payload.split(' ');
        let (Some(for_showtime), Some(for_user), Some(expires)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(refused());
        };
        if for_showtime != showtime.as_str() || for_user != user.as_str() {
            return Err(refused());
        }
        let expires_at = from_millis(expires.parse::<i64>().map_err(|_| refused())?);
        if now >= expires_at {
            return Err(Error::AdmissionRequired("the admission has expired; join the queue again"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn signer() -> AdmissionSigner {
        AdmissionSigner::from_key(&URL_SAFE_NO_PAD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn a_token_admits_its_account_to_its_showtime_until_it_expires() {
        let (showtime, user) = (ShowtimeId::from_raw("sho_1"), UserId::from_raw("usr_1"));
        let token = signer().issue(&showtime, &user, NOW + time::Duration::minutes(10));
        assert!(signer().verify(&token, &showtime, &user, NOW).is_ok());
        let refused = |t: &str, s: &str, u: &str, at| {
            signer().verify(t, &ShowtimeId::from_raw(s), &UserId::from_raw(u), at).is_err()
        };
        assert!(refused(&token, "sho_2", "usr_1", NOW), "another showtime");
        assert!(refused(&token, "sho_1", "usr_2", NOW), "another account");
        assert!(refused(&token, "sho_1", "usr_1", NOW + time::Duration::minutes(10)), "expired");
        let mut forged = token.clone();
        forged.replace_range(token.len() - 3.., "AAA");
        assert!(refused(&forged, "sho_1", "usr_1", NOW), "tampered signature");
        let other_key = AdmissionSigner::from_key(&URL_SAFE_NO_PAD.encode([8u8; 32])).unwrap();
        let foreign = other_key.issue(&showtime, &user, NOW + time::Duration::minutes(10));
        assert!(refused(&foreign, "sho_1", "usr_1", NOW), "signed with another key");
        for garbage in ["", "adm1", "adm1..", "adm1.x.y.z", "nope.a.b"] {
            assert!(refused(garbage, "sho_1", "usr_1", NOW), "{garbage:?}");
        }
    }
}
