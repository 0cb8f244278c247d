-- +goose Up
-- The "gated" inventory strategy: reservations the Redis stock gate
-- (internal/stockgate) has admitted.
--
-- A gated SKU is split over inventory buckets when it is armed, so buyers
-- admitted by the gate take units from different rows (FOR UPDATE SKIP
-- LOCKED on a random bucket that has them) instead of queueing on one hot
-- row. inventory_reserve(p_strategy => 'gated') is the bucketed reserve
-- without the availability pre-check: the gate already said the units are
-- there, so the lock-free read of inventory_levels (a sum over every bucket
-- of the SKU) is skipped. The take itself is the bucketed one, with every
-- CHECK constraint and the spreading fallback: a gate that lies (too high)
-- gets 'out of stock' from the rows, never an oversell; one that is too low
-- only refuses buyers the sync step then lets back in.
--
-- reservations.bucket and the audit detail keep the strategy as before
-- ('gated' in the audit detail). For every strategy, the check that each
-- line's SKU is in the catalog and has an inventory row now reads the
-- inventory row instead of inventory_levels, whose sum over a split SKU's
-- buckets it never used.
--
-- inventory_gate lists the SKUs an admin armed in the gate: the sync step
-- (sweeper) re-arms them after Redis comes back empty and repairs any
-- difference between the gate and these rows.
CREATE TABLE inventory_gate (
    sku      text PRIMARY KEY REFERENCES inventory (sku),
    armed_at timestamptz NOT NULL DEFAULT now(),
    armed_by text NOT NULL
);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION inventory_reserve(
    p_checkout uuid, p_skus text[], p_qtys integer[], p_expires timestamptz, p_now timestamptz,
    p_strategy text, p_actor text, p_expires_json text, p_lock_timeout text,
    OUT o_status text, OUT o_sku text, OUT o_requested integer, OUT o_available integer, OUT o_idx integer,
    OUT o_expires timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n integer := cardinality(p_skus);
    conclusive boolean;
    co_exists boolean;
    has_res boolean;
    existing integer;
    inserted integer;
    took integer;
    sorted_skus text[];
    sorted_qtys integer[];
    sorted_buckets integer[];
    took_buckets integer[] := '{}';
    i integer;
    same boolean;
    first_exp timestamptz;
    avail integer;
    take_strategy text := CASE WHEN p_strategy = 'gated' THEN 'bucketed' ELSE p_strategy END;
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout, true);

    -- 1. The sold-out fast path: one lock-free snapshot read. A refusal here
    --    writes nothing, so the transaction commits without a WAL flush.
    co_exists := EXISTS (SELECT 1 FROM checkouts c WHERE c.id = p_checkout);
    has_res := EXISTS (SELECT 1 FROM reservations x WHERE x.checkout_id = p_checkout);
    o_status := NULL;
    FOR r IN
        SELECT u.sku AS s, u.qty AS q, (u.ord - 1)::integer AS o, p.sku IS NOT NULL AS known,
               i.sku IS NOT NULL AS stocked
        FROM unnest(p_skus, p_qtys) WITH ORDINALITY AS u(sku, qty, ord)
        LEFT JOIN products p ON p.sku = u.sku
        LEFT JOIN inventory i ON i.sku = u.sku -- not inventory_levels: no sum over the buckets here
        ORDER BY u.ord
    LOOP
        -- In the caller's order, the first SKU that is not in the catalog is
        -- Invalid and the first without an inventory row is out of stock,
        -- whatever the checkout holds (products and inventory rows are never
        -- deleted, so no lock is needed to say so).
        IF NOT r.known THEN
            o_status := 'invalid_sku'; o_idx := r.o; o_sku := r.s;
            RETURN;
        END IF;
        IF NOT r.stocked THEN
            o_status := 'out_of_stock'; o_sku := r.s; o_requested := r.q; o_available := 0;
            RETURN;
        END IF;
    END LOOP;
    conclusive := co_exists AND NOT has_res;
    -- 'gated': the Redis stock gate admitted these lines already; the take
    -- below still refuses what the rows do not have.
    IF conclusive AND p_strategy <> 'gated' THEN
        SELECT u.sku, u.qty, coalesce(l.available, 0) AS avail INTO r
        FROM unnest(p_skus, p_qtys) AS u(sku, qty)
        LEFT JOIN inventory_levels l ON l.sku = u.sku
        WHERE coalesce(l.available, 0) < u.qty
        ORDER BY u.sku COLLATE "C" LIMIT 1;
        IF FOUND THEN
            o_status := 'out_of_stock'; o_sku := r.sku; o_requested := r.qty; o_available := greatest(r.avail, 0);
            RETURN;
        END IF;
    END IF;

    -- 2. The locked path. Reserve and Release of one checkout are serialised.
    PERFORM pg_advisory_xact_lock(1768846848, hashtext(p_checkout::text)); -- 0x696e7600 "inv\0"

    SELECT array_agg(u.sku ORDER BY u.sku COLLATE "C"), array_agg(u.qty ORDER BY u.sku COLLATE "C"),
           array_agg(coalesce(inv.buckets, 1)::integer ORDER BY u.sku COLLATE "C")
    INTO sorted_skus, sorted_qtys, sorted_buckets
    FROM unnest(p_skus, p_qtys) AS u(sku, qty) LEFT JOIN inventory inv ON inv.sku = u.sku;

    -- Under the advisory lock (every Reserve takes it), the checkout's
    -- reservation rows are stable: replay when there are any.
    IF NOT co_exists AND NOT EXISTS (SELECT 1 FROM checkouts c WHERE c.id = p_checkout) THEN
        RAISE EXCEPTION 'insert on table "reservations": checkout % does not exist', p_checkout
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'reservations_checkout_id_fkey';
    END IF;
    SELECT count(*) INTO existing FROM reservations x WHERE x.checkout_id = p_checkout;
    inserted := n;
    IF existing > 0 THEN
        -- Replay: compare with what the checkout holds.
        same := true;
        i := 0;
        first_exp := NULL;
        FOR r IN
            SELECT x.sku AS s, x.quantity AS q, x.status AS st, coalesce(x.release_reason, '') AS reason, x.expires_at AS exp
            FROM reservations x WHERE x.checkout_id = p_checkout ORDER BY x.sku COLLATE "C"
        LOOP
            i := i + 1;
            IF i > n OR r.s <> sorted_skus[i] OR r.q <> sorted_qtys[i] THEN
                same := false;
            END IF;
            IF first_exp IS NULL THEN
                first_exp := r.exp;
            END IF;
        END LOOP;
        IF i = 0 THEN
            RAISE EXCEPTION 'reservation rows of checkout % disappeared', p_checkout;
        END IF;
        IF NOT same OR i <> n THEN
            RAISE EXCEPTION 'checkout % already holds a reservation with other lines', p_checkout
                USING ERRCODE = 'IV002';
        END IF;
        FOR r IN
            SELECT x.status AS st, coalesce(x.release_reason, '') AS reason, x.expires_at AS exp
            FROM reservations x WHERE x.checkout_id = p_checkout ORDER BY x.sku COLLATE "C"
        LOOP
            IF r.st = 'released' THEN
                RAISE EXCEPTION 'the reservation of checkout % was already released (%)', p_checkout, r.reason
                    USING ERRCODE = 'IV003';
            ELSIF r.st = 'committed' THEN
                RAISE EXCEPTION 'the reservation of checkout % was already committed', p_checkout
                    USING ERRCODE = 'IV004';
            ELSIF r.exp <= p_now THEN
                RAISE EXCEPTION 'the reservation of checkout % expired', p_checkout
                    USING ERRCODE = 'IV005', DETAIL = json_build_object('expires_at', r.exp)::text;
            END IF;
        END LOOP;
        o_status := 'replay'; o_expires := first_exp;
        RETURN;
    END IF;

    -- The audit rows go in before the stock is taken, so the hot rows stay
    -- locked for as short a time as possible.
    INSERT INTO audit_log (actor, action, checkout_id, sku, quantity, detail)
    SELECT p_actor, 'reserve', p_checkout, u.sku, u.qty,
           jsonb_build_object('strategy', p_strategy, 'expires_at', p_expires_json)
    FROM unnest(sorted_skus, sorted_qtys) AS u(sku, qty);

    FOR i IN 1 .. n LOOP
        SELECT t.o_bucket, t.o_available INTO took, avail
        FROM inventory_take(take_strategy, sorted_skus[i], sorted_qtys[i], sorted_buckets[i], true) AS t;
        IF took < 0 THEN
            RAISE EXCEPTION 'not enough stock for SKU %', sorted_skus[i] USING ERRCODE = 'IV001',
                DETAIL = json_build_object('sku', sorted_skus[i], 'requested', sorted_qtys[i],
                                           'available', greatest(avail, 0))::text;
        END IF;
        took_buckets[i] := took;
    END LOOP;

    -- The reservation rows, with the bucket that holds their units.
    INSERT INTO reservations (checkout_id, sku, quantity, expires_at, bucket)
    SELECT p_checkout, u.sku, u.qty, p_expires, u.bucket
    FROM unnest(sorted_skus, sorted_qtys, took_buckets) AS u(sku, qty, bucket)
    ON CONFLICT (checkout_id, sku) DO NOTHING;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    IF inserted <> n THEN
        -- Only if rows were written without the advisory lock: start over,
        -- the retry replays.
        RAISE EXCEPTION 'inventory: reservation rows of checkout % appeared meanwhile', p_checkout
            USING ERRCODE = 'serialization_failure';
    END IF;
    o_status := 'ok'; o_expires := p_expires;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE inventory_gate;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION inventory_reserve(
    p_checkout uuid, p_skus text[], p_qtys integer[], p_expires timestamptz, p_now timestamptz,
    p_strategy text, p_actor text, p_expires_json text, p_lock_timeout text,
    OUT o_status text, OUT o_sku text, OUT o_requested integer, OUT o_available integer, OUT o_idx integer,
    OUT o_expires timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n integer := cardinality(p_skus);
    conclusive boolean;
    co_exists boolean;
    has_res boolean;
    existing integer;
    inserted integer;
    took integer;
    sorted_skus text[];
    sorted_qtys integer[];
    sorted_buckets integer[];
    took_buckets integer[] := '{}';
    i integer;
    same boolean;
    first_exp timestamptz;
    avail integer;
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout, true);

    -- 1. The sold-out fast path: one lock-free snapshot read. A refusal here
    --    writes nothing, so the transaction commits without a WAL flush.
    co_exists := EXISTS (SELECT 1 FROM checkouts c WHERE c.id = p_checkout);
    has_res := EXISTS (SELECT 1 FROM reservations x WHERE x.checkout_id = p_checkout);
    o_status := NULL;
    FOR r IN
        SELECT u.sku AS s, u.qty AS q, (u.ord - 1)::integer AS o, p.sku IS NOT NULL AS known,
               l.sku IS NOT NULL AS stocked, coalesce(l.available, 0) AS avail, coalesce(l.buckets, 1)::integer AS nb
        FROM unnest(p_skus, p_qtys) WITH ORDINALITY AS u(sku, qty, ord)
        LEFT JOIN products p ON p.sku = u.sku
        LEFT JOIN inventory_levels l ON l.sku = u.sku
        ORDER BY u.ord
    LOOP
        -- In the caller's order, the first SKU that is not in the catalog is
        -- Invalid and the first without an inventory row is out of stock,
        -- whatever the checkout holds (products and inventory rows are never
        -- deleted, so no lock is needed to say so).
        IF NOT r.known THEN
            o_status := 'invalid_sku'; o_idx := r.o; o_sku := r.s;
            RETURN;
        END IF;
        IF NOT r.stocked THEN
            o_status := 'out_of_stock'; o_sku := r.s; o_requested := r.q; o_available := 0;
            RETURN;
        END IF;
    END LOOP;
    conclusive := co_exists AND NOT has_res;
    IF conclusive THEN
        SELECT u.sku, u.qty, coalesce(l.available, 0) AS avail INTO r
        FROM unnest(p_skus, p_qtys) AS u(sku, qty)
        LEFT JOIN inventory_levels l ON l.sku = u.sku
        WHERE coalesce(l.available, 0) < u.qty
        ORDER BY u.sku COLLATE "C" LIMIT 1;
        IF FOUND THEN
            o_status := 'out_of_stock'; o_sku := r.sku; o_requested := r.qty; o_available := greatest(r.avail, 0);
            RETURN;
        END IF;
    END IF;

    -- 2. The locked path. Reserve and Release of one checkout are serialised.
    PERFORM pg_advisory_xact_lock(1768846848, hashtext(p_checkout::text)); -- 0x696e7600 "inv\0"

    SELECT array_agg(u.sku ORDER BY u.sku COLLATE "C"), array_agg(u.qty ORDER BY u.sku COLLATE "C"),
           array_agg(coalesce(inv.buckets, 1)::integer ORDER BY u.sku COLLATE "C")
    INTO sorted_skus, sorted_qtys, sorted_buckets
    FROM unnest(p_skus, p_qtys) AS u(sku, qty) LEFT JOIN inventory inv ON inv.sku = u.sku;

    -- Under the advisory lock (every Reserve takes it), the checkout's
    -- reservation rows are stable: replay when there are any.
    IF NOT co_exists AND NOT EXISTS (SELECT 1 FROM checkouts c WHERE c.id = p_checkout) THEN
        RAISE EXCEPTION 'insert on table "reservations": checkout % does not exist', p_checkout
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'reservations_checkout_id_fkey';
    END IF;
    SELECT count(*) INTO existing FROM reservations x WHERE x.checkout_id = p_checkout;
    inserted := n;
    IF existing > 0 THEN
        -- Replay: compare with what the checkout holds.
        same := true;
        i := 0;
        first_exp := NULL;
        FOR r IN
            SELECT x.sku AS s, x.quantity AS q, x.status AS st, coalesce(x.release_reason, '') AS reason, x.expires_at AS exp
            FROM reservations x WHERE x.checkout_id = p_checkout ORDER BY x.sku COLLATE "C"
        LOOP
            i := i + 1;
            IF i > n OR r.s <> sorted_skus[i] OR r.q <> sorted_qtys[i] THEN
                same := false;
            END IF;
            IF first_exp IS NULL THEN
                first_exp := r.exp;
            END IF;
        END LOOP;
        IF i = 0 THEN
            RAISE EXCEPTION 'reservation rows of checkout % disappeared', p_checkout;
        END IF;
        IF NOT same OR i <> n THEN
            RAISE EXCEPTION 'checkout % already holds a reservation with other lines', p_checkout
                USING ERRCODE = 'IV002';
        END IF;
        FOR r IN
            SELECT x.status AS st, coalesce(x.release_reason, '') AS reason, x.expires_at AS exp
            FROM reservations x WHERE x.checkout_id = p_checkout ORDER BY x.sku COLLATE "C"
        LOOP
            IF r.st = 'released' THEN
                RAISE EXCEPTION 'the reservation of checkout % was already released (%)', p_checkout, r.reason
                    USING ERRCODE = 'IV003';
            ELSIF r.st = 'committed' THEN
                RAISE EXCEPTION 'the reservation of checkout % was already committed', p_checkout
                    USING ERRCODE = 'IV004';
            ELSIF r.exp <= p_now THEN
                RAISE EXCEPTION 'the reservation of checkout % expired', p_checkout
                    USING ERRCODE = 'IV005', DETAIL = json_build_object('expires_at', r.exp)::text;
            END IF;
        END LOOP;
        o_status := 'replay'; o_expires := first_exp;
        RETURN;
    END IF;

    -- The audit rows go in before the stock is taken, so the hot rows stay
    -- locked for as short a time as possible.
    INSERT INTO audit_log (actor, action, checkout_id, sku, quantity, detail)
    SELECT p_actor, 'reserve', p_checkout, u.sku, u.qty,
           jsonb_build_object('strategy', p_strategy, 'expires_at', p_expires_json)
    FROM unnest(sorted_skus, sorted_qtys) AS u(sku, qty);

    FOR i IN 1 .. n LOOP
        SELECT t.o_bucket, t.o_available INTO took, avail
        FROM inventory_take(p_strategy, sorted_skus[i], sorted_qtys[i], sorted_buckets[i], true) AS t;
        IF took < 0 THEN
            RAISE EXCEPTION 'not enough stock for SKU %', sorted_skus[i] USING ERRCODE = 'IV001',
                DETAIL = json_build_object('sku', sorted_skus[i], 'requested', sorted_qtys[i],
                                           'available', greatest(avail, 0))::text;
        END IF;
        took_buckets[i] := took;
    END LOOP;

    -- The reservation rows, with the bucket that holds their units.
    INSERT INTO reservations (checkout_id, sku, quantity, expires_at, bucket)
    SELECT p_checkout, u.sku, u.qty, p_expires, u.bucket
    FROM unnest(sorted_skus, sorted_qtys, took_buckets) AS u(sku, qty, bucket)
    ON CONFLICT (checkout_id, sku) DO NOTHING;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    IF inserted <> n THEN
        -- Only if rows were written without the advisory lock: start over,
        -- the retry replays.
        RAISE EXCEPTION 'inventory: reservation rows of checkout % appeared meanwhile', p_checkout
            USING ERRCODE = 'serialization_failure';
    END IF;
    o_status := 'ok'; o_expires := p_expires;
END;
$$;
-- +goose StatementEnd
