//! Payments through a provider.
//!
//! Marquee never sees card numbers: the client obtains a token from the payment provider and
//! sends only that token. [`PaymentGateway`] is the interface to a provider, modelled on card
//! payments: **authorize** (reserve the money), then **capture** (take it) once the tickets are
//! secured, or **void** (release it) when they are not; **refund** later. Every call carries
//! an idempotency key, so a retry after a timeout never moves money twice, and
//! [`PaymentGateway::lookup`] finds what became of a payment whose outcome was never learned.
//!
//! [`TestGateway`] is the built-in provider for local runs and tests.

use crate::money::Money;
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// The longest payment token taken, in bytes: providers' tokens are a few dozen characters
/// (`tok_…`, `pm_…`).
pub const MAX_PAYMENT_TOKEN_BYTES: usize = 255;

/// A request to authorize a payment token.
#[derive(Clone, Debug)]
pub struct AuthorizeRequest {
    pub payment_token: String,
    pub amount: Money,
    /// The provider de-duplicates on this key; Marquee uses the payment attempt's id.
    pub idempotency_key: String,
    pub description: String,
}

/// What the provider knows of a payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderPayment {
    /// The provider's reference (e.g. a PaymentIntent id).
    pub reference: String,
    pub state: ProviderState,
    pub amount: Money,
    /// Minor units refunded so far.
    pub refunded: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderState {
    /// Money reserved, not yet taken.
    Authorized,
    /// Money taken.
    Captured,
    /// Reservation released; nothing was taken.
    Voided,
    /// The payment failed; nothing was taken.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The card was declined (`reason` e.g. `card_declined`, `insufficient_funds`).
    #[error("declined: {0}")]
    Declined(String),
    #[error("unknown payment token")]
    InvalidToken,
    /// The provider failed and says nothing was charged; safe to retry.
    #[error("processing error: {0}")]
    ProcessingError(String),
    /// No answer (e.g. a timeout after the request was sent): the money may have moved.
    /// Only [`PaymentGateway::lookup`] can tell.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// The provider has no such payment.
    #[error("no such payment")]
    NotFound,
}

impl From<PaymentError> for crate::Error {
    fn from(error: PaymentError) -> Self {
        match error {
            PaymentError::Declined(reason) => crate::Error::PaymentDeclined { reason },
            PaymentError::InvalidToken => crate::Error::InvalidPaymentToken,
            PaymentError::ProcessingError(cause) => crate::Error::PaymentUnavailable(cause),
            PaymentError::Unknown(cause) => crate::Error::PaymentOutcomeUnknown(cause),
            PaymentError::NotFound => crate::Error::internal("the payment provider has no such payment"),
        }
    }
}

#[async_trait]
pub trait PaymentGateway: Send + Sync + 'static {
    /// A short name stored with each payment ("test", "stripe").
    fn name(&self) -> &'static str;

    /// Reserves the amount on the token. Idempotent on `request.idempotency_key`.
    async fn authorize(&self, request: &AuthorizeRequest) -> Result<ProviderPayment, PaymentError>;

    /// Takes authorized money. Capturing a captured payment succeeds again.
    async fn capture(&self, reference: &str, idempotency_key: &str) -> Result<(), PaymentError>;

    /// Releases an authorization without taking money. Voiding a voided payment succeeds again.
    async fn void(&self, reference: &str, idempotency_key: &str) -> Result<(), PaymentError>;

    /// Gives back `amount` minor units of a captured payment.
    async fn refund(&self, reference: &str, amount: i64, idempotency_key: &str) -> Result<(), PaymentError>;

    /// The payment created with this idempotency key, if the provider has one.
    async fn lookup(&self, idempotency_key: &str) -> Result<Option<ProviderPayment>, PaymentError>;
}

/// The built-in test provider, with the cases a real one has:
///
/// | token | outcome |
/// |---|---|
/// | `tok_visa`, `tok_mastercard` | authorized |
/// | `tok_chargeDeclined` | declined (`card_declined`) |
/// | `tok_insufficientFunds` | declined (`insufficient_funds`) |
/// | `tok_processingError` | processing error, nothing charged |
/// | `tok_timeout` | authorized, but the answer is lost: outcome unknown |
/// | anything else | unknown token |
///
/// It keeps its payments in memory so that tests can check the money: a retry with the same
/// idempotency key returns the first result instead of authorizing again.
#[derive(Debug, Default)]
pub struct TestGateway {
    state: Mutex<TestGatewayState>,
}

#[derive(Debug, Default)]
struct TestGatewayState {
    /// Outcome of each authorization, by idempotency key.
    by_key: HashMap<String, Result<String, PaymentError>>,
    /// Payments in creation order.
    payments: Vec<ProviderPayment>,
    /// Each payment's place in `payments`, by reference: found without a scan, as a provider
    /// finds a payment (a flash sale makes tens of thousands).
    by_reference: HashMap<String, usize>,
    /// Idempotency keys of refunds already made.
    refund_keys: HashSet<String>,
}

impl TestGatewayState {
    fn payment(&self, reference: &str) -> Option<&ProviderPayment> {
        self.by_reference.get(reference).map(|&at| &self.payments[at])
    }

    fn payment_mut(&mut self, reference: &str) -> Option<&mut ProviderPayment> {
        self.by_reference.get(reference).copied().map(move |at| &mut self.payments[at])
    }
}

impl TestGateway {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every payment the provider holds (voided and failed ones included), in order.
    pub fn payments(&self) -> Vec<ProviderPayment> {
        self.lock().payments.clone()
    }

    /// Payments whose money was taken (captured), as (reference, amount kept after refunds).
    pub fn captured(&self) -> Vec<(String, i64)> {
        self.lock()
            .payments
            .iter()
            .filter(|p| p.state == ProviderState::Captured)
            .map(|p| (p.reference.clone(), p.amount.amount - p.refunded))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TestGatewayState> {
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    fn with_payment<T>(
        &self,
        reference: &str,
        change: impl FnOnce(&mut ProviderPayment) -> Result<T, PaymentError>,
    ) -> Result<T, PaymentError> {
        let mut state = self.lock();
        let payment = state.payment_mut(reference).ok_or(PaymentError::NotFound)?;
        change(payment)
    }
}

#[async_trait]
impl PaymentGateway for TestGateway {
    fn name(&self) -> &'static str {
        "test"
    }

    async fn authorize(&self, request: &AuthorizeRequest) -> Result<ProviderPayment, PaymentError> {
        let mut state = self.lock();
        if let Some(earlier) = state.by_key.get(&request.idempotency_key).cloned() {
            let reference = earlier?;
            return state.payment(&reference).cloned().ok_or(PaymentError::NotFound);
        }
        let authorized = |state: &mut TestGatewayState| {
            let payment = ProviderPayment {
                reference: format!("pi_test_{}", uuid::Uuid::now_v7().simple()),
                state: ProviderState::Authorized,
                amount: request.amount.clone(),
                refunded: 0,
            };
            state.by_reference.insert(payment.reference.clone(), state.payments.len());
            state.payments.push(payment.clone());
            state.by_key.insert(request.idempotency_key.clone(), Ok(payment.reference.clone()));
            payment
        };
        let failure = match request.payment_token.as_str() {
            "tok_visa" | "tok_mastercard" => return Ok(authorized(&mut state)),
            "tok_timeout" => {
                authorized(&mut state);
                return Err(PaymentError::Unknown("the provider did not answer in time".into()));
            }
            "tok_chargeDeclined" => PaymentError::Declined("card_declined".into()),
            "tok_insufficientFunds" => PaymentError::Declined("insufficient_funds".into()),
            "tok_processingError" => {
                // Nothing is remembered: a retry may succeed.
                return Err(PaymentError::ProcessingError(
                    "the provider failed to process the payment".into(),
                ));
            }
            _ => PaymentError::InvalidToken,
        };
        state.by_key.insert(request.idempotency_key.clone(), Err(failure.clone()));
        Err(failure)
    }

    async fn capture(&self, reference: &str, _idempotency_key: &str) -> Result<(), PaymentError> {
        self.with_payment(reference, |payment| match payment.state {
            ProviderState::Authorized | ProviderState::Captured => {
                payment.state = ProviderState::Captured;
                Ok(())
            }
            _ => Err(PaymentError::Declined("payment_not_capturable".into())),
        })
    }

    async fn void(&self, reference: &str, _idempotency_key: &str) -> Result<(), PaymentError> {
        self.with_payment(reference, |payment| match payment.state {
            ProviderState::Authorized | ProviderState::Voided => {
                payment.state = ProviderState::Voided;
                Ok(())
            }
            _ => Err(PaymentError::Declined("payment_not_voidable".into())),
        })
    }

    async fn refund(&self, reference: &str, amount: i64, idempotency_key: &str) -> Result<(), PaymentError> {
        let mut state = self.lock();
        if state.refund_keys.contains(idempotency_key) {
            return Ok(());
        }
        let payment = state.payment_mut(reference).ok_or(PaymentError::NotFound)?;
        if payment.state != ProviderState::Captured
            || payment.refunded + amount > payment.amount.amount
            || amount <= 0
        {
            return Err(PaymentError::Declined("refund_not_possible".into()));
        }
        payment.refunded += amount;
        state.refund_keys.insert(idempotency_key.to_owned());
        Ok(())
    }

    async fn lookup(&self, idempotency_key: &str) -> Result<Option<ProviderPayment>, PaymentError> {
        let state = self.lock();
        match state.by_key.get(idempotency_key) {
            Some(Ok(reference)) => Ok(state.payment(reference).cloned()),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a future to completion on the current thread; the test gateway never awaits.
    pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
                return output;
            }
        }
    }

    fn request(token: &str, key: &str) -> AuthorizeRequest {
        AuthorizeRequest {
            payment_token: token.into(),
            amount: Money::new(1000, "EUR"),
            idempotency_key: key.into(),
            description: "test".into(),
        }
    }

    #[test]
    fn the_test_tokens_cover_what_real_providers_answer() {
        let gateway = TestGateway::new();
        assert_eq!(
            block_on(gateway.authorize(&request("tok_visa", "a"))).unwrap().state,
            ProviderState::Authorized
        );
        assert_eq!(
            block_on(gateway.authorize(&request("tok_chargeDeclined", "b"))),
            Err(PaymentError::Declined("card_declined".into()))
        );
        assert_eq!(
            block_on(gateway.authorize(&request("tok_insufficientFunds", "c"))),
            Err(PaymentError::Declined("insufficient_funds".into()))
        );
        assert!(matches!(
            block_on(gateway.authorize(&request("tok_processingError", "d"))),
            Err(PaymentError::ProcessingError(_))
        ));
        assert!(matches!(
            block_on(gateway.authorize(&request("tok_timeout", "e"))),
            Err(PaymentError::Unknown(_))
        ));
        assert_eq!(
            block_on(gateway.authorize(&request("4242424242424242", "f"))),
            Err(PaymentError::InvalidToken)
        );
        // The timed-out authorization did happen; lookup finds it.
        assert_eq!(block_on(gateway.lookup("e")).unwrap().unwrap().state, ProviderState::Authorized);
        assert_eq!(block_on(gateway.lookup("d")).unwrap(), None);
        assert_eq!(gateway.payments().len(), 2);
    }
}
