"""Parsers for common log formats, with the Rust SDK's rules: access logs
(nginx/Apache combined and common), CLF times and ``YYYY-MM-DD HH:MM:SS``
times. Each raises :class:`weir_sdk.RuleError` with a reason."""

import ipaddress
import re
from datetime import datetime

from .model import RuleError

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    )
}
_EPOCH = datetime(1970, 1, 1)

# client ident user [time] "request" status bytes ( "referer" "agent")?
_WORD = r"[^ \t\n\r\f\v]+"
_ACCESS = re.compile(
    rf"({_WORD}) ({_WORD}) ({_WORD}) \[([^\]]*)\] \"([^\"]*)\" ([0-9]{{3}}) ([0-9]+|-)"
    r"(?: \"([^\"]*)\" \"([^\"]*)\")?"
)
_CLF = re.compile(r"([0-9]{2})/([A-Z][a-z]{2})/([0-9]{4}):([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})")
_DATETIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})(?:[,.]([0-9]{3}))?")


class AccessLog:
    """One access log line."""

    __slots__ = ("client", "ident", "user", "time_ms", "request", "status", "bytes", "referer", "user_agent")

    def __init__(self, match, time_ms):
        self.client, self.ident, self.user = match.group(1), match.group(2), match.group(3)
        self.time_ms = time_ms
        self.request = match.group(5)
        self.status = int(match.group(6))
        self.bytes = None if match.group(7) == "-" else int(match.group(7))
        self.referer, self.user_agent = match.group(8), match.group(9)


def _millis(year, month, day, hour, minute, second, offset_secs=0, ms=0):
    try:
        local = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise RuleError("the timestamp is not a calendar date") from None
    return ((local - _EPOCH).days * 86_400 + (local - _EPOCH).seconds - offset_secs) * 1000 + ms


def parse_clf_time(text):
    """``21/Nov/2026:10:00:00 +0800`` → Unix milliseconds."""
    m = _CLF.fullmatch(text)
    if m is None or m.group(2) not in _MONTHS:
        raise RuleError(f"not a CLF time: {text!r}")
    oh, om = int(m.group(8)), int(m.group(9))
    if oh > 23 or om > 59:
        raise RuleError("timestamp zone must be +hhmm or -hhmm")
    offset = (oh * 3600 + om * 60) * (1 if m.group(7) == "+" else -1)
    return _millis(int(m.group(3)), _MONTHS[m.group(2)], int(m.group(1)), int(m.group(4)),
                   int(m.group(5)), int(m.group(6)), offset)


def parse_datetime(text, utc_offset_secs=0):
    """``2026-11-21 10:00:00[,123]`` (local time `utc_offset_secs` east of
    UTC) → Unix milliseconds."""
    m = _DATETIME.fullmatch(text)
    if m is None:
        raise RuleError(f"not a YYYY-MM-DD HH:MM:SS time: {text!r}")
    return _millis(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)),
                   int(m.group(5)), int(m.group(6)), utc_offset_secs, int(m.group(7) or 0))


def parse_access_log(line):
    """Parses a combined or common format line, as the Rust SDK's
    ``AccessLog::parse``: the client must be an IP address and the time a
    real one."""
    if not line:
        raise RuleError("missing client address")
    m = _ACCESS.fullmatch(line)
    if m is None:
        raise RuleError("not in combined/common log format")
    client = m.group(1)
    if "%" in client:
        raise RuleError("client is not an IP address")
    try:
        ipaddress.ip_address(client)
    except ValueError:
        raise RuleError("client is not an IP address") from None
    return AccessLog(m, parse_clf_time(m.group(4)))
