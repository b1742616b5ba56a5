//! `weir-sol`: the speed-of-light line of `scripts/bench.sh`.
//!
//! Why it exists: weir's end-to-end number means little on its own, and
//! DuckDB is a general SQL engine. This is the smallest honest program that
//! computes what `weir run` with the `pvuv` rule computes from the same file
//! — exact per-minute page views and distinct clients, and the same for each
//! day — on one thread, with nothing in the way. It is the limit the
//! machine allows for this job; weir's figures are reported as a fraction
//! of it (issue 14).
//!
//! Same results as weir, checked by `scripts/bench.sh` against DuckDB (per
//! minute) and against weir's Redis output (per minute and per day):
//!
//! * the lines pvuv accepts ([`access`]: the SDK's access-log reading),
//!   invalid UTF-8 rejected, one trailing `\r` stripped;
//! * pvuv's windows: a 60 s tumbling window and a day (86,400 s, shifted by
//!   `--day-offset-secs`, whose final value is what weir leaves in Redis);
//! * weir's lateness rule: one watermark, the highest event time of the
//!   valid lines before the current one minus `--lateness-secs`, and a line
//!   is late for a window whose end is at or before it ([`windows`]);
//! * distinct clients counted by weir's member hash ([`set`]).
//!
//! What it leaves out, on purpose: the WebAssembly sandbox and the rule
//! contract (the parse is inlined), checkpoints, Redis and any output but
//! two small files at the end, the per-step values of the day window, the
//! rule's reject reasons, metrics, threads, hot reload. It reads the file in
//! large blocks and splits lines with `memchr`.
//!
//! ```text
//! weir-sol LOG [--lateness-secs 10] [--day-offset-secs 0]
//!              [--minutes FILE] [--days FILE]
//! ```
//!
//! `--minutes` and `--days` write `start_unix_secs<TAB>pv<TAB>uv` lines,
//! oldest first (the form of `scripts/bench_duckdb.py --out`). Prints one
//! `RESULT ...` line with the counts and the time it took.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark program reports its result on stdout"
)]

mod access;
mod set;
mod windows;

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::windows::{Finished, Windows};

/// Bytes read from the file at a time.
const BLOCK_BYTES: usize = 4 << 20;

/// What the command line asks for.
struct Args {
    log: PathBuf,
    lateness_ms: i64,
    day_offset_ms: i64,
    minutes: Option<PathBuf>,
    days: Option<PathBuf>,
}

/// Line counts of a run.
#[derive(Debug, Default)]
struct Counts {
    lines: u64,
    valid: u64,
}

/// pvuv's state: one watermark, the minutes and the days.
struct PvUv {
    max_t: i64,
    lateness_ms: i64,
    minutes: Windows,
    days: Windows,
    counts: Counts,
}

impl PvUv {
    fn line(&mut self, mut line: &[u8]) {
        self.counts.lines += 1;
        if let [head @ .., b'\r'] = line {
            line = head;
        }
        let Ok(text) = std::str::from_utf8(line) else {
            return;
        };
        let Some(access) = access::parse(text) else {
            return;
        };
        self.counts.valid += 1;
        let t = access.time_ms;
        let watermark = self.max_t.saturating_sub(self.lateness_ms);
        let member = set::hash_member(access.client);
        self.minutes.add(t, member, watermark);
        self.days.add(t, member, watermark);
        self.max_t = self.max_t.max(t);
    }
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let started = Instant::now();
    let mut pvuv = PvUv {
        max_t: i64::MIN,
        lateness_ms: args.lateness_ms,
        minutes: Windows::new(60_000, args.day_offset_ms),
        days: Windows::new(86_400_000, args.day_offset_ms),
        counts: Counts::default(),
    };
    read_lines(&args.log, |line| pvuv.line(line))?;
    let (late_minutes, late_days) = (pvuv.minutes.late, pvuv.days.late);
    let minutes = pvuv.minutes.into_finished();
    let days = pvuv.days.into_finished();
    if let Some(path) = &args.minutes {
        write_tsv(path, &minutes)?;
    }
    if let Some(path) = &args.days {
        write_tsv(path, &days)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let Counts { lines, valid } = pvuv.counts;
    println!(
        "RESULT lines={lines} valid={valid} late_minute={late_minutes} late_day={late_days} \
         minutes={} days={} secs={secs:.4} lines_per_sec={:.0}",
        minutes.len(),
        days.len(),
        lines as f64 / secs
    );
    Ok(())
}

/// Calls `each` with every line of the file (split on `\n`; a last line
/// without one counts if it is not empty), reading large blocks.
fn read_lines(path: &Path, mut each: impl FnMut(&[u8])) -> anyhow::Result<()> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut buf = vec![0u8; BLOCK_BYTES];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            // One line longer than the block: make room.
            buf.resize(buf.len() * 2, 0);
        }
        let read = file
            .read(&mut buf[filled..])
            .with_context(|| format!("cannot read {}", path.display()))?;
        if read == 0 {
            if filled > 0 {
                each(&buf[..filled]);
            }
            return Ok(());
        }
        let end = filled + read;
        let mut start = 0;
        for newline in memchr::memchr_iter(b'\n', &buf[filled..end]) {
            each(&buf[start..filled + newline]);
            start = filled + newline + 1;
        }
        buf.copy_within(start..end, 0);
        filled = end - start;
    }
}

/// `start_unix_secs<TAB>pv<TAB>uv` per window.
fn write_tsv(path: &Path, windows: &[Finished]) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    for w in windows {
        writeln!(out, "{}\t{}\t{}", w.start_ms / 1000, w.count, w.distinct)?;
    }
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))
}

fn parse_args() -> anyhow::Result<Args> {
    let mut log = None;
    let mut args = Args {
        log: PathBuf::new(),
        lateness_ms: 10_000,
        day_offset_ms: 0,
        minutes: None,
        days: None,
    };
    let mut argv = std::env::args_os().skip(1);
    while let Some(arg) = argv.next() {
        let mut value = |name: &str| argv.next().with_context(|| format!("{name} needs a value"));
        let secs = |text: std::ffi::OsString, name: &str| -> anyhow::Result<i64> {
            let text = text.to_string_lossy();
            let secs: i64 = text
                .parse()
                .with_context(|| format!("{name} {text}: not a whole number of seconds"))?;
            Ok(secs * 1000)
        };
        match arg.to_str() {
            Some("--lateness-secs") => {
                args.lateness_ms = secs(value("--lateness-secs")?, "--lateness-secs")?
            }
            Some("--day-offset-secs") => {
                args.day_offset_ms = secs(value("--day-offset-secs")?, "--day-offset-secs")?;
            }
            Some("--minutes") => args.minutes = Some(value("--minutes")?.into()),
            Some("--days") => args.days = Some(value("--days")?.into()),
            Some(flag) if flag.starts_with("--") => bail!("unknown option {flag}"),
            _ if log.is_none() => log = Some(PathBuf::from(arg)),
            _ => bail!("one log file only"),
        }
    }
    args.log = log.context(
        "usage: weir-sol LOG [--lateness-secs 10] [--day-offset-secs 0] [--minutes FILE] [--days FILE]",
    )?;
    Ok(args)
}
