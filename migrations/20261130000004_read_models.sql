-- The read models of orders, customers, payments, notifications and saga timelines
-- (docs/architecture.md §1.5, §1.7, §2; ADR 0009). Every row remembers the last applied sequence of its
-- aggregate (`version`), or is unique per event, so a re-delivered event changes nothing.
-- Ids are text, as `events.aggregate_id` is. Money is integer minor units with a currency.

-- One row per order. `version` is the sequence of the last Order event applied.
CREATE TABLE orders (
    order_id         text        PRIMARY KEY,
    customer_id      text        NOT NULL,
    -- pending, awaiting_payment, confirmed, rejected, cancelled, expired
    status           text        NOT NULL,
    currency         text        NOT NULL,
    total_minor      bigint      NOT NULL CHECK (total_minor >= 0),
    placed_at        timestamptz NOT NULL,
    deadline         timestamptz NOT NULL,
    -- The time of the last event applied (when it was stored).
    updated_at       timestamptz NOT NULL,
    version          bigint      NOT NULL CHECK (version >= 0),
    rejection_reason text,
    cancel_reason    text
);

-- Keyset listing: newest first, per customer and status, or per customer, or overall.
CREATE INDEX orders_customer_status_keyset
    ON orders (customer_id, status, placed_at DESC, order_id DESC);
CREATE INDEX orders_customer_keyset ON orders (customer_id, placed_at DESC, order_id DESC);
CREATE INDEX orders_keyset ON orders (placed_at DESC, order_id DESC);

-- The lines of an order, written with its OrderPlaced; `reserved` turns true with its
-- OrderLineReserved.
CREATE TABLE order_lines (
    order_id         text    NOT NULL,
    sku              text    NOT NULL,
    quantity         bigint  NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint  NOT NULL CHECK (unit_price_minor >= 0),
    reserved         boolean NOT NULL DEFAULT false,
    position         integer NOT NULL,
    PRIMARY KEY (order_id, sku)
);

-- One row per customer. `available_credit = credit_limit - reserved_credit`.
CREATE TABLE customers (
    customer_id      text        PRIMARY KEY,
    name             text        NOT NULL,
    email            text        NOT NULL,
    currency         text        NOT NULL,
    credit_limit     bigint      NOT NULL,
    reserved_credit  bigint      NOT NULL,
    available_credit bigint      NOT NULL,
    updated_at       timestamptz NOT NULL,
    version          bigint      NOT NULL CHECK (version >= 0)
);

-- One row per payment; the payment's aggregate id is its order's id. A payment voided before
-- it was ever authorized has no customer nor amount.
CREATE TABLE payments (
    order_id       text        PRIMARY KEY,
    -- authorized, declined, voided, refunded
    status         text        NOT NULL,
    customer_id    text,
    amount_minor   bigint      CHECK (amount_minor >= 0),
    currency       text,
    decline_reason text,
    authorized_at  timestamptz,
    declined_at    timestamptz,
    voided_at      timestamptz,
    refunded_at    timestamptz,
    updated_at     timestamptz NOT NULL,
    version        bigint      NOT NULL CHECK (version >= 0)
);

-- What would be sent to a customer: one row per (order, kind), so neither re-delivery nor a
-- replay records a second one. `id` orders a customer's list (keyset).
CREATE TABLE notifications (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    text        NOT NULL,
    -- order_confirmed, order_rejected, order_cancelled, order_expired, payment_refunded
    kind        text        NOT NULL,
    customer_id text        NOT NULL,
    message     text        NOT NULL,
    -- The time of the event that caused it.
    occurred_at timestamptz NOT NULL,
    event_id    text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (order_id, kind)
);

CREATE INDEX notifications_customer_keyset ON notifications (customer_id, id);

-- Every event of an order's saga, from the four streams: unique per event.
CREATE TABLE saga_timeline (
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL CHECK (sequence >= 0),
    order_id       text        NOT NULL,
    -- order, inventory, credit, payment
    participant    text        NOT NULL,
    event_type     text        NOT NULL,
    -- placed, reserved, rejected, released, authorized, declined, confirmed, …
    outcome        text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    trace_id       text,
    event_id       text,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE INDEX saga_timeline_order
    ON saga_timeline (order_id, occurred_at, aggregate_type, aggregate_id, sequence);
