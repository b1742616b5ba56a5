"""Native tests (pytest)."""

from app import {{Type}}
from weir_sdk.testing import TestRule

LINE = '10.0.0.1 - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 512 "-" "curl/8.0"'


def test_counts_a_request_and_its_client():
    out = TestRule({{Type}}).process_lines([LINE])
    assert [e.key for e in out.of("pv")] == ["total"]
    assert out.of("uv")[0].value == "10.0.0.1"
    assert out.of("pv")[0].time_ms == 1_795_226_400_000


def test_rejects_other_lines():
    out = TestRule({{Type}}).process_lines(["", "GET / HTTP/1.1"])
    assert out.emitted == []
    assert len(out.rejects) == 2
