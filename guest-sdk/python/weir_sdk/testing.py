"""Running a rule natively, for pytest: the same batch loop as the
component, so a rule's unit tests see what the host would.

    from weir_sdk.testing import TestRule

    def test_counts():
        out = TestRule(PvUv).process_lines(["..."])
        assert len(out.of("pv")) == 1
"""

from .model import Record, parse_config, run_records


class Emitted:
    """One update with its metric named."""

    def __init__(self, record, metric, key, kind, value, time_ms):
        self.record, self.metric, self.key = record, metric, key
        self.kind, self.value, self.time_ms = kind, value, time_ms

    def __repr__(self):
        return f"Emitted({self.record}, {self.metric!r}, {self.key!r}, {self.value!r}, {self.time_ms})"


class TestOutput:
    """A batch's updates and rejects."""

    def __init__(self, emitted, rejects):
        self.emitted = emitted
        self.rejects = rejects

    def of(self, metric):
        """The updates of one metric."""
        return [e for e in self.emitted if e.metric == metric]


class TestRule:
    """A rule class built from its JSON config, as the host would."""

    __test__ = False  # not a pytest test class

    def __init__(self, rule_cls, config_json="{}"):
        self.manifest = rule_cls.manifest()
        self.rule = rule_cls(parse_config(config_json))
        self.names = [m.name for m in self.manifest.metrics]

    def process_lines(self, lines):
        """Processes text lines as one batch."""
        return self.process_payloads([line.encode("utf-8") for line in lines])

    def process_payloads(self, payloads):
        """Processes raw payloads as one batch."""
        updates, rejects = run_records(self.rule, self.manifest, [Record(p) for p in payloads])
        emitted = [Emitted(r, self.names[m], k, kind, v, t) for r, m, k, kind, v, t in updates]
        return TestOutput(emitted, rejects)
