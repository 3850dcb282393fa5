-- First start of the postgres service of docker-compose.yml (the official image runs the
-- *.sql files of /docker-entrypoint-initdb.d once, on an empty data directory, as the
-- superuser in database "postgres"). Does what scripts/demo.sh does to its private cluster:
-- creates the source "app" and the target "warehouse", seeds app and creates the target
-- tables. scripts/demo/ is mounted at /tidemark-demo (not in initdb.d: the image would also
-- run those files, against "postgres").
\set ON_ERROR_STOP on
create database app;
create database warehouse;
\connect app
\i /tidemark-demo/seed.sql
\connect warehouse
\i /tidemark-demo/warehouse.sql
