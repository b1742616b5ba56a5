"""The component side: adapts a :class:`weir_sdk.Rule` to the exports of
``weir:rule@0.1.0`` (the bindings componentize-py generates as `wit_world`).
Only imported inside the component; a rule's module ends with

    Rule = weir_sdk.guest.export(MyRule)

(componentize-py instantiates the module's class named ``Rule``).
"""

from componentize_py_types import Err
from wit_world.exports import Rule as _RuleExport
from wit_world.imports import types

from .model import parse_config, run_records, Record, RuleError

_AGGREGATIONS = {
    "count": types.Aggregation.COUNT,
    "sum": types.Aggregation.SUM,
    "min": types.Aggregation.MIN,
    "max": types.Aggregation.MAX,
    "distinct": types.Aggregation.DISTINCT,
    "approx-distinct": types.Aggregation.APPROX_DISTINCT,
}


def _window(window):
    if window[0] == "tumbling":
        return types.Window_Tumbling(window[1])
    if window[0] == "hopping":
        return types.Window_Hopping(types.HoppingWindow(window[1], window[2]))
    return types.Window_Cumulative(types.CumulativeWindow(window[1], window[2]))


def _manifest(manifest):
    return types.Manifest(
        manifest.name,
        manifest.version,
        [
            types.Metric(m.name, _AGGREGATIONS[m.aggregation], [_window(w) for w in m.windows])
            for m in manifest.metrics
        ],
    )


_ONE = types.Measure_One()


def export(rule_cls):
    """The export class for `rule_cls`."""
    manifest = rule_cls.manifest()

    class Export(_RuleExport):
        rule = None

        def describe(self):
            return _manifest(manifest)

        def init(self, config):
            try:
                Export.rule = rule_cls(parse_config(config))
            except Exception as error:
                raise Err(str(error) or type(error).__name__)

        def process(self, batch):
            if Export.rule is None:
                return types.BatchOutput(
                    [], [types.Reject(i, "rule not initialised") for i in range(len(batch.records))]
                )
            data = batch.data
            records = [
                Record(
                    data[m.payload.start : m.payload.start + m.payload.len],
                    m.timestamp_ms,
                    m.offset,
                )
                for m in batch.records
            ]
            updates, rejects = run_records(Export.rule, manifest, records)
            out = []
            for record, metric, key, kind, value, time_ms in updates:
                if kind == "one":
                    measure = _ONE
                elif kind == "number":
                    measure = types.Measure_Number(value)
                else:
                    measure = types.Measure_Member(value)
                out.append(types.MetricUpdate(record, metric, key, measure, time_ms))
            return types.BatchOutput(out, [types.Reject(i, reason) for i, reason in rejects])

    return Export


__all__ = ["export", "RuleError"]
