-- Read models and the offsets of the projections that build them (docs/architecture.md §1.5, ADR 0008).
--
-- A projection applies a batch of Kafka messages and stores its consumer offsets in the same
-- transaction, so the rows and the position they reflect never disagree. On partition
-- assignment the worker seeks to `next_offset`.
CREATE TABLE projection_offsets (
    projection  text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL CHECK (partition >= 0),
    -- The offset of the next message to read (last applied + 1).
    next_offset bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition)
);

-- Stock per SKU. `version` is the sequence of the last InventoryItem event applied: an event
-- whose sequence is not above it is a re-delivery and changes nothing.
CREATE TABLE inventory_view (
    sku        text        PRIMARY KEY,
    on_hand    bigint      NOT NULL,
    reserved   bigint      NOT NULL,
    available  bigint      NOT NULL,
    version    bigint      NOT NULL CHECK (version >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
