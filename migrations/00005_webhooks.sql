-- +goose Up
-- Stripe webhook events, recorded once each: a repeated delivery of the same
-- event id finds its row and changes nothing. The row is written in the same
-- transaction as the reconciliation it caused.
CREATE TABLE stripe_events (
    id          text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 255),
    type        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    payload     jsonb NOT NULL
);
CREATE INDEX stripe_events_received_idx ON stripe_events (received_at);

-- Webhooks find a payment by the provider's PaymentIntent id.
CREATE INDEX payment_transactions_provider_payment_idx ON payment_transactions (provider_payment_id)
    WHERE provider_payment_id IS NOT NULL;

-- +goose Down
DROP INDEX payment_transactions_provider_payment_idx;
DROP TABLE stripe_events;
