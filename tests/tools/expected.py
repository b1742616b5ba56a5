#!/usr/bin/env python3
"""Independent test oracle for weir: the Redis hashes a rule must produce.

Reads a log file as bytes and prints (or writes with --out) the exact hashes
weir must leave in Redis for one rule, as JSON:

    {"weir:pvuv:pv:60:1795226400": {"total": "17"}, ...}

keys sorted, fields sorted, values decimal strings. A summary (valid, rejected,
skipped, late) goes to stderr. This file shares no code with weir: it is a
second, deliberately plain implementation of the semantics below.

Usage:
    expected.py --rule pvuv|ip-count|hive-audit [--lateness-secs 10]
                [--day-offset-secs 0] [--out FILE] [--trace] LOG
    expected.py --self-test

Semantics (the contract the Rust implementation is checked against)
---------------------------------------------------------------------
Lines
  * The file is split on b"\\n". A final segment without "\\n" is a line if it
    is not empty (so a file ending in "\\n" has no extra empty last line).
  * One trailing b"\\r" is stripped from each line.
  * A line that is not valid UTF-8 (strict, as Rust's str::from_utf8) is
    REJECTED, for every rule.

pvuv and ip-count (access-log rules)
  * An empty line is REJECTED.
  * A line is valid iff it fully matches the combined OR common log format
        ^(\\S+) \\S+ \\S+ \\[(\\d{2})/(Jan|Feb|...|Dec)/(\\d{4}):(\\d{2}):(\\d{2}):(\\d{2})
        ([+-]\\d{4})\\] "([^"]*)" (\\d{3}) (\\d+|-)( "([^"]*)" "([^"]*)")?$
    (one line; single spaces), where \\d is an ASCII digit, \\S is any
    character but ASCII white space, month names are case-sensitive, and:
      - group 1 (client) is a valid IPv4 address (four decimal octets 0-255,
        no leading zeros) or a valid IPv6 address (hex groups, "::", optional
        trailing dotted IPv4; no zone "%...");
      - the date/time is a real one: day exists in that month/year (Gregorian,
        year 0001-9999), hour 00-23, minute 00-59, second 00-59;
      - the UTC offset has hours 00-23 and minutes 00-59.
    Event time = that instant in Unix milliseconds (UTC).
  * Anything else is REJECTED and not counted.
  * The group key "client IP" is the client field exactly as written.

hive-audit
  * A line is considered only if it contains "HiveMetaStore.audit" (i.e.
    matches .*HiveMetaStore\\.audit.*); otherwise it is SKIPPED.
  * A considered line is read by hand (no regular expression: the rule uses
    one, and the oracle must not share its reading), in three steps, each
    with ASCII digits:
      - time: the first "YYYY-MM-DD HH:MM:SS,mmm" in the line (it may start
        inside a longer run of digits);
      - ip: after the time, the LAST "ip=/a.b.c.d" (a, b, c of 1-3 digits
        followed by "."; d the next 1-3 digits) that has a "tbl=" followed by
        a letter, digit or "_" somewhere after it;
      - table: after that ip, the LAST "tbl=" followed by [a-zA-Z0-9_]; the
        table is the longest run of those characters.
    Any step failing -> SKIPPED (not counted). So "tbl=orders
    newtbl=orders_v2" yields "orders_v2" (the last "tbl="), as the Flink job's
    greedy expression does.
  * Event time = the timestamp read as UTC, millisecond precision. An
    impossible date/time -> REJECTED (not counted).
  * Group keys: by_ip = the ip capture, by_table = the tbl capture.

Watermark and lateness (one watermark per rule)
  * Valid lines are processed in file order. max_t = the highest event time
    (ms) of this rule's valid lines BEFORE the current one; watermark =
    max_t - lateness_ms (minus infinity before the first valid line).
    Rejected and skipped lines never move it.
  * Tumbling window of S seconds, off = day_offset_secs * 1000:
        start = floor((t - off) / S_ms) * S_ms + off,  end = start + S_ms.
    The line is LATE for that window if end <= watermark; it is then not added
    to that window (it may still be added to the line's other windows).
  * Cumulative window (size D, step s), as Flink's CUMULATE: the window of
    size D containing t (start = floor((t - off) / D_ms) * D_ms + off,
    end = start + D_ms) is published as the step windows
    [start, start + k * s_ms) for k = 1 .. D/s, step k when the watermark
    reaches its end. The line belongs to every step window whose end is > t
    and counts in those not closed when it arrives (end > watermark), i.e.
    in the steps ending after max(t, watermark): its first step ends at
    floor_start(max(t, watermark), s_ms) + s_ms. So a line late for its own
    step but not for the window counts in the steps still open and in the
    final value, and a step's value never changes once published.
    The line is LATE for the cumulative window only if end <= watermark (the
    whole window has closed); it is then not added. The output (end of input
    closes every window, so this is the last step) is the aggregate over ALL
    lines added to the window; step k's value is the aggregate over the added
    lines whose first step ends at or before start + k * s_ms.
  * After handling the line, max_t = max(max_t, t).

Rules
  * pvuv: pv = count, uv = distinct client IP; group key "total"; windows
    tumbling 60 s and cumulative (86400 s, step 60 s).
  * ip-count: requests = count, group key = client IP; tumbling 60 s.
  * hive-audit: by_ip = count (key = ip), by_table = count (key = table);
    tumbling 60 s.
  * clicks (JSON click events, see parse_clicks): pv = count, uv = distinct
    account_id; group key "total"; windows as pvuv's.

Output
  * Key weir:{rule}:{metric}:{S}:{T}: S = window size in seconds (D for a
    cumulative window), T = window start in Unix seconds; field = group key;
    value = decimal string of the aggregate (count, or number of distinct
    members). Windows with no added lines have no key.

Summary (stderr)
  * valid / rejected / skipped: lines. late: line x window pairs dropped,
    counting each distinct window of the rule once per line (pvuv's pv and uv
    share their windows). late_updates: line x metric x window pairs dropped.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
import sys
from dataclasses import dataclass, field

EPOCH = _dt.datetime(1970, 1, 1)

MONTHS = {
    "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
    "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}

_NS = r"[^ \t\n\r\f\v]"  # \S restricted to ASCII white space
ACCESS_RE = re.compile(
    r"(" + _NS + r"+) " + _NS + r"+ " + _NS + r"+ "
    r"\[([0-9]{2})/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/([0-9]{4})"
    r":([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})\] "
    r'"([^"]*)" ([0-9]{3}) ([0-9]+|-)( "([^"]*)" "([^"]*)")?'
)

AUDIT_MARK = "HiveMetaStore.audit"

VALID, REJECTED, SKIPPED = "valid", "rejected", "skipped"


# ----------------------------------------------------------------- parsing ---

def valid_ipv4(s: str) -> bool:
    parts = s.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not (1 <= len(p) <= 3) or not all("0" <= c <= "9" for c in p):
            return False
        if len(p) > 1 and p[0] == "0":
            return False
        if int(p) > 255:
            return False
    return True


def valid_ipv6(s: str) -> bool:
    """RFC 4291 text form: 8 groups of 1-4 hex digits, at most one "::"
    standing for one or more zero groups, optionally ending in a dotted IPv4
    address that stands for the last two groups. No zone ("%eth0")."""
    if not s or not all(c in "0123456789abcdefABCDEF:." for c in s):
        return False
    if "." in s:
        head, sep, v4 = s.rpartition(":")
        if not sep or not valid_ipv4(v4):
            return False
        s = head + ":0:0"
    if s.count("::") > 1:
        return False
    if "::" in s:
        left, right = s.split("::")
        groups = (left.split(":") if left else []) + (right.split(":") if right else [])
        if len(groups) > 7:
            return False
    else:
        groups = s.split(":")
        if len(groups) != 8:
            return False
    return all(1 <= len(g) <= 4 and "." not in g for g in groups)


def valid_ip(s: str) -> bool:
    return valid_ipv4(s) or valid_ipv6(s)


def to_ms(y, mo, d, h, mi, s, ms=0, offset_secs=0):
    """Unix ms of a local date/time with a UTC offset, or None if impossible."""
    try:
        local = _dt.datetime(y, mo, d, h, mi, s)
    except ValueError:
        return None
    secs = (local - EPOCH) // _dt.timedelta(seconds=1) - offset_secs
    return secs * 1000 + ms


def parse_access(line: str):
    """-> (VALID, {"t": ms, "ip": str}) or (REJECTED, reason)."""
    if line == "":
        return REJECTED, "empty line"
    m = ACCESS_RE.fullmatch(line)
    if m is None:
        return REJECTED, "not in combined/common log format"
    ip = m.group(1)
    if not valid_ip(ip):
        return REJECTED, "client is not an IP address"
    oh, om = int(m.group(9)), int(m.group(10))
    if oh > 23 or om > 59:
        return REJECTED, "bad UTC offset"
    off = (oh * 3600 + om * 60) * (1 if m.group(8) == "+" else -1)
    t = to_ms(int(m.group(4)), MONTHS[m.group(3)], int(m.group(2)),
              int(m.group(5)), int(m.group(6)), int(m.group(7)), 0, off)
    if t is None:
        return REJECTED, "impossible date/time"
    return VALID, {"t": t, "ip": ip}


def parse_hive(line: str):
    """-> (VALID, {"t", "ip", "tbl"}), (SKIPPED, why) or (REJECTED, why)."""
    if AUDIT_MARK not in line:
        return SKIPPED, "not an audit line"
    found = read_audit(line)
    if found is None:
        return SKIPPED, "audit line without timestamp/ip/tbl"
    (y, mo, d, h, mi, s, ms), ip, tbl = found
    t = to_ms(y, mo, d, h, mi, s, ms, 0)
    if t is None:
        return REJECTED, "impossible date/time"
    return VALID, {"t": t, "ip": ip, "tbl": tbl}


def _digits(s: str) -> bool:
    return s != "" and all("0" <= c <= "9" for c in s)


def _word(c: str) -> bool:
    return c == "_" or ("0" <= c <= "9") or ("a" <= c.lower() <= "z" and c.isascii())


# "YYYY-MM-DD HH:MM:SS,mmm": positions of the digit runs and their separators.
_STAMP_SHAPE = "dddd-dd-dd dd:dd:dd,ddd"


def _stamp_at(line: str, i: int):
    """The timestamp fields if `_STAMP_SHAPE` is at `line[i:]`, else None."""
    chunk = line[i:i + len(_STAMP_SHAPE)]
    if len(chunk) != len(_STAMP_SHAPE):
        return None
    for c, want in zip(chunk, _STAMP_SHAPE):
        if (want == "d" and not _digits(c)) or (want != "d" and c != want):
            return None
    return (int(chunk[0:4]), int(chunk[5:7]), int(chunk[8:10]), int(chunk[11:13]),
            int(chunk[14:16]), int(chunk[17:19]), int(chunk[20:23]))


def _ip_at(line: str, i: int):
    """The dotted address after "ip=/" at `line[i:]`, else None."""
    j = i + len("ip=/")
    octets = []
    for n in range(4):
        k = j
        while k < len(line) and k - j < 3 and _digits(line[k]):
            k += 1
        if k == j:
            return None
        if n < 3:
            # A fourth digit before the dot cannot match \d{1,3}\.
            if k >= len(line) or line[k] != ".":
                return None
            octets.append(line[j:k])
            j = k + 1
        else:
            octets.append(line[j:k])
            j = k
    return ".".join(octets), j


def _last_table(line: str, start: int):
    """The table of the last "tbl=<word>" at or after `start`, else None."""
    i = line.rfind("tbl=", start)
    while i != -1:
        j = i + len("tbl=")
        k = j
        while k < len(line) and _word(line[k]):
            k += 1
        if k > j:
            return line[j:k]
        i = line.rfind("tbl=", start, i + len("tbl=") - 1)
    return None


def read_audit(line: str):
    """(time fields, ip, table) of an audit line, or None (see the docstring)."""
    stamp = None
    for i in range(len(line)):
        stamp = _stamp_at(line, i)
        if stamp is not None:
            after_stamp = i + len(_STAMP_SHAPE)
            break
    if stamp is None:
        return None
    i = line.rfind("ip=/", after_stamp)
    while i != -1:
        ip = _ip_at(line, i)
        if ip is not None:
            table = _last_table(line, ip[1])
            if table is not None:
                return stamp, ip[0], table
        i = line.rfind("ip=/", after_stamp, i + len("ip=/") - 1)
    return None


# The clicks rule's default `utc_offset_secs`: `c_time` is local time in UTC+8.
CLICKS_UTC_OFFSET_SECS = 28800


def parse_clicks(line: str):
    """-> (VALID, {"t": ms, "account": str}) or (REJECTED, reason).

    A JSON object (as RFC 8259: no NaN, one value per line) with string
    fields `account_id` and `c_time`, the latter "YYYY-MM-DD HH:MM:SS" in
    local time UTC+8; other fields are ignored."""
    try:
        obj = json.loads(line, parse_constant=_no_constant)
    except ValueError as e:
        return REJECTED, f"not JSON: {e}"
    if not isinstance(obj, dict):
        return REJECTED, "not a JSON object"
    account, c_time = obj.get("account_id"), obj.get("c_time")
    if not isinstance(account, str) or not isinstance(c_time, str):
        return REJECTED, "account_id and c_time must be strings"
    if len(c_time) != 19 or not all(
            (c in "0123456789") if want == "d" else (c == want)
            for c, want in zip(c_time, "dddd-dd-dd dd:dd:dd")):
        return REJECTED, "c_time is not YYYY-MM-DD HH:MM:SS"
    t = to_ms(int(c_time[0:4]), int(c_time[5:7]), int(c_time[8:10]),
              int(c_time[11:13]), int(c_time[14:16]), int(c_time[17:19]), 0,
              CLICKS_UTC_OFFSET_SECS)
    if t is None:
        return REJECTED, "impossible date/time"
    return VALID, {"t": t, "account": account}


# The 0.2.0 example rules read local time in UTC+8 by default.
LOCAL_UTC_OFFSET_SECS = 28800
_DECIMAL_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _local_ms(text: str, with_millis: bool = False):
    """"YYYY-MM-DD HH:MM:SS[,mmm]" in UTC+8 -> ms, or None."""
    pattern = "dddd-dd-dd dd:dd:dd" + (",ddd" if with_millis else "")
    if len(text) != len(pattern) or not all(
            (c in "0123456789") if want == "d" else (c == want)
            for c, want in zip(text, pattern)):
        return None
    ms = int(text[20:23]) if with_millis else 0
    return to_ms(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                 int(text[14:16]), int(text[17:19]), ms, LOCAL_UTC_OFFSET_SECS)


def _amount(raw, scale=2):
    """A JSON number (as Decimal) or a string holding a decimal -> Decimal
    with at most `scale` non-zero decimals, or None."""
    from decimal import Decimal
    if isinstance(raw, str):
        if not _DECIMAL_RE.fullmatch(raw):
            return None
        raw = Decimal(raw)
    if not isinstance(raw, Decimal) or not raw.is_finite():
        return None
    if raw * 10 ** scale != int(raw * 10 ** scale):
        return None
    return raw


def _json_object(line: str):
    from decimal import Decimal
    try:
        obj = json.loads(line, parse_constant=_no_constant, parse_float=Decimal,
                         parse_int=Decimal)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def parse_spend(line: str):
    obj = _json_object(line)
    if obj is None:
        return REJECTED, "not a JSON object"
    app, when, role = obj.get("appkey"), obj.get("servertime"), obj.get("roleid")
    if not all(isinstance(v, str) for v in (app, when, role)):
        return REJECTED, "appkey, servertime and roleid must be strings"
    t, amount = _local_ms(when), _amount(obj.get("consumenum"))
    if t is None or amount is None:
        return REJECTED, "bad servertime or consumenum"
    return VALID, {"t": t, "appkey": app, "amount": amount, "roleid": role}


def parse_orders(line: str):
    from decimal import Decimal
    obj = _json_object(line)
    if obj is None:
        return REJECTED, "not a JSON object"
    product, amount, ts = obj.get("product"), _amount(obj.get("amount")), obj.get("ts_ms")
    if not isinstance(product, str) or amount is None or not isinstance(ts, Decimal) \
            or ts != int(ts):
        return REJECTED, "bad product, amount or ts_ms"
    return VALID, {"t": int(ts), "product": product, "amount": amount}


def parse_cpu(line: str):
    t = _local_ms(line[:19])
    fields = dict(p.split("=", 1) for p in line[19:].split() if "=" in p)
    host, cpu = fields.get("host"), fields.get("cpu")
    amount = _amount(cpu) if cpu is not None else None
    if t is None or not host or amount is None:
        return REJECTED, "bad time, host= or cpu="
    return VALID, {"t": t, "host": host, "cpu": amount}


def parse_errors(line: str):
    t = _local_ms(line[:23], with_millis=True)
    parts = line[23:].split()
    if t is None or len(parts) < 2 or parts[0] not in ("DEBUG", "INFO", "WARN", "ERROR") \
            or not (parts[1].startswith("[") and parts[1].endswith("]") and len(parts[1]) > 2):
        return REJECTED, "bad time, level or [service]"
    if parts[0] != "ERROR":
        return SKIPPED, "not an ERROR line"
    return VALID, {"t": t, "service": parts[1][1:-1]}


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


# ------------------------------------------------------------------- rules ---

@dataclass(frozen=True)
class Tumbling:
    size: int  # seconds

    def label(self) -> int:
        return self.size


@dataclass(frozen=True)
class Cumulative:
    size: int  # seconds
    step: int  # seconds

    def label(self) -> int:
        return self.size


@dataclass
class Metric:
    name: str
    agg: str  # "count" | "distinct" | "decimal" | "avg" | "quantiles"
    windows: list
    key: object  # record -> group key
    member: object = None  # record -> member (distinct)
    value: object = None  # record -> Decimal (decimal, avg, quantiles)
    scale: int = 2  # decimal, avg: digits after the point
    quantiles: tuple = ()  # quantiles: parts per million, e.g. (500000, 990000)


def _suffix(ppm: int) -> str:
    whole, frac = divmod(ppm, 10000)
    frac = ("%04d" % frac).rstrip("0")
    return f"_p{whole}" + (f"_{frac}" if frac else "")


def _fmt_units(units: int, scale: int) -> str:
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10 ** scale)
    return f"{sign}{whole}" + (f".{frac:0{scale}d}" if scale else "")


def _mean_units(units: int, count: int) -> int:
    q, r = divmod(abs(units), count)
    if 2 * r > count or (2 * r == count and q % 2 == 1):
        q += 1
    return -q if units < 0 else q


def publish(m: Metric, metric_key: str, value) -> dict:
    """-> {output key: value str}: one output per quantile, else one."""
    if m.agg == "count":
        return {metric_key: str(value)}
    if m.agg == "distinct":
        return {metric_key: str(len(value))}
    if m.agg == "decimal":
        return {metric_key: _fmt_units(int(value * 10 ** m.scale), m.scale)}
    if m.agg == "avg":
        total, count = value
        return {metric_key: _fmt_units(_mean_units(int(total * 10 ** m.scale), count), m.scale)}
    values = sorted(value)
    out = {}
    for ppm in m.quantiles:
        rank = ppm * (len(values) - 1) // 1000000
        parts = metric_key.split(":")  # weir, rule, metric, size, start
        parts[2] += _suffix(ppm)
        key = ":".join(parts)
        out[key] = repr(float(values[rank]))
    return out


@dataclass
class Rule:
    name: str
    parse: object
    metrics: list = field(default_factory=list)


PVUV_WINDOWS = [Tumbling(60), Cumulative(86400, 60)]
RULES = {
    "pvuv": Rule("pvuv", parse_access, [
        Metric("pv", "count", PVUV_WINDOWS, lambda r: "total"),
        Metric("uv", "distinct", PVUV_WINDOWS, lambda r: "total", lambda r: r["ip"]),
    ]),
    "ip-count": Rule("ip-count", parse_access, [
        Metric("requests", "count", [Tumbling(60)], lambda r: r["ip"]),
    ]),
    "clicks": Rule("clicks", parse_clicks, [
        Metric("pv", "count", PVUV_WINDOWS, lambda r: "total"),
        Metric("uv", "distinct", PVUV_WINDOWS, lambda r: "total", lambda r: r["account"]),
    ]),
    "spend": Rule("spend", parse_spend, [
        Metric("spend", "decimal", PVUV_WINDOWS, lambda r: r["appkey"],
               value=lambda r: r["amount"]),
        Metric("payers", "distinct", [Cumulative(86400, 60)], lambda r: r["appkey"],
               lambda r: r["roleid"]),
    ]),
    "orders": Rule("orders", parse_orders, [
        Metric("gmv", "decimal", PVUV_WINDOWS, lambda r: "total", value=lambda r: r["amount"]),
        Metric("by_product", "decimal", [Tumbling(60)], lambda r: r["product"],
               value=lambda r: r["amount"]),
    ]),
    "cpu": Rule("cpu", parse_cpu, [
        Metric("cpu_avg", "avg", [Tumbling(60)], lambda r: r["host"], value=lambda r: r["cpu"]),
        Metric("cpu", "quantiles", [Tumbling(60)], lambda r: r["host"],
               value=lambda r: r["cpu"], quantiles=(500000, 750000, 990000)),
    ]),
    "errors": Rule("errors", parse_errors, [
        Metric("errors", "count", [Tumbling(60)], lambda r: r["service"]),
    ]),
    "risk": Rule("risk", parse_access, [
        Metric("requests", "count", [Tumbling(60)], lambda r: r["ip"]),
    ]),
    "hive-audit": Rule("hive-audit", parse_hive, [
        Metric("by_ip", "count", [Tumbling(60)], lambda r: r["ip"]),
        Metric("by_table", "count", [Tumbling(60)], lambda r: r["tbl"]),
    ]),
}


# ------------------------------------------------------------------ engine ---

def split_lines(data: bytes) -> list[bytes]:
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p[:-1] if p.endswith(b"\r") else p for p in parts]


def fmt_ms(ms) -> str:
    if ms is None:
        return "-inf"
    d = EPOCH + _dt.timedelta(milliseconds=ms)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def floor_start(t: int, size_ms: int, off: int) -> int:
    return (t - off) // size_ms * size_ms + off


def evaluate(rule: Rule, data: bytes, lateness_secs: int = 10,
             day_offset_secs: int = 0, trace=None, steps=None):
    """-> (hashes: {key: {field: str}}, summary: dict).

    If `steps` is a list, every line added to a cumulative window is appended
    to it as (metric, label, window start ms, first step end ms, group,
    value); step_value() reads a step's published value from it."""
    lateness = lateness_secs * 1000
    off = day_offset_secs * 1000
    # (metric name, window label, start ms) -> {group: int | set}
    acc: dict = {}
    summary = {"lines": 0, VALID: 0, REJECTED: 0, SKIPPED: 0, "late": 0,
               "late_updates": 0}
    max_t = None
    windows = []  # the rule's distinct windows, in first-seen order
    for m in rule.metrics:
        for w in m.windows:
            if w not in windows:
                windows.append(w)

    for lineno, raw in enumerate(split_lines(data), 1):
        summary["lines"] += 1
        try:
            line = raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            status, rec = REJECTED, "invalid UTF-8"
        else:
            status, rec = rule.parse(line)
        summary[status] += 1
        if status != VALID:
            if trace:
                trace(f"{lineno}: {status}: {rec}")
            continue

        t = rec["t"]
        wm = None if max_t is None else max_t - lateness
        target = {}  # window -> start ms, or None when late
        first_step = {}  # cumulative window -> end ms of its first step counting the line
        for w in windows:
            start = floor_start(t, w.size * 1000, off)
            late = wm is not None and start + w.size * 1000 <= wm
            if isinstance(w, Cumulative) and not late:
                step = w.step * 1000
                first_step[w] = floor_start(t if wm is None else max(t, wm), step, off) + step
            target[w] = None if late else start
            if late:
                summary["late"] += 1
        notes = []
        for m in rule.metrics:
            for w in m.windows:
                start = target[w]
                kind = "cum" if isinstance(w, Cumulative) else "tum"
                if start is None:
                    summary["late_updates"] += 1
                    notes.append(f"{m.name}:{kind}{w.label()}=LATE")
                    continue
                groups = acc.setdefault((m.name, w.label(), start), {})
                g = m.key(rec)
                value = m.member(rec) if m.agg == "distinct" else 1
                if m.agg == "count":
                    groups[g] = groups.get(g, 0) + 1
                elif m.agg == "distinct":
                    groups.setdefault(g, set()).add(value)
                elif m.agg == "decimal":
                    value = m.value(rec)
                    groups[g] = groups.get(g, 0) + value
                elif m.agg == "avg":
                    value = m.value(rec)
                    total, count = groups.get(g, (0, 0))
                    groups[g] = (total + value, count + 1)
                else:
                    value = m.value(rec)
                    groups.setdefault(g, []).append(value)
                note = f"{m.name}:{kind}{w.label()}@{start // 1000}"
                if w in first_step:
                    note += f"/from-step-ending-{fmt_ms(first_step[w])}"
                    if steps is not None:
                        steps.append((m.name, w.label(), start, first_step[w], g, value))
                notes.append(note)
        max_t = t if max_t is None else max(max_t, t)

    out = {}
    by_name = {m.name: m for m in rule.metrics}
    for (metric, label, start), groups in acc.items():
        key = f"weir:{rule.name}:{metric}:{label}:{start // 1000}"
        for g, v in sorted(groups.items()):
            for k, text in publish(by_name[metric], key, v).items():
                out.setdefault(k, {})[g] = text
    return dict(sorted(out.items())), summary


def step_value(steps: list, metric: str, label: int, start_ms: int,
               end_ms: int) -> dict:
    """The value a cumulative window publishes for its step ending at end_ms:
    {group: str}, from the `steps` list filled by evaluate()."""
    groups: dict = {}
    for m, lab, start, first_end, g, value in steps:
        if (m, lab, start) == (metric, label, start_ms) and first_end <= end_ms:
            if isinstance(value, int):
                groups[g] = groups.get(g, 0) + value
            else:
                groups.setdefault(g, set()).add(value)
    return {g: str(v if isinstance(v, int) else len(v))
            for g, v in sorted(groups.items())}


def to_json(hashes: dict) -> str:
    return json.dumps(hashes, indent=2, sort_keys=True) + "\n"


# --------------------------------------------------------------- self-test ---

def _acc(ip, when, zone="+0800", req="GET / HTTP/1.1", tail=' "-" "curl/8"'):
    return f'{ip} - - [{when} {zone}] "{req}" 200 12{tail}'


def _hive(ts, ip="10.0.0.1", rest="cmd=get_table : db=sales tbl=orders"):
    return (f"{ts} INFO  [pool-5-thread-7]: HiveMetaStore.audit "
            f"(HiveMetaStore.java:logAuditEvent(309)) - ugi=etl ip=/{ip} {rest}")


def self_test() -> int:
    failures = []

    def check(name, got, want):
        if got != want:
            failures.append(f"{name}:\n  got  {got!r}\n  want {want!r}")

    def run(rule, lines, **kw):
        data = "".join(x + "\n" for x in lines) if isinstance(lines[0], str) \
            else b"".join(x + b"\n" for x in lines)
        if isinstance(data, str):
            data = data.encode()
        return evaluate(rule, data, **kw)

    pvuv, ipc, hive = RULES["pvuv"], RULES["ip-count"], RULES["hive-audit"]
    M10 = 1795226400  # 2026-11-21T02:00:00Z = 10:00 in UTC+8
    D0 = 1795219200   # 2026-11-21T00:00:00Z

    # 1. basic counting, distinct, common format, IPv6, CRLF.
    h, s = run(pvuv, [
        _acc("1.2.3.4", "21/Nov/2026:10:00:01"),
        _acc("1.2.3.4", "21/Nov/2026:10:00:02", tail=""),          # common
        _acc("2001:db8::1", "21/Nov/2026:10:00:03") + "\r",       # CRLF
        _acc("5.6.7.8", "21/Nov/2026:10:01:00"),
    ])
    check("basic", h, {
        f"weir:pvuv:pv:60:{M10}": {"total": "3"},
        f"weir:pvuv:pv:60:{M10 + 60}": {"total": "1"},
        f"weir:pvuv:pv:86400:{D0}": {"total": "4"},
        f"weir:pvuv:uv:60:{M10}": {"total": "2"},
        f"weir:pvuv:uv:60:{M10 + 60}": {"total": "1"},
        f"weir:pvuv:uv:86400:{D0}": {"total": "3"},
    })
    check("basic summary", (s[VALID], s[REJECTED], s["late"]), (4, 0, 0))

    # 2. a late line: max_t 10:01:15 -> watermark 10:01:05 >= end of 10:00.
    h, s = run(ipc, [
        _acc("1.1.1.1", "21/Nov/2026:10:00:30"),
        _acc("1.1.1.1", "21/Nov/2026:10:01:15"),
        _acc("2.2.2.2", "21/Nov/2026:10:00:59"),   # late
        _acc("3.3.3.3", "21/Nov/2026:10:01:06"),   # out of order, on time
    ])
    check("late", h, {
        f"weir:ip-count:requests:60:{M10}": {"1.1.1.1": "1"},
        f"weir:ip-count:requests:60:{M10 + 60}": {"1.1.1.1": "1", "3.3.3.3": "1"},
    })
    check("late summary", (s[VALID], s["late"], s["late_updates"]), (4, 1, 1))

    # 3. boundary: end == watermark is late; end == watermark + 1 s is not.
    h, _ = run(ipc, [
        _acc("1.1.1.1", "21/Nov/2026:10:01:10"),
        _acc("2.2.2.2", "21/Nov/2026:10:00:50"),   # end 10:01:00 == wm: late
    ])
    check("boundary late", h, {f"weir:ip-count:requests:60:{M10 + 60}": {"1.1.1.1": "1"}})
    h, _ = run(ipc, [
        _acc("1.1.1.1", "21/Nov/2026:10:01:09"),
        _acc("2.2.2.2", "21/Nov/2026:10:00:50"),   # wm 10:00:59 < end: on time
    ])
    check("boundary on time", h, {
        f"weir:ip-count:requests:60:{M10}": {"2.2.2.2": "1"},
        f"weir:ip-count:requests:60:{M10 + 60}": {"1.1.1.1": "1"}})

    # 4. pvuv: a line late for its minute is not late for the open day; it
    #    counts from the first step still open (Flink's CUMULATE).
    h, s = run(pvuv, [
        _acc("1.1.1.1", "21/Nov/2026:10:05:00"),
        _acc("2.2.2.2", "21/Nov/2026:10:02:00"),   # 3 minutes late
    ])
    check("pvuv late minute not day", h, {
        f"weir:pvuv:pv:60:{M10 + 300}": {"total": "1"},
        f"weir:pvuv:pv:86400:{D0}": {"total": "2"},
        f"weir:pvuv:uv:60:{M10 + 300}": {"total": "1"},
        f"weir:pvuv:uv:86400:{D0}": {"total": "2"},
    })
    check("pvuv late minute not day summary", (s["late"], s["late_updates"]), (1, 2))

    # 5. a synthetic rule with a coarser step (tumbling day; cumulative day,
    #    step hour): a line whose hour step is published counts from the next.
    synth = Rule("t", parse_access, [
        Metric("a", "count", [Tumbling(60), Tumbling(86400)], lambda r: "total"),
        Metric("c", "count", [Cumulative(86400, 3600)], lambda r: "total"),
    ])
    steps = []
    h, s = run(synth, [
        _acc("1.1.1.1", "21/Nov/2026:10:05:00"),
        _acc("2.2.2.2", "21/Nov/2026:10:02:00"),   # minute closed, hour open
        _acc("3.3.3.3", "21/Nov/2026:09:58:00"),   # minute and 09:00 hour closed
    ], steps=steps)
    check("late minute not day", h, {
        f"weir:t:a:60:{M10 + 300}": {"total": "1"},
        f"weir:t:a:86400:{D0}": {"total": "3"},
        f"weir:t:c:86400:{D0}": {"total": "3"},
    })
    check("late minute not day summary", (s["late"], s["late_updates"]), (2, 2))
    check("hour step 09:00 published empty",
          step_value(steps, "c", 86400, D0 * 1000, M10 * 1000), {})
    check("hour step 10:00 counts the late line",
          step_value(steps, "c", 86400, D0 * 1000, (M10 + 3600) * 1000), {"total": "3"})

    # 5b. a line 10 minutes late in an open day: counted in the steps still
    #     open and the final value, not in the steps already published.
    steps = []
    lines = [_acc("1.1.1.1", f"21/Nov/2026:10:{m:02d}:30") for m in range(11)]
    lines += [_acc("2.2.2.2", "21/Nov/2026:10:00:30"),    # wm 10:10:20
              _acc("1.1.1.1", "21/Nov/2026:10:11:30")]
    h, s = run(pvuv, lines, steps=steps)
    check("10 min late final", (h[f"weir:pvuv:pv:86400:{D0}"],
                                h[f"weir:pvuv:uv:86400:{D0}"]),
          ({"total": "13"}, {"total": "2"}))
    check("10 min late steps",
          [step_value(steps, "pv", 86400, D0 * 1000, (M10 + 60 * k) * 1000)
           for k in (1, 10, 11)],
          [{"total": "1"}, {"total": "10"}, {"total": "12"}])
    check("10 min late uv steps",
          [step_value(steps, "uv", 86400, D0 * 1000, (M10 + 60 * k) * 1000)
           for k in (10, 11)],
          [{"total": "1"}, {"total": "2"}])
    check("10 min late summary", (s["late"], s["late_updates"]), (1, 2))

    # 5c. a line for a day the watermark has passed is late for the day too.
    h, s = run(pvuv, [
        _acc("1.1.1.1", "22/Nov/2026:00:00:20", zone="+0000"),
        _acc("2.2.2.2", "21/Nov/2026:23:59:00", zone="+0000"),
    ])
    check("closed day", sorted(k for k in h if ":86400:" in k),
          ["weir:pvuv:pv:86400:1795305600", "weir:pvuv:uv:86400:1795305600"])
    check("closed day summary", (s["late"], s["late_updates"]), (2, 4))

    # 6. day offset -28800: day windows start at 16:00 UTC (local midnight).
    lines = [
        _acc("1.1.1.1", "21/Nov/2026:15:59:59", zone="+0000"),
        _acc("2.2.2.2", "22/Nov/2026:00:00:00", zone="+0800"),  # 16:00:00Z
    ]
    h, _ = run(pvuv, lines, day_offset_secs=-28800)
    days = sorted(k for k in h if ":86400:" in k)
    check("day offset -28800", days, [
        "weir:pvuv:pv:86400:1795190400", "weir:pvuv:pv:86400:1795276800",
        "weir:pvuv:uv:86400:1795190400", "weir:pvuv:uv:86400:1795276800"])
    h, _ = run(pvuv, lines, day_offset_secs=0)
    check("day offset 0", sorted(k for k in h if ":86400:" in k),
          [f"weir:pvuv:pv:86400:{D0}", f"weir:pvuv:uv:86400:{D0}"])
    check("minute keys unaffected", sorted(k for k in h if ":60:" in k), [
        "weir:pvuv:pv:60:1795276740", "weir:pvuv:pv:60:1795276800",
        "weir:pvuv:uv:60:1795276740", "weir:pvuv:uv:60:1795276800"])

    # 7. rejections, which never move the watermark.
    bad = [
        b"",
        b"\xff" + _acc("1.1.1.1", "21/Nov/2026:10:00:01").encode(),
        _acc("1.1.1.1", "21/Nov/2026:10:00:01", req="GET /\xe9 HTTP/1.1")
        .encode("latin-1"),                                   # invalid UTF-8
        _acc("1.1.1.1", "32/Foo/2026:10:00:01").encode(),
        _acc("1.1.1.1", "31/Nov/2026:10:00:01").encode(),
        _acc("1.1.1.1", "29/Feb/2026:10:00:01").encode(),
        _acc("1.1.1.1", "21/Nov/2026:24:00:00").encode(),
        _acc("1.1.1.1", "21/Nov/2026:10:00:60").encode(),
        _acc("1.1.1.1", "21/nov/2026:10:00:01").encode(),
        _acc("1.1.1.1", "21/Nov/2026:10:00:01", zone="+2400").encode(),
        _acc("999.1.1.1", "21/Nov/2026:10:00:01").encode(),
        _acc("01.1.1.1", "21/Nov/2026:10:00:01").encode(),
        _acc("fe80::1%eth0", "21/Nov/2026:10:00:01").encode(),
        _acc("example.com", "21/Nov/2026:10:00:01").encode(),
        _acc("1.1.1.1", "21/Nov/2026:10:00:01").encode() + b" ",
        _acc("1.1.1.1", "21/Nov/2026:10:00:01", tail=' "-"').encode(),
        b'1.1.1.1 - - [21/Nov/2026:10:00:01 +0800] GET / HTTP/1.1 200 12',
        b'1.1.1.1 - - [21/Nov/2026:10:00:01 +0800] "GET / HTTP/1.1" 20 12',
        _acc("9.9.9.9", "21/Nov/2027:10:00:01", zone="+08:00").encode(),
    ]
    good = [
        _acc("1.1.1.1", "21/Nov/2026:10:00:01", req="GET /caf\u00e9 HTTP/1.1").encode(),
        _acc("::ffff:10.0.0.1", "21/Nov/2026:10:00:02", tail=' "-" "\u5fae\u4fe1"').encode(),
        _acc("1.1.1.1", "29/Feb/2028:10:00:02", zone="-0530").encode(),
    ]
    h, s = run(ipc, bad + good)
    check("rejections", (s[VALID], s[REJECTED], s[SKIPPED]), (len(good), len(bad), 0))
    check("rejections keys", sorted(h), [
        f"weir:ip-count:requests:60:{M10}",
        "weir:ip-count:requests:60:1835451000"])   # 2028-02-29T15:30:00Z

    # IPv6 validator spot checks.
    for a, ok in [("::", True), ("::1", True), ("1::", True), ("1:2:3:4:5:6:7:8", True),
                  ("1:2:3:4:5:6:7::", True), ("1:2:3:4:5:6:7:8:9", False),
                  ("1::2::3", False), ("12345::", False), (":1:2:3:4:5:6:7", False),
                  ("::ffff:1.2.3.4", True), ("1:2:3:4:5:6:1.2.3.4", True),
                  ("1:2:3:4:5:6:7:1.2.3.4", False), ("::1.2.3", False),
                  ("g::1", False), ("1.2.3.4", False), ("1:2:3:4:5:6:7", False)]:
        check(f"ipv6 {a}", valid_ipv6(a), ok)

    # 8. hive-audit: skipped vs rejected, greedy tbl, ms precision, UTC.
    lines = [
        _hive("2026-11-21 02:00:00,999"),
        _hive("2026-11-21 02:00:01,000", ip="10.0.0.2",
              rest="cmd=alter_table: db=sales tbl=orders newtbl=orders_v2"),
        _hive("2026-11-21 02:00:02,000", rest="cmd=get_all_databases"),      # skipped
        _hive("2026-11-21 02:00:02,000", ip="unknown-ip-addr"),             # skipped
        _hive("2026-11-21 02:00:02,000", ip="0:0:0:0:0:0:0:1"),             # skipped
        "2026-11-21 02:00:03,000 INFO  [pool-5-thread-3]: metastore.HiveMetaStore "
        "(HiveMetaStore.java:logInfo(822)) - 3: get_table : db=sales tbl=orders",  # skipped
        "\tat org.apache.hadoop.hive.metastore.ObjectStore.getTable(ObjectStore.java:1234)",
        "",                                                                  # skipped
        _hive("2026-11-31 02:00:04,000"),                                    # rejected
        _hive("2026-11-21 02:01:20,000", ip="10.0.0.3"),
        _hive("2026-11-21 02:00:59,999", ip="10.0.0.4"),                     # late
    ]
    h, s = run(hive, lines)
    check("hive", h, {
        f"weir:hive-audit:by_ip:60:{M10}": {"10.0.0.1": "1", "10.0.0.2": "1"},
        f"weir:hive-audit:by_ip:60:{M10 + 60}": {"10.0.0.3": "1"},
        f"weir:hive-audit:by_table:60:{M10}": {"orders": "1", "orders_v2": "1"},
        f"weir:hive-audit:by_table:60:{M10 + 60}": {"orders": "1"},
    })
    check("hive summary", (s[VALID], s[SKIPPED], s[REJECTED], s["late"]), (4, 6, 1, 1))

    # 9. files without a final newline; a lone "\r" is an empty line.
    h, s = evaluate(ipc, (_acc("1.1.1.1", "21/Nov/2026:10:00:01") + "\n\r\n"
                          + _acc("1.1.1.1", "21/Nov/2026:10:00:02")).encode())
    check("no final newline", (s["lines"], s[VALID], s[REJECTED]), (3, 2, 1))

    # 10. contract 0.2.0: exact money, means half to even, quantile ranks.
    h, s = run(RULES["spend"], [
        '{"appkey":"a","servertime":"2026-11-21 10:00:01","consumenum":0.1,"roleid":"r1"}',
        '{"appkey":"a","servertime":"2026-11-21 10:00:02","consumenum":"0.20","roleid":"r1"}',
        '{"appkey":"a","servertime":"2026-11-21 10:00:03","consumenum":"1.005","roleid":"r2"}',
        '{"appkey":"a","servertime":"2026-11-21 10:00:04","consumenum":33.8,"roleid":"r2"}',
    ], day_offset_secs=-28800)
    check("spend", (h[f"weir:spend:spend:60:{M10}"], h[f"weir:spend:payers:86400:{D0 - 28800}"],
                    s[REJECTED]), ({"a": "34.10"}, {"a": "2"}, 1))
    h, _ = run(RULES["cpu"], [f"2026-11-21 10:00:0{i} host=h cpu={v}"
                              for i, v in enumerate(["0.01", "0.02", "10", "20", "30"])])
    check("avg half even", h[f"weir:cpu:cpu_avg:60:{M10}"], {"h": "12.01"})
    check("quantile ranks", [h[f"weir:cpu:cpu_p{q}:60:{M10}"]["h"] for q in (50, 75, 99)],
          ["10.0", "20.0", "20.0"])
    check("mean rounding", [_mean_units(u, 2) for u in (5, 7, -5, -7)], [2, 4, -2, -4])

    if failures:
        print("self-test FAILED:\n" + "\n".join(failures), file=sys.stderr)
        return 1
    print("self-test: 9 groups of cases passed", file=sys.stderr)
    return 0


# -------------------------------------------------------------------- main ---

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log", nargs="?", help="log file to read (bytes); - for stdin")
    ap.add_argument("--rule", choices=sorted(RULES))
    ap.add_argument("--lateness-secs", type=int, default=10)
    ap.add_argument("--day-offset-secs", type=int, default=0)
    ap.add_argument("--out", help="write the JSON here instead of stdout")
    ap.add_argument("--trace", action="store_true",
                    help="print one decision line per input line to stderr")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args(argv)
    if args.self_test:
        return self_test()
    if not args.rule or not args.log:
        ap.error("--rule and LOG are required (or --self-test)")
    if args.log == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(args.log, "rb") as f:
            data = f.read()
    trace = (lambda msg: print(msg, file=sys.stderr)) if args.trace else None
    hashes, s = evaluate(RULES[args.rule], data, args.lateness_secs,
                         args.day_offset_secs, trace)
    text = to_json(hashes)
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    print(f"{args.rule}: lines={s['lines']} valid={s[VALID]} rejected={s[REJECTED]} "
          f"skipped={s[SKIPPED]} late={s['late']} late_updates={s['late_updates']} "
          f"keys={len(hashes)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
