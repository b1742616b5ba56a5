//! Sharing one batch's rule calls between threads.
//!
//! A batch is cut, per rule, into runs of consecutive records (tasks), and
//! each run is bound to one of the rule's instances, round robin. Threads
//! take tasks from one list as they become free, the first whose instance
//! is idle, so a thread that started late (the pipeline's own, which first
//! applies the previous batch's outcomes to the windows) takes fewer, and
//! none waits for a share fixed in advance.
//!
//! The helper threads are kept from batch to batch ([`Helpers`], a rayon
//! pool of its own): a batch takes one to two milliseconds, and starting
//! and ending an OS thread per batch (a stack to map, wasmtime's signal
//! stack and thread state set up on the first call) put a delay before
//! every batch's helpers started, while the pipeline's thread waited for
//! them at the end.
//!
//! Which instance runs which records never depends on timing: an instance
//! always gets the same runs, in record order. That keeps a rule that
//! draws random numbers (from the sandbox's fixed seeds) giving the same
//! output on every run over the same input. Rules carry no state from one
//! record to the next, so the runs' outputs, joined in record order, are
//! what one instance gives.

use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::{Condvar, Mutex, OnceLock};

use rayon::ThreadPool;

use super::run_data::RunData;
use crate::contract::Batch;
use crate::contract::raw::BatchView;
use crate::plugin::isolation::{Isolated, run_isolated};
use crate::plugin::{CallError, RuleRunner};

/// One call to make: the rule numbered `rule` (in the caller's list), on
/// its instance `instance`, on one run of the records it is `given`.
pub(super) struct Task<'b> {
    /// Which rule, as an index into the instances.
    pub rule: usize,
    /// Which of the rule's instances.
    pub instance: usize,
    /// The batch the rule is given (all of it, or what its route admits).
    pub given: &'b Batch,
    /// This run's records in `given`.
    pub records: Range<usize>,
    /// Whether the run gets only its own bytes ([`RunData`]): when the
    /// batch is cut in several runs.
    pub own_bytes: bool,
}

impl Task<'_> {
    /// Where the run starts in the rule's records.
    pub fn start(&self) -> u32 {
        self.records.start as u32
    }

    /// Calls `runner` on the run, isolating records that make it fail.
    ///
    /// The run's own bytes are cut out, and its output's spans moved back,
    /// here, on whichever thread takes the task: done before and after
    /// sharing the calls, it was work the pipeline's thread did alone.
    fn call(&self, runner: &mut dyn RuleRunner) -> Result<Isolated, CallError> {
        let records = &self.given.records[self.records.clone()];
        let data = self
            .own_bytes
            .then(|| RunData::of(self.given, records))
            .flatten();
        let view = match &data {
            Some(data) => data.view(self.given),
            None => BatchView::from(self.given).with_records(records),
        };
        let mut result = run_isolated(runner, view);
        if let (Ok(isolated), Some(data)) = (&mut result, &data) {
            data.restore_spans(&mut isolated.output);
        }
        result
    }
}

/// Every rule's instances, by rule then instance.
pub(super) type Instances<'r> = Vec<Vec<&'r mut Box<dyn RuleRunner>>>;

/// Which tasks are taken and which instances are busy.
struct Board {
    taken: Vec<bool>,
    busy: Vec<Vec<bool>>,
}

/// The threads that help the pipeline's own with rule calls, started on
/// first use and kept for the engine's life.
pub struct Helpers {
    /// How many: the engine's threads but the pipeline's own.
    count: usize,
    pool: OnceLock<Option<ThreadPool>>,
}

impl Helpers {
    /// Helpers for an engine of `threads` threads (none for one).
    pub fn new(threads: usize) -> Self {
        Self {
            count: threads.saturating_sub(1),
            pool: OnceLock::new(),
        }
    }

    /// The pool (`None` without helpers, or if none could be started:
    /// the calls then run on the pipeline's thread alone).
    fn pool(&self) -> Option<&ThreadPool> {
        if self.count == 0 {
            return None;
        }
        self.pool
            .get_or_init(|| {
                let built = rayon::ThreadPoolBuilder::new()
                    .num_threads(self.count)
                    .thread_name(|index| format!("weir-calls-{index}"))
                    .build();
                built
                    .map_err(|error| {
                        tracing::warn!(%error, "cannot start the threads that share rule calls; calling on one thread");
                    })
                    .ok()
            })
            .as_ref()
    }
}

/// Runs every task on `threads` threads, this one included: it first runs
/// `meanwhile`, then takes tasks too; the others are `helpers` (with fewer
/// helpers than `threads - 1`, a helper may take several turns, which
/// only makes it slower). Returns each task's
/// result, in task order, and what `meanwhile` returned.
pub(super) fn run_shared<T>(
    tasks: &[Task<'_>],
    instances: Instances<'_>,
    threads: usize,
    helpers: &Helpers,
    meanwhile: impl FnOnce() -> T,
) -> (Vec<Result<Isolated, CallError>>, T) {
    let board = Mutex::new(Board {
        taken: vec![false; tasks.len()],
        busy: instances.iter().map(|own| vec![false; own.len()]).collect(),
    });
    let changed = Condvar::new();
    let instances: Vec<Vec<Mutex<&mut Box<dyn RuleRunner>>>> = instances
        .into_iter()
        .map(|own| own.into_iter().map(Mutex::new).collect())
        .collect();
    let results: Mutex<Vec<Option<Result<Isolated, CallError>>>> =
        Mutex::new((0..tasks.len()).map(|_| None).collect());
    let shared = Shared {
        tasks,
        board: &board,
        changed: &changed,
        instances: &instances,
        results: &results,
    };
    let pool = (threads > 1).then(|| helpers.pool()).flatten();
    let value = match pool {
        Some(pool) => pool.in_place_scope(|scope| {
            for _ in 1..threads {
                scope.spawn(|_| {
                    // A helper that panicked leaves its task without a
                    // result, which is reported below; catching it here
                    // keeps the scope from panicking in turn.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| shared.work()));
                });
            }
            let value = meanwhile();
            shared.work();
            value
        }),
        None => {
            let value = meanwhile();
            shared.work();
            value
        }
    };
    let results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(|result| result.unwrap_or_else(|| Err(panicked())))
        .collect();
    (results, value)
}

/// A call that panicked in the host.
fn panicked() -> CallError {
    CallError {
        detail: "a rule call panicked in the host".to_owned(),
    }
}

/// What the threads of one batch share.
struct Shared<'s, 'b, 'r> {
    tasks: &'s [Task<'b>],
    board: &'s Mutex<Board>,
    changed: &'s Condvar,
    instances: &'s [Vec<Mutex<&'r mut Box<dyn RuleRunner>>>],
    results: &'s Mutex<Vec<Option<Result<Isolated, CallError>>>>,
}

impl Shared<'_, '_, '_> {
    /// Takes the first task not yet taken whose instance is idle, runs it,
    /// and again, until every task is taken.
    fn work(&self) {
        while let Some(index) = self.take() {
            let task = &self.tasks[index];
            // A panic in the host while calling (a bug, not a rule's trap)
            // fails this call, which quarantines the rule as an instance
            // that cannot be replaced does; the other threads go on.
            let result = match self.instances[task.rule][task.instance].lock() {
                Ok(mut runner) => {
                    std::panic::catch_unwind(AssertUnwindSafe(|| task.call(runner.as_mut())))
                        .unwrap_or_else(|_| Err(panicked()))
                }
                Err(_) => Err(panicked()),
            };
            if let Ok(mut results) = self.results.lock() {
                results[index] = Some(result);
            }
            if let Ok(mut board) = self.board.lock() {
                board.busy[task.rule][task.instance] = false;
            }
            self.changed.notify_all();
        }
    }

    /// The next task for this thread, marked taken with its instance busy;
    /// waits while every task left needs a busy instance. `None` once every
    /// task is taken.
    fn take(&self) -> Option<usize> {
        let mut board = self.board.lock().ok()?;
        loop {
            let Board { taken, busy } = &*board;
            let next = self
                .tasks
                .iter()
                .enumerate()
                .position(|(index, task)| !taken[index] && !busy[task.rule][task.instance]);
            if let Some(index) = next {
                let task = &self.tasks[index];
                board.taken[index] = true;
                board.busy[task.rule][task.instance] = true;
                return Some(index);
            }
            if taken.iter().all(|&taken| taken) {
                return None;
            }
            board = self.changed.wait(board).ok()?;
        }
    }
}

/// One rule's runs joined into what a single call on all of its records
/// gives: outputs, trapped records and traps, with record numbers counted
/// from the first run's start. `runs` are (start, result), in record order.
pub(super) fn join_runs(
    mut runs: Vec<(u32, Result<Isolated, CallError>)>,
) -> Result<Isolated, CallError> {
    make_room(&mut runs);
    let mut joined: Option<Isolated> = None;
    for (start, result) in runs {
        let run = result?;
        let Some(joined) = joined.as_mut() else {
            joined = Some(run);
            continue;
        };
        joined.traps += run.traps;
        joined.output.append(&run.output, start);
        joined.trapped.extend(
            run.trapped
                .into_iter()
                .map(|(index, reason)| (index + start, reason)),
        );
    }
    joined.ok_or_else(|| CallError {
        detail: "a rule was given no records to call it on".to_owned(),
    })
}

/// Gives the first run's output room for every other run's updates and
/// texts: appended to it one by one, they grew (and copied) it again and
/// again, on the pipeline's thread.
fn make_room(runs: &mut [(u32, Result<Isolated, CallError>)]) {
    let (updates, texts) = runs
        .iter()
        .skip(1)
        .filter_map(|(_, result)| result.as_ref().ok())
        .fold((0, 0), |(updates, texts), run| {
            (
                updates + run.output.updates.len(),
                texts + run.output.texts.len(),
            )
        });
    if let Some((_, Ok(first))) = runs.first_mut() {
        first.output.updates.reserve(updates);
        first.output.texts.reserve(texts);
    }
}
