//! Trap isolation: when a batch makes a rule trap, find the records that
//! trap and run every other record normally.

use super::runner::{CallError, RuleRunner};
use crate::contract::raw::BatchView;
use crate::model::RuleOutput;

/// What running a batch in isolation gave.
#[derive(Debug)]
pub struct Isolated {
    /// The output of every record that did not trap (record indices refer to
    /// the whole batch).
    pub output: RuleOutput,
    /// Records that trapped on their own: (index in the batch, reason).
    pub trapped: Vec<(u32, String)>,
    /// Failed calls, including those made while narrowing down.
    pub traps: u32,
}

/// Runs `batch` through `runner`. On a failed call the instance is replaced
/// with a fresh one and the batch is bisected: halves that succeed keep
/// their output, halves that fail are split again, down to the single
/// records that fail alone. A batch with k bad records costs about
/// 2·k·log2(n) extra calls; a clean batch costs one.
///
/// Returns an error only if a fresh instance cannot be made.
pub fn run_isolated(
    runner: &mut dyn RuleRunner,
    batch: BatchView<'_>,
) -> Result<Isolated, CallError> {
    let mut isolated = Isolated {
        output: RuleOutput::default(),
        trapped: Vec::new(),
        traps: 0,
    };
    match runner.process(batch) {
        Ok(output) => isolated.output = output,
        Err(error) => {
            isolated.traps += 1;
            runner.reset()?;
            let n = batch.records.len() as u32;
            if n == 1 {
                isolated.trapped.push((0, error.detail));
            } else {
                bisect(runner, batch, 0, n / 2, &mut isolated)?;
                bisect(runner, batch, n / 2, n, &mut isolated)?;
            }
        }
    }
    Ok(isolated)
}

fn bisect(
    runner: &mut dyn RuleRunner,
    batch: BatchView<'_>,
    start: u32,
    end: u32,
    isolated: &mut Isolated,
) -> Result<(), CallError> {
    if start >= end {
        return Ok(());
    }
    let part = batch.with_records(&batch.records[start as usize..end as usize]);
    match runner.process(part) {
        Ok(output) => {
            isolated.output.append(&output, start);
            Ok(())
        }
        Err(error) => {
            isolated.traps += 1;
            runner.reset()?;
            if end - start == 1 {
                isolated.trapped.push((start, error.detail));
                return Ok(());
            }
            let mid = start + (end - start) / 2;
            bisect(runner, batch, start, mid, isolated)?;
            bisect(runner, batch, mid, end, isolated)
        }
    }
}
