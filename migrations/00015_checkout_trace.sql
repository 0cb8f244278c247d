-- +goose Up
-- The W3C traceparent of the request that created a checkout: the saga's
-- input carries it, so the whole checkout is one trace (internal/tracing),
-- and `checkoutctl trace` finds the trace from the checkout id.
ALTER TABLE checkouts ADD COLUMN traceparent text CHECK (traceparent IS NULL OR length(traceparent) <= 64);

-- +goose Down
ALTER TABLE checkouts DROP COLUMN traceparent;
