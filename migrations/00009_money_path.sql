-- +goose Up
-- The money path records what the gateway confirmed, nothing else.
--
-- payment_transactions holds one charge row per checkout and any number of
-- refund rows: the saga's own refund (idempotency key checkout-<id>-refund)
-- and refunds made elsewhere (the Stripe dashboard), found by reconciliation
-- (idempotency key stripe:<refund id>).
--
-- Charge statuses:  initiated → processing (an intent exists, outcome not yet
--                   known) → requires_action | authorized | succeeded |
--                   failed (declined; the intent may still be confirmed
--                   again until it is canceled) | canceled (voided: no money
--                   can move any more); succeeded → refunded (in full).
-- Refund statuses:  processing (sent, outcome unknown) → pending |
--                   succeeded | failed | canceled, as the gateway reports.
ALTER TABLE payment_transactions DROP CONSTRAINT payment_transactions_status_check;
ALTER TABLE payment_transactions ADD CONSTRAINT payment_transactions_status_check CHECK (
    (kind = 'charge' AND status IN ('initiated', 'processing', 'requires_action', 'authorized', 'succeeded', 'failed', 'canceled', 'refunded'))
 OR (kind = 'refund' AND status IN ('processing', 'pending', 'succeeded', 'failed', 'canceled')));

-- Which idempotency-key generation the next gateway call uses. Stripe stores
-- a 500 for a key once the endpoint began executing and replays it for
-- every retry with that key; once the gateway's own state shows the call did
-- not take effect, the next attempt needs a fresh key.
ALTER TABLE payment_transactions ADD COLUMN attempt integer NOT NULL DEFAULT 0 CHECK (attempt BETWEEN 0 AND 1000);

-- Who started a refund: the saga's compensation, reconciliation after the
-- gateway disagreed with the ledger, or someone at the gateway (dashboard).
ALTER TABLE payment_transactions ADD COLUMN origin text
    CHECK (origin IN ('compensation', 'reconciliation', 'gateway'));

ALTER TABLE payment_transactions DROP CONSTRAINT payment_transactions_checkout_id_kind_key;
CREATE UNIQUE INDEX payment_transactions_one_charge_idx ON payment_transactions (checkout_id) WHERE kind = 'charge';
CREATE UNIQUE INDEX payment_transactions_refund_idx ON payment_transactions (provider_refund_id)
    WHERE provider_refund_id IS NOT NULL;
CREATE INDEX payment_transactions_checkout_idx ON payment_transactions (checkout_id);

-- Disputes (chargebacks) opened by card holders, recorded for finance.
CREATE TABLE payment_disputes (
    id                  text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 255),
    checkout_id         uuid REFERENCES checkouts (id),
    provider_payment_id text,
    provider_charge_id  text,
    amount              bigint NOT NULL CHECK (amount >= 0),
    currency            char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    reason              text NOT NULL,
    status              text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_disputes_checkout_idx ON payment_disputes (checkout_id);

-- The API version each webhook event was rendered with (the endpoint must be
-- pinned to the version stripe-go speaks; a mismatch is recorded and the
-- objects are read back from the API instead).
ALTER TABLE stripe_events ADD COLUMN api_version text;

-- Set (under the checkout's row lock) when the saga starts to compensate a
-- checkout that has no order: from then on no order can be created for it,
-- so a refund and an order can never both happen.
ALTER TABLE checkouts ADD COLUMN compensation_started_at timestamptz;

-- +goose Down
ALTER TABLE checkouts DROP COLUMN compensation_started_at;
ALTER TABLE stripe_events DROP COLUMN api_version;
DROP TABLE payment_disputes;
DROP INDEX payment_transactions_checkout_idx;
DROP INDEX payment_transactions_refund_idx;
DROP INDEX payment_transactions_one_charge_idx;
ALTER TABLE payment_transactions ADD CONSTRAINT payment_transactions_checkout_id_kind_key UNIQUE (checkout_id, kind);
ALTER TABLE payment_transactions DROP COLUMN origin;
ALTER TABLE payment_transactions DROP COLUMN attempt;
ALTER TABLE payment_transactions DROP CONSTRAINT payment_transactions_status_check;
ALTER TABLE payment_transactions ADD CONSTRAINT payment_transactions_status_check
    CHECK (status IN ('initiated', 'processing', 'succeeded', 'failed', 'refunded'));
