//! `[windows]`: the millisecond helpers.

use super::*;

#[test]
fn windows_helpers_convert_to_ms() {
    let windows = WindowsConfig {
        allowed_lateness_secs: 10,
        day_offset_secs: -28_800,
    };
    assert_eq!(windows.allowed_lateness_ms(), 10_000);
    assert_eq!(windows.day_offset_ms(), -28_800_000);
    let huge = WindowsConfig {
        allowed_lateness_secs: u64::MAX,
        day_offset_secs: 0,
    };
    assert_eq!(huge.allowed_lateness_ms(), i64::MAX);
}
