//! The arrival clock of an open-model run. Each scenario has a lane: a count of iterations
//! released (fallen due) and a semaphore with a permit per released iteration not yet taken.
//! The clock, an OS thread of its own, sleeps until shortly before the next iteration is due
//! and spins the rest (tokio's timer has a 1 ms resolution, which alone made a 0.2 ms service
//! time look like 1.3 ms from its intended start), then releases every iteration that is due
//! in one step: at high rates it wakes at most every [`MIN_PERIOD`] and hands over a batch.
//! Each user that comes back for its next iteration releases what is due too, so busy users
//! need no wake at all, and while no user waits for an iteration the clock itself sleeps
//! (it is needed only to wake a waiting user on time; the first user to wait wakes it). A
//! hand-off is a permit; no queue, no lock per iteration. The users do their work on the
//! runtime's workers, which never spin: a worker that spun would be charged as CPU-bound by
//! the OS and lose the core for whole time slices to anything else runnable, which showed as
//! milliseconds of service time (tried: a clock task yielding on the runtime).
//!
//! A user takes a permit and the oldest released iteration with it, records its start lag
//! (now − due) and runs it. A user that found the permit waiting for it (none waited when
//! the iteration fell due: every user was busy) starts late when the lag is over
//! [`LATE_AFTER`], and is charged its wait (latency from the intended start), never skipped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use goose::goose::{Transaction, TransactionFunction};
use tokio::sync::{Semaphore, TryAcquireError};

use super::arrival::{RatePlan, Timetable, END_GRACE, LATE_AFTER};
use super::context::LoadContext;
use super::profile::TransactionKind;

/// One scenario's iterations: released as they fall due, taken by its users.
struct Lane {
    released: AtomicU64,
    taken: AtomicU64,
    /// A permit per released iteration not yet taken; once the clock is done, a surplus
    /// that lets every waiting user see that there is nothing left.
    permits: Semaphore,
}

/// Permits added when the clock is done: more than the users can ever take.
const DONE_PERMITS: usize = 1 << 40;

/// The clock wakes at most this often: at higher rates it releases what fell due in a batch
/// (their start lag is then up to this long, far under [`LATE_AFTER`]).
const MIN_PERIOD: Duration = Duration::from_micros(100);
/// The longest single sleep, so a stop is seen promptly.
const MAX_SLEEP: Duration = Duration::from_millis(20);

/// The timetables of a run and the lanes the clock fills.
pub struct Pacing {
    pub plan: RatePlan,
    pub max_in_flight: usize,
    /// One per Goose scenario, in the profile's order.
    pub timetables: Vec<Timetable>,
    lanes: Vec<Lane>,
    /// When the plan starts: once every user is launched and ready (or after a timeout).
    start: OnceLock<Instant>,
    ready: AtomicU64,
    stop: AtomicBool,
    done: AtomicBool,
    /// Users waiting for an iteration to fall due; while there are none, the clock sleeps.
    waiting: AtomicU64,
    /// The clock's thread, and whether it sleeps until a user waits (then the first user
    /// to wait wakes it).
    clock: OnceLock<Thread>,
    clock_dormant: AtomicBool,
    /// How many times the clock went to sleep for want of a waiting user (for tests).
    #[cfg(test)]
    dormant_spells: AtomicU64,
    /// How many times the clock waited for one iteration's time precisely (for tests).
    #[cfg(test)]
    precise_waits: AtomicU64,
    /// Iterations that started after the plan's end (the run fell behind its plan and
    /// caught up in the grace period), and when the last of them ended, in µs from the
    /// start: counted only then, so a run that keeps up pays nothing for it.
    overran: AtomicU64,
    overran_until_us: AtomicU64,
}

impl Pacing {
    /// Timetables sharing `plan` by the scenarios' weights.
    pub fn new(plan: RatePlan, weights: &[usize], max_in_flight: usize) -> Pacing {
        let total: usize = weights.iter().sum::<usize>().max(1);
        Pacing {
            timetables: weights
                .iter()
                .map(|w| Timetable::new(plan.scaled(*w as f64 / total as f64)))
                .collect(),
            plan,
            max_in_flight,
            lanes: weights
                .iter()
                .map(|_| Lane {
                    released: AtomicU64::new(0),
                    taken: AtomicU64::new(0),
                    permits: Semaphore::new(0),
                })
                .collect(),
            start: OnceLock::new(),
            ready: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            done: AtomicBool::new(false),
            waiting: AtomicU64::new(0),
            clock: OnceLock::new(),
            clock_dormant: AtomicBool::new(false),
            #[cfg(test)]
            dormant_spells: AtomicU64::new(0),
            #[cfg(test)]
            precise_waits: AtomicU64::new(0),
            overran: AtomicU64::new(0),
            overran_until_us: AtomicU64::new(0),
        }
    }

    /// Iterations that started after the plan's end.
    pub fn overran(&self) -> u64 {
        self.overran.load(Ordering::Relaxed)
    }

    /// How long the run took to start and finish its iterations: the plan's duration, or
    /// more when it fell behind.
    pub fn span(&self) -> Duration {
        let until = Duration::from_micros(self.overran_until_us.load(Ordering::Relaxed));
        self.plan.duration().max(until)
    }

    /// Notes an iteration that started at `started` and ended at `end`, if after the plan.
    fn note_overrun(&self, started: Instant, end: Instant) {
        let Some(start) = self.start() else {
            return;
        };
        if started.saturating_duration_since(start) > self.plan.duration() {
            self.overran.fetch_add(1, Ordering::Relaxed);
            let until = end.saturating_duration_since(start).as_micros() as u64;
            self.overran_until_us.fetch_max(until, Ordering::Relaxed);
        }
    }

    /// Starts the plan at `at` unless it has started.
    pub fn set_start(&self, at: Instant) {
        let _ = self.start.set(at);
    }

    /// A user is launched and ready: when the last one is, the plan starts (an iteration due
    /// before every user exists would be late for a reason of the harness's, not the server's).
    pub fn user_ready(&self) {
        let ready = self.ready.fetch_add(1, Ordering::Relaxed) + 1;
        if ready >= self.max_in_flight as u64 {
            self.set_start(Instant::now() + Duration::from_millis(50));
        }
    }

    /// When the plan starts, once it has.
    pub fn start(&self) -> Option<Instant> {
        self.start.get().copied()
    }

    /// When every request must be done: the plan's end and a grace period.
    pub fn hard_stop(&self) -> Option<Instant> {
        self.start().map(|s| s + self.plan.duration() + END_GRACE)
    }

    /// Ends the clock (the run is over).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Releases every iteration of scenario `lane` due by `now`, in one step; returns when
    /// the next one is due and its index (`None`: the plan is done). The clock and the users
    /// both call it: the count moves by compare-and-swap, so an iteration is released once.
    fn release_due(&self, lane: usize, start: Instant, now: Instant) -> Option<(Instant, u64)> {
        let (lane, table) = (&self.lanes[lane], &self.timetables[lane]);
        let mut from = lane.released.load(Ordering::Acquire);
        loop {
            let mut to = from;
            let next = loop {
                match table.due(start, to) {
                    Some(due) if due <= now => to += 1,
                    next => break next.map(|due| (due, to)),
                }
            };
            if to == from || self.done.load(Ordering::Relaxed) {
                return next;
            }
            match lane
                .released
                .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    lane.permits.add_permits((to - from) as usize);
                    return next;
                }
                Err(moved) => from = moved,
            }
        }
    }

    /// The clock is done (the plan is, or the run stopped): users still waiting learn that
    /// nothing is left once the released iterations are taken.
    fn finish(&self) {
        if !self.done.swap(true, Ordering::AcqRel) {
            for lane in &self.lanes {
                lane.permits.add_permits(DONE_PERMITS);
            }
        }
    }

    /// The next iteration of scenario `lane` for a user: when it was due, and whether the
    /// user was waiting for it then. `None` when the plan is over.
    async fn take(&self, index: usize) -> Option<(Instant, bool)> {
        if let Some(start) = self.start() {
            self.release_due(index, start, Instant::now());
        }
        let lane = &self.lanes[index];
        let waited = match lane.permits.try_acquire() {
            Ok(permit) => {
                permit.forget();
                false
            }
            Err(TryAcquireError::NoPermits) => {
                let _waiting = Waiting::new(self);
                lane.permits.acquire().await.ok()?.forget();
                true
            }
            Err(TryAcquireError::Closed) => return None,
        };
        let k = lane.taken.fetch_add(1, Ordering::Relaxed);
        if k >= lane.released.load(Ordering::Acquire) {
            return None;
        }
        Some((self.timetables[index].due(self.start()?, k)?, waited))
    }
}

/// A user waiting for its next iteration: counted, and the clock woken if it sleeps.
struct Waiting<'p>(&'p Pacing);

impl<'p> Waiting<'p> {
    fn new(pacing: &'p Pacing) -> Waiting<'p> {
        // SeqCst here and in `run_clock`: either the clock sees this user before it goes to
        // sleep, or this user sees it asleep and wakes it.
        pacing.waiting.fetch_add(1, Ordering::SeqCst);
        if pacing.clock_dormant.swap(false, Ordering::SeqCst) {
            if let Some(clock) = pacing.clock.get() {
                clock.unpark();
            }
        }
        Waiting(pacing)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Starts the clock on a thread of its own; it ends when the plan is done or the run stops,
/// and then lets every waiting user go.
pub fn spawn_clock(ctx: Arc<LoadContext>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("arrival-clock".into())
        .spawn(move || {
            if let Some(pacing) = &ctx.pacing {
                precise_sleeps();
                run_clock(pacing);
                pacing.finish();
            }
        })
}

/// Asks Linux to wake this thread's sleeps on time instead of grouping them with other
/// timers (the default slack of 50 µs made every wake late by about that much).
fn precise_sleeps() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and touches only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

fn run_clock(pacing: &Pacing) {
    let _ = pacing.clock.set(std::thread::current());
    let mut sleeper = Sleeper::default();
    let start = loop {
        if pacing.stop.load(Ordering::Relaxed) {
            return;
        }
        match pacing.start() {
            Some(start) => break start,
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    };
    let lanes = pacing.lanes.len();
    let mut now = Instant::now();
    loop {
        // The next iteration due in any lane, and the rate the lanes' timetables run at there.
        let mut next = None::<Instant>;
        let mut per_second = 0.0;
        for lane in 0..lanes {
            if let Some((due, k)) = pacing.release_due(lane, start, now) {
                next = Some(next.map_or(due, |n| n.min(due)));
                let after = pacing.timetables[lane].due(start, k + 1);
                if let Some(gap) = after.map(|a| a.saturating_duration_since(due)) {
                    per_second += 1.0 / gap.as_secs_f64().max(1e-9);
                }
            }
        }
        let Some(next) = next else {
            return;
        };
        if pacing.waiting.load(Ordering::SeqCst) == 0 {
            // Every user is busy: each releases what is due when it comes back, so nothing
            // needs the clock until a user waits (it wakes the clock) or the run stops.
            pacing.clock_dormant.store(true, Ordering::SeqCst);
            #[cfg(test)]
            pacing.dormant_spells.fetch_add(1, Ordering::Relaxed);
            if pacing.waiting.load(Ordering::SeqCst) == 0 {
                std::thread::park_timeout(MAX_SLEEP);
            }
            pacing.clock_dormant.store(false, Ordering::SeqCst);
            if pacing.stop.load(Ordering::Relaxed) {
                return;
            }
            now = Instant::now();
            continue;
        }
        // Iterations closer together than the period (a rate over 10,000/s) go in batches,
        // whose start lag may be a few tens of µs more: sleep to the next without spinning,
        // which at these rates would take the core from the users. (Judged by the timetable's
        // spacing, not by the time between two wakes: batches 100 µs apart made every other
        // wake a precise wait that spun, 17% of the generator's core at 50,000/s.)
        if per_second * MIN_PERIOD.as_secs_f64() > 1.0 {
            std::thread::sleep((now + MIN_PERIOD).saturating_duration_since(Instant::now()));
        } else {
            #[cfg(test)]
            pacing.precise_waits.fetch_add(1, Ordering::Relaxed);
            if !sleeper.wait_until(next, &pacing.stop) {
                return;
            }
        }
        if pacing.stop.load(Ordering::Relaxed) {
            return;
        }
        now = Instant::now();
    }
}

/// Sleeps to within a tolerance of a time, then spins. The tolerance follows how late the
/// OS wakes the thread: up at once on a late wake, down slowly.
struct Sleeper {
    overshoot: Duration,
}

impl Default for Sleeper {
    fn default() -> Self {
        Sleeper {
            overshoot: Duration::from_micros(50),
        }
    }
}

const MIN_TOLERANCE: Duration = Duration::from_micros(15);
const MAX_TOLERANCE: Duration = Duration::from_micros(300);
/// The last stretch, spun without yielding: a yield may hand the core away for longer.
const FINAL_SPIN: Duration = Duration::from_micros(20);

impl Sleeper {
    fn tolerance(&self) -> Duration {
        (self.overshoot + MIN_TOLERANCE).min(MAX_TOLERANCE)
    }

    /// Waits until `due`; false when the run stopped first.
    fn wait_until(&mut self, due: Instant, stop: &AtomicBool) -> bool {
        loop {
            let now = Instant::now();
            if now >= due {
                return true;
            }
            let left = due - now;
            let tolerance = self.tolerance();
            if left > tolerance {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                let nap = (left - tolerance).min(MAX_SLEEP);
                std::thread::sleep(nap);
                let late = now.elapsed().saturating_sub(nap);
                self.overshoot = if late > self.overshoot {
                    late
                } else {
                    self.overshoot - (self.overshoot - late) / 16
                };
            } else if left > FINAL_SPIN {
                // Spinning alone would take the core from the users' threads when they share
                // it (a generator pinned to one core): a yield lets them run, and costs the
                // clock a microsecond when nothing else is runnable.
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// In arrival-rate mode, one iteration of scenario `scenario` (its transactions in order)
/// as the clock releases it; a user with no iteration left idles until Goose ends the run.
pub fn paced(scenario: usize, kinds: Vec<TransactionKind>, ctx: Arc<LoadContext>) -> Transaction {
    // Shared, not copied: each iteration only borrows the list.
    let kinds: Arc<[TransactionKind]> = kinds.into();
    let function: TransactionFunction = Arc::new(move |user| {
        let ctx = ctx.clone();
        let kinds = kinds.clone();
        Box::pin(async move {
            let Some(pacing) = &ctx.pacing else {
                return Ok(());
            };
            let Some((due, had_free_user)) = pacing.take(scenario).await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Ok(());
            };
            let now = Instant::now();
            let lag = now.saturating_duration_since(due);
            let second = ctx.recorders.second(now);
            ctx.recorders
                .stripe(user.weighted_users_index)
                .iteration_started(
                    lag.as_micros() as u64,
                    second,
                    lag > LATE_AFTER && !had_free_user,
                    had_free_user,
                );
            for kind in kinds.iter() {
                if super::transactions::run(*kind, user, &ctx).await.is_err() {
                    break;
                }
            }
            let end = Instant::now();
            pacing.note_overrun(now, end);
            let second = ctx.recorders.second(end);
            ctx.recorders
                .stripe(user.weighted_users_index)
                .iteration_finished(
                    end.saturating_duration_since(due).as_micros() as u64,
                    second,
                );
            Ok(())
        })
    });
    Transaction::new(function).set_name("paced iteration")
}

#[cfg(test)]
mod tests;
