"""Native tests (pytest)."""

from app import {{Type}}
from weir_sdk.testing import TestRule


def test_counts_a_line_under_its_level():
    out = TestRule({{Type}}).process_lines(["2026-11-21 10:15:03,412 ERROR [main] Shop - refused"])
    assert out.of("lines")[0].key == "ERROR"
    assert out.of("lines")[0].time_ms == 1_795_256_103_412


def test_rejects_a_line_without_time_and_level():
    out = TestRule({{Type}}).process_lines(["", "hello", "2026-13-01 00:00:00 INFO x"])
    assert out.emitted == []
    assert len(out.rejects) == 3
