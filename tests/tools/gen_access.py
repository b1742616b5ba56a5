#!/usr/bin/env python3
"""Deterministic generator of test logs for weir.

--format access (default): nginx "combined" access-log lines, e.g.
    1.2.3.4 - - [21/Nov/2026:10:00:00 +0800] "GET /path HTTP/1.1" 200 1234 "-" "Mozilla/5.0 ..."
--format audit: Hive metastore log lines, e.g.
    2026-11-21 02:15:03,412 INFO  [pool-5-thread-7]: HiveMetaStore.audit (HiveMetaStore.java:logAuditEvent(309)) - ugi=etl ip=/10.10.10.230 cmd=get_table : db=sales tbl=orders
  mixed with other INFO/WARN/ERROR lines, stack traces, and audit lines with
  no table. Audit timestamps carry no zone: they are written in UTC.

Event time mostly advances (exponential gaps, --rate lines per second on
average, and rare silences of 1-4 minutes), with:
  * out-of-order lines going back by up to --jitter-secs (within the allowed
    lateness when --jitter-secs < 10);
  * very late lines going back by --very-late-min-secs..--very-late-max-secs;
  * malformed lines (access: garbage, truncated, bad month "32/Foo/2026",
    impossible dates, bad client IPs, missing quotes, ...; audit: impossible
    dates, audit lines cut before "tbl=", garbage);
  * lines with invalid UTF-8 bytes, empty lines, and a few CRLF line endings;
  * optionally (--boundary-frac) pairs of lines that sit exactly on the
    lateness boundary (window end == watermark: late; one unit less: on time).
Client IPs come from a pool (--ips) with a Zipf-skewed popularity; a few are
IPv6 (written in canonical RFC 5952 form).

The output is a pure function of the arguments: only random.Random.random()
is used, so it is byte-identical across Python 3 versions. Lines are written
as bytes, each ending in "\\n" (or "\\r\\n").

Example:
    gen_access.py --seed 1 --lines 3000 --start 2026-11-21T10:00:00+08:00 --out access.log
    gen_access.py --format audit --seed 2 --lines 2000 --out hive-audit.log
"""

from __future__ import annotations

import argparse
import datetime as _dt
import ipaddress
import math
import random
import sys

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


class Gen:
    def __init__(self, args):
        self.a = args
        self.rng = random.Random(args.seed)
        start = _dt.datetime.fromisoformat(args.start)
        if start.tzinfo is None:
            start = start.replace(tzinfo=_dt.timezone.utc)
        self.zone = start.utcoffset()
        self.clock = start.timestamp()  # float Unix seconds, only moves forward
        self.ips = self.make_ips(args.ips)
        self.ip_cum = []
        total = 0.0
        for rank in range(len(self.ips)):
            total += 1.0 / (rank + 1) ** args.ip_skew
            self.ip_cum.append(total)

    # ---- randomness helpers (only rng.random(): stable across versions) ----
    def r(self) -> float:
        return self.rng.random()

    def below(self, n: int) -> int:
        return min(int(self.r() * n), n - 1)

    def pick(self, seq):
        return seq[self.below(len(seq))]

    def wpick(self, pairs):
        """pairs: [(item, weight), ...]"""
        x = self.r() * sum(w for _, w in pairs)
        for item, w in pairs:
            x -= w
            if x < 0:
                return item
        return pairs[-1][0]

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.r()

    # ---- pools ----
    def make_ips(self, n: int) -> list[str]:
        seen: dict[str, None] = {}
        while len(seen) < n:
            if self.r() < self.a.ipv6_frac:
                hi = self.below(0x10000)
                lo = self.below(0x10000)
                ip = ipaddress.IPv6Address(
                    f"2001:db8:{self.below(0x100):x}:{hi:x}::{lo:x}").compressed
            else:
                first = self.wpick([(10, 2), (172, 1), (192, 1), (None, 6)])
                if first is None:
                    first = 1 + self.below(223)
                    if first in (10, 127, 172, 192):
                        first += 1
                ip = f"{first}.{self.below(256)}.{self.below(256)}.{1 + self.below(254)}"
            seen.setdefault(ip, None)
        return list(seen)

    def ip(self) -> str:
        x = self.r() * self.ip_cum[-1]
        lo, hi = 0, len(self.ip_cum) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.ip_cum[mid] > x:
                hi = mid
            else:
                lo = mid + 1
        return self.ips[lo]

    # ---- time ----
    def next_time(self) -> float:
        """Event time (Unix seconds, float) of the next timestamped line."""
        a = self.a
        x = self.r()
        if x < a.very_late_frac:
            return self.clock - self.uniform(a.very_late_min_secs, a.very_late_max_secs)
        if x < a.very_late_frac + a.jitter_frac:
            return self.clock - self.uniform(0.0, a.jitter_secs)
        gap = -math.log(1.0 - self.r()) / a.rate
        if self.r() < a.gap_frac:
            gap += self.uniform(60.0, 240.0)
        self.clock += gap
        return self.clock

    # ---- access lines ----
    PATHS = ["/", "/index.html", "/favicon.ico", "/login", "/logout", "/cart",
             "/checkout", "/robots.txt", "/static/css/site.css",
             "/static/js/app.3f9a1c.js", "/static/img/logo.png",
             "/api/v1/items", "/api/v1/orders", "/api/v1/user/profile",
             "/search?q=shoes&page=2", "/search?q=rust+wasm", "/health"]
    UAS = [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
         "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", 30),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 "
         "(KHTML, like Gecko) Version/18.1 Safari/605.1.15", 15),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
         "(KHTML, like Gecko) Mobile/15E148", 15),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", 8),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 4),
        ("curl/8.5.0", 3),
        ("python-requests/2.32.3", 2),
        ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Mobile "
         "MicroMessenger/8.0.54 \u5fae\u4fe1", 1),  # valid non-ASCII UTF-8
    ]

    def fmt_access_time(self, t: float, zone=None) -> str:
        zone = self.zone if zone is None else zone
        local = _dt.datetime.fromtimestamp(math.floor(t), _dt.timezone.utc) + zone
        secs = int(zone.total_seconds())
        sign = "+" if secs >= 0 else "-"
        secs = abs(secs)
        return (f"{local.day:02d}/{MONTHS[local.month - 1]}/{local.year:04d}:"
                f"{local.hour:02d}:{local.minute:02d}:{local.second:02d} "
                f"{sign}{secs // 3600:02d}{secs % 3600 // 60:02d}")

    def access_fields(self, t: float) -> dict:
        zone = None
        if self.r() < self.a.other_zone_frac:
            zone = self.pick([_dt.timedelta(0), _dt.timedelta(hours=-5),
                              _dt.timedelta(hours=5, minutes=30)])
        method = self.wpick([("GET", 85), ("POST", 10), ("HEAD", 5)])
        path = self.pick(self.PATHS)
        if path.startswith("/api/v1/items") and self.r() < 0.7:
            path += f"/{self.below(5000)}"
        status = self.wpick([("200", 75), ("304", 8), ("301", 3), ("404", 8),
                             ("206", 2), ("500", 2), ("499", 2)])
        size = (self.pick(["-", "0"]) if status == "304" else str(self.below(60000)))
        referer = "-" if self.r() < 0.6 else "https://shop.example.com" + self.pick(self.PATHS)
        user = "-" if self.r() < 0.97 else "alice"
        return {
            "ip": self.ip(), "user": user, "time": self.fmt_access_time(t, zone),
            "req": f"{method} {path} {self.wpick([('HTTP/1.1', 8), ('HTTP/2.0', 2)])}",
            "status": status, "size": size, "referer": referer,
            "ua": self.wpick(self.UAS),
        }

    @staticmethod
    def join_access(f: dict, common: bool = False) -> str:
        head = (f'{f["ip"]} - {f["user"]} [{f["time"]}] "{f["req"]}" '
                f'{f["status"]} {f["size"]}')
        return head if common else head + f' "{f["referer"]}" "{f["ua"]}"'

    def access_line(self, t: float) -> str:
        return self.join_access(self.access_fields(t), self.r() < self.a.common_frac)

    def malformed_access(self, t: float) -> str:
        f = self.access_fields(t)
        kind = self.below(10)
        if kind == 0:  # random garbage
            n = 5 + self.below(80)
            return "".join(chr(32 + self.below(95)) for _ in range(n))
        if kind == 1:  # truncated inside the user agent (never a valid prefix)
            line = self.join_access(f)
            cut = line.rindex('"', 0, len(line) - 1) + 1 + self.below(max(1, len(f["ua"]) - 1))
            return line[:cut]
        if kind == 2:  # truncated inside the request
            line = self.join_access(f)
            q = line.index('"')
            return line[:q + 1 + self.below(len(f["req"]))]
        if kind == 3:  # bad month and day
            f["time"] = "32/Foo/2026" + f["time"][11:]
            return self.join_access(f)
        if kind == 4:  # matches the pattern but is not a real date/time
            f["time"] = self.pick(["31/Nov/2026", "29/Feb/2026", "00/Nov/2026",
                                   "31/Apr/2026"]) + f["time"][11:]
            if self.r() < 0.5:
                f["time"] = f["time"][:12] + self.pick(["24:00:00", "10:60:00",
                                                        "10:00:60"]) + f["time"][20:]
            return self.join_access(f)
        if kind == 5:  # missing quotes around the request
            return self.join_access(f).replace(f'"{f["req"]}"', f["req"])
        if kind == 6:  # client that is not an IP address
            f["ip"] = self.pick(["999.12.1.1", "10.0.0.256", "10.0.0", "01.2.3.4",
                                 "www.example.com", "-", "unknown", "2001:db8::1::2"])
            return self.join_access(f)
        if kind == 7:  # bad status or size
            if self.r() < 0.5:
                f["status"] = self.pick(["20", "2000", "OK"])
            else:
                f["size"] = self.pick(["12k", "-1", ""])
            return self.join_access(f)
        if kind == 8:  # referer without user agent, or trailing text
            if self.r() < 0.5:
                return self.join_access(f, common=True) + f' "{f["referer"]}"'
            return self.join_access(f) + self.pick([" ", " extra", ' "x"'])
        # kind 9: bad time-zone or bracket syntax
        sub = self.below(4)
        if sub == 0:
            f["time"] = f["time"].replace(" ", " UTC", 1)           # "UTC+0800"
        elif sub == 1:
            f["time"] = f["time"][:-2] + ":" + f["time"][-2:]       # "+08:00"
        elif sub == 2:
            f["time"] = f["time"][:20]                              # no zone
        else:
            return self.join_access(f).replace("] ", " ", 1)        # no "]"
        return self.join_access(f)

    # ---- audit lines ----
    USERS = ["etl", "hive", "analyst", "spark", "airflow"]
    DBS = {"sales": ["orders", "order_items", "customers", "refunds"],
           "ods": ["ods_user_log", "ods_click", "ods_pay_2026"],
           "dw": ["dim_date", "fact_orders", "fact_visits"],
           "default": ["tmp_test", "t1"]}
    TABLE_CMDS = [("get_table", 30), ("get_table_req", 5), ("get_partitions", 8),
                  ("get_partitions_by_names", 4), ("get_partition_names", 4),
                  ("get_table_statistics_req", 3), ("drop_table", 1),
                  ("add_partitions", 2)]

    def fmt_audit_time(self, t: float) -> str:
        ms = math.floor(t * 1000)
        d = _dt.datetime.fromtimestamp(ms // 1000, _dt.timezone.utc)
        return d.strftime("%Y-%m-%d %H:%M:%S") + f",{ms % 1000:03d}"

    def hive_ip(self) -> str:
        if not hasattr(self, "hive_ips"):
            self.hive_ips = [ip for ip in self.ips if ":" not in ip][:max(8, len(self.ips) // 10)]
            cum, total = [], 0.0
            for rank in range(len(self.hive_ips)):
                total += 1.0 / (rank + 1) ** self.a.ip_skew
                cum.append(total)
            self.hive_cum = cum
        x = self.r() * self.hive_cum[-1]
        for i, c in enumerate(self.hive_cum):
            if c > x:
                return self.hive_ips[i]
        return self.hive_ips[-1]

    def audit_prefix(self, ts: str) -> str:
        return (f"{ts} INFO  [pool-5-thread-{1 + self.below(200)}]: HiveMetaStore.audit "
                f"(HiveMetaStore.java:logAuditEvent(309)) - ugi={self.pick(self.USERS)} ")

    def audit_table_line(self, ts: str) -> str:
        db = self.pick(sorted(self.DBS))
        tbl = self.pick(self.DBS[db])
        cmd = self.wpick(self.TABLE_CMDS)
        sep = " : " if self.r() < 0.8 else ": "
        rest = f"cmd={cmd}{sep}db={db} tbl={tbl}"
        if self.r() < self.a.rename_frac:
            rest = f"cmd=alter_table: db={db} tbl={tbl} newtbl={tbl}_v2"
        return self.audit_prefix(ts) + f"ip=/{self.hive_ip()} {rest}"

    def audit_no_table_line(self, ts: str) -> str:
        db = self.pick(sorted(self.DBS))
        rest = self.pick(["cmd=get_all_databases", f"cmd=get_database: {db}",
                          f"cmd=get_tables: db={db} pat=.*", "cmd=get_all_functions",
                          f"cmd=get_table_meta: db={db} tbl_types=null",
                          "cmd=source:10.10.10.5 get_config_value"])
        ip = f"/{self.hive_ip()}"
        if self.r() < 0.15:  # embedded metastore / IPv6 loopback: no IPv4
            ip = self.pick(["unknown-ip-addr", "/0:0:0:0:0:0:0:1"])
            db = self.pick(sorted(self.DBS))
            rest = f"cmd=get_table : db={db} tbl={self.pick(self.DBS[db])}"
        return self.audit_prefix(ts) + f"ip={ip} {rest}"

    def other_lines(self, ts: str) -> list[str]:
        n = self.below(200)
        k = self.below(6)
        if k == 0:
            db = self.pick(sorted(self.DBS))
            return [f"{ts} INFO  [pool-5-thread-{n}]: metastore.HiveMetaStore "
                    f"(HiveMetaStore.java:logInfo(822)) - {n}: get_table : "
                    f"db={db} tbl={self.pick(self.DBS[db])}"]
        if k == 1:
            return [f"{ts} INFO  [pool-5-thread-{n}]: metastore.ObjectStore "
                    "(ObjectStore.java:initializeHelper(379)) - ObjectStore, initialize called"]
        if k == 2:
            return [f"{ts} WARN  [pool-5-thread-{n}]: metastore.ObjectStore "
                    "(ObjectStore.java:getDatabase(712)) - Failed to get database dev, "
                    "returning NoSuchObjectException"]
        if k == 3:
            return [f"{ts} INFO  [HMSHandler-{n}]: txn.TxnHandler "
                    "(TxnHandler.java:performTimeOuts(3892)) - Aborted 0 transactions due to timeout"]
        if k == 4:
            return [f"{ts} INFO  [pool-5-thread-{n}]: metastore.HiveMetaStore "
                    f"(HiveMetaStore.java:newRawStoreForConf(719)) - {n}: Opening raw store "
                    "with implementation class:org.apache.hadoop.hive.metastore.ObjectStore"]
        # an error with a stack trace
        lines = [f"{ts} ERROR [pool-5-thread-{n}]: metastore.RetryingHMSHandler "
                 "(RetryingHMSHandler.java:invokeInternal(201)) - "
                 "NoSuchObjectException(message:dev.tmp table not found)",
                 "\tat org.apache.hadoop.hive.metastore.HiveMetaStore$HMSHandler"
                 ".get_table_core(HiveMetaStore.java:2183)",
                 "\tat org.apache.hadoop.hive.metastore.ObjectStore.getTable(ObjectStore.java:1234)"]
        for _ in range(self.below(3)):
            lines.append(self.pick([
                "\tat sun.reflect.GeneratedMethodAccessor12.invoke(Unknown Source)",
                "\tat java.lang.reflect.Method.invoke(Method.java:498)",
                "\tat com.sun.proxy.$Proxy25.get_table_req(Unknown Source)"]))
        return lines

    def malformed_audit(self, ts: str) -> str:
        kind = self.below(4)
        if kind in (0, 1):  # impossible date/time in an otherwise fine audit line
            if self.r() < 0.6:
                ts = self.pick(["2026-11-31", "2026-02-29", "2026-13-01",
                                "2026-00-10"]) + ts[10:]
            else:
                ts = ts[:11] + self.pick(["24:00:00", "10:60:00", "10:00:60"]) + ts[19:]
            return self.audit_table_line(ts)
        if kind == 2:  # audit line cut before its table
            line = self.audit_table_line(ts)
            return line[:line.index(" tbl=") + self.below(5)]
        return "".join(chr(32 + self.below(95)) for _ in range(5 + self.below(60)))

    # ---- main loop ----
    def lines(self):
        a = self.a
        produced = 0
        while produced < a.lines:
            x = self.r()
            if x < a.empty_frac:
                out = [b""]
            elif x < a.empty_frac + a.malformed_frac:
                t = self.next_time()
                out = [(self.malformed_access(t) if a.format == "access"
                        else self.malformed_audit(self.fmt_audit_time(t))).encode()]
            elif x < a.empty_frac + a.malformed_frac + a.invalid_utf8_frac:
                out = [self.invalid_utf8(self.next_time())]
            elif x < (a.empty_frac + a.malformed_frac + a.invalid_utf8_frac
                      + a.boundary_frac):
                out = self.boundary_pair()
            else:
                t = self.next_time()
                if a.format == "access":
                    out = [self.access_line(t).encode()]
                else:
                    ts = self.fmt_audit_time(t)
                    y = self.r()
                    if y < a.non_audit_frac:
                        out = [s.encode() for s in self.other_lines(ts)]
                    elif y < a.non_audit_frac + a.no_table_frac:
                        out = [self.audit_no_table_line(ts).encode()]
                    else:
                        out = [self.audit_table_line(ts).encode()]
            for line in out:
                if produced >= a.lines:
                    break
                end = b"\r\n" if line and self.r() < a.crlf_frac else b"\n"
                yield line + end
                produced += 1

    def boundary_pair(self) -> list[bytes]:
        """Two valid lines probing the lateness boundary exactly: an anchor at
        B + L (or B + L - 1 unit) that becomes the highest event time, then a
        probe at B - 1 unit, whose minute window ends at B. With the anchor at
        B + L the watermark equals the window end (late); one unit earlier it
        is one unit short of it (on time). B is the next minute boundary, L
        is --boundary-lateness-secs, the unit is 1 s (access) or 1 ms (audit).
        Times are built as whole units + half a unit so flooring is exact."""
        unit = 1 if self.a.format == "access" else 1000  # units per second
        b = (math.floor(self.clock / 60) + 1) * 60 * unit
        anchor = b + self.a.boundary_lateness_secs * unit
        if self.r() < 0.5:
            anchor -= 1
        probe = b - 1
        self.clock = (anchor + 0.5) / unit
        times = [(anchor + 0.5) / unit, (probe + 0.5) / unit]
        if self.a.format == "access":
            return [self.access_line(t).encode() for t in times]
        return [self.audit_table_line(self.fmt_audit_time(t)).encode() for t in times]

    def invalid_utf8(self, t: float) -> bytes:
        if self.a.format == "access":
            line = self.access_line(t).encode()
        else:
            line = self.audit_table_line(self.fmt_audit_time(t)).encode()
        bad = self.pick([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe2\x82",
                         b"\xc0\xaf", b"\xf8\x88\x80\x80\x80"])
        pos = line.index(b" ", len(line) // 2)
        return line[:pos] + bad + line[pos:]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--format", choices=["access", "audit"], default="access")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lines", type=int, default=3000, help="number of lines (default 3000)")
    ap.add_argument("--start", default="2026-11-21T10:00:00+08:00",
                    help="ISO 8601 time of the first line; its UTC offset is the "
                         "access-log zone (default 2026-11-21T10:00:00+08:00)")
    ap.add_argument("--out", default="-", help="output file (default stdout)")
    ap.add_argument("--rate", type=float, default=1.5,
                    help="mean lines per second of event time (default 1.5)")
    ap.add_argument("--ips", type=int, default=2000, help="client IP pool size (default 2000)")
    ap.add_argument("--ip-skew", type=float, default=1.1,
                    help="Zipf exponent of IP popularity (default 1.1)")
    ap.add_argument("--ipv6-frac", type=float, default=0.03,
                    help="fraction of the pool that is IPv6 (default 0.03)")
    ap.add_argument("--jitter-frac", type=float, default=0.08,
                    help="fraction of out-of-order lines (default 0.08)")
    ap.add_argument("--jitter-secs", type=float, default=8,
                    help="out-of-order lines go back by up to this (default 8)")
    ap.add_argument("--very-late-frac", type=float, default=0.005,
                    help="fraction of very late lines (default 0.005)")
    ap.add_argument("--very-late-min-secs", type=float, default=120)
    ap.add_argument("--very-late-max-secs", type=float, default=600)
    ap.add_argument("--malformed-frac", type=float, default=0.01,
                    help="fraction of malformed lines (default 0.01)")
    ap.add_argument("--invalid-utf8-frac", type=float, default=0.002,
                    help="fraction of lines with invalid UTF-8 (default 0.002)")
    ap.add_argument("--empty-frac", type=float, default=0.003,
                    help="fraction of empty lines (default 0.003)")
    ap.add_argument("--crlf-frac", type=float, default=0.002,
                    help="fraction of lines ending in CRLF (default 0.002)")
    ap.add_argument("--gap-frac", type=float, default=0.002,
                    help="chance per line of a 1-4 minute silence first (default 0.002)")
    ap.add_argument("--boundary-frac", type=float, default=0.0,
                    help="chance per line of a pair of lines probing the lateness "
                         "boundary exactly (default 0)")
    ap.add_argument("--boundary-lateness-secs", type=int, default=10,
                    help="allowed lateness the boundary pairs probe (default 10)")
    ap.add_argument("--common-frac", type=float, default=0.02,
                    help="access: fraction in common log format (default 0.02)")
    ap.add_argument("--other-zone-frac", type=float, default=0.01,
                    help="access: fraction written in another UTC offset (default 0.01)")
    ap.add_argument("--non-audit-frac", type=float, default=0.3,
                    help="audit: fraction of non-audit log lines (default 0.3)")
    ap.add_argument("--no-table-frac", type=float, default=0.12,
                    help="audit: fraction of audit lines without tbl= (default 0.12)")
    ap.add_argument("--rename-frac", type=float, default=0.01,
                    help="audit: fraction of table lines that are alter_table with "
                         "newtbl= (default 0.01)")
    args = ap.parse_args(argv)
    if args.rate <= 0 or args.lines < 0 or args.ips < 1:
        ap.error("--rate must be > 0, --lines >= 0, --ips >= 1")
    gen = Gen(args)
    out = sys.stdout.buffer if args.out == "-" else open(args.out, "wb")
    try:
        for line in gen.lines():
            out.write(line)
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
