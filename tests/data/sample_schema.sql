-- Schema and data of the sample pg_dump archives in tests/data (see make_samples.sh).
-- Row counts are facts the tests check: shop.customers 37, shop.orders 23,
-- audit.attachments 11, audit.empty_log 0, public.settings 5.
-- Values are fixed (no now(), no random()) so regenerated dumps hold the same rows.

CREATE SCHEMA shop;
CREATE SCHEMA audit;

CREATE TABLE shop.customers (
    id integer PRIMARY KEY,
    name text NOT NULL,
    balance numeric(12, 2) NOT NULL,
    joined timestamptz NOT NULL
);

-- 37 rows; names hold a tab, a backslash, a newline and "\." so that a row counter
-- that does not understand COPY escaping would miscount.
INSERT INTO shop.customers
SELECT g,
       CASE g
           WHEN 3 THEN E'tab\there'
           WHEN 5 THEN E'back\\slash'
           WHEN 7 THEN E'two\nlines'
           WHEN 9 THEN E'\\.'
           WHEN 11 THEN 'Zoë Ünïcødé'
           ELSE 'customer ' || g
       END,
       (g * 12.5)::numeric(12, 2),
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 day'
FROM generate_series(1, 37) AS g;

COMMENT ON TABLE shop.customers IS 'Customers of the sample shop';

CREATE TABLE shop.orders (
    id bigserial PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES shop.customers (id),
    payload jsonb NOT NULL,
    total numeric NOT NULL
);

-- 23 rows
INSERT INTO shop.orders (customer_id, payload, total)
SELECT (g % 37) + 1,
       jsonb_build_object('items', g % 5 + 1, 'note', 'order ' || g, 'tags', jsonb_build_array('a', g)),
       g * 3.75
FROM generate_series(1, 23) AS g;

CREATE INDEX orders_customer_idx ON shop.orders (customer_id);

CREATE VIEW shop.big_customers AS
    SELECT id, name, balance FROM shop.customers WHERE balance > 200;

CREATE TABLE audit.attachments (
    id integer PRIMARY KEY,
    data bytea NOT NULL,
    note text
);

-- 11 rows, one with a NULL note
INSERT INTO audit.attachments
SELECT g,
       decode(repeat(lpad(to_hex(g), 2, '0'), g * 3), 'hex'),
       CASE WHEN g = 4 THEN NULL ELSE 'attachment ' || g END
FROM generate_series(1, 11) AS g;

-- 0 rows
CREATE TABLE audit.empty_log (
    id integer,
    at timestamptz,
    message text
);

CREATE SEQUENCE audit.event_seq START 1000 INCREMENT 10;
SELECT nextval('audit.event_seq');

CREATE FUNCTION audit.order_total(customer integer) RETURNS numeric
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(sum(total), 0) FROM shop.orders WHERE customer_id = customer $$;

-- 5 rows
CREATE TABLE public.settings (
    key text PRIMARY KEY,
    value text
);
INSERT INTO public.settings VALUES
    ('currency', 'EUR'), ('tax', '0.19'), ('empty', ''), ('null', NULL), ('motto', 'Backups that restore');

-- One large object with a fixed OID.
SELECT lo_from_bytea(424242, convert_to('hello from a large object', 'UTF8'));
