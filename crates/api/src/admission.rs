//! The `X-Admission-Token` header of a hold: the waiting room's admission (issued and checked
//! by [`marquee_booking::admission::AdmissionSigner`]).

/// The header that carries a token.
pub const HEADER: &str = "x-admission-token";

/// The `X-Admission-Token` header of a request, if any.
#[derive(Clone, Debug, Default)]
pub struct AdmissionToken(pub Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for AdmissionToken {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(HEADER).and_then(|value| value.to_str().ok()).map(str::to_owned)))
    }
}
