//! Throughput of the pvuv rule on the host's CPU path, as WebAssembly and as
//! native code, plus the memory an exact distinct count costs per member.
//!
//! ```text
//! scripts/build-plugins.sh                      # builds target/wasm32-wasip2/release/pvuv.wasm
//! cargo bench -p weir --bench pvuv              # WEIR_BENCH_LINES=2000000 by default
//! ```
//!
//! The bench writes `WEIR_BENCH_LINES` combined access-log lines to a
//! temporary file, then runs that same file through the full CPU path
//! (`FileSource` → `Engine` → windows, checkpoint changes drained
//! periodically, all windows closed at the end) twice per round:
//!
//! * **wasm**: the pvuv component, loaded by `RuleLoader` like `weir run` does;
//! * **native**: the pvuv crate compiled into this binary, run by
//!   [`ActiveRule::native`] (`weir::plugin::native`), which hands it the
//!   host's batch through `weir_sdk::run_batch`.
//!
//! Rounds interleave the two paths and the best and the median of
//! `WEIR_BENCH_ROUNDS` (default 3) are reported, so a noisy machine slows
//! both alike. A last pass times the phases (source, rule call, window
//! update) of each path separately (medians), and the last table is the
//! heap cost of a
//! [`DistinctSet`] of one million members.
//!
//! Environment: `WEIR_BENCH_LINES` (lines to generate, default 2,000,000),
//! `WEIR_BENCH_ROUNDS` (default 3), `WEIR_BENCH_WASM` (the component, default
//! `target/wasm32-wasip2/release/pvuv.wasm`), `WEIR_BENCH_FILE` (read this log
//! instead of generating one), `WEIR_BENCH_ONLY=wasm|native` (run one path
//! only, without the comparison: for `perf record`).
//!
//! The bench needs the host's `native-rules` feature (`required-features` in
//! `host/Cargo.toml`). No flag is needed: the host's dev-dependency on itself
//! turns the feature on for its tests and benches, so
//! `cargo bench -p weir --bench pvuv` and `cargo clippy --all-targets` build it.
//!
//! (Over 400 lines on purpose: one benchmark program — input generation,
//! both paths, the phase timing and the report — read top to bottom.)

#![expect(
    clippy::print_stdout,
    reason = "a benchmark reports its results on stdout"
)]

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use weir::checkpoint::CheckpointStore as _;
use weir::checkpoint::MemoryStore;
use weir::config::{LimitsConfig, SourceConfig, SourceKind};
use weir::engine::Engine;
use weir::model::{Alignment, RuleStats};
use weir::plugin::{ActiveRule, RuleLoader, RuleRegistry};
use weir::source::Source;
use weir::state::distinct::DistinctSet;

/// Lines generated when `WEIR_BENCH_LINES` is not set.
const DEFAULT_LINES: usize = 2_000_000;
/// Rounds (one wasm run and one native run each) when `WEIR_BENCH_ROUNDS` is not set.
const DEFAULT_ROUNDS: usize = 3;
/// Records per batch, the `source.batch_records` default.
const BATCH_RECORDS: usize = 4096;
/// Allowed lateness of the windows.
const LATENESS_MS: i64 = 10_000;
/// Checkpoint changes are drained every this many batches: 256 × 4096 ≈ 1M
/// lines, about one second at the 1M lines/s target. A fixed batch count
/// (rather than a clock) makes both paths do exactly the same work.
const DRAIN_EVERY_BATCHES: u64 = 256;
/// 2026-11-21T10:00:00+08:00, the first line's event time, in Unix milliseconds.
const START_MS: i64 = 1_795_226_400_000;
/// Offset of the time zone written in the lines (+08:00).
const ZONE_MS: i64 = 8 * 3_600_000;
/// Distinct client IPs in the generated log.
const CLIENT_IPS: usize = 50_000;
/// Members of the distinct set whose memory is measured.
const DISTINCT_MEMBERS: usize = 1_000_000;

fn main() -> anyhow::Result<()> {
    let lines = env_usize("WEIR_BENCH_LINES", DEFAULT_LINES)?;
    let rounds = env_usize("WEIR_BENCH_ROUNDS", DEFAULT_ROUNDS)?.max(1);
    let wasm_path = wasm_path();
    if !wasm_path.is_file() {
        bail!(
            "{} is missing: run scripts/build-plugins.sh first (it builds the pvuv component), \
             or point WEIR_BENCH_WASM at a pvuv.wasm",
            wasm_path.display()
        );
    }

    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let log_path = match std::env::var_os("WEIR_BENCH_FILE") {
        Some(path) => {
            let path = PathBuf::from(path);
            let bytes = std::fs::metadata(&path)
                .with_context(|| format!("WEIR_BENCH_FILE={}", path.display()))?
                .len();
            println!(
                "input: {} ({:.1} MB, WEIR_BENCH_FILE)",
                path.display(),
                bytes as f64 / 1e6
            );
            path
        }
        None => {
            let started = Instant::now();
            let path = dir.path().join("access.log");
            let generated = generate_log(lines, &path)?;
            println!(
                "input: {} lines, {:.1} MB ({:.0} bytes/line), {} distinct client IPs, \
                 {:.1} min of event time; generated in {:.1} s",
                generated.lines,
                generated.bytes as f64 / 1e6,
                generated.bytes as f64 / generated.lines.max(1) as f64,
                generated.distinct_ips,
                generated.event_span_ms as f64 / 60_000.0,
                started.elapsed().as_secs_f64()
            );
            path
        }
    };
    let source = SourceConfig {
        kind: SourceKind::File {
            path: log_path.clone(),
            follow: false,
            poll_interval_ms: SourceConfig::DEFAULT_POLL_INTERVAL_MS,
        },
        max_record_bytes: SourceConfig::DEFAULT_MAX_RECORD_BYTES,
        batch_records: BATCH_RECORDS,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("cannot start a tokio runtime")?;

    let loading = Instant::now();
    let loader = RuleLoader::new(&LimitsConfig::default())
        .context("cannot set up the WebAssembly engine")?;
    let loaded: ActiveRule = loader
        .load(&wasm_path, |_| "{}".to_owned())
        .with_context(|| format!("cannot load {}", wasm_path.display()))?
        .into();
    println!(
        "wasm: {} ({} bytes), compiled and instantiated in {:.2} s",
        wasm_path.display(),
        std::fs::metadata(&wasm_path).map(|m| m.len()).unwrap_or(0),
        loading.elapsed().as_secs_f64()
    );
    let mut wasm = Some(RuleRegistry::from_rules(vec![loaded]));
    let native_pvuv = ActiveRule::native::<pvuv::PvUv>("{}")?;
    let mut native = Some(RuleRegistry::from_rules(vec![native_pvuv]));
    // The same component without call deadlines, to price epoch interruption.
    let no_deadline = LimitsConfig {
        call_timeout_ms: 0,
        ..LimitsConfig::default()
    };
    let free_loader =
        RuleLoader::new(&no_deadline).context("cannot set up the WebAssembly engine")?;
    let free: ActiveRule = free_loader
        .load(&wasm_path, |_| "{}".to_owned())
        .with_context(|| format!("cannot load {}", wasm_path.display()))?
        .into();
    let mut wasm_free = Some(RuleRegistry::from_rules(vec![free]));

    // For profiling (`perf record`): one path only, no comparison.
    if let Ok(only) = std::env::var("WEIR_BENCH_ONLY") {
        let registry = match only.as_str() {
            "wasm" => &mut wasm,
            "native" => &mut native,
            _ => bail!("WEIR_BENCH_ONLY={only:?}: expected wasm or native"),
        };
        for round in 1..=rounds {
            let taken = registry.take().context("registry in use")?;
            let (run, back) = run_once(taken, &source, &runtime)?;
            *registry = Some(back);
            println!(
                "round {round} {only:<6} {:>7.3} s  {:>12} lines/s  {:?}",
                run.elapsed.as_secs_f64(),
                group(run.lines_per_sec() as u64),
                run.stats
            );
        }
        return Ok(());
    }

    // Interleaved rounds; the registry (and so the rule instance) is reused,
    // the window state is fresh for every run.
    let mut wasm_runs = Vec::new();
    let mut native_runs = Vec::new();
    let mut free_runs = Vec::new();
    for round in 1..=rounds {
        for (name, registry, runs) in [
            ("wasm", &mut wasm, &mut wasm_runs),
            ("native", &mut native, &mut native_runs),
            ("wasm-nd", &mut wasm_free, &mut free_runs),
        ] {
            let taken = registry.take().context("registry in use")?;
            let (run, back) = run_once(taken, &source, &runtime)?;
            *registry = Some(back);
            println!(
                "round {round} {name:<6} {:>7.3} s  {:>12} lines/s",
                run.elapsed.as_secs_f64(),
                group(run.lines_per_sec() as u64)
            );
            runs.push(run);
        }
    }
    let best_wasm = best(&wasm_runs)?;
    let best_native = best(&native_runs)?;
    ensure!(
        best_wasm.stats == best_native.stats && best_wasm.changes == best_native.changes,
        "wasm and native disagree:\n  wasm   {:?} ({} changed slots)\n  native {:?} ({} changed slots)",
        best_wasm.stats,
        best_wasm.changes,
        best_native.stats,
        best_native.changes
    );

    let ratio = best_wasm.lines_per_sec() / best_native.lines_per_sec();
    let best_free = best(&free_runs)?;
    let epoch_cost = 1.0 - best_wasm.lines_per_sec() / best_free.lines_per_sec();
    println!();
    println!(
        "call deadlines (epoch interruption): wasm {} lines/s with, {} without: cost {:.1}% of throughput (target <= 10%)",
        group(best_wasm.lines_per_sec() as u64),
        group(best_free.lines_per_sec() as u64),
        epoch_cost * 100.0
    );
    println!();
    println!(
        "pvuv on the host CPU path (FileSource -> Engine -> windows), best of {rounds}, interleaved"
    );
    println!("| path   | best s  | lines/s      | vs native | target           |");
    println!("|--------|---------|--------------|-----------|------------------|");
    println!(
        "| native | {:>7.3} | {:>12} | {:>8.2}x |                  |",
        best_native.elapsed.as_secs_f64(),
        group(best_native.lines_per_sec() as u64),
        1.0
    );
    println!(
        "| wasm   | {:>7.3} | {:>12} | {:>8.2}x | >= 0.75x: {:<6} |",
        best_wasm.elapsed.as_secs_f64(),
        group(best_wasm.lines_per_sec() as u64),
        ratio,
        if ratio >= 0.75 { "met" } else { "MISSED" }
    );
    println!(
        "wasm >= 1,000,000 lines/s on one core: {} ({} lines/s)",
        if best_wasm.lines_per_sec() >= 1e6 {
            "met"
        } else {
            "MISSED"
        },
        group(best_wasm.lines_per_sec() as u64)
    );
    println!(
        "median of {rounds}: native {} lines/s, wasm {} lines/s ({:.2}x)",
        group(median(&native_runs)?.lines_per_sec() as u64),
        group(median(&wasm_runs)?.lines_per_sec() as u64),
        median(&wasm_runs)?.lines_per_sec() / median(&native_runs)?.lines_per_sec()
    );
    let stats = best_wasm.stats;
    println!(
        "records {} rejected {} updates {} late {} | checkpoint drains {} ({} changed slots)",
        stats.records_in,
        stats.rejected,
        stats.updates,
        stats.late,
        best_wasm.drains,
        best_wasm.changes
    );

    // Where the time goes: each phase timed on its own, median of the rounds
    // (a best-of on this noisy machine flatters whichever phase got lucky).
    let mut phases_wasm: Vec<Phases> = Vec::new();
    let mut phases_native: Vec<Phases> = Vec::new();
    for _ in 0..rounds {
        for (registry, phases) in [
            (&mut wasm, &mut phases_wasm),
            (&mut native, &mut phases_native),
        ] {
            let taken = registry.take().context("registry in use")?;
            let (measured, back) = time_phases(taken, &source, &runtime)?;
            *registry = Some(back);
            phases.push(measured);
        }
    }
    let (Some(pw), Some(pn)) = (Phases::median(&phases_wasm), Phases::median(&phases_native))
    else {
        bail!("no phase timings");
    };
    let per_line = |d: Duration| d.as_nanos() as f64 / stats.records_in.max(1) as f64;
    println!();
    println!("phases, ns per line (each phase the median of {rounds})");
    println!("| phase                               | wasm    | native  | wasm - native |");
    println!("|-------------------------------------|---------|---------|---------------|");
    for (name, w, n) in [
        ("source: read + split into batches", pw.source, pn.source),
        ("rule: RuleCalls::run(batch)", pw.rule, pn.rule),
        ("windows: Lanes::apply(...)", pw.apply, pn.apply),
        ("checkpoint: drain_changes + close", pw.drain, pn.drain),
    ] {
        println!(
            "| {name:<35} | {:>7.1} | {:>7.1} | {:>13.1} |",
            per_line(w),
            per_line(n),
            per_line(w) - per_line(n)
        );
    }
    let (tw, tn) = (pw.total(), pn.total());
    println!(
        "| {:<35} | {:>7.1} | {:>7.1} | {:>13.1} |",
        "sum",
        per_line(tw),
        per_line(tn),
        per_line(tw) - per_line(tn)
    );

    println!();
    distinct_memory();
    Ok(())
}

/// One timed run over the whole file.
#[derive(Debug, Clone, Copy)]
struct Run {
    elapsed: Duration,
    lines: u64,
    stats: RuleStats,
    drains: u64,
    changes: usize,
}

impl Run {
    fn lines_per_sec(&self) -> f64 {
        self.lines as f64 / self.elapsed.as_secs_f64()
    }
}

/// A processor over `registry` with the bench's window settings.
fn processor(registry: RuleRegistry) -> Engine {
    Engine::new(
        registry,
        Alignment::new(0),
        LATENESS_MS,
        &LimitsConfig::default(),
        false,
    )
}

/// The bench's file source (no checkpoint: Redis is never contacted).
fn open_source(source: &SourceConfig) -> anyhow::Result<Source> {
    Ok(Source::open(source, None, MemoryStore::new().claims())?)
}

fn best(runs: &[Run]) -> anyhow::Result<Run> {
    runs.iter()
        .copied()
        .min_by_key(|run| run.elapsed)
        .context("no runs")
}

/// The run of median time.
fn median(runs: &[Run]) -> anyhow::Result<Run> {
    let mut sorted = runs.to_vec();
    sorted.sort_unstable_by_key(|run| run.elapsed);
    sorted.get(sorted.len() / 2).copied().context("no runs")
}

/// Runs the file through a fresh `Engine` over `registry`, the way the
/// pipeline does minus Redis: source → `Engine::process` → windows,
/// draining checkpoint changes every [`DRAIN_EVERY_BATCHES`], closing every
/// window at the end of the input and draining once more.
fn run_once(
    registry: RuleRegistry,
    source: &SourceConfig,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<(Run, RuleRegistry)> {
    let mut processor = processor(registry);
    let started = Instant::now();
    let mut input = open_source(source)?;
    let mut batches = 0u64;
    let mut drains = 0u64;
    let mut changes = 0usize;
    runtime.block_on(async {
        while let Some(batch) = input.next_batch().await? {
            processor.process(&batch);
            batches += 1;
            if batches.is_multiple_of(DRAIN_EVERY_BATCHES) {
                changes += drain(&mut processor);
                drains += 1;
            }
        }
        anyhow::Ok(())
    })?;
    processor.close_all();
    changes += drain(&mut processor);
    drains += 1;
    let elapsed = started.elapsed();
    let run = Run {
        elapsed,
        lines: input.stats().records,
        stats: processor
            .rules()
            .first()
            .map(|slot| processor.totals(slot.id))
            .unwrap_or_default(),
        drains,
        changes,
    };
    Ok((run, processor.into_registry()))
}

/// Drains every rule's checkpoint changes; returns the number of changed slots.
fn drain(processor: &mut Engine) -> usize {
    processor
        .lanes
        .iter_mut()
        .flat_map(|(_, states)| states.iter_mut())
        .map(|(_, state)| {
            state
                .drain_changes()
                .iter()
                .map(|metric| metric.slots.len())
                .sum::<usize>()
        })
        .sum()
}

/// Time spent in each phase of a run.
#[derive(Debug, Clone, Copy, Default)]
struct Phases {
    source: Duration,
    rule: Duration,
    apply: Duration,
    drain: Duration,
}

impl Phases {
    /// Each phase's median over `runs` (`None` without runs).
    fn median(runs: &[Self]) -> Option<Self> {
        let of = |phase: fn(&Self) -> Duration| {
            let mut times: Vec<Duration> = runs.iter().map(phase).collect();
            times.sort_unstable();
            times.get(times.len() / 2).copied()
        };
        Some(Self {
            source: of(|p| p.source)?,
            rule: of(|p| p.rule)?,
            apply: of(|p| p.apply)?,
            drain: of(|p| p.drain)?,
        })
    }

    fn total(&self) -> Duration {
        self.source + self.rule + self.apply + self.drain
    }
}

/// Like [`run_once`], but runs the two halves of `Engine::process` (the
/// rule calls, then applying their outcomes to the windows) one at a time,
/// so that each phase can be timed on its own.
fn time_phases(
    registry: RuleRegistry,
    source: &SourceConfig,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<(Phases, RuleRegistry)> {
    let mut processor = processor(registry);
    let mut phases = Phases::default();
    let mut input = open_source(source)?;
    let mut batches = 0u64;
    runtime.block_on(async {
        loop {
            let t0 = Instant::now();
            let Some(batch) = input.next_batch().await? else {
                break;
            };
            let t1 = Instant::now();
            phases.source += t1 - t0;
            let (mut calls, lanes) = processor.parts();
            let outcomes = calls.run(&batch);
            let t2 = Instant::now();
            lanes.apply(&batch, outcomes);
            phases.rule += t2 - t1;
            phases.apply += t2.elapsed();
            batches += 1;
            if batches.is_multiple_of(DRAIN_EVERY_BATCHES) {
                let t = Instant::now();
                drain(&mut processor);
                phases.drain += t.elapsed();
            }
        }
        anyhow::Ok(())
    })?;
    let t = Instant::now();
    processor.close_all();
    drain(&mut processor);
    phases.drain += t.elapsed();
    Ok((phases, processor.into_registry()))
}

/// Heap bytes per member of an exact distinct set of one million members.
fn distinct_memory() {
    let mut set = DistinctSet::new();
    let mut member = String::new();
    for i in 0..DISTINCT_MEMBERS {
        use std::fmt::Write as _;
        member.clear();
        // Every member is a distinct IPv4 address.
        let _ = write!(member, "10.{}.{}.{}", i >> 16, (i >> 8) & 0xff, i & 0xff);
        set.insert(member.as_bytes());
    }
    let members = set.len() as f64;
    let with_pending = set.heap_bytes();
    let _ = set.take_new_hashes();
    let table_only = set.heap_bytes();
    let sized = {
        let mut sized = DistinctSet::with_capacity(DISTINCT_MEMBERS);
        sized.track_new(false);
        for h in set.iter_hashes() {
            sized.insert_hash(h);
        }
        sized.heap_bytes()
    };
    println!(
        "exact distinct set (DistinctSet), {} members, table of {} slots (load {:.2})",
        group(set.len()),
        group(set.capacity() as u64),
        members / set.capacity() as f64
    );
    println!("| state                                         | heap MB | bytes/member |");
    println!("|-----------------------------------------------|---------|--------------|");
    for (name, bytes) in [
        ("grown by inserts, before a checkpoint drains", with_pending),
        ("grown by inserts, after a checkpoint drained", table_only),
        ("restored at its exact size (with_capacity)", sized),
    ] {
        println!(
            "| {name:<45} | {:>7.1} | {:>12.2} |",
            bytes as f64 / 1e6,
            bytes as f64 / members
        );
    }
}

/// What was generated.
struct Generated {
    lines: usize,
    bytes: u64,
    distinct_ips: usize,
    event_span_ms: i64,
}

/// SplitMix64: a small deterministic generator, so every run sees the same input.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const METHODS: [&str; 4] = ["GET", "GET", "GET", "POST"];
const PATHS: [&str; 10] = [
    "/",
    "/index.html",
    "/login",
    "/cart",
    "/static/js/app.3f9a1c.js",
    "/static/css/site.css",
    "/api/v1/items/4711",
    "/api/v1/orders",
    "/search?q=shoes&page=2",
    "/favicon.ico",
];
const STATUSES: [&str; 8] = ["200", "200", "200", "200", "200", "304", "404", "500"];
const REFERERS: [&str; 3] = ["-", "https://shop.example.com/", "https://www.google.com/"];
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0",
    "curl/8.5.0",
];

/// Writes `lines` combined access-log lines to `path`: event time advances
/// 1 ms per line (1000 lines per second) from [`START_MS`]; 2% of the lines
/// are up to 5 s out of order (within the lateness) and 0.05% are 20 to 60 s
/// late (beyond it). Clients come from a pool of [`CLIENT_IPS`] addresses
/// with a skewed popularity.
fn generate_log(lines: usize, path: &std::path::Path) -> anyhow::Result<Generated> {
    let mut rng = SplitMix(0x7765_6972_6265_6e63);
    let ips: Vec<String> = (0..CLIENT_IPS)
        .map(|_| {
            format!(
                "{}.{}.{}.{}",
                1 + rng.below(223),
                rng.below(256),
                rng.below(256),
                1 + rng.below(254)
            )
        })
        .collect();
    let mut seen = vec![false; CLIENT_IPS];
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut line = String::with_capacity(256);
    let mut bytes = 0u64;
    let mut max_ms = START_MS;
    for i in 0..lines {
        let mut time_ms = START_MS + i as i64;
        let x = rng.unit();
        if x < 0.0005 {
            time_ms -= 20_000 + rng.below(40_000) as i64;
        } else if x < 0.0205 {
            time_ms -= rng.below(5_000) as i64;
        }
        max_ms = max_ms.max(time_ms);
        // Square of a uniform: popular clients first, every client still seen.
        let u = rng.unit();
        let ip = ((u * u) * CLIENT_IPS as f64) as usize % CLIENT_IPS;
        seen[ip] = true;
        line.clear();
        use std::fmt::Write as _;
        writeln!(
            line,
            "{} - - [{}] \"{} {} HTTP/1.1\" {} {} \"{}\" \"{}\"",
            ips[ip],
            clf_time(time_ms),
            METHODS[rng.below(METHODS.len())],
            PATHS[rng.below(PATHS.len())],
            STATUSES[rng.below(STATUSES.len())],
            rng.below(60_000),
            REFERERS[rng.below(REFERERS.len())],
            AGENTS[rng.below(AGENTS.len())],
        )?;
        out.write_all(line.as_bytes())?;
        bytes += line.len() as u64;
    }
    out.flush()?;
    Ok(Generated {
        lines,
        bytes,
        distinct_ips: seen.iter().filter(|&&s| s).count(),
        event_span_ms: max_ms - START_MS,
    })
}

/// `21/Nov/2026:10:00:00 +0800` for a Unix time in milliseconds.
fn clf_time(time_ms: i64) -> String {
    let local = (time_ms + ZONE_MS).div_euclid(1000);
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{day:02}/{}/{year:04}:{:02}:{:02}:{:02} +0800",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Year, month and day of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Where the pvuv component is: `WEIR_BENCH_WASM`, else
/// `$CARGO_TARGET_DIR/wasm32-wasip2/release/pvuv.wasm` (the workspace's
/// `target` by default).
fn wasm_path() -> PathBuf {
    if let Some(path) = std::env::var_os("WEIR_BENCH_WASM") {
        return PathBuf::from(path);
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from);
    let target = if target.is_relative() {
        workspace.join(target)
    } else {
        target
    };
    target.join("wasm32-wasip2/release/pvuv.wasm")
}

fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(text) => text
            .replace('_', "")
            .parse()
            .with_context(|| format!("{name}={text:?} is not a whole number")),
        Err(_) => Ok(default),
    }
}

/// `1234567` as `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
