-- Changes applied to "app" between the first and second demo runs, in one
-- transaction, so every touched row gets the same updated_at (more ties),
-- and one new table.
-- Deterministic; meant to run once after seed.sql.
\set ON_ERROR_STOP on
set client_min_messages = warning;

begin;

-- 50 orders move along (ids 7, 407, 807, ..., 19607).
update orders
   set status = case status
                  when 'new'     then 'paid'
                  when 'paid'    then 'shipped'
                  when 'shipped' then 'cancelled'
                  else 'new'
                end,
       updated_at = now()
 where id % 400 = 7;

-- 200 new orders (ids 20001..20200 after a fresh seed).
insert into orders (customer_id, amount, status, note)
select 1 + (g * 11) % 500,
       round((10 + (g * 7919) % 50000 / 100.0)::numeric, 2),
       'new',
       case
         when g % 4 = 0  then null
         when g % 50 = 1 then E'fresh\ttab and ''quote'''
         else 'fresh order ' || g
       end
from generate_series(1, 200) as g;

-- 1000 new events (ids 50001..51000), all about the new orders.
insert into events (order_id, kind, payload)
select 20001 + g % 200,
       (array['created', 'paid', 'viewed'])[1 + g % 3],
       jsonb_build_object('seq', 50000 + g, 'source', 'demo-change')
from generate_series(1, 1000) as g;

-- 3 customers change.
update customers
   set email = 'changed' || id || '@example.org',
       country = 'SE',
       updated_at = now()
 where id in (3, 250, 500);

-- A table the application gained since the first run: app_mirror's next run picks it up
-- (an identity key, so strategy id) and loads it whole, creating mirror.refunds.
create table refunds (
  id       bigint generated always as identity primary key,
  order_id bigint not null,
  amount   numeric(12,2) not null,
  reason   text,
  at       timestamptz not null default now()
);
insert into refunds (order_id, amount, reason)
select 1 + (g * 97) % 20000,
       round((1 + g * 3.7)::numeric, 2),
       case when g % 3 = 0 then null else 'reason ' || g end
from generate_series(1, 30) as g;

commit;
