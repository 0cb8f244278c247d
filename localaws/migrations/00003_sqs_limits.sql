-- +goose Up
-- SQS limits that need a memory of the past (package sqs):
--  * received_at: when a message was last received, so ChangeMessageVisibility
--    can refuse a total visibility beyond 12 hours from that receive;
--  * purged_at: the last PurgeQueue, refused again within 60 seconds
--    (PurgeQueueInProgress);
--  * sqs_deleted_queues: names deleted in the last 60 seconds, which CreateQueue
--    refuses (QueueDeletedRecently). Old rows are swept.
ALTER TABLE localaws.sqs_messages ADD COLUMN received_at timestamptz;
ALTER TABLE localaws.sqs_queues ADD COLUMN purged_at timestamptz;

CREATE TABLE localaws.sqs_deleted_queues (
    account_id text NOT NULL,
    name       text NOT NULL,
    deleted_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- +goose Down
DROP TABLE localaws.sqs_deleted_queues;
ALTER TABLE localaws.sqs_queues DROP COLUMN purged_at;
ALTER TABLE localaws.sqs_messages DROP COLUMN received_at;
