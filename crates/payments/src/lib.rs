//! Marquee's payment providers.
//!
//! # Layout
//! - [`stripe`]: [`StripeGateway`], the [`PaymentGateway`](marquee_domain::payment::PaymentGateway)
//!   on Stripe's PaymentIntents API (manual capture), over HTTPS with reqwest.
//! - [`webhook`]: verifying provider webhooks (Stripe's `Stripe-Signature` scheme) and reading
//!   their events.
//!
//! The built-in test provider is [`marquee_domain::payment::TestGateway`]; both pass the same
//! contract tests (`tests/contract.rs`), the Stripe one against a local fake Stripe server.

#[cfg(feature = "fake")]
pub mod fake_stripe;
pub mod stripe;
pub mod webhook;

pub use stripe::StripeGateway;
