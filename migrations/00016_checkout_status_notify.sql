-- +goose Up
-- A checkout that reaches a status a buyer's long poll waits for (final, or
-- requires_action) notifies channel checkout_status with its id, so
-- GET /v1/checkouts/{id}?wait=N answers as soon as the transaction commits
-- instead of on its next poll (internal/checkout, StartStatusListener).
-- Only those statuses notify: a notifying transaction takes PostgreSQL's
-- notify-queue lock at commit, so every other update stays free of it.
-- +goose StatementBegin
CREATE FUNCTION checkout_status_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('checkout_status', NEW.id::text);
	RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER checkouts_status_notify
	AFTER UPDATE OF status ON checkouts
	FOR EACH ROW
	WHEN (OLD.status IS DISTINCT FROM NEW.status
		AND NEW.status IN ('completed', 'failed', 'needs_review', 'requires_action'))
	EXECUTE FUNCTION checkout_status_notify();

-- +goose Down
DROP TRIGGER checkouts_status_notify ON checkouts;
DROP FUNCTION checkout_status_notify();
