-- +goose Up
-- Hot-SKU stock buckets (inventory strategy "bucketed").
--
-- A SKU's stock may be split over the inventory row ("bucket 0") and the rows
-- of inventory_buckets (buckets 1..n). Each row carries its own on_hand and
-- reserved with the same CHECK constraints as inventory, so for every row and
-- therefore for their sum: on_hand >= 0 and reserved <= on_hand. The true
-- stock of a SKU is the sum over its rows: read it from inventory_levels.
--
-- inventory.buckets is how many buckets the SKU's available units are spread
-- over (1 = not split: everything stays in the inventory row, exactly as
-- before this migration). Reservations remember the bucket that holds their
-- units, so release, commit and expiry return the units to the same row.
ALTER TABLE inventory ADD COLUMN buckets smallint NOT NULL DEFAULT 1 CHECK (buckets BETWEEN 1 AND 64);

CREATE TABLE inventory_buckets (
    sku        text NOT NULL REFERENCES inventory (sku),
    bucket     smallint NOT NULL CHECK (bucket BETWEEN 1 AND 64),
    on_hand    integer NOT NULL CHECK (on_hand >= 0),
    reserved   integer NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sku, bucket)
);

ALTER TABLE reservations ADD COLUMN bucket smallint NOT NULL DEFAULT 0 CHECK (bucket BETWEEN 0 AND 64);

-- The foreign key reservations.sku -> inventory.sku made every reservation
-- take a FOR KEY SHARE lock on the SKU's inventory row: on a hot SKU that is a
-- row-lock write (a new MultiXact) on one row by every concurrent buyer, the
-- very hot row the buckets exist to avoid. It is replaced by the same
-- guarantee without the lock: inventory rows can never be deleted nor change
-- SKU, and a reservation can only be inserted for an existing inventory row.
ALTER TABLE reservations DROP CONSTRAINT reservations_sku_fkey;

-- +goose StatementBegin
CREATE FUNCTION inventory_keep_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.sku IS DISTINCT FROM OLD.sku THEN
        RAISE EXCEPTION 'inventory rows are never deleted nor renamed (sku %)', OLD.sku
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER inventory_keep_rows BEFORE DELETE OR UPDATE OF sku ON inventory
    FOR EACH ROW EXECUTE FUNCTION inventory_keep_rows();

-- +goose StatementBegin
CREATE FUNCTION reservations_sku_exists() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM inventory WHERE sku = NEW.sku) THEN
        RAISE EXCEPTION 'insert on table "reservations": sku % has no inventory row', NEW.sku
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'reservations_sku_fkey';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER reservations_sku_exists BEFORE INSERT OR UPDATE OF sku ON reservations
    FOR EACH ROW EXECUTE FUNCTION reservations_sku_exists();

-- One stock figure per SKU, whatever the split: the inventory row plus its
-- buckets. Reading it takes no lock.
CREATE VIEW inventory_levels AS
SELECT i.sku,
       i.on_hand + coalesce(b.on_hand, 0) AS on_hand,
       i.reserved + coalesce(b.reserved, 0) AS reserved,
       i.on_hand + coalesce(b.on_hand, 0) - i.reserved - coalesce(b.reserved, 0) AS available,
       i.buckets
FROM inventory i
LEFT JOIN LATERAL (
    SELECT sum(x.on_hand)::integer AS on_hand, sum(x.reserved)::integer AS reserved
    FROM inventory_buckets x WHERE x.sku = i.sku
) b ON true;

-- +goose Down
DROP VIEW inventory_levels;
DROP TRIGGER reservations_sku_exists ON reservations;
DROP FUNCTION reservations_sku_exists();
DROP TRIGGER inventory_keep_rows ON inventory;
DROP FUNCTION inventory_keep_rows();
ALTER TABLE reservations ADD CONSTRAINT reservations_sku_fkey FOREIGN KEY (sku) REFERENCES inventory (sku);
ALTER TABLE reservations DROP COLUMN bucket;
DROP TABLE inventory_buckets;
ALTER TABLE inventory DROP COLUMN buckets;
