//! Opaque identifiers.
//!
//! Every id is a short type prefix plus a UUIDv7 in lowercase hex (`tkt_0190c4…`). UUIDv7 sorts
//! by creation time (good for B-tree locality in either database) and carries 74 random bits,
//! so ids cannot be enumerated. The prefix makes a misplaced id obvious in logs and errors.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A fresh opaque id with the given prefix, for records that have no typed id of their own
/// (payment attempts, refunds, messages, audit entries): `prefixed("pay")` → `pay_0190c4…`.
pub fn prefixed(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Whether `value` is an id as [`prefixed`] and every typed id's `generate` make them: the
/// prefix, `_` and 32 lowercase hex digits.
pub fn is_well_formed(prefix: &str, value: &str) -> bool {
    let hex = value.strip_prefix(prefix).and_then(|rest| rest.strip_prefix('_'));
    hex.is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// The regular expression of the ids [`is_well_formed`] accepts, for the API document: a
/// client validating against it sends only ids that can exist (any other is "not found").
pub fn pattern(prefix: &str) -> String {
    format!("^{prefix}_[0-9a-f]{{32}}$")
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        /// A string of the id's shape (see [`pattern`]); written by hand because the derive
        /// takes only literal patterns, and this one is made from the prefix.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(pattern($prefix)))
                    .examples([concat!($prefix, "_0190c4e2a1b27c3d8e9f0a1b2c3d4e5f")])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh, unique id.
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// Wraps a value read back from storage, or taken from a URL or a body.
            ///
            /// No format check is made: an id that does not exist is simply not found.
            pub fn from_raw(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// An id of this kind as [`generate`](Self::generate) makes them (the prefix, `_`
            /// and 32 lowercase hex digits), or `None`: for values that must be ids this
            /// service gave out, such as page cursors.
            pub fn parse(value: &str) -> Option<Self> {
                is_well_formed($prefix, value).then(|| Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

define_id!(/// A registered person.
    UserId, "usr");
define_id!(/// A movie or a concert.
    EventId, "evt");
define_id!(/// A cinema, theatre or arena.
    VenueId, "ven");
define_id!(/// A room of a venue with a fixed seat layout.
    HallId, "hal");
define_id!(/// A block of seats (or a general-admission area) of a hall.
    SectionId, "sec");
define_id!(/// One seat of a hall's layout.
    SeatId, "seat");
define_id!(/// One performance of an event in a hall at a time.
    ShowtimeId, "sho");
define_id!(/// One sellable admission to one showtime: a seat, or one place of a GA section.
    TicketId, "tkt");
define_id!(/// A time-limited reservation of tickets for one user.
    HoldId, "hld");
define_id!(/// A paid purchase of the tickets of one hold.
    OrderId, "ord");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_carry_their_prefix_and_are_unique_and_sortable() {
        let first = TicketId::generate();
        let second = TicketId::generate();
        assert!(first.as_str().starts_with("tkt_"));
        assert_eq!(first.as_str().len(), 4 + 32);
        assert_ne!(first, second);
        assert!(first < second, "UUIDv7 ids sort by creation time");
    }

    #[test]
    fn only_ids_of_the_right_kind_and_shape_parse() {
        let id = OrderId::generate();
        assert_eq!(OrderId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(UserId::parse(id.as_str()), None, "another kind's prefix");
        assert_eq!(OrderId::parse(&id.as_str().to_uppercase()), None);
        assert_eq!(OrderId::parse(&id.as_str()[..20]), None);
        assert_eq!(OrderId::parse("ord_"), None);
        assert_eq!(OrderId::parse("garbage"), None);
        assert!(is_well_formed("aud", &prefixed("aud")));
    }

    #[test]
    fn the_documented_pattern_spells_the_well_formed_shape() {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        assert_eq!(pattern(OrderId::PREFIX), "^ord_[0-9a-f]{32}$");
        let RefOr::T(Schema::Object(schema)) = <TicketId as utoipa::PartialSchema>::schema() else {
            panic!("an id's schema is a string schema");
        };
        assert_eq!(schema.pattern.as_deref(), Some("^tkt_[0-9a-f]{32}$"));
        assert!(is_well_formed(TicketId::PREFIX, "tkt_0190c4e2a1b27c3d8e9f0a1b2c3d4e5f"), "the example");
    }
}
