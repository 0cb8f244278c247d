-- +goose Up
-- Versions 2 and 3 of this schema used to create the local AWS emulator's
-- tables (sqs_* and sfn_*) here, in the product's schema, so every deployed
-- database got them too. The emulator now lives in its own module (localaws/)
-- with its own migrations, applied only by the local stack and in its own
-- PostgreSQL schema (localaws), and those two files are gone. A database
-- migrated before that still has versions 2 and 3 recorded (goose ignores
-- recorded versions without a file) and the tables below: drop them. They
-- held only the local emulator's queues, messages and executions (always
-- empty on AWS); a local stack recreates its queues in the new schema at its
-- next start, and messages or executions in flight at the upgrade are not
-- carried over.
--
-- The old files created them unqualified, so in current_schema(); naming that
-- schema explicitly never reaches the emulator's own tables, whatever the
-- search_path.

-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['sqs_move_tasks', 'sqs_messages', 'sqs_queues',
        'sfn_task_tokens', 'sfn_history_events', 'sfn_executions', 'sfn_state_machines'] LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I.%I', current_schema(), t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- Nothing to restore: the product never used these tables.
SELECT 1;
