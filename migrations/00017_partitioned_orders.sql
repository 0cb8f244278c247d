-- +goose Up
-- orders, order_items and audit_log become tables partitioned by month
-- (RANGE on their creation time, months in UTC), so a month's rows live in
-- a table of their own: indexes stay the size of a month, old months can
-- leave the database whole (docs/partitions.md: retention of audit_log),
-- and a lookup by a key that carries the month reads one partition.
--
-- On a partitioned table a primary key or a unique constraint must include
-- the partition key, so "one order per checkout" can no longer be
-- UNIQUE (checkout_id) on orders. The checkout row, which is not
-- partitioned, now names its order: checkouts.(order_id, order_created_at),
-- UNIQUE (id, order_id, order_created_at); an order's foreign key
-- (checkout_id, id, created_at) must match it, so a checkout can have at
-- most one order whatever the partition, and the checkout says where its
-- order lives (a lookup by checkout reads one partition).
--
-- New order ids are UUIDv7: their first 48 bits are the order's created_at
-- in milliseconds (orders_created_at_is_id_time), so a lookup by order id
-- reads one partition too. Ids made before this migration are random
-- (version 4) and stay valid; a lookup by one of them probes every
-- partition's primary key index. The id is still a UUID, as the API says.
--
-- The conversion copies every row (rename, create, INSERT ... SELECT, drop)
-- inside the migration's transaction, holding ACCESS EXCLUSIVE locks on the
-- three tables meanwhile: deploy it in a quiet window (docs/partitions.md
-- has the figures and the online alternative for a very large table).
--
-- There is no DEFAULT partition: a row whose month has no partition is
-- refused rather than parked where a later partition of its month could no
-- longer be attached. Partitions are made ahead instead: here for every
-- month holding rows plus the current month and the next 3, then by
-- ensure_partitions, which the sweeper runs every minute.

-- The Unix time in milliseconds of p_at, in the layout of RFC 9562's UUIDv7
-- (48-bit time, version 7, variant 10, 74 random bits).
-- +goose StatementBegin
CREATE FUNCTION uuid_v7(p_at timestamptz) RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        PLACING substring(int8send(floor(extract(epoch FROM p_at) * 1000)::bigint) FROM 3) FROM 1 FOR 6),
        52, 1), 53, 1), 'hex')::uuid
$$;
-- +goose StatementEnd

-- The time a UUIDv7 carries (millisecond precision); NULL for any other
-- version. Immutable, so a lookup by id prunes partitions at plan time.
-- +goose StatementBegin
CREATE FUNCTION uuid_v7_time(p_id uuid) RETURNS timestamptz LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN get_byte(uuid_send(p_id), 6) >> 4 = 7
        THEN to_timestamp(('x' || left(encode(uuid_send(p_id), 'hex'), 12))::bit(48)::bigint / 1000.0)
    END
$$;
-- +goose StatementEnd

-- create_month_partition attaches to p_parent the partition of the UTC
-- month that holds p_month, named <parent>_YYYY_MM, unless it is there
-- already; it reports whether it made one. CREATE TABLE ... PARTITION OF
-- would take an ACCESS EXCLUSIVE lock on the parent, queueing every read
-- of orders behind any long one; a new table attached with ATTACH
-- PARTITION takes only SHARE UPDATE EXCLUSIVE on the parent, which reads
-- and writes do not wait for. The attach gives the new table the parent's
-- indexes, foreign keys and triggers; cloning a foreign key takes SHARE ROW
-- EXCLUSIVE on the other table (checkouts, products, payment_transactions,
-- orders), so writers of those wait while an attach waits for them: hence
-- the short lock_timeout of ensure_partitions. Only the parent's owner may
-- run it.
-- +goose StatementBegin
CREATE FUNCTION create_month_partition(p_parent regclass, p_month date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', p_month)::date;
    nsp name;
    rel name;
    part name;
    attached boolean;
BEGIN
    SELECT n.nspname, c.relname INTO nsp, rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_parent;
    part := rel || '_' || to_char(first, 'YYYY_MM');
    SELECT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid AND i.inhparent = p_parent) INTO attached
    FROM pg_class c WHERE c.relname = part AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = nsp);
    IF attached THEN
        RETURN false;
    ELSIF attached IS NOT NULL THEN
        RAISE EXCEPTION 'table %.% exists but is not a partition of %', nsp, part, p_parent
            USING ERRCODE = 'duplicate_table', HINT = 'a detached partition is moved to schema archive; rename or drop this one';
    END IF;
    EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)',
        nsp, part, nsp, rel);
    -- ISO 8601 bounds with their offset: read the same whatever DateStyle.
    EXECUTE format('ALTER TABLE %I.%I ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)', nsp, rel, nsp, part,
        to_char(first, 'YYYY-MM-DD"T00:00:00+00"'), to_char(first + interval '1 month', 'YYYY-MM-DD"T00:00:00+00"'));
    RETURN true;
END;
$$;
-- +goose StatementEnd

-- ensure_partitions makes sure orders, order_items and audit_log have the
-- partitions of the UTC month of p_now and of the p_months_ahead months
-- after it, and returns how many it created (0 when they all existed).
-- Idempotent; concurrent calls serialise on an advisory lock and the later
-- ones find the work done. SECURITY DEFINER: the application role (which
-- owns no table) calls it from the sweeper; it runs as the owner of the
-- tables, with the search_path of this migration. A lock it cannot take
-- within 1 s (a long transaction writing checkouts) fails the call rather
-- than keep the checkouts queued behind it; the next run tries again, and
-- the months ahead leave it weeks to succeed.
-- +goose StatementBegin
CREATE FUNCTION ensure_partitions(p_now timestamptz, p_months_ahead integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT SET lock_timeout = '1s' AS $$
DECLARE
    first date := date_trunc('month', p_now AT TIME ZONE 'UTC')::date;
    t regclass;
    i integer;
    created integer := 0;
BEGIN
    IF p_now IS NULL OR p_months_ahead IS NULL OR p_months_ahead NOT BETWEEN 0 AND 36 THEN
        RAISE EXCEPTION 'ensure_partitions: want a time and 0 to 36 months ahead, got % and %', p_now, p_months_ahead
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_advisory_xact_lock(1885434484, 0); -- 0x70617274 "part"
    FOREACH t IN ARRAY ARRAY['orders', 'order_items', 'audit_log']::regclass[] LOOP
        FOR i IN 0 .. p_months_ahead LOOP
            IF create_month_partition(t, (first + make_interval(months => i))::date) THEN
                created := created + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN created;
END;
$$;
-- +goose StatementEnd
-- Runs as the owner: only the roles granted it may call it (internal/dbsetup
-- grants the application role EXECUTE on the functions), not PUBLIC.
REVOKE EXECUTE ON FUNCTION ensure_partitions(timestamptz, integer) FROM PUBLIC;

-- The old tables step aside (their indexes keep their names until they are
-- dropped below; so does the audit log's identity sequence, renamed so that
-- the new one gets the usual name).
ALTER TABLE order_items RENAME TO order_items_unpartitioned;
ALTER TABLE orders RENAME TO orders_unpartitioned;
ALTER TABLE audit_log RENAME TO audit_log_unpartitioned;
ALTER SEQUENCE audit_log_id_seq RENAME TO audit_log_unpartitioned_id_seq;

CREATE TABLE orders (
    id          uuid NOT NULL,
    checkout_id uuid NOT NULL,
    user_id     text NOT NULL,
    status      text NOT NULL DEFAULT 'confirmed' CONSTRAINT orders_status_check CHECK (status IN ('confirmed', 'cancelled')),
    amount      bigint NOT NULL CONSTRAINT orders_amount_check CHECK (amount >= 0),
    currency    char(3) NOT NULL CONSTRAINT orders_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    payment_id  bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_created_at_is_id_time CHECK (uuid_v7_time(id) IS NULL OR created_at = uuid_v7_time(id))
) PARTITION BY RANGE (created_at);

-- An item is stored in the month of its order: order_created_at is the
-- order's created_at (the foreign key checks it).
CREATE TABLE order_items (
    order_id         uuid NOT NULL,
    order_created_at timestamptz NOT NULL,
    sku              text NOT NULL,
    name             text NOT NULL,
    quantity         integer NOT NULL CONSTRAINT order_items_quantity_check CHECK (quantity > 0),
    unit_amount      bigint NOT NULL CONSTRAINT order_items_unit_amount_check CHECK (unit_amount >= 0)
) PARTITION BY RANGE (order_created_at);

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    checkout_id uuid,
    sku         text,
    quantity    integer,
    amount      bigint,
    currency    char(3),
    detail      jsonb NOT NULL DEFAULT '{}'
) PARTITION BY RANGE (at);

-- A partition for every month that holds rows, then the current month and
-- the 3 after it.
-- +goose StatementBegin
DO $$
DECLARE
    m date;
BEGIN
    FOR m IN SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC')::date FROM orders_unpartitioned LOOP
        PERFORM create_month_partition('orders', m);
        PERFORM create_month_partition('order_items', m);
    END LOOP;
    FOR m IN SELECT DISTINCT date_trunc('month', at AT TIME ZONE 'UTC')::date FROM audit_log_unpartitioned LOOP
        PERFORM create_month_partition('audit_log', m);
    END LOOP;
END;
$$;
-- +goose StatementEnd
SELECT ensure_partitions(now(), 3);

INSERT INTO orders (id, checkout_id, user_id, status, amount, currency, payment_id, created_at, updated_at)
SELECT id, checkout_id, user_id, status, amount, currency, payment_id, created_at, updated_at FROM orders_unpartitioned;

INSERT INTO order_items (order_id, order_created_at, sku, name, quantity, unit_amount)
SELECT i.order_id, o.created_at, i.sku, i.name, i.quantity, i.unit_amount
FROM order_items_unpartitioned i JOIN orders_unpartitioned o ON o.id = i.order_id;

-- The ids keep their values, and the new identity continues where the old
-- one stopped (ids are ordered across partitions: the invariants rely on it).
INSERT INTO audit_log (id, at, actor, action, checkout_id, sku, quantity, amount, currency, detail) OVERRIDING SYSTEM VALUE
SELECT id, at, actor, action, checkout_id, sku, quantity, amount, currency, detail FROM audit_log_unpartitioned;
SELECT setval(pg_get_serial_sequence('audit_log', 'id'), s.last_value, s.is_called) FROM audit_log_unpartitioned_id_seq s;

-- The checkout names its order.
ALTER TABLE checkouts ADD COLUMN order_id uuid, ADD COLUMN order_created_at timestamptz,
    ADD CONSTRAINT checkouts_order_check CHECK ((order_id IS NULL) = (order_created_at IS NULL));
UPDATE checkouts c SET order_id = o.id, order_created_at = o.created_at FROM orders_unpartitioned o WHERE o.checkout_id = c.id;
ALTER TABLE checkouts ADD CONSTRAINT checkouts_order_key UNIQUE (id, order_id, order_created_at);

DROP TABLE order_items_unpartitioned;
DROP TABLE orders_unpartitioned;
DROP TABLE audit_log_unpartitioned;

-- Keys, indexes, foreign keys and the trigger, built once over the copied
-- rows (each partition gets its own; a partition attached later gets them
-- at the attach).
ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id, created_at);
CREATE INDEX orders_user_idx ON orders (user_id, created_at, id);
ALTER TABLE orders ADD CONSTRAINT orders_checkout_fkey FOREIGN KEY (checkout_id, id, created_at)
    REFERENCES checkouts (id, order_id, order_created_at);
ALTER TABLE orders ADD CONSTRAINT orders_payment_fk FOREIGN KEY (payment_id) REFERENCES payment_transactions (id);
-- And the other way: a checkout names an order that exists (checked at
-- commit: the order transaction records the checkout's order first).
ALTER TABLE checkouts ADD CONSTRAINT checkouts_order_fkey FOREIGN KEY (order_id, order_created_at)
    REFERENCES orders (id, created_at) DEFERRABLE INITIALLY DEFERRED;

ALTER TABLE order_items ADD CONSTRAINT order_items_pkey PRIMARY KEY (order_id, order_created_at, sku);
ALTER TABLE order_items ADD CONSTRAINT order_items_order_fkey FOREIGN KEY (order_id, order_created_at)
    REFERENCES orders (id, created_at);
ALTER TABLE order_items ADD CONSTRAINT order_items_sku_fkey FOREIGN KEY (sku) REFERENCES products (sku);

ALTER TABLE audit_log ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id, at);
CREATE INDEX audit_log_checkout_idx ON audit_log (checkout_id);
CREATE TRIGGER audit_log_no_rewrite BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- +goose Down
-- Back to plain tables, every row copied (the partitions' rows only: an
-- audit_log partition detached for archiving stays where it is).
ALTER TABLE checkouts DROP CONSTRAINT checkouts_order_fkey;
ALTER TABLE order_items RENAME TO order_items_partitioned;
ALTER TABLE orders RENAME TO orders_partitioned;
ALTER TABLE audit_log RENAME TO audit_log_partitioned;
ALTER SEQUENCE audit_log_id_seq RENAME TO audit_log_partitioned_id_seq;

CREATE TABLE orders (
    id          uuid NOT NULL,
    checkout_id uuid NOT NULL,
    user_id     text NOT NULL,
    status      text NOT NULL DEFAULT 'confirmed' CONSTRAINT orders_status_check CHECK (status IN ('confirmed', 'cancelled')),
    amount      bigint NOT NULL CONSTRAINT orders_amount_check CHECK (amount >= 0),
    currency    char(3) NOT NULL CONSTRAINT orders_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    payment_id  bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE order_items (
    order_id    uuid NOT NULL,
    sku         text NOT NULL,
    name        text NOT NULL,
    quantity    integer NOT NULL CONSTRAINT order_items_quantity_check CHECK (quantity > 0),
    unit_amount bigint NOT NULL CONSTRAINT order_items_unit_amount_check CHECK (unit_amount >= 0)
);
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    checkout_id uuid,
    sku         text,
    quantity    integer,
    amount      bigint,
    currency    char(3),
    detail      jsonb NOT NULL DEFAULT '{}'
);

INSERT INTO orders (id, checkout_id, user_id, status, amount, currency, payment_id, created_at, updated_at)
SELECT id, checkout_id, user_id, status, amount, currency, payment_id, created_at, updated_at FROM orders_partitioned;
INSERT INTO order_items (order_id, sku, name, quantity, unit_amount)
SELECT order_id, sku, name, quantity, unit_amount FROM order_items_partitioned;
INSERT INTO audit_log (id, at, actor, action, checkout_id, sku, quantity, amount, currency, detail) OVERRIDING SYSTEM VALUE
SELECT id, at, actor, action, checkout_id, sku, quantity, amount, currency, detail FROM audit_log_partitioned;
SELECT setval(pg_get_serial_sequence('audit_log', 'id'), s.last_value, s.is_called) FROM audit_log_partitioned_id_seq s;

DROP TABLE order_items_partitioned;
DROP TABLE orders_partitioned;
DROP TABLE audit_log_partitioned;
ALTER TABLE checkouts DROP COLUMN order_id, DROP COLUMN order_created_at;

ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
ALTER TABLE orders ADD CONSTRAINT orders_checkout_id_key UNIQUE (checkout_id);
ALTER TABLE orders ADD CONSTRAINT orders_checkout_id_fkey FOREIGN KEY (checkout_id) REFERENCES checkouts (id);
ALTER TABLE orders ADD CONSTRAINT orders_payment_fk FOREIGN KEY (payment_id) REFERENCES payment_transactions (id);
CREATE INDEX orders_user_idx ON orders (user_id);
ALTER TABLE order_items ADD CONSTRAINT order_items_pkey PRIMARY KEY (order_id, sku);
ALTER TABLE order_items ADD CONSTRAINT order_items_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE order_items ADD CONSTRAINT order_items_sku_fkey FOREIGN KEY (sku) REFERENCES products (sku);
ALTER TABLE audit_log ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);
CREATE INDEX audit_log_checkout_idx ON audit_log (checkout_id);
CREATE TRIGGER audit_log_no_rewrite BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

DROP FUNCTION ensure_partitions(timestamptz, integer);
DROP FUNCTION create_month_partition(regclass, date);
DROP FUNCTION uuid_v7_time(uuid);
DROP FUNCTION uuid_v7(timestamptz);
