//! Marquee's domain: the vocabulary and the rules of ticket booking, with no I/O.
//!
//! # Layout
//! - [`ids`]: opaque, prefixed, time-sortable identifiers (UUIDv7).
//! - [`money`]: integer minor units with an ISO 4217 currency code.
//! - [`catalog`]: events (movies, concerts), venues, halls and their seat layouts, showtimes.
//! - [`inventory`]: tickets, holds, orders and the rules that keep a seat sold at most once.
//! - [`account`]: users, validated emails and passwords.
//! - [`audit`]: the append-only record of who did what.
//! - [`queue`]: waiting rooms: the order of a queue and the pace of admission.
//! - [`payment`]: the [`payment::PaymentGateway`] interface and the built-in test gateway.
//! - [`clock`]: injectable time, so expiry can be tested without sleeping.
//! - [`error`]: the one error enum every layer speaks.
//!
//! The storage crate persists these types and the HTTP crate exposes them; neither
//! redefines a rule that lives here.

pub mod account;
pub mod audit;
pub mod catalog;
pub mod clock;
pub mod error;
pub mod ids;
pub mod inventory;
pub mod money;
pub mod payment;
pub mod queue;

pub use error::{Error, Result};
