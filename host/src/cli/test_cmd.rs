//! `weir test`: replay a log through one rule component under event time
//! (see [`super::replay`]), print every window's final values, the
//! counters and the first rejects with their line numbers, and compare with
//! a golden file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::golden::{self, Windows};
use super::replay::{Replay, ReplayOptions, replay};
use super::rule_file;

/// `weir test` arguments.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The rule component (`.wasm`).
    pub rule: PathBuf,
    /// The log to replay, one record per line.
    #[arg(long, short)]
    pub input: PathBuf,
    /// The rule's config as JSON (what `[rules.<name>] config` gives it).
    #[arg(long, default_value = "{}")]
    pub rule_config: String,
    /// Allowed lateness in seconds (`[windows] allowed_lateness_secs`).
    #[arg(long, default_value_t = 10)]
    pub lateness_secs: u64,
    /// Where day windows start, as an offset from UTC midnight
    /// (`[windows] day_offset_secs`; -28800 = local midnight in UTC+8).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub day_offset_secs: i64,
    /// Print the windows as JSON: `{"<metric>:<size>": {"<start>":
    /// {"<group>": <value>}}}` (counters and rejects go to stderr).
    #[arg(long)]
    pub json: bool,
    /// Compare with this golden file (the `--json` form, or the Redis form
    /// of `tests/golden/*/expected.json`); exit 1 on a difference.
    #[arg(long)]
    pub expect: Option<PathBuf>,
    /// Write the windows to the `--expect` file instead of comparing.
    #[arg(long, requires = "expect")]
    pub update: bool,
}

/// Runs `weir test`; an `Err` (a load failure, a difference from the golden
/// file) exits 1.
pub async fn test(args: &TestArgs) -> anyhow::Result<()> {
    serde_json::from_str::<serde_json::Value>(&args.rule_config)
        .context("--rule-config is not JSON")?;
    let rule = tokio::task::block_in_place(|| rule_file::load(&args.rule, &args.rule_config))?;
    let options = ReplayOptions {
        lateness_secs: args.lateness_secs,
        day_offset_secs: args.day_offset_secs,
    };
    let result = replay(rule, &args.input, &options).await?;
    let windows = if args.json {
        golden::render(&result.windows)
    } else {
        windows_text(&result.windows)
    };
    let summary = summary_text(&result, &args.input);
    out(&windows);
    if args.json {
        err(&summary);
    } else {
        out(&summary);
    }
    let Some(expect) = &args.expect else {
        return Ok(());
    };
    if args.update {
        write_golden(expect, &result.windows)?;
        err(&format!("wrote {}\n", expect.display()));
        return Ok(());
    }
    compare(expect, &result.windows)
}

/// Compares with the golden file, printing every difference.
fn compare(expect: &Path, got: &Windows) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(expect)
        .with_context(|| format!("cannot read the golden file {}", expect.display()))?;
    let expected = golden::parse(&text).with_context(|| format!("{}", expect.display()))?;
    let differences = golden::diff(&expected, got);
    if differences.is_empty() {
        err(&format!("same as {}\n", expect.display()));
        return Ok(());
    }
    let mut text = format!(
        "{} difference(s) from {} (expected, got):\n",
        differences.len(),
        expect.display()
    );
    for line in &differences {
        let _ = writeln!(text, "  {line}");
    }
    out(&text);
    anyhow::bail!(
        "the windows differ from {} in {} value(s); `--update` rewrites it",
        expect.display(),
        differences.len()
    )
}

/// Writes the golden file beside and renames it in.
fn write_golden(path: &Path, windows: &Windows) -> anyhow::Result<()> {
    let temp = path.with_extension("json.tmp");
    std::fs::write(&temp, golden::render(windows))
        .with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// The windows as text: a heading per metric window, a line per window.
fn windows_text(windows: &Windows) -> String {
    let mut text = String::new();
    for (metric, starts) in windows {
        let _ = writeln!(text, "{metric}");
        for (start, groups) in starts {
            let when = start.parse::<i64>().map(utc).unwrap_or_default();
            let values: Vec<String> = groups
                .iter()
                .map(|(group, value)| format!("{group}={value}"))
                .collect();
            let _ = writeln!(text, "  {start} {when}  {}", values.join(" "));
        }
    }
    if windows.is_empty() {
        text.push_str("no window has a value\n");
    }
    text
}

/// The counters and the first rejects, with line numbers.
fn summary_text(result: &Replay, input: &Path) -> String {
    let s = &result.stats;
    let mut text = format!(
        "rule {} {}: {} lines of {}: {} rejected, {} updates, {} late, {} without event time, {} invalid updates, {} dead-lettered, {} oversized\n",
        result.rule,
        result.version,
        result.source.records + result.source.oversized,
        input.display(),
        s.rejected,
        s.updates,
        s.late,
        s.no_event_time,
        s.invalid_updates,
        s.dead_lettered,
        result.source.oversized,
    );
    if !result.first_rejects.is_empty() {
        let _ = writeln!(text, "first rejects:");
        for reject in &result.first_rejects {
            let line = reject
                .line
                .map_or_else(|| "line ?".to_owned(), |line| format!("line {line}"));
            let _ = writeln!(text, "  {line}: {}", reject.reason);
        }
    }
    if let Some((reason, count)) = &result.top_reject {
        let _ = writeln!(text, "most common reject: {reason} ({count} lines)");
    }
    for letter in result.dead_letters.iter().take(10) {
        let _ = writeln!(
            text,
            "dead letter at byte offset {}: {}",
            letter.offset, letter.reason
        );
    }
    text
}

/// `2026-11-21T07:57:00Z` for Unix seconds (proleptic Gregorian, UTC).
fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn out(text: &str) {
    #[expect(
        clippy::print_stdout,
        reason = "the replay's results are the command's output"
    )]
    {
        print!("{text}");
    }
}

fn err(text: &str) {
    #[expect(
        clippy::print_stderr,
        reason = "notes beside the results, kept off stdout so `--json` stays JSON"
    )]
    {
        eprint!("{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_795_219_020), "2026-11-20T23:57:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59Z");
    }
}
