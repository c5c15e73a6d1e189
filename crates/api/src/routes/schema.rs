//! What the API document says the inputs may be, built from the limits the handlers enforce,
//! so that a client validating a request against the document sends one the server accepts,
//! and the two cannot drift apart.
//!
//! Derive attributes take only literal numbers and patterns, so each schema that needs a
//! constant is a type here (or beside its limit) with a hand-written schema, named in the
//! derive as `value_type = …`: inlined for parameters, referenced for body fields (either way
//! the field keeps its description). The few literal bounds left on body fields are compared
//! with their constants by the tests below, and `crates/api/tests/api/schema.rs` tries the
//! main bounds on the server, on both backends. What no schema can say (an id that must exist, a
//! seat that must be free, a key not used before, a concert needing an artist) is said in
//! words and listed in `scripts/fuzz-hooks.py`.

use super::MAX_UTC_OFFSET_MINUTES;
use super::page::{DEFAULT_PAGE_SIZE, MAX_CURSOR_CHARS, MAX_PAGE_SIZE};
use crate::idempotency::MAX_KEY_LENGTH;
use marquee_domain::money::MAX_TICKET_PRICE;
use marquee_domain::payment::MAX_PAYMENT_TOKEN_BYTES;
use utoipa::IntoParams;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, Type};

/// Text a URL may carry: the edge refuses a path or query holding a percent-encoded control
/// character (`%00`–`%1F`, `%7F`) with 400.
pub const URL_TEXT_PATTERN: &str = r"^[^\x00-\x1F\x7F]*$";

/// A `date` filter's day. The filter spans the whole day, so the day after must exist too,
/// which 9999-12-31 does not have (400): the pattern's years end with 9998, since refusing
/// that one day alone would take lookahead, which not every client's regular expressions have.
pub const DATE_PATTERN: &str = "^(?:[0-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-[0-9]{2}-[0-9]{2}$";

/// What `page::decode_cursor` takes apart: unpadded base64url.
pub const CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]+$";

/// An `Idempotency-Key`: visible ASCII only, as `idempotency::IdempotencyKey` requires.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]+$";

/// A payment token as the document states it: visible ASCII (as providers' tokens are), with
/// at least one character besides digits, spaces and dashes, since a value of only those is
/// refused as a card number (`[!-,./:-~]` is visible ASCII without `-` and `0`–`9`).
pub const PAYMENT_TOKEN_PATTERN: &str = "^[!-~]*[!-,./:-~][!-~]*$";

/// Declares a type standing for a schema made by `$schema` (a function or a closure), for
/// `value_type = …` in derive attributes.
macro_rules! schema_type {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let schema: utoipa::openapi::schema::Object = ($schema)();
                schema.into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use schema_type;

pub fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn integer(format: KnownFormat) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Integer).format(Some(SchemaFormat::KnownFormat(format)))
}

/// A name an admin gives (see `routes/admin/catalog.rs`): trimmed, 1 to `max_chars`
/// characters, no control characters.
pub fn name(max_chars: usize, example: &str) -> Object {
    string()
        .min_length(Some(1))
        .max_length(Some(max_chars))
        .pattern(Some(marquee_domain::catalog::NAME_PATTERN))
        .examples([example])
        .build()
}

pub fn url_text(max_chars: usize) -> Object {
    string().max_length(Some(max_chars)).pattern(Some(URL_TEXT_PATTERN)).build()
}

schema_type!(/// `limit` of a list.
    PageLimit => || integer(KnownFormat::Int32)
        .minimum(Some(1))
        .maximum(Some(MAX_PAGE_SIZE))
        .default(Some(DEFAULT_PAGE_SIZE.into()))
        .build());
schema_type!(/// `cursor` of a list. Only a `next_cursor` this API gave out is taken (any other is
    /// a 400): the pattern says what a cursor looks like, not which ones exist.
    Cursor => || string()
        .min_length(Some(1))
        .max_length(Some(MAX_CURSOR_CHARS))
        .pattern(Some(CURSOR_PATTERN))
        .build());
schema_type!(/// `date` of the catalog's lists: a day of the calendar (`format: date`).
    DateFilter => || string()
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
        .pattern(Some(DATE_PATTERN))
        .build());
schema_type!(/// `utc_offset_minutes` of a `date` filter.
    UtcOffset => || integer(KnownFormat::Int32)
        .minimum(Some(-MAX_UTC_OFFSET_MINUTES))
        .maximum(Some(MAX_UTC_OFFSET_MINUTES))
        .build());
schema_type!(/// The `Idempotency-Key` header's value.
    IdempotencyKeyValue => || string()
        .min_length(Some(1))
        .max_length(Some(MAX_KEY_LENGTH))
        .pattern(Some(IDEMPOTENCY_KEY_PATTERN))
        .build());
schema_type!(/// `payment_token` of a purchase.
    PaymentToken => || string()
        .description(Some("A token from the payment provider (the test gateway's are listed by \
            `/api/v1/payments/config`, e.g. `tok_visa`); never a card number."))
        .min_length(Some(1))
        .max_length(Some(MAX_PAYMENT_TOKEN_BYTES))
        .pattern(Some(PAYMENT_TOKEN_PATTERN))
        .examples(["tok_visa"])
        .build());
schema_type!(/// The prices of a showtime's categories, in minor units.
    Prices => || ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(format!("The price of every seat category of the hall, in minor units \
            of the currency, from 0 to {MAX_TICKET_PRICE}.")))
        .property_names(Some(inline::<marquee_domain::catalog::Category>()))
        .additional_properties(Some(integer(KnownFormat::Int64)
            .minimum(Some(0))
            .maximum(Some(MAX_TICKET_PRICE))))
        .examples([serde_json::json!({ "standard": 1250, "premium": 1800 })])
        .build());

/// The schema of a type whose schema is written out, not a reference, to place inside another.
fn inline<T: utoipa::PartialSchema>() -> Schema {
    match T::schema() {
        RefOr::T(schema) => schema,
        RefOr::Ref(_) => unreachable!("the schemas written out here are never references"),
    }
}

/// The `Idempotency-Key` header of the writes a client may retry. For the document only: the
/// handlers read it with `idempotency::IdempotencyKey`.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyKeyHeader {
    /// Makes retries safe: a retry with the same key returns the first answer and never
    /// charges or changes anything twice, and the same key with another request is refused
    /// (422). 1 to 255 visible ASCII characters.
    #[param(rename = "Idempotency-Key", inline, value_type = IdempotencyKeyValue, required = false)]
    key: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// The value at `path` (names of properties, or indexes of arrays) within `value`.
    fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
        path.iter().fold(value, |value, key| match key.parse::<usize>() {
            Ok(index) => &value[index],
            Err(_) => &value[*key],
        })
    }

    /// The literal bounds written on request bodies are the constants the server checks.
    #[test]
    fn literal_bounds_in_the_document_are_the_servers_constants() {
        use crate::routes::admin::catalog::{MAX_GENRES, MAX_RUNTIME_MINUTES};
        use marquee_domain::account::{
            MAX_EMAIL_BYTES, MAX_PASSWORD_CHARS_IN_ANY_SCRIPT, MIN_PASSWORD_CHARS,
        };
        use marquee_domain::catalog::{MAX_FIRST_SEAT_NUMBER, MAX_PLACES_PER_HALL, MAX_SEATS_PER_ROW};
        use marquee_domain::queue::{MAX_ADMISSION_MINUTES, MAX_ADMIT_PER_MINUTE};
        let document = serde_json::to_value(crate::router().1).unwrap();
        let schemas = &document["components"]["schemas"];
        let bound = |schema: &str, path: &[&str], keyword: &str| {
            let value = at(&schemas[schema], path)[keyword].as_u64();
            value.unwrap_or_else(|| panic!("{schema} {path:?} has no {keyword}"))
        };
        let property = |name| ["properties", name];
        for (schema, path, keyword, constant) in [
            ("CredentialsIn", &property("password")[..], "minLength", MIN_PASSWORD_CHARS as u64),
            ("CredentialsIn", &property("password"), "maxLength", MAX_PASSWORD_CHARS_IN_ANY_SCRIPT as u64),
            ("CredentialsIn", &property("email"), "maxLength", MAX_EMAIL_BYTES as u64),
            ("EventIn", &property("runtime_minutes"), "maximum", MAX_RUNTIME_MINUTES as u64),
            ("EventIn", &property("genres"), "maxItems", MAX_GENRES as u64),
            ("EventPatch", &property("runtime_minutes"), "maximum", MAX_RUNTIME_MINUTES as u64),
            ("WaitingRoomIn", &property("admit_per_minute"), "maximum", u64::from(MAX_ADMIT_PER_MINUTE)),
            ("WaitingRoomIn", &property("admission_minutes"), "maximum", u64::from(MAX_ADMISSION_MINUTES)),
            ("RowLayout", &property("seats"), "maximum", u64::from(MAX_SEATS_PER_ROW)),
            ("RowLayout", &property("first_number"), "maximum", u64::from(MAX_FIRST_SEAT_NUMBER)),
            (
                "SectionKind",
                &["oneOf", "1", "properties", "capacity"],
                "maximum",
                u64::from(MAX_PLACES_PER_HALL),
            ),
        ] {
            assert_eq!(bound(schema, path, keyword), constant, "{schema} {path:?} {keyword}");
        }
    }

    /// Every reference in the document leads to a schema it holds (the types standing for
    /// schemas are registered only where a body names them).
    #[test]
    fn every_reference_resolves() {
        let document = serde_json::to_value(crate::router().1).unwrap();
        fn references(value: &Value, found: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(reference)) = map.get("$ref") {
                        found.push(reference.clone());
                    }
                    map.values().for_each(|value| references(value, found));
                }
                Value::Array(items) => items.iter().for_each(|value| references(value, found)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        references(&document, &mut found);
        for reference in found {
            let name = reference.strip_prefix("#/components/schemas/").expect("a schema reference");
            assert!(document["components"]["schemas"].get(name).is_some(), "{reference} leads nowhere");
        }
    }
}
