"""Native tests (pytest)."""

from app import {{Type}}
from weir_sdk.testing import TestRule

EVENT = '{"appkey":"app1","servertime":"2026-11-21 14:10:36","consumenum":33.8,"roleid":"r1"}'


def test_sums_cents_and_counts_the_player():
    out = TestRule({{Type}}, '{"utc_offset_secs": 28800}').process_lines([EVENT])
    assert out.of("spend_cents")[0].value == 3380.0
    assert out.of("payers")[0].key == "app1"
    assert out.of("payers")[0].time_ms == 1_795_241_436_000


def test_rejects_what_is_not_an_event():
    out = TestRule({{Type}}).process_lines([
        "not json",
        '{"appkey":"app1","servertime":"2026-11-21 14:10:36","roleid":"r1"}',
        '{"appkey":"app1","servertime":"2026-11-21 14:10:36","consumenum":1.005,"roleid":"r1"}',
    ])
    assert out.emitted == []
    assert len(out.rejects) == 3
