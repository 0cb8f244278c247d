-- +goose Up
-- A dead-lettered message is matched to its recorded failure by the SHA-256
-- of its body when neither its id (some servers give the DLQ copy a new
-- one) nor an event id (an undecodable body has none) can match it.
-- permanent: the failure cannot succeed on retry (the body is not a valid
-- event): `checkoutctl dlq replay` leaves such messages in the DLQ unless
-- --force.
ALTER TABLE consumer_failures
    ADD COLUMN body_sha256 text,
    ADD COLUMN permanent boolean NOT NULL DEFAULT false;
CREATE INDEX consumer_failures_body_idx ON consumer_failures (body_sha256) WHERE body_sha256 IS NOT NULL;

-- `checkoutctl reconcile --apply` records its runs too.
ALTER TABLE ops_audit DROP CONSTRAINT ops_audit_action_check;
ALTER TABLE ops_audit ADD CONSTRAINT ops_audit_action_check CHECK (action IN ('dlq.replay', 'dlq.purge', 'review.resolve', 'reconcile'));

-- +goose Down
ALTER TABLE ops_audit DROP CONSTRAINT ops_audit_action_check;
ALTER TABLE ops_audit ADD CONSTRAINT ops_audit_action_check CHECK (action IN ('dlq.replay', 'dlq.purge', 'review.resolve'));
DROP INDEX consumer_failures_body_idx;
ALTER TABLE consumer_failures DROP COLUMN permanent, DROP COLUMN body_sha256;
