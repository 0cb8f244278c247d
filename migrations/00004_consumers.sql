-- +goose Up
-- Post-order consumers (notification, shipping, analytics) and the operators'
-- audit trail written by cmd/checkoutctl.

-- One row per (consumer, event) that was processed. A consumer inserts this
-- row in the same transaction as its work, so a replayed or duplicated event
-- (same event_id, new SQS MessageId) finds the row and does nothing.
CREATE TABLE processed_messages (
    consumer     text NOT NULL CHECK (consumer ~ '^[a-z][a-z0-9_-]{0,62}$'),
    event_id     uuid NOT NULL,
    message_id   text NOT NULL,
    outcome      text NOT NULL DEFAULT 'done' CHECK (outcome IN ('done', 'skipped')),
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- The last failure of each message a consumer could not process, so an
-- operator reading a dead-letter queue sees why (`checkoutctl dlq show`).
-- SQS keeps the MessageId when it moves a message to the DLQ.
CREATE TABLE consumer_failures (
    consumer    text NOT NULL,
    message_id  text NOT NULL,
    event_id    uuid,
    reason      text NOT NULL,
    attempts    integer NOT NULL DEFAULT 1 CHECK (attempts > 0),
    first_at    timestamptz NOT NULL DEFAULT now(),
    last_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
CREATE INDEX consumer_failures_message_idx ON consumer_failures (message_id);

-- Order e-mails rendered by the notification consumer when it runs with the
-- outbox sender (local development): a developer reads them here.
CREATE TABLE outbox_emails (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    uuid NOT NULL UNIQUE,
    order_id    uuid NOT NULL,
    user_id     text NOT NULL,
    to_address  text,
    from_address text NOT NULL,
    subject     text NOT NULL,
    text_body   text NOT NULL,
    html_body   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Shipment requests, one per order, created by the shipping consumer.
CREATE TABLE shipments (
    id          uuid PRIMARY KEY,
    order_id    uuid NOT NULL UNIQUE,
    checkout_id uuid NOT NULL,
    user_id     text NOT NULL,
    event_id    uuid NOT NULL,
    status      text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'shipped', 'cancelled')),
    items       jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- What operators did to queues: every replay, purge and review resolution.
CREATE TABLE ops_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    actor       text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    action      text NOT NULL CHECK (action IN ('dlq.replay', 'dlq.purge', 'review.resolve')),
    queue       text NOT NULL,
    message_ids text[] NOT NULL DEFAULT '{}',
    outcome     text NOT NULL CHECK (outcome IN ('started', 'ok', 'partial', 'failed', 'interrupted')),
    note        text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ops_audit_at_idx ON ops_audit (at);

-- +goose Down
DROP TABLE ops_audit;
DROP TABLE shipments;
DROP TABLE outbox_emails;
DROP TABLE consumer_failures;
DROP TABLE processed_messages;
