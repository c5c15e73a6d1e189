//! The catalog: what is on, where, and when.
//!
//! An [`Event`] (a movie or a concert) is performed at a [`Showtime`] in a hall of a venue. A
//! hall's [`HallLayout`] lists its sections; a seated section has rows of numbered seats, a
//! general-admission (GA) section only a capacity. Creating a showtime turns the layout into
//! tickets: one per seat and one per GA place, each priced by its category.

use crate::error::{Error, Result};
use crate::ids::{EventId, HallId, ShowtimeId, VenueId};
use crate::money::Money;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;

/// Largest hall Marquee accepts (seats plus GA places): a stadium, not a typo.
pub const MAX_PLACES_PER_HALL: u32 = 100_000;
/// Most seats in one row.
pub const MAX_SEATS_PER_ROW: u32 = 500;
/// Highest number a row's first seat may have.
pub const MAX_FIRST_SEAT_NUMBER: u32 = 10_000;
/// Longest section name, in characters ("Stalls", "Block 101", "Floor").
pub const MAX_SECTION_NAME_CHARS: usize = 64;
/// Longest row label, in characters ("A", "12", "AA").
pub const MAX_ROW_LABEL_CHARS: usize = 8;
/// Longest seat category, in characters (see [`parse_category`]).
pub const MAX_CATEGORY_CHARS: usize = 32;

/// A name as the API document states it (of sections and rows, and the names and titles an
/// admin gives venues, halls and events): no control characters, and something besides white
/// space, as names are trimmed. Layout names are checked less strictly for control
/// characters; a client keeping to this never sends a name the server refuses.
pub const NAME_PATTERN: &str = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$";

/// Types standing for the schemas of layout names in the API document, built from the limits
/// [`HallLayout::validate`] checks (derive attributes take only literals).
macro_rules! text_schema {
    ($(#[$doc:meta])* $name:ident, $pattern:expr, $max:expr, $example:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(1))
                    .max_length(Some($max))
                    .pattern(Some($pattern))
                    .examples([$example])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

text_schema!(/// A section's name in the API document.
    SectionName, NAME_PATTERN, MAX_SECTION_NAME_CHARS, "Stalls");
text_schema!(/// A row's label in the API document.
    RowLabel, NAME_PATTERN, MAX_ROW_LABEL_CHARS, "A");
text_schema!(/// A seat category in the API document: see [`parse_category`].
    Category, format!("^[a-z0-9_-]{{1,{MAX_CATEGORY_CHARS}}}$"), MAX_CATEGORY_CHARS, "standard");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Movie,
    Concert,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Movie => "movie",
            EventKind::Concert => "concert",
        }
    }

    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "movie" => Ok(EventKind::Movie),
            "concert" => Ok(EventKind::Concert),
            other => Err(Error::invalid(format!("kind must be movie or concert, got {other:?}"))),
        }
    }
}

/// A movie or a concert. Movie-only and concert-only fields are `None` for the other kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub kind: EventKind,
    pub title: String,
    pub synopsis: String,
    pub poster_url: Option<String>,
    pub genres: Vec<String>,
    /// Movies: running time.
    pub runtime_minutes: Option<i64>,
    /// Movies: age rating such as "PG-13".
    pub rating: Option<String>,
    /// Concerts: the performer.
    pub artist: Option<String>,
    pub published: bool,
    pub created_at: OffsetDateTime,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Venue {
    pub id: VenueId,
    pub name: String,
    pub city: String,
    /// IANA time zone name, e.g. "Europe/Berlin"; instants are stored in UTC.
    pub time_zone: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hall {
    pub id: HallId,
    pub venue_id: VenueId,
    pub name: String,
    pub layout: HallLayout,
}

/// A hall's seat layout, as given when the hall is created.
///
/// Cross-field rules the document cannot state: names of sections are unique within the hall
/// (whatever their case), row labels within their section, override numbers within their
/// row, and the hall has at most 100,000 places.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HallLayout {
    #[schema(min_items = 1)]
    pub sections: Vec<SectionLayout>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SectionLayout {
    /// Unique within the hall, e.g. "Stalls" or "Floor".
    #[schema(value_type = SectionName)]
    pub name: String,
    #[serde(flatten)]
    pub kind: SectionKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SectionKind {
    /// Rows of numbered seats.
    Seated {
        #[schema(min_items = 1)]
        rows: Vec<RowLayout>,
    },
    /// Standing or unnumbered places: only a capacity, all of one category.
    GeneralAdmission {
        #[schema(minimum = 1, maximum = 100_000)]
        capacity: u32,
        #[schema(value_type = Category)]
        category: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RowLayout {
    /// Unique within the section, e.g. "A".
    #[schema(value_type = RowLabel)]
    pub label: String,
    /// Category of every seat of the row unless overridden.
    #[schema(value_type = Category)]
    pub category: String,
    /// Number of seats in the row.
    #[schema(minimum = 1, maximum = 500)]
    pub seats: u32,
    /// Number of the first seat (default 1); seats are numbered consecutively.
    #[serde(default = "default_first_seat")]
    #[schema(maximum = 10_000)]
    pub first_number: u32,
    /// Seat numbers after which the row has an aisle or gap (drawn on the seat map).
    #[serde(default)]
    pub gaps_after: Vec<u32>,
    /// Seats whose category differs from the row's, e.g. wheelchair places.
    #[serde(default)]
    pub overrides: Vec<SeatOverride>,
}

fn default_first_seat() -> u32 {
    1
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeatOverride {
    /// A seat of the row (`seats` of them, numbered from `first_number`), each overridden once.
    pub number: u32,
    #[schema(value_type = Category)]
    pub category: String,
}

/// One sellable place of a layout, in seat-map order: what a showtime makes a ticket of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacePlan {
    /// Index of the section in the layout.
    pub section_index: usize,
    /// `None` for GA places.
    pub row: Option<String>,
    /// Seat number, or the place number within a GA section.
    pub number: u32,
    /// Human label, e.g. "Stalls A7", "Block 101 row 12 seat 3" or "Floor GA 1532".
    pub label: String,
    pub category: String,
    /// Drawing position: row index within the section and column including gaps.
    pub row_index: u32,
    pub column_index: u32,
}

impl HallLayout {
    /// Checks the layout and returns the categories it uses.
    pub fn validate(&self) -> Result<BTreeSet<String>> {
        if self.sections.is_empty() {
            return Err(Error::invalid("a layout needs at least one section"));
        }
        let mut names = BTreeSet::new();
        let mut categories = BTreeSet::new();
        let mut total: u64 = 0;
        for section in &self.sections {
            let name = section.name.trim();
            if name.is_empty() || name.chars().count() > MAX_SECTION_NAME_CHARS {
                return Err(Error::invalid(format!(
                    "section names must have 1 to {MAX_SECTION_NAME_CHARS} characters"
                )));
            }
            if !names.insert(name.to_lowercase()) {
                return Err(Error::invalid(format!("duplicate section {name:?}")));
            }
            match &section.kind {
                SectionKind::GeneralAdmission { capacity, category } => {
                    if *capacity == 0 {
                        return Err(Error::invalid(format!("section {name:?} has no capacity")));
                    }
                    categories.insert(parse_category(category)?);
                    total += u64::from(*capacity);
                }
                SectionKind::Seated { rows } => {
                    if rows.is_empty() {
                        return Err(Error::invalid(format!("section {name:?} has no rows")));
                    }
                    let mut labels = BTreeSet::new();
                    for row in rows {
                        validate_row(name, row, &mut labels, &mut categories)?;
                        total += u64::from(row.seats);
                    }
                }
            }
            if total > u64::from(MAX_PLACES_PER_HALL) {
                return Err(Error::invalid(format!("a hall may have at most {MAX_PLACES_PER_HALL} places")));
            }
        }
        Ok(categories)
    }

    /// Every place of the layout in seat-map order. Call [`HallLayout::validate`] first.
    pub fn places(&self) -> Vec<PlacePlan> {
        let mut places = Vec::new();
        for (section_index, section) in self.sections.iter().enumerate() {
            let section_name = section.name.trim();
            match &section.kind {
                SectionKind::GeneralAdmission { capacity, category } => {
                    places.extend((1..=*capacity).map(|number| PlacePlan {
                        section_index,
                        row: None,
                        number,
                        label: format!("{section_name} GA {number}"),
                        category: category.clone(),
                        row_index: 0,
                        column_index: number - 1,
                    }));
                }
                SectionKind::Seated { rows } => {
                    for (row_index, row) in rows.iter().enumerate() {
                        let mut column_index = 0;
                        for number in row.first_number..row.first_number + row.seats {
                            let category = row
                                .overrides
                                .iter()
                                .find(|o| o.number == number)
                                .map_or(&row.category, |o| &o.category);
                            places.push(PlacePlan {
                                section_index,
                                row: Some(row.label.clone()),
                                number,
                                label: seat_label(section_name, &row.label, number),
                                category: category.clone(),
                                row_index: row_index as u32,
                                column_index,
                            });
                            column_index += if row.gaps_after.contains(&number) { 2 } else { 1 };
                        }
                    }
                }
            }
        }
        places
    }
}

/// A seat's label: the row and number run together where that reads unambiguously ("Stalls A7"),
/// spelt out where the row ends in a digit ("Block 101 row 12 seat 3", not "Block 101 123",
/// which could be row 1 seat 23 as well).
fn seat_label(section: &str, row: &str, number: u32) -> String {
    if row.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{section} row {row} seat {number}")
    } else {
        format!("{section} {row}{number}")
    }
}

fn validate_row(
    section: &str,
    row: &RowLayout,
    labels: &mut BTreeSet<String>,
    categories: &mut BTreeSet<String>,
) -> Result<()> {
    let label = row.label.trim();
    if label.is_empty() || label.chars().count() > MAX_ROW_LABEL_CHARS {
        return Err(Error::invalid(format!(
            "row labels in {section:?} must have 1 to {MAX_ROW_LABEL_CHARS} characters"
        )));
    }
    if !labels.insert(label.to_owned()) {
        return Err(Error::invalid(format!("duplicate row {label:?} in section {section:?}")));
    }
    if row.seats == 0 {
        return Err(Error::invalid(format!("row {label:?} in section {section:?} is empty")));
    }
    if row.seats > MAX_SEATS_PER_ROW || row.first_number > MAX_FIRST_SEAT_NUMBER {
        return Err(Error::invalid(format!("row {label:?} in section {section:?} is too long")));
    }
    categories.insert(parse_category(&row.category)?);
    let last = row.first_number + row.seats - 1;
    let mut overridden = BTreeSet::new();
    for seat in &row.overrides {
        if !(row.first_number..=last).contains(&seat.number) {
            return Err(Error::invalid(format!("row {label:?} has no seat {}", seat.number)));
        }
        if !overridden.insert(seat.number) {
            return Err(Error::invalid(format!("duplicate seat {} in row {label:?}", seat.number)));
        }
        categories.insert(parse_category(&seat.category)?);
    }
    Ok(())
}

/// Seat categories are short lower-case words: `standard`, `premium`, `accessible`, `vip_box`.
pub fn parse_category(value: &str) -> Result<String> {
    let ok = !value.is_empty()
        && value.len() <= MAX_CATEGORY_CHARS
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid(format!("category {value:?} must be 1-32 lower-case letters, digits, '_' or '-'")))
    }
}

/// One performance: an event in a hall at a time, with its prices and on-sale window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Showtime {
    pub id: ShowtimeId,
    pub event_id: EventId,
    pub hall_id: HallId,
    pub starts_at: OffsetDateTime,
    /// Tickets can be held and bought from this instant...
    pub on_sale_from: OffsetDateTime,
    /// ...until this one (at the latest the start).
    pub on_sale_until: OffsetDateTime,
    pub currency: String,
    /// Price of each seat category, in minor units of `currency`.
    pub prices: BTreeMap<String, i64>,
}

impl Showtime {
    pub fn is_on_sale(&self, now: OffsetDateTime) -> bool {
        self.on_sale_from <= now && now < self.on_sale_until
    }

    pub fn price_of(&self, category: &str) -> Option<Money> {
        self.prices.get(category).map(|amount| Money::new(*amount, self.currency.clone()))
    }

    /// Checks prices and window against the hall's categories.
    pub fn validate(&self, hall_categories: &BTreeSet<String>) -> Result<()> {
        crate::money::parse_currency(&self.currency)?;
        if self.on_sale_from >= self.on_sale_until {
            return Err(Error::invalid("on_sale_from must be before on_sale_until"));
        }
        if self.on_sale_until > self.starts_at {
            return Err(Error::invalid("sales must end no later than the start"));
        }
        for category in hall_categories {
            match self.prices.get(category) {
                None => return Err(Error::invalid(format!("no price for category {category:?}"))),
                Some(amount) if *amount < 0 => {
                    return Err(Error::invalid(format!("price for {category:?} is negative")));
                }
                Some(amount) if *amount > crate::money::MAX_TICKET_PRICE => {
                    return Err(Error::invalid(format!(
                        "price for {category:?} is above the maximum of {} minor units per ticket",
                        crate::money::MAX_TICKET_PRICE
                    )));
                }
                Some(_) => {}
            }
        }
        if let Some(extra) = self.prices.keys().find(|c| !hall_categories.contains(*c)) {
            return Err(Error::invalid(format!("the hall has no category {extra:?}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_labels_are_unambiguous_for_numbered_rows() {
        assert_eq!(seat_label("Stalls", "A", 7), "Stalls A7");
        assert_eq!(seat_label("Block 101", "12", 3), "Block 101 row 12 seat 3");
        assert_ne!(seat_label("Block 101", "1", 23), seat_label("Block 101", "12", 3));
    }

    fn row(label: &str, seats: u32) -> RowLayout {
        RowLayout {
            label: label.into(),
            category: "standard".into(),
            seats,
            first_number: 1,
            gaps_after: vec![],
            overrides: vec![],
        }
    }

    fn seated(name: &str, rows: Vec<RowLayout>) -> SectionLayout {
        SectionLayout { name: name.into(), kind: SectionKind::Seated { rows } }
    }

    #[test]
    fn a_layout_expands_to_one_place_per_seat_and_per_ga_place() {
        let mut front = row("A", 4);
        front.gaps_after = vec![2];
        front.overrides = vec![SeatOverride { number: 1, category: "accessible".into() }];
        let layout = HallLayout {
            sections: vec![
                seated("Stalls", vec![front, row("B", 3)]),
                SectionLayout {
                    name: "Floor".into(),
                    kind: SectionKind::GeneralAdmission { capacity: 5, category: "floor".into() },
                },
            ],
        };
        let categories = layout.validate().unwrap();
        assert_eq!(categories.into_iter().collect::<Vec<_>>(), ["accessible", "floor", "standard"]);
        let places = layout.places();
        assert_eq!(places.len(), 4 + 3 + 5);
        assert_eq!(places[0].label, "Stalls A1");
        assert_eq!(places[0].category, "accessible");
        assert_eq!(places[2].column_index, 3, "the gap after seat 2 shifts seat 3 right");
        assert_eq!(places[11].label, "Floor GA 5");
    }

    #[test]
    fn broken_layouts_are_refused_with_a_reason() {
        let duplicate_rows = HallLayout { sections: vec![seated("S", vec![row("A", 2), row("A", 2)])] };
        let empty_row = HallLayout { sections: vec![seated("S", vec![row("A", 0)])] };
        let no_rows = HallLayout { sections: vec![seated("S", vec![])] };
        let huge = HallLayout {
            sections: vec![SectionLayout {
                name: "Field".into(),
                kind: SectionKind::GeneralAdmission {
                    capacity: MAX_PLACES_PER_HALL + 1,
                    category: "ga".into(),
                },
            }],
        };
        let duplicate_sections =
            HallLayout { sections: vec![seated("S", vec![row("A", 1)]), seated("s", vec![row("A", 1)])] };
        for layout in [duplicate_rows, empty_row, no_rows, huge, duplicate_sections] {
            assert!(matches!(layout.validate(), Err(Error::Invalid(_))), "{layout:?}");
        }
    }

    #[test]
    fn names_are_counted_in_characters_as_the_document_counts_them() {
        let name = "Ü".repeat(MAX_SECTION_NAME_CHARS);
        let layout =
            HallLayout { sections: vec![seated(&name, vec![row(&"Ä".repeat(MAX_ROW_LABEL_CHARS), 1)])] };
        assert!(layout.validate().is_ok(), "two-byte characters up to the bound");
        let layout = HallLayout { sections: vec![seated(&format!("{name}Ü"), vec![row("A", 1)])] };
        assert!(layout.validate().is_err());
    }

    #[test]
    fn categories_are_short_lower_case_words() {
        assert!(parse_category("premium").is_ok());
        assert!(parse_category("Premium").is_err());
        assert!(parse_category("").is_err());
    }
}
