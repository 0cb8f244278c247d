-- +goose Up
-- Asynchronous payments: 3-D Secure waits for the customer, payments are
-- authorized first and captured once the order exists.
--
-- next_action_url / client_secret: what the storefront needs to let the
-- customer authenticate (Stripe's redirect_to_url next action, and the
-- client secret for Stripe.js), shown only to the checkout's owner.
-- task_token: the Step Functions task token of the execution waiting for
-- the authentication (.waitForTaskToken); cleared once it was resumed.
-- authorized_at: when the amount was authorized (card authorizations expire
-- after 7 days: reconciliation captures or voids them before).
ALTER TABLE payment_transactions
    ADD COLUMN next_action_url text,
    ADD COLUMN client_secret text,
    ADD COLUMN task_token text,
    ADD COLUMN authorized_at timestamptz;
CREATE INDEX payment_transactions_waiting_idx ON payment_transactions (checkout_id) WHERE task_token IS NOT NULL;
CREATE INDEX payment_transactions_open_idx ON payment_transactions (updated_at)
    WHERE kind = 'charge' AND status IN ('initiated', 'processing', 'requires_action', 'authorized');

-- +goose Down
DROP INDEX payment_transactions_open_idx;
DROP INDEX payment_transactions_waiting_idx;
ALTER TABLE payment_transactions
    DROP COLUMN authorized_at,
    DROP COLUMN task_token,
    DROP COLUMN client_secret,
    DROP COLUMN next_action_url;
