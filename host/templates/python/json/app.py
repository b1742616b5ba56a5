"""`{{name}}`: spend and paying players per app, from JSON events.

Input, one JSON object per line:
`{"appkey":"app1","servertime":"2026-11-21 14:10:36","consumenum":33.8,"roleid":"r1"}`
(`servertime` local time, `utc_offset_secs` east of UTC; config, default
0). Output per `appkey`: `spend_cents` (sum of `consumenum` in hundredths,
exact) and `payers` (distinct `roleid`), tumbling 60 s and "today so far".
"""

import json
from decimal import Decimal

from weir_sdk import DAY_SECS, Manifest, Metric, Rule, RuleError
from weir_sdk.parse import parse_datetime


def cents(value):
    """A JSON number or string of money → exact hundredths; more decimals
    are refused, never rounded."""
    amount = Decimal(str(value))
    scaled = amount * 100
    if scaled != scaled.to_integral_value():
        raise RuleError(f"decimal {value} has more than 2 decimals")
    return int(scaled)


class {{Type}}(Rule):
    def __init__(self, config):
        self.utc_offset_secs = int(config.get("utc_offset_secs", 0))

    @staticmethod
    def manifest():
        return (
            Manifest("{{name}}", "0.1.0")
            .metric(Metric.sum("spend_cents").tumbling(60).cumulative(DAY_SECS, 60))
            .metric(Metric.distinct("payers").tumbling(60).cumulative(DAY_SECS, 60))
        )

    def process(self, record, out):
        try:
            event = json.loads(record.text(), parse_float=Decimal)
            appkey, roleid = event["appkey"], event["roleid"]
            servertime, amount = event["servertime"], event["consumenum"]
        except (ValueError, KeyError, TypeError) as error:
            raise RuleError(f"not a spend event: {error}") from None
        time_ms = parse_datetime(servertime, self.utc_offset_secs)
        out.number("spend_cents", appkey, cents(amount), time_ms)
        out.distinct("payers", appkey, roleid, time_ms)


try:  # inside the component only: the bindings exist there
    from weir_sdk.guest import export
except ImportError:
    pass
else:
    Rule = export({{Type}})
