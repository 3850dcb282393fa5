-- Target database "warehouse" for scripts/demo.sh. Rerunnable: drops the
-- target tables and tidemark's own state, so the next run starts from zero.
-- Same columns, order, types and primary keys as the source (no foreign
-- keys, no defaults: tidemark supplies every value), so rows compare 1:1.
\set ON_ERROR_STOP on
set client_min_messages = warning;
set timezone = 'UTC';  -- the daily partitions below are UTC days, as tidemark's windows

begin;

drop schema if exists analytics cascade;
drop schema if exists tidemark cascade;
-- app_mirror (a selector pipeline with target.create) makes this schema and its tables itself.
drop schema if exists mirror cascade;

create schema analytics;

create table analytics.customers (
  id         int primary key,
  name       text not null,
  email      text,
  country    text,
  updated_at timestamptz not null
);

create table analytics.orders (
  id          bigint primary key,
  customer_id int not null,
  amount      numeric(12,2) not null,
  status      text not null,
  note        text,
  created_at  timestamptz not null,
  updated_at  timestamptz not null
);

create table analytics.events (
  id       bigint primary key,
  order_id bigint,
  kind     text not null,
  payload  jsonb,
  at       timestamptz not null
);

-- The orders again, partitioned by day of created_at (write partition_overwrite):
-- one partition per UTC day from 45 days ago to 2 days ahead, and a default.
create table analytics.orders_daily (
  id          bigint not null,
  customer_id int not null,
  amount      numeric(12,2) not null,
  status      text not null,
  note        text,
  created_at  timestamptz not null,
  updated_at  timestamptz not null,
  primary key (id, created_at)
) partition by range (created_at);
do $$
declare d date;
begin
  for d in select generate_series(current_date - 45, current_date + 2, interval '1 day')::date loop
    execute format('create table analytics.%I partition of analytics.orders_daily for values from (%L) to (%L)',
                   'orders_daily_' || to_char(d, 'YYYYMMDD'), d::timestamptz, (d + 1)::timestamptz);
  end loop;
end $$;
create table analytics.orders_daily_other partition of analytics.orders_daily default;

-- Loaded from file drops (strategy files): each row names its file.
create table analytics.payments (
  payment_id   bigint primary key,
  order_id     bigint not null,
  amount       numeric(12,2) not null,
  method       text,
  _source_file text not null,
  loaded_at    timestamptz not null default now()
);
create index on analytics.payments (_source_file);

commit;
