-- The three commands of every purchase (hold, begin payment, confirm) as one function call
-- each, so that the commit pipeline (one connection, one command after another) pays one round
-- trip for each instead of one per statement. Each function only reads and writes; whether the
-- outcome is kept is the caller's decision (the pipeline rolls a refused command back to its
-- savepoint). Outcomes are short codes the store turns into its errors (create_hold_in in
-- crates/store/src/sql/mod.rs, begin_payment_in and confirm_payment_in in
-- crates/store/src/sql/payments.rs).

-- A user's live holds of a showtime, for the per-user cap of marquee_create_hold.
CREATE INDEX holds_live_by_user ON holds (user_id, showtime_id) WHERE status = 'active';

-- Up to `p_wanted` takeable places of one section, by position, locked. `p_wait` = false skips
-- places other buyers are taking right now. Best available never takes an accessible seat (a
-- category naming access or wheelchairs, the same rule as the seat map's `isAccessible` in
-- admin-layout.js) in a seated section: those are left for the people who need them, who pick
-- them by id.
CREATE FUNCTION marquee_pick_places(
    p_section TEXT, p_showtime TEXT, p_seated BOOLEAN, p_wanted INTEGER, p_now BIGINT, p_wait BOOLEAN
) RETURNS TEXT[]
LANGUAGE plpgsql AS $$
DECLARE
    picked TEXT[] := '{}';
    state TEXT;
BEGIN
    -- Free places first, then places of holds that expired but were not swept yet: each is one
    -- ordered range of tickets_by_section (section, showtime, status, position), where a single
    -- `status = 'available' OR ...` would walk every ticket of the showtime past the sold ones.
    -- The lock clause cannot be a parameter, hence one statement per way of locking.
    FOREACH state IN ARRAY ARRAY['available', 'held'] LOOP
        EXIT WHEN cardinality(picked) >= p_wanted;
        IF p_wait THEN
            picked := picked || ARRAY(
                SELECT id FROM tickets
                 WHERE section_id = p_section AND showtime_id = p_showtime AND status = state
                   AND (state = 'available' OR hold_expires_at <= p_now)
                   AND (NOT p_seated OR (category NOT LIKE '%access%' AND category NOT LIKE '%wheel%'))
                 ORDER BY position LIMIT p_wanted - cardinality(picked) FOR UPDATE);
        ELSE
            picked := picked || ARRAY(
                SELECT id FROM tickets
                 WHERE section_id = p_section AND showtime_id = p_showtime AND status = state
                   AND (state = 'available' OR hold_expires_at <= p_now)
                   AND (NOT p_seated OR (category NOT LIKE '%access%' AND category NOT LIKE '%wheel%'))
                 ORDER BY position LIMIT p_wanted - cardinality(picked) FOR UPDATE SKIP LOCKED);
        END IF;
    END LOOP;
    RETURN picked;
END
$$;

-- Outcomes: held (places = the held tickets, sorted), no_showtime, not_on_sale,
-- admission_required, unknown_tickets (places = the unknown ones), no_section, not_enough
-- (available = how many could be had), hold_limit, unavailable (places = the ones someone
-- else has).
CREATE FUNCTION marquee_create_hold(
    p_hold TEXT, p_user TEXT, p_showtime TEXT, p_admitted BOOLEAN, p_max_held BIGINT,
    p_tickets TEXT[], p_section TEXT, p_quantity INTEGER, p_now BIGINT, p_expires_at BIGINT,
    OUT outcome TEXT, OUT places TEXT[], OUT available BIGINT
)
LANGUAGE plpgsql AS $$
DECLARE
    sale RECORD;
    held_already BIGINT;
    picked_section TEXT;
    seated BOOLEAN;
    taken TEXT[];
BEGIN
    SELECT s.on_sale_from, s.on_sale_until, s.cancelled_at,
           EXISTS (SELECT 1 FROM waiting_rooms w WHERE w.showtime_id = s.id) AS queued
      INTO sale FROM showtimes s WHERE s.id = p_showtime;
    IF NOT FOUND THEN
        outcome := 'no_showtime';
        RETURN;
    END IF;
    IF NOT (sale.on_sale_from <= p_now AND p_now < sale.on_sale_until) OR sale.cancelled_at IS NOT NULL THEN
        outcome := 'not_on_sale';
        RETURN;
    END IF;
    IF sale.queued AND NOT p_admitted THEN
        outcome := 'admission_required';
        RETURN;
    END IF;
    -- One user's holds are taken one at a time (the user row is the lock), so the per-user cap
    -- below cannot be raced past.
    PERFORM 1 FROM users WHERE id = p_user FOR UPDATE;
    -- The places of the user's live holds of this showtime: an active hold that has not
    -- expired holds every one of its items (holds are all or nothing and end as a whole), so
    -- the count needs neither the tickets table nor the set of every held ticket, which a
    -- plan on stale statistics would walk (holds_live_by_user keeps this a two-key lookup).
    SELECT COUNT(*) INTO held_already FROM holds h JOIN hold_items hi ON hi.hold_id = h.id
     WHERE h.user_id = p_user AND h.showtime_id = p_showtime
       AND h.status = 'active' AND h.expires_at > p_now;

    IF p_tickets IS NOT NULL THEN
        places := ARRAY(SELECT t.id FROM tickets t WHERE t.showtime_id = p_showtime
                            AND t.id = ANY (p_tickets) ORDER BY t.id FOR UPDATE);
        IF cardinality(places) < cardinality(p_tickets) THEN
            outcome := 'unknown_tickets';
            places := ARRAY(SELECT x FROM unnest(p_tickets) x WHERE x <> ALL (places) ORDER BY x);
            RETURN;
        END IF;
    ELSE
        -- The hall's few sections, not the showtime's thousands of tickets.
        SELECT s.id, s.kind = 'seated' INTO picked_section, seated
          FROM showtimes sh JOIN sections s ON s.hall_id = sh.hall_id
         WHERE sh.id = p_showtime AND (s.id = p_section OR LOWER(s.name) = LOWER(p_section))
         ORDER BY s.position LIMIT 1;
        IF NOT FOUND THEN
            outcome := 'no_section';
            RETURN;
        END IF;
        -- Skip places other buyers are taking right now; only if that leaves too few, wait
        -- for them (they may roll back) before saying "sold out".
        places := marquee_pick_places(picked_section, p_showtime, seated, p_quantity, p_now, false);
        IF cardinality(places) < p_quantity THEN
            places := marquee_pick_places(picked_section, p_showtime, seated, p_quantity, p_now, true);
        END IF;
        IF cardinality(places) < p_quantity THEN
            -- A place the sweeper freed while the two ranges ran is seen by neither: one pass
            -- over both states at once.
            places := ARRAY(
                SELECT t.id FROM tickets t
                WHERE t.section_id = picked_section AND t.showtime_id = p_showtime
                  AND (t.status = 'available' OR (t.status = 'held' AND t.hold_expires_at <= p_now))
                  AND (NOT seated OR (t.category NOT LIKE '%access%' AND t.category NOT LIKE '%wheel%'))
                ORDER BY t.position LIMIT p_quantity FOR UPDATE);
        END IF;
        IF cardinality(places) < p_quantity THEN
            outcome := 'not_enough';
            available := cardinality(places);
            RETURN;
        END IF;
        places := ARRAY(SELECT x FROM unnest(places) x ORDER BY x);
    END IF;

    IF held_already + cardinality(places) > p_max_held THEN
        outcome := 'hold_limit';
        RETURN;
    END IF;
    WITH took AS (
        UPDATE tickets t SET status = 'held', hold_id = p_hold, hold_expires_at = p_expires_at
         WHERE t.id = ANY (places)
           AND (t.status = 'available' OR (t.status = 'held' AND t.hold_expires_at <= p_now))
        RETURNING t.id)
    SELECT COALESCE(array_agg(id), '{}') INTO taken FROM took;
    IF cardinality(taken) <> cardinality(places) THEN
        outcome := 'unavailable';
        places := ARRAY(SELECT x FROM unnest(places) x WHERE x <> ALL (taken) ORDER BY x);
        RETURN;
    END IF;
    INSERT INTO holds (id, user_id, showtime_id, status, created_at, expires_at)
    VALUES (p_hold, p_user, p_showtime, 'active', p_now, p_expires_at);
    INSERT INTO hold_items (hold_id, ticket_id) SELECT p_hold, x FROM unnest(places) x;
    INSERT INTO inventory_events (showtime_id, kind, ticket_ids, at)
    VALUES (p_showtime, 'held', array_to_string(places, ' '), p_now);
    outcome := 'held';
END
$$;

-- Outcomes: started (the attempt written, for the order order_ref of amount and currency_code),
-- no_hold (unknown, or another user's), hold_not_active (hold_status and hold_expires_at as
-- stored, for the caller's rule), order_expired, already_paid, payment_in_progress.
CREATE FUNCTION marquee_begin_payment(
    p_hold TEXT, p_user TEXT, p_new_order TEXT, p_attempt TEXT, p_provider TEXT, p_now BIGINT,
    OUT outcome TEXT, OUT order_ref TEXT, OUT amount BIGINT, OUT currency_code TEXT,
    OUT hold_status TEXT, OUT hold_expires_at BIGINT
)
LANGUAGE plpgsql AS $$
DECLARE
    owner TEXT;
    order_status TEXT;
    showtime TEXT;
BEGIN
    SELECT h.user_id, h.status, h.expires_at INTO owner, hold_status, hold_expires_at
      FROM holds h WHERE h.id = p_hold FOR UPDATE;
    IF NOT FOUND OR owner <> p_user THEN
        outcome := 'no_hold';
        RETURN;
    END IF;
    IF hold_status <> 'active' OR hold_expires_at <= p_now THEN
        outcome := 'hold_not_active';
        RETURN;
    END IF;
    SELECT o.id, o.status, o.total_amount, o.currency INTO order_ref, order_status, amount, currency_code
      FROM orders o WHERE o.hold_id = p_hold;
    IF NOT FOUND THEN
        order_ref := p_new_order;
        SELECT CAST(COALESCE(SUM(t.price_amount), 0) AS BIGINT), MIN(sh.currency), MIN(t.showtime_id)
          INTO amount, currency_code, showtime
          FROM hold_items hi JOIN tickets t ON t.id = hi.ticket_id JOIN showtimes sh ON sh.id = t.showtime_id
         WHERE hi.hold_id = p_hold;
        INSERT INTO orders (id, user_id, showtime_id, hold_id, status, total_amount, currency,
                            payment_provider, payment_reference, created_at, updated_at)
        VALUES (order_ref, p_user, showtime, p_hold, 'pending_payment', amount, currency_code,
                p_provider, '', p_now, p_now);
        INSERT INTO order_transitions (order_id, from_status, to_status, at, reason)
        VALUES (order_ref, NULL, 'pending_payment', p_now, 'checkout started');
    ELSIF order_status = 'payment_failed' THEN
        UPDATE orders o SET status = 'pending_payment', updated_at = p_now WHERE o.id = order_ref;
        INSERT INTO order_transitions (order_id, from_status, to_status, at, reason)
        VALUES (order_ref, 'payment_failed', 'pending_payment', p_now, 'payment retried');
    ELSIF order_status = 'pending_payment' THEN
        IF EXISTS (SELECT 1 FROM payment_attempts a WHERE a.order_id = order_ref
                   AND a.status IN ('started', 'unknown', 'authorized')) THEN
            outcome := 'payment_in_progress';
            RETURN;
        END IF;
    ELSIF order_status = 'expired' THEN
        outcome := 'order_expired';
        RETURN;
    ELSE
        outcome := 'already_paid';
        RETURN;
    END IF;
    INSERT INTO payment_attempts (id, order_id, provider, status, amount, currency, created_at, updated_at)
    VALUES (p_attempt, order_ref, p_provider, 'started', amount, currency_code, p_now, p_now);
    outcome := 'started';
END
$$;

-- Outcomes: confirmed, no_attempt, order_expired (the order already was), already_paid,
-- tickets_taken (a kept outcome: the order and the hold are marked expired).
CREATE FUNCTION marquee_confirm_payment(
    p_attempt TEXT, p_reference TEXT, p_now BIGINT,
    p_message_id TEXT, p_message_kind TEXT, p_recipient TEXT, p_subject TEXT, p_body TEXT,
    OUT outcome TEXT, OUT order_ref TEXT
)
LANGUAGE plpgsql AS $$
DECLARE
    hold TEXT;
    status_now TEXT;
    still_ours BOOLEAN;
    sold TEXT[];
    showtime TEXT;
BEGIN
    SELECT a.order_id, o.hold_id INTO order_ref, hold
      FROM payment_attempts a JOIN orders o ON o.id = a.order_id WHERE a.id = p_attempt;
    IF NOT FOUND THEN
        outcome := 'no_attempt';
        RETURN;
    END IF;
    SELECT o.status INTO status_now FROM orders o WHERE o.id = order_ref FOR UPDATE;
    IF status_now = 'payment_failed' THEN
        -- A late answer for an attempt given up on: pay with it after all.
        UPDATE orders o SET status = 'pending_payment', updated_at = p_now WHERE o.id = order_ref;
        INSERT INTO order_transitions (order_id, from_status, to_status, at, reason)
        VALUES (order_ref, 'payment_failed', 'pending_payment', p_now, 'late authorization');
    ELSIF status_now = 'expired' THEN
        outcome := 'order_expired';
        RETURN;
    ELSIF status_now <> 'pending_payment' THEN
        outcome := 'already_paid';
        RETURN;
    END IF;
    -- Lock the hold's tickets and check that every one is still ours.
    SELECT COUNT(*) > 0 AND COALESCE(bool_and(l.status = 'held' AND l.hold_id IS NOT DISTINCT FROM hold), false)
      INTO still_ours
      FROM (SELECT t.status, t.hold_id FROM tickets t JOIN hold_items hi ON hi.ticket_id = t.id
             WHERE hi.hold_id = hold ORDER BY t.id FOR UPDATE OF t) l;
    IF NOT still_ours THEN
        UPDATE orders o SET status = 'expired', updated_at = p_now WHERE o.id = order_ref;
        INSERT INTO order_transitions (order_id, from_status, to_status, at, reason)
        VALUES (order_ref, 'pending_payment', 'expired', p_now, 'tickets taken after the hold expired');
        UPDATE holds h SET status = 'expired' WHERE h.id = hold AND h.status = 'active';
        outcome := 'tickets_taken';
        RETURN;
    END IF;
    WITH took AS (
        UPDATE tickets t SET status = 'sold', order_id = order_ref,
               hold_expires_at = NULL, checked_in_at = NULL
         WHERE t.hold_id = hold AND t.status = 'held'
           AND t.id IN (SELECT hi.ticket_id FROM hold_items hi WHERE hi.hold_id = hold)
        RETURNING t.id, t.showtime_id)
    SELECT array_agg(id ORDER BY id), MIN(showtime_id) INTO sold, showtime FROM took;
    IF sold IS NOT NULL THEN
        INSERT INTO inventory_events (showtime_id, kind, ticket_ids, at)
        VALUES (showtime, 'sold', array_to_string(sold, ' '), p_now);
    END IF;
    -- Driven by the hold's items (a primary-key range), not by a scan for the order id.
    INSERT INTO order_items (order_id, ticket_id, price_amount, live)
    SELECT order_ref, t.id, t.price_amount, 1
      FROM hold_items hi JOIN tickets t ON t.id = hi.ticket_id
     WHERE hi.hold_id = hold AND t.order_id = order_ref;
    UPDATE orders o SET status = 'confirmed', updated_at = p_now, payment_reference = p_reference
     WHERE o.id = order_ref;
    INSERT INTO order_transitions (order_id, from_status, to_status, at, reason)
    VALUES (order_ref, 'pending_payment', 'confirmed', p_now, 'payment authorized');
    UPDATE holds h SET status = 'purchased', order_id = order_ref WHERE h.id = hold;
    UPDATE payment_attempts a SET status = 'authorized', reference = p_reference, updated_at = p_now
     WHERE a.id = p_attempt;
    INSERT INTO outbox (id, kind, recipient, subject, body, created_at, attempts, next_attempt_at)
    VALUES (p_message_id, p_message_kind, p_recipient, p_subject, p_body, p_now, 0, p_now);
    outcome := 'confirmed';
END
$$;
