//! E-tickets: door codes signed with Ed25519, verifiable offline.
//!
//! A code is `MQ1.<payload>.<signature>`, both base64url: the payload names the ticket, the
//! order that bought it and the showtime; the signature covers the payload. A scanner with the
//! public key (served at `GET /api/v1/checkin/keys`) can reject forged or tampered codes
//! without the network; the server also checks that the ticket is still sold to that order,
//! so a refunded ticket's old code is void even though its signature is valid.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use marquee_domain::ids::{OrderId, ShowtimeId, TicketId};
use marquee_domain::{Error, Result};
use sha2::{Digest, Sha256};

const PREFIX: &str = "MQ1";
/// Where a generated key is kept when none is configured (shared by all nodes of a database).
pub const SETTING_KEY: &str = "ticket_signing_key";

/// What a valid code says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketClaims {
    pub ticket_id: TicketId,
    pub order_id: OrderId,
    pub showtime_id: ShowtimeId,
}

pub struct TicketSigner {
    signing_key: SigningKey,
    /// A short id of the public key, so scanners can hold several during a rotation.
    pub key_id: String,
}

impl std::fmt::Debug for TicketSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketSigner").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl TicketSigner {
    /// From a 32-byte seed in base64url (how the key is configured and stored).
    pub fn from_seed(seed: &str) -> Result<Self> {
        let bytes = URL_SAFE_NO_PAD
            .decode(seed.trim())
            .map_err(|_| Error::invalid("the ticket signing key must be 32 bytes in base64url"))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::invalid("the ticket signing key must be 32 bytes in base64url"))?;
        let signing_key = SigningKey::from_bytes(&seed);
        let digest = Sha256::digest(signing_key.verifying_key().as_bytes());
        let key_id = URL_SAFE_NO_PAD.encode(&digest[..8]);
        Ok(Self { signing_key, key_id })
    }

    /// A fresh random seed, base64url.
    pub fn generate_seed() -> Result<String> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
        Ok(URL_SAFE_NO_PAD.encode(seed))
    }

    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.signing_key.verifying_key().as_bytes())
    }

    pub fn code(&self, claims: &TicketClaims) -> String {
        let payload = format!("{}|{}|{}", claims.ticket_id, claims.order_id, claims.showtime_id);
        let signature = self.signing_key.sign(payload.as_bytes());
        format!(
            "{PREFIX}.{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }

    /// Checks the signature and reads the claims; forged, tampered or malformed codes fail.
    pub fn verify(&self, code: &str) -> Result<TicketClaims> {
        verify_with(&self.signing_key.verifying_key(), code)
    }
}

/// Verification with only the public key, as an offline scanner does it.
pub fn verify_with(key: &VerifyingKey, code: &str) -> Result<TicketClaims> {
    let invalid = |why: &str| Error::InvalidTicketCode(why.to_owned());
    let mut parts = code.trim().split('.');
    let (Some(PREFIX), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("not a Marquee ticket code"));
    };
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid("malformed code"))?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| invalid("malformed signature"))?;
    key.verify(&payload, &Signature::from_bytes(&signature))
        .map_err(|_| invalid("the signature does not match"))?;
    let payload = String::from_utf8(payload).map_err(|_| invalid("malformed code"))?;
    let mut fields = payload.split('|');
    match (fields.next(), fields.next(), fields.next(), fields.next()) {
        (Some(ticket), Some(order), Some(showtime), None) => Ok(TicketClaims {
            ticket_id: TicketId::from_raw(ticket),
            order_id: OrderId::from_raw(order),
            showtime_id: ShowtimeId::from_raw(showtime),
        }),
        _ => Err(invalid("malformed code")),
    }
}

/// The QR code of a door code, as an SVG document.
pub fn qr_svg(code: &str) -> Result<String> {
    let qr = qrcode::QrCode::with_error_correction_level(code.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| Error::internal(format!("QR encoding failed: {e}")))?;
    Ok(qr.render::<qrcode::render::svg::Color<'_>>().min_dimensions(240, 240).quiet_zone(true).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> TicketClaims {
        TicketClaims {
            ticket_id: TicketId::generate(),
            order_id: OrderId::generate(),
            showtime_id: ShowtimeId::generate(),
        }
    }

    #[test]
    fn a_code_verifies_and_names_its_ticket() {
        let signer = TicketSigner::from_seed(&TicketSigner::generate_seed().unwrap()).unwrap();
        let claims = claims();
        let code = signer.code(&claims);
        assert!(code.starts_with("MQ1.") && code.len() < 300, "{code}");
        assert_eq!(signer.verify(&code).unwrap(), claims);
        let public = VerifyingKey::from_bytes(
            &URL_SAFE_NO_PAD.decode(signer.public_key()).unwrap().try_into().unwrap(),
        )
        .unwrap();
        assert_eq!(verify_with(&public, &code).unwrap(), claims, "offline, with the public key only");
    }

    #[test]
    fn forged_tampered_and_malformed_codes_are_refused() {
        let signer = TicketSigner::from_seed(&TicketSigner::generate_seed().unwrap()).unwrap();
        let other = TicketSigner::from_seed(&TicketSigner::generate_seed().unwrap()).unwrap();
        let code = signer.code(&claims());
        let forged = other.code(&claims());
        let mut parts: Vec<&str> = code.split('.').collect();
        let tampered_payload = URL_SAFE_NO_PAD.encode(format!("{}|x|y", TicketId::generate()));
        parts[1] = &tampered_payload;
        let tampered = parts.join(".");
        for bad in [forged.as_str(), tampered.as_str(), "hello", "MQ1.a.b", "", &format!("{code}.x")] {
            assert!(matches!(signer.verify(bad), Err(Error::InvalidTicketCode(_))), "{bad}");
        }
    }

    #[test]
    fn keys_come_from_32_byte_seeds() {
        assert!(TicketSigner::from_seed("too-short").is_err());
        let seed = TicketSigner::generate_seed().unwrap();
        assert_eq!(
            TicketSigner::from_seed(&seed).unwrap().public_key(),
            TicketSigner::from_seed(&seed).unwrap().public_key()
        );
    }

    #[test]
    fn qr_codes_are_svg() {
        let svg = qr_svg("MQ1.abc.def").unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }
}
