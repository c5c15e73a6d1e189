-- Marquee's initial schema (SQLite). Instants are BIGINT milliseconds since the Unix epoch
-- (UTC) in both backends, so that the same queries compare them on either.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'staff', 'admin')),
    created_at    BIGINT NOT NULL
);

-- Bearer tokens are stored only as their SHA-256 hash.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE venues (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    city      TEXT NOT NULL,
    time_zone TEXT NOT NULL
);

CREATE TABLE halls (
    id       TEXT PRIMARY KEY,
    venue_id TEXT NOT NULL REFERENCES venues (id),
    name     TEXT NOT NULL,
    layout   TEXT NOT NULL -- the layout JSON as given
);

CREATE TABLE sections (
    id       TEXT PRIMARY KEY,
    hall_id  TEXT NOT NULL REFERENCES halls (id),
    position BIGINT NOT NULL,
    name     TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('seated', 'general_admission')),
    UNIQUE (hall_id, position)
);

CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('movie', 'concert')),
    title           TEXT NOT NULL,
    synopsis        TEXT NOT NULL,
    poster_url      TEXT,
    genres          TEXT NOT NULL, -- ',drama,thriller,' so that a genre matches LIKE '%,drama,%'
    runtime_minutes BIGINT,
    rating          TEXT,
    artist          TEXT,
    published       BIGINT NOT NULL DEFAULT 1,
    created_at      BIGINT NOT NULL
);
CREATE INDEX events_by_title ON events (kind, title, id);

CREATE TABLE showtimes (
    id            TEXT PRIMARY KEY,
    event_id      TEXT NOT NULL REFERENCES events (id),
    hall_id       TEXT NOT NULL REFERENCES halls (id),
    starts_at     BIGINT NOT NULL,
    on_sale_from  BIGINT NOT NULL,
    on_sale_until BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    prices        TEXT NOT NULL, -- JSON object: category -> minor units
    created_at    BIGINT NOT NULL
);
CREATE INDEX showtimes_by_event ON showtimes (event_id, starts_at);

-- One sellable admission per seat or GA place of a showtime. The single source of truth for
-- inventory: status, hold and order live on this row, so taking a ticket is one conditional UPDATE.
CREATE TABLE tickets (
    id              TEXT PRIMARY KEY,
    showtime_id     TEXT NOT NULL REFERENCES showtimes (id),
    section_id      TEXT NOT NULL REFERENCES sections (id),
    section_name    TEXT NOT NULL,
    row_label       TEXT,
    number          BIGINT NOT NULL,
    label           TEXT NOT NULL,
    category        TEXT NOT NULL,
    price_amount    BIGINT NOT NULL CHECK (price_amount >= 0),
    position        BIGINT NOT NULL, -- seat-map order within the showtime
    row_index       BIGINT NOT NULL,
    column_index    BIGINT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'held', 'sold')),
    hold_id         TEXT,
    hold_expires_at BIGINT,
    order_id        TEXT,
    CHECK (status <> 'held' OR (hold_id IS NOT NULL AND hold_expires_at IS NOT NULL)),
    CHECK ((status = 'sold') = (order_id IS NOT NULL))
);
CREATE INDEX tickets_by_showtime ON tickets (showtime_id, position);
CREATE INDEX tickets_by_section ON tickets (section_id, showtime_id, status, position);
CREATE INDEX tickets_by_hold ON tickets (hold_id);
CREATE INDEX tickets_held ON tickets (hold_expires_at) WHERE status = 'held';

CREATE TABLE holds (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    showtime_id TEXT NOT NULL REFERENCES showtimes (id),
    status      TEXT NOT NULL CHECK (status IN ('active', 'released', 'expired', 'purchased')),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    order_id    TEXT
);
CREATE INDEX holds_by_user ON holds (user_id, id);
CREATE INDEX holds_active ON holds (expires_at) WHERE status = 'active';

-- The tickets a hold asked for, kept after the hold ends so that it can still be shown.
CREATE TABLE hold_items (
    hold_id   TEXT NOT NULL REFERENCES holds (id),
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    PRIMARY KEY (hold_id, ticket_id)
);

CREATE TABLE orders (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users (id),
    showtime_id       TEXT NOT NULL REFERENCES showtimes (id),
    hold_id           TEXT NOT NULL UNIQUE REFERENCES holds (id),
    status            TEXT NOT NULL,
    total_amount      BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    payment_provider  TEXT NOT NULL,
    payment_reference TEXT NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE INDEX orders_by_user ON orders (user_id, id);

CREATE TABLE order_items (
    order_id     TEXT NOT NULL REFERENCES orders (id),
    ticket_id    TEXT NOT NULL REFERENCES tickets (id),
    price_amount BIGINT NOT NULL,
    live         BIGINT NOT NULL DEFAULT 1, -- 0 once refunded (the ticket may then be sold again)
    PRIMARY KEY (order_id, ticket_id)
);
-- The last line of defence against overselling: a ticket is in at most one live order.
CREATE UNIQUE INDEX order_items_one_live_sale ON order_items (ticket_id) WHERE live = 1;

CREATE TABLE payments (
    id         TEXT PRIMARY KEY,
    order_id   TEXT NOT NULL REFERENCES orders (id),
    provider   TEXT NOT NULL,
    reference  TEXT NOT NULL,
    amount     BIGINT NOT NULL,
    currency   TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (provider, reference)
);

-- Responses of requests that carried an Idempotency-Key, per user.
CREATE TABLE idempotency_keys (
    user_id         TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('in_progress', 'done')),
    response_status BIGINT,
    response_body   TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
