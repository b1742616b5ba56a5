"""The rule model: manifest builder, records, the emitter and the batch loop.

Pure Python with no dependency on the generated bindings, so pytest runs it
natively; :mod:`weir_sdk.guest` adapts it to the component's exports.
"""

import json

#: Seconds in a day: the size of "today so far" windows.
DAY_SECS = 86_400


class RuleError(Exception):
    """A record cannot be used; its message is the reject reason."""


class Metric:
    """One metric: a name, an aggregation and its windows."""

    def __init__(self, name, aggregation):
        self.name = name
        self.aggregation = aggregation
        self.windows = []

    @classmethod
    def count(cls, name):
        """Number of updates."""
        return cls(name, "count")

    @classmethod
    def sum(cls, name):
        """Sum of numbers."""
        return cls(name, "sum")

    @classmethod
    def min(cls, name):
        """Smallest number."""
        return cls(name, "min")

    @classmethod
    def max(cls, name):
        """Largest number."""
        return cls(name, "max")

    @classmethod
    def distinct(cls, name):
        """Exact number of distinct members."""
        return cls(name, "distinct")

    @classmethod
    def approx_distinct(cls, name):
        """Approximate number of distinct members (HyperLogLog)."""
        return cls(name, "approx-distinct")

    def tumbling(self, size_secs):
        """Back-to-back windows of `size_secs`."""
        self.windows.append(("tumbling", size_secs))
        return self

    def hopping(self, size_secs, hop_secs):
        """Windows of `size_secs`, one starting every `hop_secs`."""
        self.windows.append(("hopping", size_secs, hop_secs))
        return self

    def cumulative(self, size_secs, step_secs):
        """A window of `size_secs` published so far every `step_secs`."""
        self.windows.append(("cumulative", size_secs, step_secs))
        return self


class Manifest:
    """What a rule declares: its name, version and metrics."""

    def __init__(self, name, version):
        self.name = name
        self.version = version
        self.metrics = []

    def metric(self, metric):
        """Adds a metric."""
        self.metrics.append(metric)
        return self


class Record:
    """One input record: its payload bytes and where it came from."""

    __slots__ = ("payload", "timestamp_ms", "offset")

    def __init__(self, payload, timestamp_ms=None, offset=0):
        self.payload = payload
        self.timestamp_ms = timestamp_ms
        self.offset = offset

    def text(self):
        """The payload as UTF-8 text; invalid UTF-8 rejects the record."""
        try:
            return self.payload.decode("utf-8")
        except UnicodeDecodeError as error:
            raise RuleError(f"invalid UTF-8 at byte {error.start}") from None

    def json(self):
        """The payload as JSON; invalid JSON rejects the record."""
        try:
            return json.loads(self.text())
        except ValueError as error:
            raise RuleError(f"invalid JSON: {error}") from None


class Rule:
    """Base class of a rule: override ``manifest``, ``process`` and, to
    take a config, ``__init__(self, config)`` (the config is a dict)."""

    def __init__(self, config):
        self.config = config

    @staticmethod
    def manifest():
        """The rule's manifest (a :class:`Manifest`)."""
        raise NotImplementedError

    def process(self, record, out):
        """Emits the updates of one record; raise to reject it."""
        raise NotImplementedError


class Emitter:
    """Collects a batch's updates as ``(record, metric, key, kind, value,
    time_ms)``. Metric names are resolved to the manifest's indexes; an
    undeclared name or a value that does not fit the aggregation raises
    :class:`RuleError` (the record is rejected, naming the metric)."""

    _KINDS = {
        "count": "one",
        "sum": "number",
        "min": "number",
        "max": "number",
        "distinct": "member",
        "approx-distinct": "member",
    }

    def __init__(self, manifest):
        self._index = {}
        for index, metric in enumerate(manifest.metrics):
            self._index[metric.name] = (index, self._KINDS[metric.aggregation])
        self.updates = []
        self.record = 0

    def _metric(self, name, kind):
        found = self._index.get(name)
        if found is None:
            raise RuleError(f"unknown metric `{name}`: the manifest does not declare it")
        index, wanted = found
        if wanted != kind:
            raise RuleError(f"metric `{name}` takes {wanted} updates, not {kind}")
        return index

    def count(self, metric, key, time_ms=None):
        """Counts one for `key` in a count metric."""
        self.updates.append((self.record, self._metric(metric, "one"), key, "one", None, time_ms))

    def number(self, metric, key, value, time_ms=None):
        """Adds a number to a sum, min or max metric."""
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise RuleError(f"metric `{metric}`: {value} is not a finite number")
        self.updates.append((self.record, self._metric(metric, "number"), key, "number", value, time_ms))

    def distinct(self, metric, key, member, time_ms=None):
        """Adds `member` to a distinct metric's set for `key`."""
        self.updates.append(
            (self.record, self._metric(metric, "member"), key, "member", str(member), time_ms)
        )


def run_records(rule, manifest, records):
    """Runs `records` through `rule`: returns (updates, rejects), rejects as
    ``(index, reason)``. A record that raises keeps none of its updates."""
    out = Emitter(manifest)
    rejects = []
    for index, record in enumerate(records):
        out.record = index
        mark = len(out.updates)
        try:
            rule.process(record, out)
        except Exception as error:  # any error rejects the record
            del out.updates[mark:]
            reason = str(error) or type(error).__name__
            rejects.append((index, reason))
    return out.updates, rejects


def parse_config(text):
    """The host's config text as a dict (blank = empty)."""
    if not text.strip():
        return {}
    config = json.loads(text)
    if not isinstance(config, dict):
        raise RuleError("the config must be a JSON object")
    return config
