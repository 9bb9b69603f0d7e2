//! The arrival clock of an open-model run: one OS thread walks the scenarios' timetables and
//! hands each iteration to a free Goose user at its due time. It sleeps until shortly before
//! that time and spins the rest (tokio's timer wheel has a 1 ms resolution, which alone made
//! a 0.2 ms service time look like 1.3 ms from its intended start). How early it wakes
//! adapts to how late the OS has been waking it, within 30–300 µs; the spin yields the CPU
//! at each turn but the last 20 µs, so a generator pinned to one core still runs its users
//! while it waits. A user waiting on its scenario's queue takes
//! the iteration, records its start lag (now − due) and runs it; when every user is busy the
//! iteration waits in the queue, starts late, and is charged its wait (latency from the
//! intended start), never skipped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use goose::goose::{Transaction, TransactionFunction};

use super::arrival::{RatePlan, Timetable, END_GRACE, LATE_AFTER};
use super::context::LoadContext;
use super::profile::TransactionKind;

/// An iteration handed out: when it was due, and whether a user was waiting for it then.
#[derive(Debug, Clone, Copy)]
struct Due {
    at: Instant,
    had_free_user: bool,
}

/// The timetables of a run and the queues the clock fills.
pub struct Pacing {
    pub plan: RatePlan,
    pub max_in_flight: usize,
    /// One per Goose scenario, in the profile's order.
    pub timetables: Vec<Timetable>,
    queues: Vec<flume::Receiver<Due>>,
    senders: Mutex<Option<Vec<flume::Sender<Due>>>>,
    /// Users waiting for an iteration, per scenario.
    idle: Vec<AtomicU64>,
    /// When the plan starts: once every user is launched and ready (or after a timeout).
    start: OnceLock<Instant>,
    ready: AtomicU64,
    stop: AtomicBool,
}

impl Pacing {
    /// Timetables sharing `plan` by the scenarios' weights.
    pub fn new(plan: RatePlan, weights: &[usize], max_in_flight: usize) -> Pacing {
        let total: usize = weights.iter().sum::<usize>().max(1);
        let (senders, queues) = weights.iter().map(|_| flume::unbounded()).unzip();
        Pacing {
            timetables: weights
                .iter()
                .map(|w| Timetable::new(plan.scaled(*w as f64 / total as f64)))
                .collect(),
            plan,
            max_in_flight,
            queues,
            senders: Mutex::new(Some(senders)),
            idle: weights.iter().map(|_| AtomicU64::new(0)).collect(),
            start: OnceLock::new(),
            ready: AtomicU64::new(0),
            stop: AtomicBool::new(false),
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
}

/// Starts the clock on a thread of its own; it ends when the plan is done or the run stops.
pub fn spawn_clock(ctx: Arc<LoadContext>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("arrival-clock".into())
        .spawn(move || {
            if let Some(pacing) = &ctx.pacing {
                run_clock(pacing);
            }
        })
}

fn run_clock(pacing: &Pacing) {
    let Some(senders) = pacing
        .senders
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    else {
        return;
    };
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
    let mut next: Vec<(u64, Option<Instant>)> = pacing
        .timetables
        .iter()
        .map(|t| (0, t.due(start, 0)))
        .collect();
    loop {
        let earliest = next
            .iter()
            .enumerate()
            .filter_map(|(i, (_, due))| due.map(|d| (i, d)))
            .min_by_key(|(_, d)| *d);
        let Some((scenario, due)) = earliest else {
            return; // the plan is done: dropping the senders tells the users
        };
        if !sleeper.wait_until(due, &pacing.stop) {
            return;
        }
        let had_free_user = pacing.idle[scenario].load(Ordering::Relaxed) > 0;
        let _ = senders[scenario].send(Due {
            at: due,
            had_free_user,
        });
        let (k, slot) = &mut next[scenario];
        *k += 1;
        *slot = pacing.timetables[scenario].due(start, *k);
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
            overshoot: Duration::from_micros(100),
        }
    }
}

const MIN_TOLERANCE: Duration = Duration::from_micros(30);
const MAX_TOLERANCE: Duration = Duration::from_micros(300);
/// The last stretch, spun without yielding: a yield may hand the core away for longer.
const FINAL_SPIN: Duration = Duration::from_micros(20);
/// The longest single sleep, so a stop is seen promptly.
const MAX_SLEEP: Duration = Duration::from_millis(20);

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
/// as the clock hands it out; a user with no iteration left idles until Goose ends the run.
pub fn paced(scenario: usize, kinds: Vec<TransactionKind>, ctx: Arc<LoadContext>) -> Transaction {
    let function: TransactionFunction = Arc::new(move |user| {
        let ctx = ctx.clone();
        let kinds = kinds.clone();
        Box::pin(async move {
            let Some(pacing) = &ctx.pacing else {
                return Ok(());
            };
            pacing.idle[scenario].fetch_add(1, Ordering::Relaxed);
            let next = pacing.queues[scenario].recv_async().await;
            pacing.idle[scenario].fetch_sub(1, Ordering::Relaxed);
            let Ok(Due {
                at: due,
                had_free_user,
            }) = next
            else {
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
            for kind in &kinds {
                if super::transactions::run(*kind, user, &ctx).await.is_err() {
                    break;
                }
            }
            let end = Instant::now();
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
mod tests {
    use super::*;

    #[test]
    fn the_sleeper_wakes_on_time() {
        let stop = AtomicBool::new(false);
        let mut sleeper = Sleeper::default();
        let mut best = Duration::MAX;
        for _ in 0..20 {
            let due = Instant::now() + Duration::from_micros(700);
            assert!(sleeper.wait_until(due, &stop));
            best = best.min(Instant::now() - due);
        }
        // Never early; and late by less than tokio's 1 ms timer tick would make it, at least
        // once in 20 (the best, not the worst: on a loaded machine any one wake, and the
        // yield before the final spin, can lose the core for a scheduler slice).
        assert!(best < Duration::from_millis(1), "{best:?}");
        stop.store(true, Ordering::Relaxed);
        assert!(!sleeper.wait_until(Instant::now() + Duration::from_secs(5), &stop));
    }

    #[test]
    fn the_clock_hands_out_the_whole_plan_in_order() {
        let pacing = Pacing::new(RatePlan::constant(2000.0, 0.05), &[3, 1], 1);
        pacing.set_start(Instant::now());
        run_clock(&pacing);
        let a: Vec<Instant> = pacing.queues[0].try_iter().map(|d| d.at).collect();
        let b: Vec<Instant> = pacing.queues[1].try_iter().map(|d| d.at).collect();
        assert_eq!((a.len(), b.len()), (75, 25));
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        assert!(
            pacing.queues[0].is_disconnected(),
            "the users learn the plan is done"
        );
    }
}
