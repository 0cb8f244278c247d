-- +goose Up
-- One payment-gateway circuit breaker for the whole fleet (every Lambda
-- container and the local runtime share the row of their database).
--
-- state: closed (calls pass, consecutive_failures counts unhealthy
-- results), open (calls fail fast until opened_at + the cooldown), half_open
-- (one caller, probe_holder, holds the probe lease until probe_expires_at;
-- others fail fast; an expired lease may be taken over).
-- generation: bumped on every transition, so that results of calls admitted
-- in an earlier state are ignored.
CREATE TABLE payment_breakers (
    name                 text PRIMARY KEY,
    state                text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    opened_at            timestamptz,
    probe_holder         text,
    probe_expires_at     timestamptz,
    generation           bigint NOT NULL DEFAULT 0,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (state <> 'open' OR opened_at IS NOT NULL),
    CHECK (state <> 'half_open' OR (probe_holder IS NOT NULL AND probe_expires_at IS NOT NULL))
);

-- History: one row per transition, written by the statement that made it.
CREATE TABLE payment_breaker_events (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL REFERENCES payment_breakers (name),
    from_state text NOT NULL,
    to_state   text NOT NULL,
    at         timestamptz NOT NULL,
    reason     text NOT NULL
);
CREATE INDEX payment_breaker_events_name_idx ON payment_breaker_events (name, id);

-- +goose Down
DROP TABLE payment_breaker_events;
DROP TABLE payment_breakers;
