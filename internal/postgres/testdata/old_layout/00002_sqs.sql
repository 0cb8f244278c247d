-- +goose Up
-- The local SQS-compatible server (internal/local/sqs). Every timestamp is
-- written by the server from its own clock, so tests can move time forward.

-- One row per queue. attributes holds the settable attributes exactly as the
-- client sent them (strings, like the SQS API), after validation.
CREATE TABLE sqs_queues (
    account_id  text NOT NULL,
    name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9_-]{1,80}$'),
    attributes  jsonb NOT NULL DEFAULT '{}',
    tags        jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL,
    modified_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- Messages, visible or in flight. A message is in flight (or delayed) while
-- visible_at is in the future; receive_count > 0 tells the two apart.
-- receipt changes on every receive, so older receipt handles go stale.
CREATE TABLE sqs_messages (
    id                bigserial PRIMARY KEY,
    account_id        text NOT NULL,
    queue             text NOT NULL,
    message_id        uuid NOT NULL,
    body              text NOT NULL,
    attributes        jsonb NOT NULL DEFAULT '{}',
    md5_body          text NOT NULL,
    md5_attributes    text,
    sender_id         text NOT NULL,
    trace_header      text,
    source_arn        text,
    sent_at           timestamptz NOT NULL,
    visible_at        timestamptz NOT NULL,
    receive_count     integer NOT NULL DEFAULT 0 CHECK (receive_count >= 0),
    first_received_at timestamptz,
    receipt           uuid,
    FOREIGN KEY (account_id, queue) REFERENCES sqs_queues (account_id, name) ON DELETE CASCADE
);
CREATE INDEX sqs_messages_ready_idx ON sqs_messages (account_id, queue, visible_at, id);
CREATE INDEX sqs_messages_sent_idx ON sqs_messages (account_id, queue, sent_at);

-- Dead-letter redrive tasks (StartMessageMoveTask).
CREATE TABLE sqs_move_tasks (
    task_id         uuid PRIMARY KEY,
    seq             bigserial NOT NULL,
    account_id      text NOT NULL,
    source_arn      text NOT NULL,
    destination_arn text,
    max_per_second  integer,
    status          text NOT NULL CHECK (status IN ('RUNNING', 'COMPLETED', 'CANCELLING', 'CANCELLED', 'FAILED')),
    moved           bigint NOT NULL DEFAULT 0,
    to_move         bigint NOT NULL DEFAULT 0,
    max_message_id  bigint NOT NULL DEFAULT 0,
    failure_reason  text,
    started_at      timestamptz NOT NULL
);
CREATE INDEX sqs_move_tasks_source_idx ON sqs_move_tasks (source_arn, seq DESC);
CREATE UNIQUE INDEX sqs_move_tasks_one_running ON sqs_move_tasks (source_arn) WHERE status = 'RUNNING';

-- +goose Down
DROP TABLE sqs_move_tasks;
DROP TABLE sqs_messages;
DROP TABLE sqs_queues;
