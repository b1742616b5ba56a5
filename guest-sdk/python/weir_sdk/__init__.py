"""weir guest SDK for Python: write a weir rule as one short class.

The same model as the Rust SDK (`weir-sdk`): a rule class with a manifest,
a constructor that takes the config, and ``process(record, out)`` that emits
updates through an :class:`Emitter`; raising any exception rejects the
record with its message (everything it emitted is withdrawn). Built into a
WebAssembly component for the contract ``weir:rule@0.1.0`` with
componentize-py (``weir build``); tested natively with pytest
(:mod:`weir_sdk.testing`).

    from weir_sdk import Rule, Manifest, Metric, DAY_SECS
    from weir_sdk.parse import parse_access_log

    class PvUv(Rule):
        @staticmethod
        def manifest():
            return (Manifest("pvuv-py", "0.1.0")
                    .metric(Metric.count("pv").tumbling(60).cumulative(DAY_SECS, 60))
                    .metric(Metric.distinct("uv").tumbling(60).cumulative(DAY_SECS, 60)))

        def process(self, record, out):
            line = parse_access_log(record.text())
            out.count("pv", "total", line.time_ms)
            out.distinct("uv", "total", line.client, line.time_ms)
"""

from .model import (
    DAY_SECS,
    Emitter,
    Manifest,
    Metric,
    Record,
    Rule,
    RuleError,
)

__all__ = ["DAY_SECS", "Emitter", "Manifest", "Metric", "Record", "Rule", "RuleError"]
