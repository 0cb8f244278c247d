-- +goose Up
-- The rest of the Step Functions API (package sfn): state machine tags and
-- update dates, DELETING state machines, and redriven executions.
ALTER TABLE localaws.sfn_state_machines ADD COLUMN tags jsonb NOT NULL DEFAULT '{}';
ALTER TABLE localaws.sfn_state_machines ADD COLUMN status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DELETING'));
ALTER TABLE localaws.sfn_executions ADD COLUMN redrive_count integer NOT NULL DEFAULT 0;
ALTER TABLE localaws.sfn_executions ADD COLUMN redrive_date timestamptz;

-- +goose Down
ALTER TABLE localaws.sfn_executions DROP COLUMN redrive_date;
ALTER TABLE localaws.sfn_executions DROP COLUMN redrive_count;
ALTER TABLE localaws.sfn_state_machines DROP COLUMN status;
ALTER TABLE localaws.sfn_state_machines DROP COLUMN tags;
