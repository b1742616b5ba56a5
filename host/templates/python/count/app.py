"""`{{name}}`: log lines per level, per minute.

Input: application log lines that start with a time and a level,
`2026-11-21 10:15:03,412 ERROR [pool-5-thread-7] OrderService - refused`
(time in UTC). Output: `lines` (count) per level, tumbling 60 s. A line
without a time and a level is rejected; change `process` to split or match
your own format.
"""

from weir_sdk import Manifest, Metric, Rule, RuleError
from weir_sdk.parse import parse_datetime


class {{Type}}(Rule):
    @staticmethod
    def manifest():
        return Manifest("{{name}}", "0.1.0").metric(Metric.count("lines").tumbling(60))

    def process(self, record, out):
        fields = record.text().split(None, 3)
        if len(fields) < 3:
            raise RuleError("expected `DATE TIME LEVEL ...`")
        date, time, level = fields[:3]
        out.count("lines", level, parse_datetime(f"{date} {time}"))


try:  # inside the component only: the bindings exist there
    from weir_sdk.guest import export
except ImportError:
    pass
else:
    Rule = export({{Type}})
