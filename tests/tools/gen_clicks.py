#!/usr/bin/env python3
"""Generates a click-event log for the `clicks` rule (JSON lines, one event
per line, local time UTC+8 in `c_time`), reproducibly from a seed:

    gen_clicks.py --seed 7 --lines 20000 --start "2026-12-01 23:50:00" --out clicks.log

Besides normal events it writes events a few seconds out of order, events
minutes late, malformed lines (not JSON, wrong types, impossible dates,
missing fields) and, by default, crosses local midnight so the day windows
split. Events advance about one second per 20 lines.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lines", type=int, default=10000)
    ap.add_argument("--start", default="2026-12-01 23:50:00",
                    help="local time (UTC+8) of the first event")
    ap.add_argument("--accounts", type=int, default=500)
    ap.add_argument("--jitter-frac", type=float, default=0.05,
                    help="share of events up to 15 s out of order")
    ap.add_argument("--late-frac", type=float, default=0.005,
                    help="share of events 2 to 10 minutes late")
    ap.add_argument("--malformed-frac", type=float, default=0.01)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    now = dt.datetime.strptime(args.start, "%Y-%m-%d %H:%M:%S")
    with open(args.out, "w", encoding="utf-8", newline="\n") as out:
        for i in range(args.lines):
            if i % 20 == 19:
                now += dt.timedelta(seconds=1)
            roll = rng.random()
            if roll < args.malformed_frac:
                out.write(malformed(rng, now) + "\n")
                continue
            t = now
            if roll < args.malformed_frac + args.late_frac:
                t = now - dt.timedelta(seconds=rng.randint(120, 600))
            elif roll < args.malformed_frac + args.late_frac + args.jitter_frac:
                t = now - dt.timedelta(seconds=rng.randint(1, 15))
            event = {
                "account_id": f"id{rng.randint(1, args.accounts)}",
                "client_ip": f"10.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                "client_info": rng.choice(["mi10", "iphone15", "p60", "web"]),
                "p_dt": t.strftime("%Y-%m-%d"),
                "c_time": t.strftime("%Y-%m-%d %H:%M:%S"),
            }
            out.write(json.dumps(event, separators=(",", ":")) + "\n")
    return 0


def malformed(rng: random.Random, now: dt.datetime) -> str:
    c_time = now.strftime("%Y-%m-%d %H:%M:%S")
    return rng.choice([
        "not json at all",
        "",
        '{"account_id":"id1"',
        '{"account_id":7,"c_time":"%s"}' % c_time,
        '{"account_id":"id1"}',
        '{"account_id":"id1","c_time":"2026-02-30 10:00:00"}',
        '{"account_id":"id1","c_time":"%s"}' % now.strftime("%Y/%m/%d %H:%M:%S"),
        '["id1","%s"]' % c_time,
    ])


if __name__ == "__main__":
    raise SystemExit(main())
