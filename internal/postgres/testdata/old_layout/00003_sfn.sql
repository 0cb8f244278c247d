-- +goose Up
-- The local AWS Step Functions (internal/local/sfn): state machines,
-- durable executions with their resumable interpreter cursor, the history
-- events of GetExecutionHistory, and task tokens for .waitForTaskToken.

CREATE TABLE sfn_state_machines (
    arn        text PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 80),
    definition text NOT NULL,
    role_arn   text NOT NULL DEFAULT '',
    type       text NOT NULL DEFAULT 'STANDARD' CHECK (type IN ('STANDARD', 'EXPRESS')),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- One row per execution. The definition is copied at start so a changed
-- state machine never breaks a running execution. cursor is the asl.Cursor
-- (JSON text, kept byte-exact) persisted after every step.
CREATE TABLE sfn_executions (
    arn               text PRIMARY KEY,
    state_machine_arn text NOT NULL REFERENCES sfn_state_machines (arn),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    status            text NOT NULL CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED')),
    definition        text NOT NULL,
    input             text NOT NULL,
    output            text,
    error             text,
    cause             text,
    start_date        timestamptz NOT NULL,
    stop_date         timestamptz,
    cursor            text NOT NULL,
    last_event_id     bigint NOT NULL DEFAULT 0,
    UNIQUE (state_machine_arn, name),
    CHECK ((status = 'RUNNING') = (stop_date IS NULL))
);
CREATE INDEX sfn_executions_running_idx ON sfn_executions (start_date) WHERE status = 'RUNNING';
CREATE INDEX sfn_executions_machine_idx ON sfn_executions (state_machine_arn, start_date DESC);

CREATE TABLE sfn_history_events (
    execution_arn     text NOT NULL REFERENCES sfn_executions (arn) ON DELETE CASCADE,
    id                bigint NOT NULL CHECK (id > 0),
    previous_event_id bigint NOT NULL,
    type              text NOT NULL,
    ts                timestamptz NOT NULL,
    details           text,
    PRIMARY KEY (execution_arn, id)
);

CREATE TABLE sfn_task_tokens (
    token         text PRIMARY KEY,
    execution_arn text NOT NULL REFERENCES sfn_executions (arn) ON DELETE CASCADE,
    state_name    text NOT NULL,
    status        text NOT NULL DEFAULT 'PENDING'
                  CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CLOSED')),
    output        text,
    error         text,
    cause         text,
    heartbeat_at  timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    closed_at     timestamptz
);
CREATE INDEX sfn_task_tokens_execution_idx ON sfn_task_tokens (execution_arn) WHERE status = 'PENDING';

-- +goose Down
DROP TABLE sfn_task_tokens;
DROP TABLE sfn_history_events;
DROP TABLE sfn_executions;
DROP TABLE sfn_state_machines;
