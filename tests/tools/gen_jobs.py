#!/usr/bin/env python3
"""Generates input for the example rules of contract 0.2.0, reproducibly:

    gen_jobs.py --job spend|orders|cpu|errors --seed 7 --lines 20000 --out FILE

Times are local (UTC+8) except `orders` (Unix ms); they advance about one
second per 20 lines from --start, with a share of lines a few seconds out of
order, a share minutes late and a share malformed (for each job, lines its
rule must reject). `errors` writes a burst of ERROR lines for one service in
a few minutes so that alerts fire.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random

UTC8 = dt.timedelta(hours=8)


def amount(rng: random.Random) -> str:
    return f"{rng.randint(0, 500)}.{rng.randint(0, 99):02d}"


def line_for(job: str, rng: random.Random, t: dt.datetime, i: int) -> str:
    local = t.strftime("%Y-%m-%d %H:%M:%S")
    if job == "spend":
        value = amount(rng)
        event = {"appkey": f"appkey{rng.randint(1, 5)}", "servertime": local,
                 "consumenum": value, "roleid": f"role{rng.randint(1, 300)}",
                 "serverid": "1"}
        text = json.dumps(event, separators=(",", ":"))
        if rng.random() < 0.5:  # a JSON number, as written by the producer
            text = text.replace(f'"{value}"', value.rstrip("0").rstrip(".") or "0")
        return text
    if job == "orders":
        ts = int((t - UTC8 - dt.datetime(1970, 1, 1)).total_seconds() * 1000) + rng.randint(0, 999)
        return json.dumps({"order_id": f"o{i}", "product": f"p{rng.randint(1, 40)}",
                           "amount": amount(rng), "ts_ms": ts}, separators=(",", ":"))
    if job == "cpu":
        return f"{local} host=web{rng.randint(1, 6)} cpu={rng.randint(0, 100)}.{rng.randint(0, 9)}"
    level = rng.choices(["DEBUG", "INFO", "WARN", "ERROR"], [2, 5, 2, 1])[0]
    service = rng.choice(["payment", "search", "login", "cart"])
    if 2400 <= i % 6000 < 3600:  # a burst: one service failing for a minute
        level, service = "ERROR", "payment"
    return f"{local},{rng.randint(0, 999):03d} {level} [{service}] something happened"


def malformed(job: str, rng: random.Random, t: dt.datetime) -> str:
    local = t.strftime("%Y-%m-%d %H:%M:%S")
    choices = {
        "spend": [f'{{"appkey":"a1","servertime":"{local}","consumenum":"1.005","roleid":"r"}}',
                  f'{{"appkey":"a1","servertime":"2026-13-01 00:00:00","consumenum":1,"roleid":"r"}}',
                  '["not","an","object"]', "{broken"],
        "orders": ['{"order_id":"o","product":"p1","amount":"abc","ts_ms":1}', "nope",
                   '{"order_id":"o","product":"p1","ts_ms":1}'],
        "cpu": [f"{local} host=web1", f"{local} cpu=5", "2026-11-21 99:00:00 host=a cpu=1"],
        "errors": [f"{local},000 FATAL [x] y", f"{local},000 ERROR payment", "short"],
    }[job]
    return rng.choice(choices)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--job", required=True, choices=["spend", "orders", "cpu", "errors"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lines", type=int, default=10000)
    ap.add_argument("--start", default="2026-12-01 23:52:00", help="local time (UTC+8)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    now = dt.datetime.strptime(args.start, "%Y-%m-%d %H:%M:%S")
    with open(args.out, "w", encoding="utf-8", newline="\n") as out:
        for i in range(args.lines):
            if i % 20 == 19:
                now += dt.timedelta(seconds=1)
            roll = rng.random()
            if roll < 0.01:
                out.write(malformed(args.job, rng, now) + "\n")
                continue
            t = now
            if roll < 0.015:
                t = now - dt.timedelta(seconds=rng.randint(120, 600))
            elif roll < 0.065:
                t = now - dt.timedelta(seconds=rng.randint(1, 15))
            out.write(line_for(args.job, rng, t, i) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
