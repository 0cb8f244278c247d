-- +goose Up
-- One round trip per reservation, and notifications for the sold-out cache.
--
-- inventory_reserve() does the whole reserve of one checkout on the server
-- (the Go Store calls it for the bucketed and conditional strategies, in one
-- implicit transaction): the lock-free sold-out check, the checkout's advisory
-- lock, the reservation rows (idempotent per checkout), the audit rows and the
-- take of every line in SKU order. It answers with one row:
--
--   o_status 'ok'           reserved now; o_expires is p_expires.
--   o_status 'replay'       the checkout already holds exactly these lines,
--                         unexpired and still reserved; o_expires is theirs.
--   o_status 'out_of_stock' nothing was written: o_sku, o_requested, o_available of
--                         the first line that cannot be held (a catalog SKU
--                         without an inventory row first, in the caller's
--                         order, then the first short line in SKU order).
--   o_status 'invalid_sku'  line number o_idx (0-based, caller's order) names a
--                         SKU that is not in the catalog; nothing was written.
--
-- Every other outcome RAISEs, so the implicit transaction rolls back and
-- nothing is left behind; the SQLSTATE says which (DETAIL carries JSON):
--   IV001 out of stock found while taking ({"sku","requested","available"})
--   IV002 reservation_mismatch, IV003 reservation_released,
--   IV004 reservation_committed, IV005 reservation_expired ({"expires_at"})
--   23503 with constraint reservations_checkout_id_fkey: no such checkout.
-- Lock and serialization errors (55P03, 40P01, 40001, 57014) pass through.
--
-- Lock order is the package's: one line after the other in SKU order (byte
-- order, COLLATE "C"); within a split SKU at most one bucket is held while
-- waiting (each attempt runs in a subtransaction that is rolled back when it
-- did not take, which drops any row lock it took), and the spreading
-- fallback locks the inventory row, then the buckets in ascending order.

-- +goose StatementBegin
CREATE FUNCTION inventory_take_spreading(p_sku text, p_qty integer, OUT o_bucket integer, OUT o_available integer)
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    main_on integer;
    main_res integer;
    avail integer;
    len integer;
    per integer;
    rem integer;
    off integer;
    target integer;
BEGIN
    -- A plain read first: when the SKU as a whole lacks the units, say so
    -- without locking every row of it.
    SELECT l.available INTO avail FROM inventory_levels l WHERE l.sku = p_sku;
    IF NOT FOUND THEN
        o_bucket := -1; o_available := 0; RETURN;
    END IF;
    IF avail < p_qty THEN
        o_bucket := -1; o_available := avail; RETURN;
    END IF;
    SELECT i.on_hand, i.reserved, i.buckets INTO main_on, main_res, n
    FROM inventory i WHERE i.sku = p_sku FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        o_bucket := -1; o_available := 0; RETURN;
    END IF;
    PERFORM 1 FROM inventory_buckets b WHERE b.sku = p_sku ORDER BY b.bucket FOR UPDATE;
    SELECT main_on - main_res + coalesce(sum(b.on_hand - b.reserved), 0)::integer INTO avail
    FROM inventory_buckets b WHERE b.sku = p_sku;
    IF avail < p_qty THEN
        o_bucket := -1; o_available := avail; RETURN;
    END IF;
    -- Spread the available units evenly again over the SKU's n buckets (the
    -- inventory row when n = 1), the line's units in a random one of them.
    len := greatest(n, 1);
    IF n > 1 THEN
        target := 1 + floor(random() * n)::integer;
    ELSE
        target := 0;
    END IF;
    per := (avail - p_qty) / len;
    rem := (avail - p_qty) % len;
    off := floor(random() * len)::integer;
    IF n > 1 THEN
        UPDATE inventory SET on_hand = reserved, buckets = n, version = version + 1, updated_at = now()
        WHERE sku = p_sku;
        INSERT INTO inventory_buckets AS x (sku, bucket, on_hand, reserved)
        SELECT p_sku, g.b,
               coalesce(c.reserved, 0)
                 + CASE WHEN g.b <= n THEN per + CASE WHEN ((g.b - 1 - off + len) % len) < rem THEN 1 ELSE 0 END ELSE 0 END
                 + CASE WHEN g.b = target THEN p_qty ELSE 0 END,
               coalesce(c.reserved, 0) + CASE WHEN g.b = target THEN p_qty ELSE 0 END
        FROM (SELECT generate_series(1, n) AS b UNION SELECT bucket FROM inventory_buckets WHERE sku = p_sku) g
        LEFT JOIN inventory_buckets c ON c.sku = p_sku AND c.bucket = g.b
        ORDER BY g.b
        ON CONFLICT (sku, bucket) DO UPDATE SET on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved, updated_at = now()
        WHERE (x.on_hand, x.reserved) IS DISTINCT FROM (EXCLUDED.on_hand, EXCLUDED.reserved);
    ELSE
        UPDATE inventory SET on_hand = reserved + per + CASE WHEN rem > 0 THEN 1 ELSE 0 END + p_qty,
            reserved = reserved + p_qty, version = version + 1, updated_at = now()
        WHERE sku = p_sku;
        UPDATE inventory_buckets SET on_hand = reserved, updated_at = now()
        WHERE sku = p_sku AND on_hand <> reserved;
    END IF;
    o_bucket := target;
    o_available := avail;
END;
$$;
-- +goose StatementEnd

-- inventory_take takes p_qty units of p_sku in the caller's transaction and
-- returns the row that holds them (0: the inventory row, 1..64: a bucket),
-- or o_bucket = -1 and the units available when there are not enough
-- (nothing written, no lock kept except by the spreading step's locks). The
-- bucketed strategy on a SKU split over p_buckets > 1 buckets takes, each
-- step only when the one before could not:
--   1. a random bucket with the units that nobody holds (FOR UPDATE SKIP
--      LOCKED; no subtransaction: this step takes almost every line). If it
--      locked a bucket that ran dry after its snapshot, that lock cannot be
--      dropped without rolling back, and waiting for another bucket while
--      holding it could deadlock: it raises 40001 and the caller starts
--      over;
--   2. waiting for one random bucket that has the units, holding nothing else
--      of the SKU (each attempt in a subtransaction, rolled back when it did
--      not take, which drops its row locks), up to 4 buckets;
--   3. inventory_take_spreading: lock all of the SKU's rows and spread the
--      units again (this is what guarantees no undersell).
-- With p_wait false (a batch, which may already hold other buckets of the
-- SKU) it stops after step 1 with o_bucket = -2: the line must be run alone.
-- Otherwise (conditional, or not split) one conditional UPDATE of the
-- inventory row; for bucketed, step 3 when it fails (units may sit in old
-- buckets).
-- +goose StatementBegin
CREATE FUNCTION inventory_take(p_strategy text, p_sku text, p_qty integer, p_buckets integer, p_wait boolean,
    OUT o_bucket integer, OUT o_available integer)
LANGUAGE plpgsql AS $$
DECLARE
    took integer;
    candidates integer;
    attempt integer;
BEGIN
    o_available := NULL;
    IF p_strategy = 'bucketed' AND p_buckets > 1 THEN
        WITH pick AS (
            SELECT b.bucket FROM inventory_buckets b
            WHERE b.sku = p_sku AND b.on_hand - b.reserved >= p_qty
            ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED
        )
        UPDATE inventory_buckets b SET reserved = b.reserved + p_qty, updated_at = now()
        FROM pick WHERE b.sku = p_sku AND b.bucket = pick.bucket AND b.on_hand - b.reserved >= p_qty
        RETURNING b.bucket INTO took;
        IF took IS NOT NULL THEN
            o_bucket := took;
            RETURN;
        END IF;
        IF NOT p_wait THEN
            o_bucket := -2; -- would have to wait
            RETURN;
        END IF;
        IF EXISTS (SELECT 1 FROM inventory_buckets b WHERE b.sku = p_sku AND b.xmax = pg_current_xact_id()::xid) THEN
            RAISE EXCEPTION 'inventory: stray bucket lock on %, retry', p_sku USING ERRCODE = 'serialization_failure';
        END IF;
        attempt := 0;
        WHILE took IS NULL AND attempt < 4 LOOP
            attempt := attempt + 1;
            candidates := 0;
            BEGIN
                WITH pick AS (
                    SELECT b.bucket FROM inventory_buckets b
                    WHERE b.sku = p_sku AND b.on_hand - b.reserved >= p_qty
                    ORDER BY random() LIMIT 1
                ), upd AS (
                    UPDATE inventory_buckets b SET reserved = b.reserved + p_qty, updated_at = now()
                    FROM pick WHERE b.sku = p_sku AND b.bucket = pick.bucket AND b.on_hand - b.reserved >= p_qty
                    RETURNING b.bucket
                )
                SELECT (SELECT count(*) FROM pick), (SELECT bucket FROM upd) INTO candidates, took;
                IF took IS NULL THEN
                    RAISE EXCEPTION USING ERRCODE = 'IV0R0';
                END IF;
            EXCEPTION WHEN SQLSTATE 'IV0R0' THEN
                took := NULL;
            END;
            EXIT WHEN candidates = 0;
        END LOOP;
        IF took IS NOT NULL THEN
            o_bucket := took;
            RETURN;
        END IF;
    ELSE
        UPDATE inventory SET reserved = reserved + p_qty, version = version + 1, updated_at = now()
        WHERE sku = p_sku AND on_hand - reserved >= p_qty;
        IF FOUND THEN
            o_bucket := 0;
            RETURN;
        END IF;
        IF p_strategy <> 'bucketed' THEN
            o_bucket := -1;
            o_available := greatest(coalesce((SELECT x.on_hand - x.reserved FROM inventory x WHERE x.sku = p_sku), 0), 0);
            RETURN;
        END IF;
    END IF;
    SELECT s.o_bucket, s.o_available INTO o_bucket, o_available FROM inventory_take_spreading(p_sku, p_qty) AS s;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION inventory_reserve(
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

-- inventory_reserve_batch reserves one line for each of several checkouts
-- in ONE transaction (the Go Store combines concurrent single-line Reserve
-- calls into it): one commit, one WAL flush and, when the units of a SKU fit
-- in one bucket, one bucket update for the whole batch. Entries must be
-- distinct checkouts, sorted by SKU (COLLATE "C") so that stock rows are
-- locked in the package's order; the checkouts' advisory locks are taken
-- first, in key order. Each entry's answer is one row (o_i is its 1-based
-- position):
--   'ok'            reserved (reservation and audit rows written);
--   'out_of_stock'  nothing written for it; o_available is what was seen;
--   'single'        anything else (no such checkout, it already holds a
--                   reservation, unknown SKU, no inventory row, or its units
--                   could only be had by waiting for a bucket): nothing was
--                   written for it, the caller runs inventory_reserve for it
--                   to get the exact answer.
-- A batch never waits for a bucket (it may hold several buckets of a SKU,
-- so waiting for one more could deadlock with another batch); it waits only
-- for inventory rows, in SKU order, like every other transaction.
-- Errors (40001 from inventory_take, lock timeouts) roll the whole batch
-- back; the caller then runs every entry alone.
-- +goose StatementBegin
CREATE FUNCTION inventory_reserve_batch(
    p_checkouts uuid[], p_skus text[], p_qtys integer[], p_expires timestamptz[], p_now timestamptz,
    p_strategy text, p_actor text, p_expires_json text[], p_lock_timeout text)
RETURNS TABLE (o_i integer, o_status text, o_available integer)
LANGUAGE plpgsql AS $$
DECLARE
    n integer := cardinality(p_checkouts);
    st text[] := array_fill('single'::text, ARRAY[n]);
    av integer[] := array_fill(0, ARRAY[n]);
    bk integer[] := array_fill(0, ARRAY[n]);
    nb integer[] := array_fill(1, ARRAY[n]);
    r record;
    i integer;
    j integer;
    total integer;
    took integer;
    avail integer;
    oks integer;
    inserted integer;
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    PERFORM pg_advisory_xact_lock(1768846848, lk.key)
    FROM (SELECT DISTINCT hashtext(c::text) AS key FROM unnest(p_checkouts) AS c ORDER BY 1) lk;

    FOR r IN
        SELECT u.i::integer AS i, u.qty,
               EXISTS (SELECT 1 FROM checkouts c WHERE c.id = u.c) AS co,
               EXISTS (SELECT 1 FROM reservations x WHERE x.checkout_id = u.c) AS held,
               p.sku IS NOT NULL AS known, l.sku IS NOT NULL AS stocked,
               coalesce(l.available, 0) AS a, coalesce(l.buckets, 1)::integer AS b
        FROM unnest(p_checkouts, p_skus, p_qtys) WITH ORDINALITY AS u(c, sku, qty, i)
        LEFT JOIN products p ON p.sku = u.sku
        LEFT JOIN (SELECT * FROM inventory_levels WHERE sku = ANY (ARRAY(SELECT DISTINCT unnest(p_skus)))) l
            ON l.sku = u.sku
    LOOP
        IF r.co AND NOT r.held AND r.known AND r.stocked THEN
            nb[r.i] := r.b;
            IF r.a < r.qty THEN
                st[r.i] := 'out_of_stock'; av[r.i] := greatest(r.a, 0);
            ELSE
                st[r.i] := 'take';
            END IF;
        END IF;
    END LOOP;

    -- Take, one SKU after the other: first all of a SKU's units at once from
    -- one row, else line by line.
    i := 1;
    WHILE i <= n LOOP
        j := i;
        total := 0;
        WHILE j <= n AND p_skus[j] = p_skus[i] LOOP
            IF st[j] = 'take' THEN
                total := total + p_qtys[j];
            END IF;
            j := j + 1;
        END LOOP;
        took := -1;
        IF total > 0 THEN
            IF p_strategy = 'bucketed' AND nb[i] > 1 THEN
                WITH pick AS (
                    SELECT b.bucket FROM inventory_buckets b
                    WHERE b.sku = p_skus[i] AND b.on_hand - b.reserved >= total
                    ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED
                )
                UPDATE inventory_buckets b SET reserved = b.reserved + total, updated_at = now()
                FROM pick WHERE b.sku = p_skus[i] AND b.bucket = pick.bucket AND b.on_hand - b.reserved >= total
                RETURNING b.bucket INTO took;
                took := coalesce(took, -1);
            ELSE
                UPDATE inventory SET reserved = reserved + total, version = version + 1, updated_at = now()
                WHERE sku = p_skus[i] AND on_hand - reserved >= total;
                IF FOUND THEN
                    took := 0;
                END IF;
            END IF;
        END IF;
        FOR k IN i .. j - 1 LOOP
            IF st[k] <> 'take' THEN
                CONTINUE;
            END IF;
            IF took >= 0 THEN
                st[k] := 'ok'; bk[k] := took;
                CONTINUE;
            END IF;
            SELECT t.o_bucket, t.o_available INTO took, avail
            FROM inventory_take(p_strategy, p_skus[k], p_qtys[k], nb[k], false) AS t;
            IF took >= 0 THEN
                st[k] := 'ok'; bk[k] := took; took := -1;
            ELSIF took = -2 THEN
                st[k] := 'single'; took := -1; -- never wait for a bucket in a batch
            ELSE
                st[k] := 'out_of_stock'; av[k] := greatest(coalesce(avail, 0), 0);
            END IF;
        END LOOP;
        i := j;
    END LOOP;

    SELECT count(*) INTO oks FROM unnest(st) AS s WHERE s = 'ok';
    IF oks > 0 THEN
        INSERT INTO audit_log (actor, action, checkout_id, sku, quantity, detail)
        SELECT p_actor, 'reserve', u.c, u.sku, u.qty, jsonb_build_object('strategy', p_strategy, 'expires_at', u.ej)
        FROM unnest(p_checkouts, p_skus, p_qtys, p_expires_json, st) AS u(c, sku, qty, ej, s)
        WHERE u.s = 'ok';
        INSERT INTO reservations (checkout_id, sku, quantity, expires_at, bucket)
        SELECT u.c, u.sku, u.qty, u.e, u.b
        FROM unnest(p_checkouts, p_skus, p_qtys, p_expires, bk, st) AS u(c, sku, qty, e, b, s)
        WHERE u.s = 'ok'
        ON CONFLICT (checkout_id, sku) DO NOTHING;
        GET DIAGNOSTICS inserted = ROW_COUNT;
        IF inserted <> oks THEN
            RAISE EXCEPTION 'inventory: reservation rows appeared meanwhile' USING ERRCODE = 'serialization_failure';
        END IF;
    END IF;
    RETURN QUERY SELECT g.i, st[g.i], av[g.i] FROM generate_series(1, n) AS g(i);
END;
$$;
-- +goose StatementEnd

-- The sold-out cache (inventory.Store.StartSoldOutCache) listens on channel
-- inventory_available: every row change that raises the available units of a
-- SKU (release, expiry, restock, rebalance, a new inventory row with stock)
-- notifies with the SKU as payload, in the changing transaction, so listeners
-- hear of it right after it commits. Taking stock never notifies (the WHEN
-- clause is false), so the hot path pays nothing.
-- +goose StatementBegin
CREATE FUNCTION inventory_notify_available() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('inventory_available', NEW.sku);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER inventory_available_up AFTER UPDATE ON inventory FOR EACH ROW
    WHEN (NEW.on_hand - NEW.reserved > OLD.on_hand - OLD.reserved)
    EXECUTE FUNCTION inventory_notify_available();
CREATE TRIGGER inventory_available_new AFTER INSERT ON inventory FOR EACH ROW
    WHEN (NEW.on_hand > NEW.reserved)
    EXECUTE FUNCTION inventory_notify_available();
CREATE TRIGGER inventory_buckets_available_up AFTER UPDATE ON inventory_buckets FOR EACH ROW
    WHEN (NEW.on_hand - NEW.reserved > OLD.on_hand - OLD.reserved)
    EXECUTE FUNCTION inventory_notify_available();
CREATE TRIGGER inventory_buckets_available_new AFTER INSERT ON inventory_buckets FOR EACH ROW
    WHEN (NEW.on_hand > NEW.reserved)
    EXECUTE FUNCTION inventory_notify_available();

-- +goose Down
DROP TRIGGER inventory_buckets_available_new ON inventory_buckets;
DROP TRIGGER inventory_buckets_available_up ON inventory_buckets;
DROP TRIGGER inventory_available_new ON inventory;
DROP TRIGGER inventory_available_up ON inventory;
DROP FUNCTION inventory_notify_available();
DROP FUNCTION inventory_reserve_batch(uuid[], text[], integer[], timestamptz[], timestamptz, text, text, text[], text);
DROP FUNCTION inventory_reserve(uuid, text[], integer[], timestamptz, timestamptz, text, text, text, text);
DROP FUNCTION inventory_take(text, text, integer, integer, boolean);
DROP FUNCTION inventory_take_spreading(text, integer);
