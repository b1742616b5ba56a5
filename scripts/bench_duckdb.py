#!/usr/bin/env python3
"""DuckDB baseline for the pvuv benchmark (scripts/bench.sh).

Computes what the pvuv rule computes per minute, in SQL over the raw log
file, and times it (both statements, end to end from the file):

  * read the file as lines (read_csv: one VARCHAR column, no quoting or
    escaping), extract the client IP and the timestamp with regexp_extract
    and parse the time with strptime('%d/%b/%Y:%H:%M:%S %z'), in parallel,
    into a temporary table whose rowid is the line's position in the file;
  * keep the lines weir's parser accepts: a whole combined or common format
    line, a valid IPv4/IPv6 client and a real timestamp;
  * drop the lines that are late under weir's watermark rule: the running
    maximum event time of the *previous* valid lines in file order (a window
    function over rowid), minus the allowed lateness, is at or past the end
    of the line's minute window;
  * per minute: count(*) (pv) and count(DISTINCT ip) (uv).

Usage:
    bench_duckdb.py LOG [--repeat 3] [--threads N] [--lateness-secs 10]
                        [--out minutes.tsv] [--show 5]

Prints each run's time, then a line `RESULT lines=... best_secs=...
lines_per_sec=... threads=...` for scripts. --out writes the result as
`minute_start_unix_secs<TAB>pv<TAB>uv` lines, oldest first.
"""

from __future__ import annotations

import argparse
import sys
import time

try:
    import duckdb
except ImportError:  # bench.sh installs it; say so when run by hand
    sys.exit("bench_duckdb.py: the duckdb module is missing: python3 -m pip install duckdb")

MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"

# A whole access-log line, as weir's parser accepts it: client, ident and user
# are runs of non-blank characters; a 26-character timestamp; a quoted request;
# a three-digit status; a byte count or "-"; optionally a quoted referer and a
# quoted user agent; single spaces; nothing after. A trailing CR is allowed
# (weir strips it with the line ending).
LINE = (
    r'^(?P<ip>\S+) \S+ \S+ '
    r'\[(?P<ts>\d{2}/(?:' + MONTHS + r')/\d{4}:\d{2}:\d{2}:\d{2} [+-](?:[01]\d|2[0-3])[0-5]\d)\] '
    r'"[^"]*" \d{3} (?:\d+|-)(?: "[^"]*" "[^"]*")?\r?$'
)

# Client addresses: IPv4 without leading zeros, or IPv6 (RFC 4291 text forms,
# with an optional trailing dotted IPv4; no zone).
OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)"
IPV4 = rf"{OCTET}(?:\.{OCTET}){{3}}"
H = r"[0-9a-fA-F]{1,4}"
IPV6 = (
    "(?:"
    + "|".join(
        [
            rf"(?:{H}:){{7}}{H}",
            rf"(?:{H}:){{1,7}}:",
            rf"(?:{H}:){{1,6}}:{H}",
            rf"(?:{H}:){{1,5}}(?::{H}){{1,2}}",
            rf"(?:{H}:){{1,4}}(?::{H}){{1,3}}",
            rf"(?:{H}:){{1,3}}(?::{H}){{1,4}}",
            rf"(?:{H}:){{1,2}}(?::{H}){{1,5}}",
            rf"{H}:(?::{H}){{1,6}}",
            rf":(?:(?::{H}){{1,7}}|:)",
            rf"(?:{H}:){{6}}{IPV4}",
            rf"(?:{H}:){{1,5}}:{IPV4}",
            rf"(?:{H}:){{1,4}}:(?:{H}:){{1,1}}{IPV4}",
            rf"(?:{H}:){{1,3}}:(?:{H}:){{1,2}}{IPV4}",
            rf"(?:{H}:){{1,2}}:(?:{H}:){{1,3}}{IPV4}",
            rf"{H}::(?:{H}:){{1,4}}{IPV4}",
            rf"::(?:{H}:){{0,5}}{IPV4}",
        ]
    )
    + ")"
)
CLIENT = rf"^(?:{IPV4}|{IPV6})$"


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def statements(path: str, lateness_ms: int) -> tuple[str, str]:
    """The two statements of one run.

    The first reads and parses every line in parallel into a temporary table;
    DuckDB keeps insertion order, so the table's rowid is the line's position
    in the file (a `row_number() OVER ()` over the CSV scan instead would
    force the whole parse onto one thread, about 3x slower). The second
    applies the watermark in file order and aggregates per minute.
    """
    parse = f"""
CREATE OR REPLACE TEMP TABLE parsed AS
SELECT f.ip AS ip, epoch_ms(try_strptime(f.ts, '%d/%b/%Y:%H:%M:%S %z')) AS t
FROM (
    SELECT regexp_extract(line, {sql_string(LINE)}, ['ip', 'ts']) AS f
    FROM read_csv({sql_string(path)},
                  columns = {{'line': 'VARCHAR'}},
                  delim = {sql_string(chr(31))}, quote = '', escape = '',
                  header = false, auto_detect = false, strict_mode = false)
)
"""
    aggregate = f"""
WITH valid AS (
    SELECT rowid AS rn, ip, t
    FROM parsed
    WHERE t IS NOT NULL AND ip <> '' AND regexp_full_match(ip, {sql_string(CLIENT)})
),
timed AS (
    SELECT ip, t // 60000 * 60000 AS minute_ms,
           max(t) OVER (ORDER BY rn ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
               AS prev_max
    FROM valid
)
SELECT minute_ms // 1000 AS minute, count(*) AS pv, count(DISTINCT ip) AS uv
FROM timed
WHERE prev_max IS NULL OR prev_max - {lateness_ms} < minute_ms + 60000
GROUP BY minute_ms
ORDER BY minute_ms
"""
    return parse, aggregate


def count_lines(path: str) -> int:
    """Lines as weir counts them: every "\\n", plus an unterminated last line."""
    n = 0
    last = b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs; the best is reported (default 3)")
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (default: all cores)")
    ap.add_argument("--lateness-secs", type=int, default=10, help="allowed lateness (default 10)")
    ap.add_argument("--out", help="write minute<TAB>pv<TAB>uv lines here")
    ap.add_argument("--show", type=int, default=5, help="result rows to print (default 5)")
    args = ap.parse_args(argv)

    lines = count_lines(args.log)
    con = duckdb.connect()
    if args.threads > 0:
        con.execute(f"SET threads = {args.threads}")
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    parse, aggregate = statements(args.log, args.lateness_secs * 1000)
    times = []
    rows = []
    for run in range(1, max(1, args.repeat) + 1):
        started = time.perf_counter()
        con.execute(parse)
        rows = con.execute(aggregate).fetchall()
        elapsed = time.perf_counter() - started
        con.execute("DROP TABLE parsed")
        times.append(elapsed)
        print(f"duckdb run {run}: {elapsed:.3f} s  {lines / elapsed:,.0f} lines/s  ({threads} threads)", flush=True)
    best = min(times)
    pv = sum(r[1] for r in rows)
    print(f"duckdb {duckdb.__version__}: {len(rows)} minutes, {pv:,} on-time valid lines of {lines:,}")
    print("minute (UTC)          start        pv     uv")
    for minute, pv_m, uv_m in rows[: args.show]:
        stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(minute))
        print(f"{stamp}  {minute:>12} {pv_m:>6} {uv_m:>6}")
    if args.out:
        with open(args.out, "w") as out:
            for minute, pv_m, uv_m in rows:
                out.write(f"{minute}\t{pv_m}\t{uv_m}\n")
    print(f"RESULT lines={lines} best_secs={best:.4f} lines_per_sec={lines / best:.0f} threads={threads}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
