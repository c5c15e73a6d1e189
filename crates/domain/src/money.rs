//! Money: an integer amount of minor units (cents, pence, öre) and a currency code.
//!
//! Floats never appear: sums of prices must be exact, and every currency Marquee sells in has a
//! fixed number of minor units, so `i64` minor units are both exact and ample.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The highest price of one ticket, in minor units: 1,000,000.00 of a two-decimal currency
/// (¥100,000,000 in yen). Far above any real ticket, and small enough that no sum Marquee
/// makes can overflow: an order holds at most [`MAX_TICKETS_PER_ORDER`] tickets (10^10 at most),
/// and even a million-seat showtime sold at this price totals 10^14, far below `i64::MAX`
/// (9.2 × 10^18). Sums are checked all the same.
pub const MAX_TICKET_PRICE: i64 = 100_000_000;

/// The most tickets one hold or order may have, whatever the configuration says.
pub const MAX_TICKETS_PER_ORDER: u32 = 100;

/// An amount of money in minor units of `currency`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Money {
    /// Minor units (e.g. cents): `1250` with `EUR` is €12.50.
    #[schema(example = 1250)]
    pub amount: i64,
    /// ISO 4217 code, three upper-case letters.
    #[schema(example = "EUR")]
    pub currency: String,
}

impl Money {
    pub fn new(amount: i64, currency: impl Into<String>) -> Self {
        Self { amount, currency: currency.into() }
    }

    /// Sums amounts of one currency; `None` for an empty list or mixed currencies.
    pub fn sum<'a>(items: impl IntoIterator<Item = &'a Money>) -> Option<Money> {
        let mut iter = items.into_iter();
        let first = iter.next()?.clone();
        iter.try_fold(first, |total, item| {
            (item.currency == total.currency)
                .then(|| total.amount.checked_add(item.amount))
                .flatten()
                .map(|amount| Money::new(amount, total.currency))
        })
    }
}

/// Checks an ISO 4217-shaped currency code (three ASCII upper-case letters).
pub fn parse_currency(code: &str) -> Result<String> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code.to_owned())
    } else {
        Err(Error::invalid(format!("currency must be three upper-case letters, got {code:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_amounts_of_one_currency_exactly() {
        let prices = [Money::new(1250, "EUR"), Money::new(999, "EUR")];
        assert_eq!(Money::sum(&prices), Some(Money::new(2249, "EUR")));
    }

    #[test]
    fn refuses_to_sum_mixed_currencies_or_nothing() {
        let prices = [Money::new(1, "EUR"), Money::new(1, "USD")];
        assert_eq!(Money::sum(&prices), None);
        assert_eq!(Money::sum(&[]), None);
    }

    #[test]
    fn currency_codes_are_three_upper_case_letters() {
        assert!(parse_currency("EUR").is_ok());
        assert!(parse_currency("eur").is_err());
        assert!(parse_currency("EURO").is_err());
    }
}
