-- +goose Up
-- The checkout core: catalog, stock, reservations, checkouts, orders, payments
-- and the append-only audit log. Money is always integer minor units plus an
-- ISO-4217 currency code; there is no floating point anywhere in this schema.

-- The catalog. Prices come from here, never from the client.
CREATE TABLE products (
    sku        text PRIMARY KEY CHECK (sku ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    amount     bigint NOT NULL CHECK (amount >= 0),
    currency   char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Stock per SKU. The CHECK constraints make oversell impossible even for a
-- buggy caller: whatever statement runs, on_hand never goes negative and
-- reserved never exceeds on_hand.
CREATE TABLE inventory (
    sku        text PRIMARY KEY REFERENCES products (sku),
    on_hand    integer NOT NULL CHECK (on_hand >= 0),
    reserved   integer NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand),
    version    bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One checkout per (user, idempotency key). The fingerprint is the SHA-256 of
-- the canonical request, so a reused key with another body is detected.
CREATE TABLE checkouts (
    id                  uuid PRIMARY KEY,
    user_id             text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
    idempotency_key     text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_fingerprint bytea NOT NULL,
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'processing', 'requires_action', 'completed', 'failed', 'needs_review')),
    failure_code        text,
    failure_message     text,
    amount              bigint NOT NULL CHECK (amount >= 0),
    currency            char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    payment_method      text NOT NULL CHECK (length(payment_method) BETWEEN 1 AND 255),
    execution_id        text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    completed_at        timestamptz,
    UNIQUE (user_id, idempotency_key),
    CHECK ((status IN ('failed', 'needs_review')) = (failure_code IS NOT NULL))
);
CREATE INDEX checkouts_status_idx ON checkouts (status) WHERE status NOT IN ('completed', 'failed');

-- The cart as priced when the checkout was recorded.
CREATE TABLE checkout_items (
    checkout_id uuid NOT NULL REFERENCES checkouts (id),
    sku         text NOT NULL REFERENCES products (sku),
    quantity    integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    unit_amount bigint NOT NULL CHECK (unit_amount >= 0),
    PRIMARY KEY (checkout_id, sku)
);

-- One reservation per (checkout, sku). A reservation ends committed (an order
-- took the units) or released (compensation, or expiry by the sweeper).
CREATE TABLE reservations (
    checkout_id uuid NOT NULL REFERENCES checkouts (id),
    sku         text NOT NULL REFERENCES inventory (sku),
    quantity    integer NOT NULL CHECK (quantity > 0),
    status      text NOT NULL DEFAULT 'reserved' CHECK (status IN ('reserved', 'committed', 'released')),
    expires_at  timestamptz NOT NULL,
    release_reason text CHECK (release_reason IN ('compensation', 'expired')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (checkout_id, sku)
);
CREATE INDEX reservations_expiry_idx ON reservations (expires_at) WHERE status = 'reserved';

-- Orders: at most one per checkout.
CREATE TABLE orders (
    id          uuid PRIMARY KEY,
    checkout_id uuid NOT NULL UNIQUE REFERENCES checkouts (id),
    user_id     text NOT NULL,
    status      text NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed', 'cancelled')),
    amount      bigint NOT NULL CHECK (amount >= 0),
    currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    payment_id  bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_user_idx ON orders (user_id);

CREATE TABLE order_items (
    order_id    uuid NOT NULL REFERENCES orders (id),
    sku         text NOT NULL REFERENCES products (sku),
    name        text NOT NULL,
    quantity    integer NOT NULL CHECK (quantity > 0),
    unit_amount bigint NOT NULL CHECK (unit_amount >= 0),
    PRIMARY KEY (order_id, sku)
);

-- Money movements, keyed by checkout (the charge happens before the order
-- exists, so the seed's foreign key to orders could never be satisfied).
CREATE TABLE payment_transactions (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    checkout_id         uuid NOT NULL REFERENCES checkouts (id),
    kind                text NOT NULL CHECK (kind IN ('charge', 'refund')),
    idempotency_key     text NOT NULL UNIQUE,
    amount              bigint NOT NULL CHECK (amount >= 0),
    currency            char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status              text NOT NULL DEFAULT 'initiated'
                        CHECK (status IN ('initiated', 'processing', 'succeeded', 'failed', 'refunded')),
    provider            text NOT NULL DEFAULT 'stripe',
    provider_payment_id text,
    provider_refund_id  text,
    failure_code        text,
    gateway_response    jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (checkout_id, kind)
);

ALTER TABLE orders ADD CONSTRAINT orders_payment_fk FOREIGN KEY (payment_id) REFERENCES payment_transactions (id);

-- Append-only audit of every stock and payment change. The trigger refuses
-- UPDATE and DELETE so that history cannot be rewritten by application code.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
CREATE INDEX audit_log_checkout_idx ON audit_log (checkout_id);

-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_log_no_rewrite BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- +goose Down
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
ALTER TABLE orders DROP CONSTRAINT orders_payment_fk;
DROP TABLE payment_transactions;
DROP TABLE order_items;
DROP TABLE orders;
DROP TABLE reservations;
DROP TABLE checkout_items;
DROP TABLE checkouts;
DROP TABLE inventory;
DROP TABLE products;
