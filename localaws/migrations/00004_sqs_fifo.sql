-- +goose Up
-- FIFO queues and fair queues (package sqs).
--  * A FIFO queue's name ends in .fifo (80 characters in all).
--  * group_id is a message's MessageGroupId: ordering and one-at-a-time
--    delivery per group on FIFO queues, the tenant on standard (fair) queues;
--    dedup_id its MessageDeduplicationId (given or content-based).
--  * attempt_id/attempt_at: the ReceiveRequestAttemptId of the receive that
--    handed the message out, so a retry within 5 minutes gets the same
--    messages and receipt handles.
--  * fair: a standard queue that has seen a MessageGroupId (receives then
--    favour quiet tenants).
--  * sqs_dedup: the deduplication ids of the last 5 minutes, per queue (scope
--    '') or per message group (DeduplicationScope messageGroup). Old rows are
--    swept.
ALTER TABLE localaws.sqs_queues DROP CONSTRAINT sqs_queues_name_check;
ALTER TABLE localaws.sqs_queues ADD CONSTRAINT sqs_queues_name_check
    CHECK (name ~ '^[A-Za-z0-9_-]{1,80}$' OR name ~ '^[A-Za-z0-9_-]{1,75}\.fifo$');
ALTER TABLE localaws.sqs_queues ADD COLUMN fair boolean NOT NULL DEFAULT false;

ALTER TABLE localaws.sqs_messages ADD COLUMN group_id text;
ALTER TABLE localaws.sqs_messages ADD COLUMN dedup_id text;
ALTER TABLE localaws.sqs_messages ADD COLUMN attempt_id text;
ALTER TABLE localaws.sqs_messages ADD COLUMN attempt_at timestamptz;
CREATE INDEX sqs_messages_group_idx ON localaws.sqs_messages (account_id, queue, group_id, id) WHERE group_id IS NOT NULL;

CREATE TABLE localaws.sqs_dedup (
    account_id text NOT NULL,
    queue      text NOT NULL,
    scope      text NOT NULL,
    dedup_id   text NOT NULL,
    message_id uuid NOT NULL,
    seq        bigint,
    sent_at    timestamptz NOT NULL,
    PRIMARY KEY (account_id, queue, scope, dedup_id),
    FOREIGN KEY (account_id, queue) REFERENCES localaws.sqs_queues (account_id, name) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE localaws.sqs_dedup;
DROP INDEX localaws.sqs_messages_group_idx;
ALTER TABLE localaws.sqs_messages DROP COLUMN attempt_at;
ALTER TABLE localaws.sqs_messages DROP COLUMN attempt_id;
ALTER TABLE localaws.sqs_messages DROP COLUMN dedup_id;
ALTER TABLE localaws.sqs_messages DROP COLUMN group_id;
ALTER TABLE localaws.sqs_queues DROP COLUMN fair;
ALTER TABLE localaws.sqs_queues DROP CONSTRAINT sqs_queues_name_check;
ALTER TABLE localaws.sqs_queues ADD CONSTRAINT sqs_queues_name_check CHECK (name ~ '^[A-Za-z0-9_-]{1,80}$');
