"""Native tests of the Python SDK (pytest): the model, the emitter's checks
and the parsers."""

import pytest

from weir_sdk import DAY_SECS, Manifest, Metric, Rule, RuleError
from weir_sdk.parse import parse_access_log, parse_clf_time, parse_datetime
from weir_sdk.testing import TestRule


class Spend(Rule):
    @staticmethod
    def manifest():
        return (
            Manifest("spend", "1")
            .metric(Metric.sum("spend").tumbling(60))
            .metric(Metric.distinct("payers").cumulative(DAY_SECS, 60))
        )

    def process(self, record, out):
        event = record.json()
        out.number("spend", event["app"], event["amount"], 0)
        out.distinct("payers", event["app"], event["player"], 0)
        if event.get("typo"):
            out.count("spnd", "x", 0)


def test_updates_name_their_metrics():
    out = TestRule(Spend).process_lines(['{"app":"a","amount":2.5,"player":"p"}'])
    assert [(e.metric, e.key, e.value) for e in out.emitted] == [
        ("spend", "a", 2.5),
        ("payers", "a", "p"),
    ]
    assert out.rejects == []


def test_a_failing_record_keeps_nothing_it_emitted():
    out = TestRule(Spend).process_lines(
        ['{"app":"a","amount":1,"player":"p","typo":true}', "not json", '{"app":"a"}']
    )
    assert out.emitted == []
    assert [index for index, _ in out.rejects] == [0, 1, 2]
    assert "unknown metric `spnd`" in out.rejects[0][1]
    assert out.rejects[1][1].startswith("invalid JSON")


def test_invalid_utf8_is_rejected():
    out = TestRule(Spend).process_payloads([b"\xff\xfe"])
    assert out.rejects == [(0, "invalid UTF-8 at byte 0")]


def test_config_must_be_an_object():
    with pytest.raises(RuleError):
        TestRule(Spend, "[1]")


def test_access_log():
    line = parse_access_log(
        '10.0.0.1 - alice [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 512 "-" "curl/8.0"'
    )
    assert (line.client, line.user, line.status, line.bytes) == ("10.0.0.1", "alice", 200, 512)
    assert line.time_ms == 1_795_226_400_000
    common = parse_access_log('::1 - - [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 404 -')
    assert common.bytes is None and common.user_agent is None
    for bad in [
        "",
        "10.0.0.1 - - [21/Nov/2026:10:00:00 +0800]",
        '010.0.0.1 - - [21/Nov/2026:10:00:00 +0800] "GET /" 200 1',
        'fe80::1%eth0 - - [21/Nov/2026:10:00:00 +0800] "GET /" 200 1',
        '10.0.0.1 - - [31/Nov/2026:10:00:00 +0800] "GET /" 200 1',
        '10.0.0.1 - - [21/Nov/2026:10:00:00 +2400] "GET /" 200 1',
    ]:
        with pytest.raises(RuleError):
            parse_access_log(bad)


def test_times():
    assert parse_clf_time("01/Jan/1970:08:00:00 +0800") == 0
    assert parse_datetime("2026-11-21 10:15:03,412") == 1_795_256_103_412
    assert parse_datetime("2026-11-21 18:15:03", 28800) == 1_795_256_103_000
    with pytest.raises(RuleError):
        parse_datetime("2026-02-30 00:00:00")
