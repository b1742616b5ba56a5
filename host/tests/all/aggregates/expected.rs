//! The expected side of the aggregation tests: a generated log and the
//! values weir must publish for it, computed from the README's semantics
//! with no code of weir's.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::Hashes;

pub const RULE: &str = "aggregates";
pub const LATENESS_SECS: i64 = 30;
/// How far an out-of-order line goes back: less than the lateness, so it
/// is never late, whatever partition it lands in.
const JITTER_SECS: u64 = 25;
/// 2026-11-21 00:00:00 UTC.
const DAY_START: i64 = 1_795_219_200;

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Agg {
    Count,
    Sum,
    Min,
    Max,
    Distinct,
    Approx,
}

/// A window shape; a cumulative window's step changes when its value is
/// published, not its final value, so only its size matters here.
#[derive(Clone, Copy)]
pub enum Win {
    Tumbling(i64),
    Hopping(i64, i64),
    Cumulative(i64),
}

/// The guest's manifest (tests/guests/aggregates), restated.
pub const METRICS: [(&str, Agg, &[Win]); 6] = [
    (
        "sum",
        Agg::Sum,
        &[
            Win::Tumbling(60),
            Win::Hopping(120, 60),
            Win::Cumulative(3600),
        ],
    ),
    ("min", Agg::Min, &[Win::Tumbling(60), Win::Hopping(120, 60)]),
    (
        "max",
        Agg::Max,
        &[Win::Hopping(120, 60), Win::Cumulative(3600)],
    ),
    (
        "users",
        Agg::Distinct,
        &[Win::Tumbling(60), Win::Hopping(120, 60)],
    ),
    (
        "users_approx",
        Agg::Approx,
        &[Win::Hopping(120, 60), Win::Cumulative(3600)],
    ),
    (
        "lines",
        Agg::Count,
        &[Win::Tumbling(60), Win::Cumulative(3600)],
    ),
];

/// A valid line of the generated log.
pub struct Event {
    secs: i64,
    key: String,
    value: f64,
    user: String,
}

/// SplitMix64: a fixed sequence per seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

/// The generated log.
pub struct Log {
    pub text: String,
    /// Its valid lines, in order.
    pub events: Vec<Event>,
    pub lines: u64,
    /// Lines the rule must reject.
    pub malformed: u64,
}

/// Values whose shortest decimal needs many zeros (weir writes `0.0000001`,
/// not `1e-7`).
const EXTREMES: [f64; 4] = [1e-7, -2.5e-9, 1.5e20, 6.02e23];

/// `lines` lines from 10:30 UTC, 0-4 s apart, values of two decimals
/// (some negative, one in a hundred from [`EXTREMES`]), five keys, 3000
/// users. One line in ten goes back up to
/// [`JITTER_SECS`]; one in a hundred is malformed (rejected). With `late`,
/// one in thirty goes back 1-11 minutes (late for its minute windows) and
/// one in a hundred 1-1.5 hours (late for its hour too, once it closed),
/// and one in a hundred is a pair on the lateness boundary: a line 30 s
/// (or 29 s) after a minute boundary `b`, then one at `b - 1`, whose minute
/// ends exactly at the watermark (late) or one second after it (on time).
pub fn generate_log(seed: u64, lines: u64, late: bool) -> Log {
    let mut rng = Rng(seed);
    let mut clock = DAY_START + 10 * 3600 + 1800;
    let mut log = Log {
        text: String::new(),
        events: Vec::new(),
        lines,
        malformed: 0,
    };
    let mut boundary = None;
    for _ in 0..lines {
        let roll = rng.below(1000);
        let secs = if let Some(secs) = boundary.take() {
            secs
        } else {
            clock += rng.below(5) as i64;
            match roll {
                0..100 => clock - rng.below(JITTER_SECS + 1) as i64,
                100..133 if late => clock - 60 - rng.below(600) as i64,
                133..143 if late => clock - 3600 - rng.below(1800) as i64,
                143..153 if late => {
                    let minute = (clock / 60 + 1) * 60;
                    clock = minute + LATENESS_SECS - (roll % 2) as i64;
                    boundary = Some(minute - 1);
                    clock
                }
                _ => clock,
            }
        };
        let of_day = secs - DAY_START;
        assert!((0..86_400).contains(&of_day), "the log stays in one day");
        let time = format!(
            "2026-11-21 {:02}:{:02}:{:02}",
            of_day / 3600,
            of_day / 60 % 60,
            of_day % 60
        );
        let key = format!("web{}", 1 + rng.below(5));
        let value = match roll {
            500..510 => EXTREMES[roll as usize % EXTREMES.len()],
            _ => (rng.below(100_000) as i64 - 5_000) as f64 / 100.0,
        };
        let user = format!("u{}", rng.below(3000));
        let line = match roll {
            990.. => {
                log.malformed += 1;
                match roll % 3 {
                    0 => format!("{time} key={key} value=oops user={user}"),
                    1 => format!("{time} key={key} value={value}"),
                    _ => format!("2026-11-2x {key} {value} {user}"),
                }
            }
            _ => {
                log.events.push(Event {
                    secs,
                    key: key.clone(),
                    value,
                    user: user.clone(),
                });
                format!("{time} key={key} value={value} user={user}")
            }
        };
        log.text.push_str(&line);
        log.text.push('\n');
    }
    log
}

/// One group's values in one window, kept for every aggregation.
#[derive(Default)]
pub struct Acc {
    count: u64,
    sum: f64,
    /// Sum of absolute values: the scale of a sum's rounding error.
    abs_sum: f64,
    min: f64,
    max: f64,
    users: BTreeSet<String>,
}

impl Acc {
    fn add(&mut self, event: &Event) {
        if self.count == 0 {
            (self.min, self.max) = (event.value, event.value);
        }
        self.count += 1;
        self.sum += event.value;
        self.abs_sum += event.value.abs();
        self.min = self.min.min(event.value);
        self.max = self.max.max(event.value);
        self.users.insert(event.user.clone());
    }
}

impl std::fmt::Debug for Acc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "count {}, sum {} (of |x| {}), min {}, max {}, {} users",
            self.count,
            self.sum,
            self.abs_sum,
            self.min,
            self.max,
            self.users.len()
        )
    }
}

/// What Redis must hold: output key → group → values; and how many
/// update × window pairs were late.
pub struct Expected {
    pub hashes: BTreeMap<String, BTreeMap<String, Acc>>,
    pub late: u64,
}

/// The README's semantics, restated: one watermark (highest event time so
/// far minus the lateness); a window whose end is at or before it is closed
/// and takes no more lines; a cumulative window's final value takes every
/// line not late for the whole window; the end of input closes every window.
pub fn expected(events: &[Event]) -> Expected {
    let mut out = Expected {
        hashes: BTreeMap::new(),
        late: 0,
    };
    let mut max_secs: Option<i64> = None;
    for event in events {
        let watermark = max_secs.map(|max| max - LATENESS_SECS);
        let floor = |size: i64| event.secs.div_euclid(size) * size;
        for (metric, _, windows) in METRICS {
            for &window in windows {
                let size = size_secs(window);
                let starts: Vec<i64> = match window {
                    Win::Tumbling(_) | Win::Cumulative(_) => vec![floor(size)],
                    Win::Hopping(_, hop) => (0..size / hop).map(|i| floor(hop) - i * hop).collect(),
                };
                for start in starts {
                    if watermark.is_some_and(|w| start + size <= w) {
                        out.late += 1;
                        continue;
                    }
                    out.hashes
                        .entry(format!("weir:{RULE}:{metric}:{size}:{start}"))
                        .or_default()
                        .entry(event.key.clone())
                        .or_default()
                        .add(event);
                }
            }
        }
        max_secs = Some(max_secs.map_or(event.secs, |max| max.max(event.secs)));
    }
    out
}

/// The whole length of a window: the `S` of its output keys.
pub fn size_secs(window: Win) -> i64 {
    match window {
        Win::Tumbling(size) | Win::Hopping(size, _) | Win::Cumulative(size) => size,
    }
}

/// The aggregation of an output key's metric.
pub fn aggregation(key: &str) -> Agg {
    let metric = key.split(':').nth(2).unwrap();
    METRICS.iter().find(|m| m.0 == metric).unwrap().1
}

/// Every published value against the expected one: counts, distinct
/// counts, min and max exactly (min and max as the shortest decimal, which
/// for these values is how the log wrote them); sums as the shortest
/// decimal of a double within 1e-9 of the sum of absolute values (addition
/// order may differ); approx-distinct within 3% + 2 of the exact count.
pub fn assert_values(got: &Hashes, expected: &Expected, what: &str) {
    assert!(
        expected.hashes.len() > 100,
        "{what}: too few windows to prove much"
    );
    assert_same_keys(got, &expected.hashes, &format!("{what}: output keys"));
    for (key, groups) in &expected.hashes {
        let fields = &got[key];
        assert_same_keys(fields, groups, &format!("{what}: groups of {key}"));
        let agg = aggregation(key);
        for (group, acc) in groups {
            let text = &fields[group];
            let ok = match agg {
                Agg::Count => *text == acc.count.to_string(),
                Agg::Distinct => *text == acc.users.len().to_string(),
                Agg::Min => *text == acc.min.to_string(),
                Agg::Max => *text == acc.max.to_string(),
                Agg::Sum => text.parse::<f64>().is_ok_and(|x| {
                    x.to_string() == *text && (x - acc.sum).abs() <= 1e-9 * acc.abs_sum
                }),
                Agg::Approx => text.parse::<f64>().is_ok_and(|estimate| {
                    let exact = acc.users.len() as f64;
                    (estimate - exact).abs() <= 0.03 * exact + 2.0
                }),
            };
            assert!(ok, "{what}: {key} {group} is {text}, expected {acc:?}");
        }
    }
}

/// The same keys, or a panic naming the first few differences.
fn assert_same_keys<A, B>(got: &BTreeMap<String, A>, expected: &BTreeMap<String, B>, what: &str) {
    let got: BTreeSet<&String> = got.keys().collect();
    let expected: BTreeSet<&String> = expected.keys().collect();
    let missing: Vec<_> = expected.difference(&got).take(3).collect();
    let extra: Vec<_> = got.difference(&expected).take(3).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} expected, {} found; missing {missing:?}, unexpected {extra:?}",
        expected.len(),
        got.len()
    );
}
