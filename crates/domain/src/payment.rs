//! Payments through a provider.
//!
//! Marquee never sees card numbers: the client obtains a token from the payment provider and
//! sends only that token. [`PaymentGateway`] is the interface to a provider; [`TestGateway`]
//! is the built-in one for local runs and tests, with the well-known test tokens.

use crate::money::Money;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

/// A request to charge a payment token.
#[derive(Clone, Debug)]
pub struct ChargeRequest {
    pub payment_token: String,
    pub amount: Money,
    /// The provider de-duplicates on this key: a retried charge with the same key is charged once.
    pub idempotency_key: String,
    pub description: String,
}

/// A successful charge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    /// The provider's reference, kept with the order.
    pub id: String,
    pub amount: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("declined: {0}")]
    Declined(String),
    #[error("unknown payment token")]
    InvalidToken,
    #[error("provider unavailable: {0}")]
    Unavailable(String),
}

impl From<PaymentError> for crate::Error {
    fn from(error: PaymentError) -> Self {
        match error {
            PaymentError::Declined(reason) => crate::Error::PaymentDeclined { reason },
            PaymentError::InvalidToken => crate::Error::InvalidPaymentToken,
            PaymentError::Unavailable(cause) => crate::Error::PaymentUnavailable(cause),
        }
    }
}

#[async_trait]
pub trait PaymentGateway: Send + Sync + 'static {
    /// A short name stored with each payment ("test", "stripe").
    fn name(&self) -> &'static str;

    /// Charges the token. Idempotent on `request.idempotency_key`.
    async fn charge(&self, request: &ChargeRequest) -> Result<Charge, PaymentError>;

    /// Gives a charge's money back in full. Idempotent: refunding twice refunds once.
    async fn refund(&self, charge_id: &str) -> Result<(), PaymentError>;
}

/// The built-in test provider: `tok_visa` (and `tok_mastercard`) succeed,
/// `tok_chargeDeclined` is declined, anything else is an unknown token.
///
/// It remembers charges in memory so that tests can count them: a retry with the same
/// idempotency key returns the first charge instead of charging again.
#[derive(Debug, Default)]
pub struct TestGateway {
    state: Mutex<TestGatewayState>,
}

#[derive(Debug, Default)]
struct TestGatewayState {
    by_key: HashMap<String, Result<Charge, PaymentError>>,
    charges: Vec<Charge>,
    refunded: Vec<String>,
}

impl TestGateway {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every charge made (refunded ones included), in order.
    pub fn charges(&self) -> Vec<Charge> {
        self.lock().charges.clone()
    }

    /// Ids of refunded charges.
    pub fn refunds(&self) -> Vec<String> {
        self.lock().refunded.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TestGatewayState> {
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

#[async_trait]
impl PaymentGateway for TestGateway {
    fn name(&self) -> &'static str {
        "test"
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<Charge, PaymentError> {
        let mut state = self.lock();
        if let Some(earlier) = state.by_key.get(&request.idempotency_key) {
            return earlier.clone();
        }
        let outcome = match request.payment_token.as_str() {
            "tok_visa" | "tok_mastercard" => {
                let charge = Charge {
                    id: format!("ch_test_{}", uuid::Uuid::now_v7().simple()),
                    amount: request.amount.clone(),
                };
                state.charges.push(charge.clone());
                Ok(charge)
            }
            "tok_chargeDeclined" => Err(PaymentError::Declined("card_declined".into())),
            _ => Err(PaymentError::InvalidToken),
        };
        state.by_key.insert(request.idempotency_key.clone(), outcome.clone());
        outcome
    }

    async fn refund(&self, charge_id: &str) -> Result<(), PaymentError> {
        let mut state = self.lock();
        if !state.charges.iter().any(|c| c.id == charge_id) {
            return Err(PaymentError::Unavailable(format!("no charge {charge_id}")));
        }
        if !state.refunded.iter().any(|id| id == charge_id) {
            state.refunded.push(charge_id.to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(token: &str, key: &str) -> ChargeRequest {
        ChargeRequest {
            payment_token: token.into(),
            amount: Money::new(1000, "EUR"),
            idempotency_key: key.into(),
            description: "test".into(),
        }
    }

    /// Runs a future to completion on the current thread; the test gateway never awaits.
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
                return output;
            }
        }
    }

    #[test]
    fn the_test_tokens_succeed_decline_or_are_unknown() {
        let gateway = TestGateway::new();
        assert!(block_on(gateway.charge(&request("tok_visa", "a"))).is_ok());
        assert_eq!(
            block_on(gateway.charge(&request("tok_chargeDeclined", "b"))),
            Err(PaymentError::Declined("card_declined".into()))
        );
        assert_eq!(
            block_on(gateway.charge(&request("4242424242424242", "c"))),
            Err(PaymentError::InvalidToken)
        );
        assert_eq!(gateway.charges().len(), 1);
    }

    #[test]
    fn a_retried_charge_with_the_same_key_is_charged_once() {
        let gateway = TestGateway::new();
        let first = block_on(gateway.charge(&request("tok_visa", "same"))).unwrap();
        let second = block_on(gateway.charge(&request("tok_visa", "same"))).unwrap();
        assert_eq!(first, second);
        assert_eq!(gateway.charges().len(), 1);
        block_on(gateway.refund(&first.id)).unwrap();
        block_on(gateway.refund(&first.id)).unwrap();
        assert_eq!(gateway.refunds(), vec![first.id]);
    }
}
