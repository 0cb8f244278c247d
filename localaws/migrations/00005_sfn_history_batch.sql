-- +goose Up
-- The executor appends an execution's history events in batches, in the
-- same statement that updates the execution (package sfn): the foreign key
-- from every event to its execution only cost a lookup per event. Events are
-- deleted with their execution explicitly.
ALTER TABLE localaws.sfn_history_events DROP CONSTRAINT sfn_history_events_execution_arn_fkey;

-- +goose Down
ALTER TABLE localaws.sfn_history_events ADD CONSTRAINT sfn_history_events_execution_arn_fkey
    FOREIGN KEY (execution_arn) REFERENCES localaws.sfn_executions (arn) ON DELETE CASCADE;
