-- Source database "app" for scripts/demo.sh. Rerunnable: drops and recreates
-- the demo tables. Deterministic: values derive from the row number and a
-- seeded random(); only the timestamps move with the clock.
\set ON_ERROR_STOP on
set client_min_messages = warning;

-- A slot or publication left by an earlier demo run would replay history
-- that the freshly reset warehouse never saw (and block re-creating it).
-- Only this private demo database is touched, only inactive slots.
do $$
declare
  r record;
begin
  for r in select slot_name from pg_replication_slots
           where database = current_database() and not active loop
    perform pg_drop_replication_slot(r.slot_name);
  end loop;
  for r in select pubname from pg_publication loop
    execute format('drop publication %I', r.pubname);
  end loop;
end
$$;

begin;

drop table if exists events, orders, customers, refunds, schema_migrations cascade;

create table customers (
  id         int primary key,
  name       text not null,
  email      text,
  country    text,
  updated_at timestamptz not null default now()
);

create table orders (
  id          bigserial primary key,
  customer_id int not null references customers,
  amount      numeric(12,2) not null,
  status      text not null,
  note        text,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);

create table events (
  id       bigserial primary key,
  order_id bigint,
  kind     text not null,
  payload  jsonb,
  at       timestamptz not null default now()
);

-- An application framework's bookkeeping: not data, so the demo's selector pipeline
-- (app_mirror in configs/demo.yaml) excludes it.
create table schema_migrations (
  version    text primary key,
  applied_at timestamptz not null default now()
);
insert into schema_migrations (version) values ('20260101000000'), ('20260301000000');

-- The seed only fixes random() for this session, so set it right before use.
do $$ begin perform setseed(0.42); end $$;

-- All timestamps hang off one whole hour, so many rows share exact values.
insert into customers (id, name, email, country, updated_at)
select g,
       case
         when g % 50 = 0 then 'Zoë Núñez-' || g
         when g % 50 = 1 then 'Seán O''Brien ' || g
         else 'Customer ' || g
       end,
       case when g % 17 = 0 then null else 'customer' || g || '@example.com' end,
       (array['DE', 'FR', 'US', 'GB', 'JP', 'BR', 'IN', 'NL'])[1 + g % 8],
       date_trunc('hour', now()) - (g % 30) * interval '1 day'
from generate_series(1, 500) as g;

-- updated_at: one of 720 hourly values over the last 30 days, about 28 rows
-- per value (ties!), the newest value included.
insert into orders (id, customer_id, amount, status, note, created_at, updated_at)
select g,
       1 + (g * 37) % 500,
       round((5 + random() * 995)::numeric, 2),
       case
         when g % 20 < 3  then 'new'
         when g % 20 < 9  then 'paid'
         when g % 20 < 18 then 'shipped'
         else 'cancelled'
       end,
       case
         when g % 5 = 0  then null
         when g % 97 = 1 then E'tab\there'
         when g % 97 = 2 then E'line1\nline2'
         when g % 97 = 3 then 'quote''s'
         when g % 97 = 4 then 'ünïcødé ✓'
         when g % 97 = 6 then 'back\slash'      -- a literal backslash
         when g % 97 = 7 then '\N'              -- looks like COPY's NULL marker
         when g % 97 = 8 then ''                -- empty is not NULL
         when g % 97 = 9 then E'crlf\r\nend'
         else 'note ' || g
       end,
       ts - ((g * 13) % 10) * interval '1 day' - (g % 60) * interval '1 minute',
       ts
from generate_series(1, 20000) as g,
     lateral (select date_trunc('hour', now()) - (g % 720) * interval '1 hour' as ts) as t;

create index orders_updated_at_idx on orders (updated_at);

-- Append only: ids and timestamps grow together, ~50 s apart over ~29 days.
insert into events (id, order_id, kind, payload, at)
select g,
       case when g % 50 = 0 then null else 1 + (g * 13) % 20000 end,
       (array['created', 'paid', 'shipped', 'viewed', 'refunded'])[1 + (g * 7) % 5],
       case
         when g % 25 = 0 then null
         when g % 1000 = 1 then jsonb_build_object('seq', g, 'comment', E'naïve "quoted" \\ tab\there')
         else jsonb_build_object('seq', g,
                                 'source', (array['web', 'app', 'api'])[1 + g % 3],
                                 'amount', round((random() * 100)::numeric, 2),
                                 'tags', jsonb_build_array('t' || g % 7, 't' || g % 11))
       end,
       date_trunc('hour', now()) - interval '30 days' + g * interval '50 seconds'
from generate_series(1, 50000) as g;

-- Explicit ids above don't advance the sequences; changes.sql relies on them.
select setval(pg_get_serial_sequence('orders', 'id'), 20000) as orders_seq,
       setval(pg_get_serial_sequence('events', 'id'), 50000) as events_seq \gset

commit;

analyze customers, orders, events, schema_migrations;
