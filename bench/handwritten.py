#!/usr/bin/env python3
"""The hand-written contender of bench/run.sh: copy a table the way many teams do by hand.

A server-side (named) cursor streams the source in batches; each batch is upserted into the
target with psycopg2.extras.execute_values(INSERT ... ON CONFLICT (key) DO UPDATE ...); the
whole copy commits once at the end. Prints the number of rows copied.

    handwritten.py --source "dbname=bench_src" --target "dbname=bench_py" --table public.src_n

Connection strings are libpq DSNs; PGHOST, PGPORT and PGUSER from the environment apply.
"""
import argparse
import sys

import psycopg2
import psycopg2.extras
from psycopg2 import sql


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True, help="source DSN")
    ap.add_argument("--target", required=True, help="target DSN")
    ap.add_argument("--table", required=True, help="schema.table, the same name on both sides")
    ap.add_argument("--key", default="id", help="key column (default: id)")
    ap.add_argument("--where", default=None, help="optional SQL filter on the source")
    ap.add_argument("--batch", type=int, default=10000, help="rows per fetch (default: 10000)")
    ap.add_argument("--page", type=int, default=1000, help="rows per INSERT statement (default: 1000)")
    args = ap.parse_args()

    schema, _, name = args.table.rpartition(".")
    table = sql.Identifier(schema or "public", name)

    src = psycopg2.connect(args.source)
    dst = psycopg2.connect(args.target)
    # jsonb arrives as a dict; hand it back to the server as JSON.
    psycopg2.extras.register_default_jsonb(conn_or_curs=src, loads=lambda s: s)

    with src.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(table))
        cols = [d.name for d in cur.description]
    if args.key not in cols:
        print(f"handwritten.py: key column {args.key!r} not in {cols}", file=sys.stderr)
        return 2
    others = [c for c in cols if c != args.key]

    select = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(map(sql.Identifier, cols)), table)
    if args.where:
        select = sql.SQL("{} WHERE {}").format(select, sql.SQL(args.where))
    upsert = sql.SQL("INSERT INTO {} ({}) VALUES %s ON CONFLICT ({}) DO UPDATE SET {}").format(
        table,
        sql.SQL(", ").join(map(sql.Identifier, cols)),
        sql.Identifier(args.key),
        sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in others),
    )
    upsert_text = upsert.as_string(dst)

    copied = 0
    with src.cursor(name="handwritten_extract") as rd, dst.cursor() as wr:
        rd.itersize = args.batch
        rd.execute(select)
        while True:
            rows = rd.fetchmany(args.batch)
            if not rows:
                break
            psycopg2.extras.execute_values(wr, upsert_text, rows, page_size=args.page)
            copied += len(rows)
    dst.commit()
    src.rollback()
    src.close()
    dst.close()
    print(copied)
    return 0


if __name__ == "__main__":
    sys.exit(main())
