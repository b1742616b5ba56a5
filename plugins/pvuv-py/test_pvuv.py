"""Native tests of `pvuv-py` (pytest)."""

from app import PvUv
from weir_sdk.testing import TestRule

LINE = '10.0.0.1 - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 512 "-" "curl/8.0"'


def test_counts_a_request_and_its_client():
    out = TestRule(PvUv).process_lines([LINE, LINE.replace("10.0.0.1", "10.0.0.2")])
    assert [e.key for e in out.of("pv")] == ["total", "total"]
    assert [e.value for e in out.of("uv")] == ["10.0.0.1", "10.0.0.2"]
    assert out.of("pv")[0].time_ms == 1_795_226_400_000


def test_rejects_other_lines():
    out = TestRule(PvUv).process_lines(["", "GET / HTTP/1.1"])
    assert out.emitted == []
    assert len(out.rejects) == 2
