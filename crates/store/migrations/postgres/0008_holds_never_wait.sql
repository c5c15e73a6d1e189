-- A hold never waits for a place another transaction is taking: the places it wants are
-- locked `SKIP LOCKED`, chosen seats as well as best-available places, and a place someone
-- else has locked reads as taken at that moment. This is what lets several commit pipelines
-- (on one node or many) run batches side by side: a batch keeps every row lock its commands
-- took until its COMMIT, so a hold that waited on a seat of another batch waited for that
-- batch whole, and two batches that each wanted a seat of the other ended in the deadlock
-- detector. A place locked by a command that then rolls back is free again for the next
-- hold; the buyer told "taken" sees it come back on the live seat map.

DROP FUNCTION marquee_pick_places(TEXT, TEXT, BOOLEAN, INTEGER, BIGINT, BOOLEAN);

-- Up to `p_wanted` takeable places of one section, by position, locked, skipping the ones
-- other transactions hold locks on. Free places first, then places of holds that expired but
-- were not swept yet (each one ordered range of tickets_by_section), then — for a place the
-- sweeper freed while the two ranges ran — one pass over both states at once. Best available
-- never takes an accessible seat (a category naming access or wheelchairs, the same rule as
-- the seat map's `isAccessible` in admin-layout.js) in a seated section: those are left for
-- the people who need them, who pick them by id.
CREATE FUNCTION marquee_pick_places(
    p_section TEXT, p_showtime TEXT, p_seated BOOLEAN, p_wanted INTEGER, p_now BIGINT
) RETURNS TEXT[]
LANGUAGE plpgsql AS $$
DECLARE
    picked TEXT[] := '{}';
    state TEXT;
BEGIN
    FOREACH state IN ARRAY ARRAY['available', 'held'] LOOP
        EXIT WHEN cardinality(picked) >= p_wanted;
        picked := picked || ARRAY(
            SELECT id FROM tickets
             WHERE section_id = p_section AND showtime_id = p_showtime AND status = state
               AND (state = 'available' OR hold_expires_at <= p_now)
               AND (NOT p_seated OR (category NOT LIKE '%access%' AND category NOT LIKE '%wheel%'))
             ORDER BY position LIMIT p_wanted - cardinality(picked) FOR UPDATE SKIP LOCKED);
    END LOOP;
    IF cardinality(picked) < p_wanted THEN
        picked := ARRAY(
            SELECT t.id FROM tickets t
             WHERE t.section_id = p_section AND t.showtime_id = p_showtime
               AND (t.status = 'available' OR (t.status = 'held' AND t.hold_expires_at <= p_now))
               AND (NOT p_seated OR (t.category NOT LIKE '%access%' AND t.category NOT LIKE '%wheel%'))
             ORDER BY t.position LIMIT p_wanted FOR UPDATE SKIP LOCKED);
    END IF;
    RETURN picked;
END
$$;

-- Outcomes: held (places = the held tickets, sorted), no_showtime, not_on_sale,
-- admission_required, unknown_tickets (places = the unknown ones), no_section, not_enough
-- (available = how many could be had at that moment), hold_limit, unavailable (places = the
-- ones someone else has, or is taking).
-- The hold answers with its tickets: one row per held ticket (with the outcome on each)
-- instead of the caller reading them back in a statement and round trip of its own; any other
-- outcome is one row without a ticket. The result's ticket columns are named like the tickets'
-- (the store reads them as it reads a ticket row); `#variable_conflict use_column` makes a
-- name in the body's statements mean the table's column.
DROP FUNCTION marquee_create_hold(TEXT, TEXT, TEXT, BOOLEAN, BIGINT, TEXT[], TEXT, INTEGER, BIGINT, BIGINT);

CREATE FUNCTION marquee_create_hold(
    p_hold TEXT, p_user TEXT, p_showtime TEXT, p_admitted BOOLEAN, p_max_held BIGINT,
    p_tickets TEXT[], p_section TEXT, p_quantity INTEGER, p_now BIGINT, p_expires_at BIGINT
) RETURNS TABLE (
    outcome TEXT, places TEXT[], available BIGINT,
    id TEXT, showtime_id TEXT, section_id TEXT, section_name TEXT, row_label TEXT, number BIGINT,
    label TEXT, category TEXT, price_amount BIGINT, row_index BIGINT, column_index BIGINT,
    status TEXT, hold_expires_at BIGINT, currency TEXT
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    sale RECORD;
    held_already BIGINT;
    picked_section TEXT;
    seated BOOLEAN;
    known TEXT[];
    taken TEXT[];
BEGIN
    SELECT s.on_sale_from, s.on_sale_until, s.cancelled_at,
           EXISTS (SELECT 1 FROM waiting_rooms w WHERE w.showtime_id = s.id) AS queued
      INTO sale FROM showtimes s WHERE s.id = p_showtime;
    IF NOT FOUND THEN
        outcome := 'no_showtime';
        RETURN NEXT;
        RETURN;
    END IF;
    IF NOT (sale.on_sale_from <= p_now AND p_now < sale.on_sale_until) OR sale.cancelled_at IS NOT NULL THEN
        outcome := 'not_on_sale';
        RETURN NEXT;
        RETURN;
    END IF;
    IF sale.queued AND NOT p_admitted THEN
        outcome := 'admission_required';
        RETURN NEXT;
        RETURN;
    END IF;
    -- One user's holds are taken one at a time (the user row is the lock), so the per-user cap
    -- below cannot be raced past. The one wait a hold may have: on the same user's command in
    -- another batch (a node sends one user's commands to one pipeline, so only across nodes).
    PERFORM 1 FROM users WHERE id = p_user FOR UPDATE;
    -- The places of the user's live holds of this showtime (see migration 0006).
    SELECT COUNT(*) INTO held_already FROM holds h JOIN hold_items hi ON hi.hold_id = h.id
     WHERE h.user_id = p_user AND h.showtime_id = p_showtime
       AND h.status = 'active' AND h.expires_at > p_now;

    IF p_tickets IS NOT NULL THEN
        known := ARRAY(SELECT t.id FROM tickets t WHERE t.showtime_id = p_showtime
                           AND t.id = ANY (p_tickets));
        IF cardinality(known) < cardinality(p_tickets) THEN
            outcome := 'unknown_tickets';
            places := ARRAY(SELECT x FROM unnest(p_tickets) x WHERE x <> ALL (known) ORDER BY x);
            RETURN NEXT;
            RETURN;
        END IF;
        places := ARRAY(SELECT t.id FROM tickets t WHERE t.id = ANY (known)
                          ORDER BY t.id FOR UPDATE SKIP LOCKED);
        IF cardinality(places) < cardinality(known) THEN
            outcome := 'unavailable';
            places := ARRAY(SELECT x FROM unnest(known) x WHERE x <> ALL (places) ORDER BY x);
            RETURN NEXT;
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
            RETURN NEXT;
            RETURN;
        END IF;
        places := marquee_pick_places(picked_section, p_showtime, seated, p_quantity, p_now);
        IF cardinality(places) < p_quantity THEN
            outcome := 'not_enough';
            available := cardinality(places);
            RETURN NEXT;
            RETURN;
        END IF;
        places := ARRAY(SELECT x FROM unnest(places) x ORDER BY x);
    END IF;

    IF held_already + cardinality(places) > p_max_held THEN
        outcome := 'hold_limit';
        RETURN NEXT;
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
        RETURN NEXT;
        RETURN;
    END IF;
    INSERT INTO holds (id, user_id, showtime_id, status, created_at, expires_at)
    VALUES (p_hold, p_user, p_showtime, 'active', p_now, p_expires_at);
    INSERT INTO hold_items (hold_id, ticket_id) SELECT p_hold, x FROM unnest(places) x;
    INSERT INTO inventory_events (showtime_id, kind, ticket_ids, at)
    VALUES (p_showtime, 'held', array_to_string(places, ' '), p_now);
    -- The answer: the held tickets as written (a statement of its own sees this command's writes).
    RETURN QUERY
        SELECT 'held'::TEXT, places, NULL::BIGINT, t.id, t.showtime_id, t.section_id, t.section_name,
               t.row_label, t.number, t.label, t.category, t.price_amount, t.row_index, t.column_index,
               t.status, t.hold_expires_at, sh.currency
          FROM tickets t JOIN showtimes sh ON sh.id = t.showtime_id
         WHERE t.id = ANY (places) ORDER BY t.position;
END
$$;
