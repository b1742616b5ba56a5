"""`{{name}}`: page views and unique visitors from an access log.

Input: nginx/Apache access logs (combined or common format). Output: `pv`
(count) and `uv` (distinct client IP), group `total`, per minute and
"today so far" (cumulative day, step 60 s). A line in another format is
rejected with the reason.
"""

from weir_sdk import DAY_SECS, Manifest, Metric, Rule
from weir_sdk.parse import parse_access_log


class {{Type}}(Rule):
    @staticmethod
    def manifest():
        return (
            Manifest("{{name}}", "0.1.0")
            .metric(Metric.count("pv").tumbling(60).cumulative(DAY_SECS, 60))
            .metric(Metric.distinct("uv").tumbling(60).cumulative(DAY_SECS, 60))
        )

    def process(self, record, out):
        line = parse_access_log(record.text())
        out.count("pv", "total", line.time_ms)
        out.distinct("uv", "total", line.client, line.time_ms)


try:  # inside the component only: the bindings exist there
    from weir_sdk.guest import export
except ImportError:
    pass
else:
    Rule = export({{Type}})
