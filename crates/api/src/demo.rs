//! The demo catalog: what a fresh `cargo run` shows.
//!
//! Three venues in two cities: a Berlin multiplex with three halls, a Hamburg cinema with two,
//! and a Berlin arena whose concert is the flash-sale stage (20,800 numbered seats in ten
//! blocks plus a 2,500-place general-admission floor). Eight movies play over the next seven
//! days; two concerts are on sale.

use marquee_domain::Result;
use marquee_domain::catalog::{
    Event, EventKind, Hall, HallLayout, RowLayout, SeatOverride, SectionKind, SectionLayout, Showtime, Venue,
};
use marquee_domain::ids::{EventId, HallId, ShowtimeId, VenueId};
use marquee_store::Store;
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime, Time};

/// What [`load`] created, for logs and tests.
#[derive(Debug, Default)]
pub struct DemoSummary {
    pub events: usize,
    pub venues: usize,
    pub showtimes: usize,
    /// The arena concert showtime (the flash-sale stage).
    pub flash_sale_showtime: Option<ShowtimeId>,
}

impl std::fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} events, {} venues, {} showtimes", self.events, self.venues, self.showtimes)?;
        if let Some(showtime) = &self.flash_sale_showtime {
            write!(f, "; the flash-sale concert is showtime {showtime}")?;
        }
        Ok(())
    }
}

/// The venue whose presence says the demo catalog was loaded (its names are the demo's own).
const ARENA: (&str, &str) = ("Spreeside Arena", "Berlin");

/// Whether the demo catalog is in the database already (loading it again would duplicate it).
pub async fn is_loaded(store: &dyn Store) -> Result<bool> {
    let venues = store.list_venues().await?;
    Ok(venues.iter().any(|venue| (venue.name.as_str(), venue.city.as_str()) == ARENA))
}

struct MovieSpec {
    title: &'static str,
    synopsis: &'static str,
    genres: &'static [&'static str],
    runtime_minutes: i64,
    rating: &'static str,
}

const MOVIES: [MovieSpec; 8] = [
    MovieSpec {
        title: "The Last Projectionist",
        synopsis: "A night-shift projectionist discovers a reel that shows tomorrow.",
        genres: &["drama", "mystery"],
        runtime_minutes: 118,
        rating: "PG-13",
    },
    MovieSpec {
        title: "Orbit of Glass",
        synopsis: "Two engineers race to repair a failing space station before it falls.",
        genres: &["sci-fi", "thriller"],
        runtime_minutes: 132,
        rating: "PG-13",
    },
    MovieSpec {
        title: "Paper Lanterns",
        synopsis: "Three generations of a family reunite for one last summer festival.",
        genres: &["drama", "family"],
        runtime_minutes: 104,
        rating: "PG",
    },
    MovieSpec {
        title: "Heist at Harbour Nine",
        synopsis: "A retired safecracker is pulled back for an impossible dockside job.",
        genres: &["crime", "thriller"],
        runtime_minutes: 121,
        rating: "R",
    },
    MovieSpec {
        title: "Small Dragons",
        synopsis: "A shy girl raises a dragon the size of a teacup. It does not stay small.",
        genres: &["animation", "family", "adventure"],
        runtime_minutes: 95,
        rating: "G",
    },
    MovieSpec {
        title: "The Cartographer's Daughter",
        synopsis: "An heiress follows her father's last map across a drowned continent.",
        genres: &["adventure"],
        runtime_minutes: 139,
        rating: "PG-13",
    },
    MovieSpec {
        title: "Laugh Track",
        synopsis: "A failing sitcom writer swaps lives with his own sitcom character.",
        genres: &["comedy"],
        runtime_minutes: 99,
        rating: "PG-13",
    },
    MovieSpec {
        title: "Static",
        synopsis: "A radio host hears a caller describe a crime that has not happened yet.",
        genres: &["horror", "mystery"],
        runtime_minutes: 108,
        rating: "R",
    },
];

/// A cinema hall: `rows` rows of `seats` seats; the back `premium_rows` rows are premium, the
/// two outer seats of the front row are accessible, with an aisle in the middle.
fn cinema_layout(rows: u32, seats: u32, premium_rows: u32) -> HallLayout {
    let rows = (0..rows)
        .map(|index| RowLayout {
            label: row_label(index),
            category: if index >= rows - premium_rows { "premium" } else { "standard" }.into(),
            seats,
            first_number: 1,
            gaps_after: vec![seats / 2],
            overrides: if index == 0 {
                vec![
                    SeatOverride { number: 1, category: "accessible".into() },
                    SeatOverride { number: seats, category: "accessible".into() },
                ]
            } else {
                vec![]
            },
        })
        .collect();
    HallLayout { sections: vec![SectionLayout { name: "Stalls".into(), kind: SectionKind::Seated { rows } }] }
}

/// The arena: ten blocks of 40 rows × 52 seats (lower blocks 101–105, upper 201–205) and a GA floor.
fn arena_layout() -> HallLayout {
    let mut sections: Vec<SectionLayout> = [101, 102, 103, 104, 105, 201, 202, 203, 204, 205]
        .into_iter()
        .map(|block| {
            let category = if block < 200 { "lower" } else { "upper" };
            let rows = (0..40)
                .map(|index| RowLayout {
                    label: (index + 1).to_string(),
                    category: category.into(),
                    seats: 52,
                    first_number: 1,
                    gaps_after: vec![26],
                    overrides: if index == 0 {
                        (1..=4).map(|number| SeatOverride { number, category: "accessible".into() }).collect()
                    } else {
                        vec![]
                    },
                })
                .collect();
            SectionLayout { name: format!("Block {block}"), kind: SectionKind::Seated { rows } }
        })
        .collect();
    sections.push(SectionLayout {
        name: "Floor".into(),
        kind: SectionKind::GeneralAdmission { capacity: 2_500, category: "floor".into() },
    });
    HallLayout { sections }
}

/// "A".."Z", then "AA"...
fn row_label(index: u32) -> String {
    let letter = |i: u32| char::from(b'A' + (i % 26) as u8);
    if index < 26 {
        letter(index).to_string()
    } else {
        format!("{}{}", letter(index / 26 - 1), letter(index))
    }
}

fn prices(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(category, amount)| ((*category).to_owned(), *amount)).collect()
}

/// Loads the demo catalog, with showtimes relative to `now`.
pub async fn load(store: &dyn Store, now: OffsetDateTime) -> Result<DemoSummary> {
    let mut summary = DemoSummary::default();
    let venue = |name: &str, city: &str| Venue {
        id: VenueId::generate(),
        name: name.into(),
        city: city.into(),
        time_zone: "Europe/Berlin".into(),
    };
    let multiplex = venue("Marquee Mitte", "Berlin");
    let harbour = venue("Elbe Lichtspiele", "Hamburg");
    let arena = venue(ARENA.0, ARENA.1);
    for venue in [&multiplex, &harbour, &arena] {
        store.create_venue(venue).await?;
        summary.venues += 1;
    }

    let mut cinema_halls = Vec::new();
    for (venue, name, rows, seats, premium) in [
        (&multiplex, "Saal 1", 10, 12, 2),
        (&multiplex, "Saal 2", 14, 16, 3),
        (&multiplex, "Saal 3 (IMAX)", 19, 20, 4),
        (&harbour, "Kino 1", 8, 13, 2),
        (&harbour, "Kino 2", 12, 15, 3),
    ] {
        let hall = Hall {
            id: HallId::generate(),
            venue_id: venue.id.clone(),
            name: name.into(),
            layout: cinema_layout(rows, seats, premium),
        };
        hall.layout.validate()?;
        store.create_hall(&hall).await?;
        cinema_halls.push(hall);
    }
    let arena_hall = Hall {
        id: HallId::generate(),
        venue_id: arena.id.clone(),
        name: "Main Hall".into(),
        layout: arena_layout(),
    };
    arena_hall.layout.validate()?;
    store.create_hall(&arena_hall).await?;

    let today = now.replace_time(Time::MIDNIGHT);
    let cinema_prices = prices(&[("standard", 1_250), ("premium", 1_650), ("accessible", 950)]);
    for (index, spec) in MOVIES.iter().enumerate() {
        let event = Event {
            id: EventId::generate(),
            kind: EventKind::Movie,
            title: spec.title.into(),
            synopsis: spec.synopsis.into(),
            poster_url: None,
            genres: spec.genres.iter().map(|g| (*g).to_owned()).collect(),
            runtime_minutes: Some(spec.runtime_minutes),
            rating: Some(spec.rating.into()),
            artist: None,
            published: true,
            created_at: now,
        };
        store.create_event(&event).await?;
        summary.events += 1;
        for day in 0..7 {
            // Two screenings a day, rotating through the halls (times in UTC).
            for (slot, hour) in [(0, 15), (1, 19)] {
                let starts_at = today
                    + Duration::days(day)
                    + Duration::hours(hour)
                    + Duration::minutes(15 * (index as i64 % 3));
                if starts_at < now + Duration::hours(1) {
                    continue;
                }
                let hall = &cinema_halls[(index + slot + day as usize) % cinema_halls.len()];
                let showtime = Showtime {
                    id: ShowtimeId::generate(),
                    event_id: event.id.clone(),
                    hall_id: hall.id.clone(),
                    starts_at,
                    on_sale_from: now - Duration::days(1),
                    on_sale_until: starts_at,
                    currency: "EUR".into(),
                    prices: cinema_prices.clone(),
                };
                showtime.validate(&hall.layout.validate()?)?;
                store.create_showtime(&showtime).await?;
                summary.showtimes += 1;
            }
        }
    }

    let concerts = [
        (
            "Aurora Skies — World Tour",
            "Aurora Skies",
            "The stadium-pop tour of the year, one night only.",
            &arena_hall,
            6,
        ),
        (
            "Night Strings Quartet",
            "Night Strings",
            "Film scores reimagined for string quartet.",
            &cinema_halls[2],
            3,
        ),
    ];
    for (title, artist, synopsis, hall, days_ahead) in concerts {
        let event = Event {
            id: EventId::generate(),
            kind: EventKind::Concert,
            title: title.into(),
            synopsis: synopsis.into(),
            poster_url: None,
            genres: vec!["music".into()],
            runtime_minutes: None,
            rating: None,
            artist: Some(artist.into()),
            published: true,
            created_at: now,
        };
        store.create_event(&event).await?;
        summary.events += 1;
        let is_arena = hall.id == arena_hall.id;
        let showtime = Showtime {
            id: ShowtimeId::generate(),
            event_id: event.id.clone(),
            hall_id: hall.id.clone(),
            starts_at: today + Duration::days(days_ahead) + Duration::hours(19),
            on_sale_from: now - Duration::hours(1),
            on_sale_until: today + Duration::days(days_ahead) + Duration::hours(19),
            currency: "EUR".into(),
            prices: if is_arena {
                prices(&[("lower", 8_900), ("upper", 5_900), ("floor", 7_400), ("accessible", 5_900)])
            } else {
                prices(&[("standard", 3_500), ("premium", 4_500), ("accessible", 2_500)])
            },
        };
        showtime.validate(&hall.layout.validate()?)?;
        store.create_showtime(&showtime).await?;
        summary.showtimes += 1;
        if is_arena {
            summary.flash_sale_showtime = Some(showtime.id.clone());
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_halls_have_the_promised_sizes() {
        for (rows, seats, premium) in [(10, 12, 2), (14, 16, 3), (19, 20, 4), (8, 13, 2), (12, 15, 3)] {
            let places = cinema_layout(rows, seats, premium).places().len();
            assert!((100..=400).contains(&places), "{places} seats");
        }
        let arena = arena_layout();
        let categories = arena.validate().unwrap();
        assert!(categories.contains("floor") && categories.contains("accessible"));
        let seated = arena.places().iter().filter(|p| p.row.is_some()).count();
        assert!(seated >= 20_000, "{seated} seats");
    }

    #[test]
    fn row_labels_run_past_z() {
        assert_eq!(row_label(0), "A");
        assert_eq!(row_label(25), "Z");
        assert_eq!(row_label(26), "AA");
    }
}
