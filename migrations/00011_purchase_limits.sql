-- +goose Up
-- Purchase limits: a product may cap how many units one customer buys
-- (max_per_customer; NULL = no cap). Checkouts of a customer are counted by
-- (user_id, status): the cap counts every checkout that is not failed, and
-- the cap on unfinished checkouts counts the non-final ones.
ALTER TABLE products
    ADD COLUMN max_per_customer integer CHECK (max_per_customer IS NULL OR max_per_customer > 0);
CREATE INDEX checkouts_user_status_idx ON checkouts (user_id, status);

-- +goose Down
DROP INDEX checkouts_user_status_idx;
ALTER TABLE products DROP COLUMN max_per_customer;
