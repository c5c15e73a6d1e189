//! The payment gateway contract: what Marquee relies on from any provider, checked against
//! the built-in test gateway and against the Stripe gateway talking to a local fake Stripe.

use marquee_payments::fake_stripe;

use marquee_domain::money::Money;
use marquee_domain::payment::{AuthorizeRequest, PaymentError, PaymentGateway, ProviderState, TestGateway};
use marquee_payments::StripeGateway;

fn request(token: &str, key: &str) -> AuthorizeRequest {
    AuthorizeRequest {
        payment_token: token.into(),
        amount: Money::new(2500, "EUR"),
        idempotency_key: key.into(),
        description: "contract".into(),
    }
}

async fn contract(gateway: &dyn PaymentGateway) {
    // Authorize, idempotently.
    let first = gateway.authorize(&request("tok_visa", "attempt-1")).await.unwrap();
    assert_eq!((first.state, first.amount.clone()), (ProviderState::Authorized, Money::new(2500, "EUR")));
    let again = gateway.authorize(&request("tok_visa", "attempt-1")).await.unwrap();
    assert_eq!(again.reference, first.reference, "the same key authorizes once");

    // Declines, unknown tokens, failures that charged nothing.
    assert_eq!(
        gateway.authorize(&request("tok_chargeDeclined", "attempt-2")).await,
        Err(PaymentError::Declined("card_declined".into()))
    );
    assert_eq!(
        gateway.authorize(&request("tok_insufficientFunds", "attempt-3")).await,
        Err(PaymentError::Declined("insufficient_funds".into()))
    );
    assert_eq!(
        gateway.authorize(&request("tok_nonsense", "attempt-4")).await,
        Err(PaymentError::InvalidToken)
    );
    assert!(matches!(
        gateway.authorize(&request("tok_processingError", "attempt-5")).await,
        Err(PaymentError::ProcessingError(_))
    ));
    assert_eq!(gateway.lookup("attempt-5").await.unwrap(), None, "a processing error charged nothing");

    // An answer lost after the provider acted: lookup tells what happened.
    assert!(matches!(
        gateway.authorize(&request("tok_timeout", "attempt-6")).await,
        Err(PaymentError::Unknown(_))
    ));
    let found = gateway.lookup("attempt-6").await.unwrap().expect("the provider has it");
    assert_eq!(found.state, ProviderState::Authorized);
    assert_eq!(gateway.lookup("attempt-never").await.unwrap(), None);

    // Capture (twice is fine), refund in parts, never more than was taken.
    gateway.capture(&first.reference, "attempt-1:capture").await.unwrap();
    gateway.capture(&first.reference, "attempt-1:capture").await.unwrap();
    assert_eq!(gateway.lookup("attempt-1").await.unwrap().unwrap().state, ProviderState::Captured);
    gateway.refund(&first.reference, 1000, "refund-1").await.unwrap();
    gateway.refund(&first.reference, 1000, "refund-1").await.unwrap();
    gateway.refund(&first.reference, 1500, "refund-2").await.unwrap();
    assert!(gateway.refund(&first.reference, 1, "refund-3").await.is_err(), "nothing left to refund");

    // Void an authorization; a voided payment cannot be captured.
    gateway.void(&found.reference, "attempt-6:void").await.unwrap();
    assert_eq!(gateway.lookup("attempt-6").await.unwrap().unwrap().state, ProviderState::Voided);
    assert!(gateway.capture(&found.reference, "attempt-6:capture").await.is_err());
}

#[tokio::test]
async fn the_test_gateway_keeps_the_contract() {
    contract(&TestGateway::new()).await;
}

#[tokio::test]
async fn the_stripe_gateway_keeps_the_contract_against_a_fake_stripe() {
    let server = fake_stripe::start("sk_test_fake").await;
    let gateway = StripeGateway::new(&server, "sk_test_fake").unwrap();
    contract(&gateway).await;
}

#[tokio::test]
async fn a_wrong_secret_key_charges_nothing() {
    let server = fake_stripe::start("sk_test_fake").await;
    let gateway = StripeGateway::new(&server, "sk_test_wrong").unwrap();
    assert!(matches!(
        gateway.authorize(&request("tok_visa", "a")).await,
        Err(PaymentError::ProcessingError(_))
    ));
}

#[tokio::test]
async fn an_unreachable_stripe_is_a_processing_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let gateway = StripeGateway::new(&format!("http://127.0.0.1:{port}"), "sk").unwrap();
    assert!(matches!(
        gateway.authorize(&request("tok_visa", "a")).await,
        Err(PaymentError::ProcessingError(_))
    ));
}
