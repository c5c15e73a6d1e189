//! Stripe PaymentIntents with manual capture.
//!
//! | Marquee | Stripe |
//! |---|---|
//! | authorize | `POST /v1/payment_intents` with `confirm=true`, `capture_method=manual`, the attempt id in `metadata[attempt_id]` and as `Idempotency-Key` |
//! | capture | `POST /v1/payment_intents/{id}/capture` |
//! | void | `POST /v1/payment_intents/{id}/cancel` |
//! | refund | `POST /v1/refunds` with `payment_intent` and `amount` |
//! | lookup | `GET /v1/payment_intents/search?query=metadata['attempt_id']:'…'` |
//!
//! Errors: a card error (402) is a decline; a missing payment method is an unknown token; a
//! 4xx that is neither, or a connection that was refused, is a processing error (nothing was
//! charged); a 5xx or a timeout leaves the outcome unknown (Stripe may have acted).

use async_trait::async_trait;
use marquee_domain::money::Money;
use marquee_domain::payment::{
    AuthorizeRequest, PaymentError, PaymentGateway, ProviderPayment, ProviderState,
};
use serde::Deserialize;
use std::time::Duration;

/// How long one call to Stripe may take before its outcome counts as unknown.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

pub struct StripeGateway {
    client: reqwest::Client,
    base_url: String,
    secret_key: String,
}

impl std::fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeGateway").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct PaymentIntent {
    id: String,
    amount: i64,
    currency: String,
    status: String,
}

#[derive(Debug, Deserialize)]
struct SearchResult {
    data: Vec<PaymentIntent>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: StripeError,
}

#[derive(Debug, Deserialize)]
struct StripeError {
    #[serde(rename = "type")]
    kind: String,
    code: Option<String>,
    decline_code: Option<String>,
    param: Option<String>,
    message: Option<String>,
}

impl StripeGateway {
    /// `base_url` is `https://api.stripe.com` in production (a fake server in tests).
    pub fn new(base_url: &str, secret_key: &str) -> Result<Self, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent("marquee")
            .build()
            .map_err(|e| format!("cannot build the HTTPS client: {e}"))?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            secret_key: secret_key.to_owned(),
        })
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        idempotency_key: Option<&str>,
    ) -> Result<reqwest::Response, PaymentError> {
        let mut request = request.bearer_auth(&self.secret_key);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.map_err(|error| {
            if error.is_connect() {
                PaymentError::ProcessingError(format!("cannot reach Stripe: {error}"))
            } else {
                PaymentError::Unknown(format!("no answer from Stripe: {error}"))
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status.is_server_error() {
            return Err(PaymentError::Unknown(format!("Stripe answered {status}")));
        }
        let body: ErrorBody = response
            .json()
            .await
            .map_err(|e| PaymentError::ProcessingError(format!("unreadable Stripe error ({status}): {e}")))?;
        let error = body.error;
        Err(match (status.as_u16(), error.kind.as_str(), error.param.as_deref()) {
            (402, _, _) | (_, "card_error", _) => PaymentError::Declined(
                error.decline_code.or(error.code).unwrap_or_else(|| "card_declined".into()),
            ),
            (_, _, Some("payment_method")) => PaymentError::InvalidToken,
            (404, _, _) => PaymentError::NotFound,
            _ => PaymentError::ProcessingError(
                error.message.unwrap_or_else(|| format!("Stripe answered {status}")),
            ),
        })
    }

    async fn intent(&self, response: reqwest::Response) -> Result<ProviderPayment, PaymentError> {
        let intent: PaymentIntent = response
            .json()
            .await
            .map_err(|e| PaymentError::Unknown(format!("unreadable Stripe answer: {e}")))?;
        to_payment(intent)
    }
}

fn to_payment(intent: PaymentIntent) -> Result<ProviderPayment, PaymentError> {
    let state = match intent.status.as_str() {
        "requires_capture" => ProviderState::Authorized,
        "succeeded" => ProviderState::Captured,
        "canceled" => ProviderState::Voided,
        "requires_payment_method" => ProviderState::Failed,
        other => return Err(PaymentError::Unknown(format!("payment intent {} is {other}", intent.id))),
    };
    Ok(ProviderPayment {
        reference: intent.id,
        state,
        amount: Money::new(intent.amount, intent.currency.to_uppercase()),
        refunded: 0,
    })
}

#[async_trait]
impl PaymentGateway for StripeGateway {
    fn name(&self) -> &'static str {
        "stripe"
    }

    async fn authorize(&self, request: &AuthorizeRequest) -> Result<ProviderPayment, PaymentError> {
        let form = [
            ("amount", request.amount.amount.to_string()),
            ("currency", request.amount.currency.to_lowercase()),
            ("payment_method", request.payment_token.clone()),
            ("confirm", "true".into()),
            ("capture_method", "manual".into()),
            ("description", request.description.clone()),
            ("metadata[attempt_id]", request.idempotency_key.clone()),
        ];
        let http = self.client.post(format!("{}/v1/payment_intents", self.base_url)).form(&form);
        let payment = self.intent(self.send(http, Some(&request.idempotency_key)).await?).await?;
        match payment.state {
            ProviderState::Failed => Err(PaymentError::Declined("card_declined".into())),
            _ => Ok(payment),
        }
    }

    async fn capture(&self, reference: &str, idempotency_key: &str) -> Result<(), PaymentError> {
        let http = self.client.post(format!("{}/v1/payment_intents/{reference}/capture", self.base_url));
        self.send(http, Some(idempotency_key)).await.map(drop)
    }

    async fn void(&self, reference: &str, idempotency_key: &str) -> Result<(), PaymentError> {
        let http = self.client.post(format!("{}/v1/payment_intents/{reference}/cancel", self.base_url));
        self.send(http, Some(idempotency_key)).await.map(drop)
    }

    async fn refund(&self, reference: &str, amount: i64, idempotency_key: &str) -> Result<(), PaymentError> {
        let form = [("payment_intent", reference.to_owned()), ("amount", amount.to_string())];
        let http = self.client.post(format!("{}/v1/refunds", self.base_url)).form(&form);
        self.send(http, Some(idempotency_key)).await.map(drop)
    }

    async fn lookup(&self, idempotency_key: &str) -> Result<Option<ProviderPayment>, PaymentError> {
        let query = format!("metadata['attempt_id']:'{}'", idempotency_key.replace('\'', ""));
        let http = self
            .client
            .get(format!("{}/v1/payment_intents/search", self.base_url))
            .query(&[("query", query)]);
        let result: SearchResult = self
            .send(http, None)
            .await?
            .json()
            .await
            .map_err(|e| PaymentError::Unknown(format!("unreadable Stripe answer: {e}")))?;
        result.data.into_iter().next().map(to_payment).transpose()
    }
}
