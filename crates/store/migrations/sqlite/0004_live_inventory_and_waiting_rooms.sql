-- The flash sale: an inventory change feed for live seat maps, and waiting rooms.

-- Every change of a ticket's status (held, released, expired, sold, refunded), written in the
-- same transaction as the change. Nodes read it in id order and push it to their seat-map
-- streams; a reconnecting client resumes from its last event id. Pruned after a while.
CREATE TABLE inventory_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    showtime_id TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('held', 'released', 'expired', 'sold', 'refunded')),
    -- Space-separated ticket ids.
    ticket_ids  TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX inventory_events_by_showtime ON inventory_events (showtime_id, id);

-- A showtime sold through a queue: admission advances in queue order at admit_per_minute from
-- opens_at; `admitted` counts the places admitted so far (up to advanced_at), so admission
-- never banks credit while the queue is empty.
CREATE TABLE waiting_rooms (
    showtime_id        TEXT PRIMARY KEY REFERENCES showtimes (id),
    opens_at           BIGINT NOT NULL,
    admit_per_minute   BIGINT NOT NULL CHECK (admit_per_minute > 0),
    admission_ttl_secs BIGINT NOT NULL CHECK (admission_ttl_secs > 0),
    admitted           BIGINT NOT NULL DEFAULT 0,
    advanced_at        BIGINT NOT NULL
);

-- One place per account and showtime. `place_key` orders the queue: drawn at random for
-- those who joined before the opening (a lottery among early arrivals), then by arrival.
CREATE TABLE queue_entries (
    showtime_id TEXT NOT NULL REFERENCES waiting_rooms (showtime_id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id),
    place_key   BIGINT NOT NULL,
    joined_at   BIGINT NOT NULL,
    admitted_at BIGINT,
    PRIMARY KEY (showtime_id, user_id)
);
CREATE UNIQUE INDEX queue_entries_in_order ON queue_entries (showtime_id, place_key);
