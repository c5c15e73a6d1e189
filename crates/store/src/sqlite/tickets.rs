//! Writing a hall's sections and a showtime's tickets, shared by the writer commands that
//! create or regenerate them (a new showtime, a replaced hall layout).
//!
//! Every function here runs inside a write command (see [`super::writer`]): they never begin or
//! end a transaction, and an error they return rolls back the whole command.

use super::db;
use super::rows::all_rows;
use marquee_domain::catalog::{HallLayout, SectionKind, SectionLayout, Showtime};
use marquee_domain::ids::{HallId, SectionId, TicketId};
use marquee_domain::{Error, Result};
use rusqlite::{Connection, params};

/// How many tickets one command must have inserted before it refreshes the query planner's
/// statistics: below this, the statistics it already has describe the tables well enough.
pub(crate) const STATISTICS_REFRESH_THRESHOLD: usize = 1_000;

/// How a section's kind is stored in `sections.kind`.
pub(crate) fn section_kind(section: &SectionLayout) -> &'static str {
    match section.kind {
        SectionKind::Seated { .. } => "seated",
        SectionKind::GeneralAdmission { .. } => "general_admission",
    }
}

/// Inserts one `sections` row per section of `layout` for the hall `hall_id`, in layout order
/// (their `position`), each under a new id and its name trimmed. The hall's previous sections,
/// if any, must have been deleted first: positions are unique within a hall.
pub(crate) fn insert_sections(connection: &Connection, hall_id: &HallId, layout: &HallLayout) -> Result<()> {
    let mut insert = connection
        .prepare_cached(
            "INSERT INTO sections (id, hall_id, position, name, kind) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(db)?;
    for (position, section) in layout.sections.iter().enumerate() {
        insert
            .execute(params![
                SectionId::generate().as_str(),
                hall_id.as_str(),
                position as i64,
                section.name.trim(),
                section_kind(section)
            ])
            .map_err(db)?;
    }
    Ok(())
}

/// Creates one available ticket per place of `layout` for `showtime` (in the showtime's hall,
/// whose sections must already match the layout), priced by the showtime's price of the
/// place's category, in seat-map order (`position` counts from 0). Returns how many tickets
/// were inserted.
///
/// A category of the layout without a price in the showtime is `Invalid`; the error rolls the
/// command back, so no showtime is ever left with part of its tickets. One prepared statement
/// executed per place costs no more than multi-row inserts on an in-process database, and has no
/// limit on bound parameters to respect.
pub(crate) fn insert_tickets(
    connection: &Connection,
    showtime: &Showtime,
    layout: &HallLayout,
) -> Result<usize> {
    let sections: Vec<(String, String)> = all_rows(
        connection,
        "SELECT id, name FROM sections WHERE hall_id = ?1 ORDER BY position",
        [showtime.hall_id.as_str()],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let mut insert = connection
        .prepare_cached(
            "INSERT INTO tickets (id, showtime_id, section_id, section_name, row_label, number, label, category, \
             price_amount, position, row_index, column_index) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .map_err(db)?;
    let places = layout.places();
    for (position, place) in places.iter().enumerate() {
        let (section_id, section_name) = sections
            .get(place.section_index)
            .ok_or_else(|| Error::internal("layout and sections disagree"))?;
        let price = *showtime
            .prices
            .get(&place.category)
            .ok_or_else(|| Error::invalid(format!("no price for category {:?}", place.category)))?;
        insert
            .execute(params![
                TicketId::generate().as_str(),
                showtime.id.as_str(),
                section_id,
                section_name,
                place.row.as_deref(),
                i64::from(place.number),
                place.label,
                place.category,
                price,
                position as i64,
                i64::from(place.row_index),
                i64::from(place.column_index),
            ])
            .map_err(db)?;
    }
    Ok(places.len())
}

/// Refreshes the query planner's statistics (`PRAGMA optimize`) once a command has inserted at
/// least [`STATISTICS_REFRESH_THRESHOLD`] tickets: a new showtime can add tens of thousands of
/// rows at once and goes on sale right away, before anything else would have looked at them.
/// It runs inside the command, on the writer's connection. Best effort: a failure only costs
/// speed, so it is logged and the command goes on.
pub(crate) fn refresh_statistics(connection: &Connection, new_tickets: usize) {
    if new_tickets < STATISTICS_REFRESH_THRESHOLD {
        return;
    }
    if let Err(error) = connection.execute_batch("PRAGMA optimize") {
        tracing::warn!(%error, "could not refresh planner statistics");
    }
}
