//! The connection limit (issue 14 item 8): at most `max_connections` open at once. A new
//! connection past the limit closes the one that has been idle longest: a connection is idle
//! from the moment it is accepted until its request head is complete (so one still sending a
//! head, or a TLS handshake, is idle) and again between requests; it is busy only while a
//! request it sent in full is being answered. When every open connection is busy, the new one
//! is refused with a short 503 instead. Either way the server keeps accepting: a flood of
//! connections that never finish a request cannot hold the slots that real clients need.
//!
//! The bookkeeping costs a request two atomic operations on its own connection's slot (and
//! one on a shared counter): no lock, no map. Only admitting a connection at the limit scans
//! the slots for the longest idle one, and only admitting and closing take the table's lock.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::task::AbortHandle;

/// A slot's state: busy, shed, or idle since this point in the idle order.
const BUSY: u64 = 0;
const SHED: u64 = u64::MAX;

/// The open connections and which of them are idle.
pub struct Admission {
    max: usize,
    /// Orders idleness: a connection idle since an earlier value has been idle longer.
    next_seq: AtomicU64,
    /// The open connections (a shed one leaves at once, though its task ends a little later).
    table: Mutex<Vec<Arc<Slot>>>,
    /// Open connections now (for tests and `ReferenceServer::open_connections`).
    open: AtomicUsize,
}

/// One connection's place.
pub struct Slot {
    /// [`BUSY`], [`SHED`], or the `seq` since which it is idle.
    state: AtomicU64,
    /// Ends the connection's task when it is shed.
    abort: Mutex<Option<AbortHandle>>,
    /// Where it is in the table (changed only under the table's lock).
    index: AtomicUsize,
}

impl Slot {
    /// The task serving the connection, to end when it is shed (at once if it already was).
    pub fn serve_in(&self, task: AbortHandle) {
        let mut abort = lock(&self.abort);
        if self.state.load(Ordering::Acquire) == SHED {
            task.abort();
        } else {
            *abort = Some(task);
        }
    }
}

/// Removes the slot at `index`, keeping the moved one's index right.
fn remove(table: &mut Vec<Arc<Slot>>, index: usize) -> Arc<Slot> {
    let removed = table.swap_remove(index);
    if let Some(moved) = table.get(index) {
        moved.index.store(index, Ordering::Relaxed);
    }
    removed
}

/// What became of a new connection.
pub enum Admitted {
    /// Serve it. `shed_one`: an idle connection was closed to make room.
    Yes { slot: SlotGuard, shed_one: bool },
    /// Every open connection is busy: refuse it.
    Full,
}

/// A connection's place in the table; dropping it frees the place.
pub struct SlotGuard {
    admission: Arc<Admission>,
    slot: Arc<Slot>,
}

impl Admission {
    pub fn new(max: usize) -> Arc<Admission> {
        Arc::new(Admission {
            max: max.max(1),
            // Starts past BUSY.
            next_seq: AtomicU64::new(1),
            table: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Slot>>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Admits a new connection, shedding the longest-idle one at the limit.
    pub fn admit(self: &Arc<Self>) -> Admitted {
        let mut table = self.lock();
        let mut shed_one = false;
        if table.len() >= self.max {
            // The longest idle; a connection that turns busy meanwhile keeps its place (its
            // state changed, so taking it fails) and the search runs again.
            let victim = loop {
                let oldest = table
                    .iter()
                    .enumerate()
                    .map(|(i, slot)| (i, slot.state.load(Ordering::Acquire)))
                    .filter(|&(_, state)| state != BUSY && state != SHED)
                    .min_by_key(|&(_, since)| since);
                let Some((index, since)) = oldest else {
                    return Admitted::Full;
                };
                let slot = &table[index];
                if slot
                    .state
                    .compare_exchange(since, SHED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    break index;
                }
            };
            let victim = remove(&mut table, victim);
            if let Some(abort) = lock(&victim.abort).take() {
                abort.abort();
            }
            shed_one = true;
        }
        let slot = Arc::new(Slot {
            state: AtomicU64::new(self.seq()),
            abort: Mutex::new(None),
            index: AtomicUsize::new(table.len()),
        });
        table.push(slot.clone());
        self.open.store(table.len(), Ordering::Relaxed);
        Admitted::Yes {
            slot: SlotGuard {
                admission: self.clone(),
                slot,
            },
            shed_one,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl SlotGuard {
    /// Its slot, to hand the task that serves the connection ([`Slot::serve_in`]).
    pub fn slot(&self) -> Arc<Slot> {
        self.slot.clone()
    }

    /// Whether it was shed to admit another.
    pub fn is_shed(&self) -> bool {
        self.slot.state.load(Ordering::Acquire) == SHED
    }

    /// A complete request is being answered: not to be shed.
    pub fn busy(&self) {
        let state = &self.slot.state;
        let now = state.load(Ordering::Acquire);
        if now != SHED && now != BUSY {
            // Fails only if it was shed meanwhile: then it stays shed.
            let _ = state.compare_exchange(now, BUSY, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// Answered: idle again, the most recently idle of all.
    pub fn idle(&self) {
        let state = &self.slot.state;
        if state.load(Ordering::Acquire) == BUSY {
            // Only `busy`/`idle` of this connection change a busy state.
            let _ = state.compare_exchange(
                BUSY,
                self.admission.seq(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if self.is_shed() {
            // Left the table when it was shed.
            return;
        }
        let mut table = self.admission.lock();
        // Under the lock, a slot that was not shed is in the table at its index.
        let index = self.slot.index.load(Ordering::Relaxed);
        if table.get(index).is_some_and(|s| Arc::ptr_eq(s, &self.slot)) {
            remove(&mut table, index);
        }
        self.admission.open.store(table.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admit(admission: &Arc<Admission>) -> Option<(SlotGuard, bool)> {
        match admission.admit() {
            Admitted::Yes { slot, shed_one } => Some((slot, shed_one)),
            Admitted::Full => None,
        }
    }

    #[test]
    fn at_the_limit_the_longest_idle_goes_and_busy_ones_stay() {
        let admission = Admission::new(3);
        let (a, _) = admit(&admission).unwrap();
        let (b, _) = admit(&admission).unwrap();
        let (c, shed) = admit(&admission).unwrap();
        assert!(!shed);
        a.busy();
        // b is the longest idle now (a is busy): the fourth connection sheds b.
        let (d, shed) = admit(&admission).unwrap();
        assert!(shed);
        assert_eq!(admission.open(), 3);
        assert!(b.is_shed() && !a.is_shed() && !c.is_shed());
        // c and d are idle; a finishes and becomes the most recently idle.
        a.idle();
        let (_e, _) = admit(&admission).unwrap();
        assert!(c.is_shed() && !d.is_shed() && !a.is_shed());
        drop(b);
        drop(c);
        assert_eq!(
            admission.open(),
            3,
            "a shed guard's drop frees nothing twice"
        );
        a.busy();
        d.busy();
        let (f, shed) = admit(&admission).unwrap();
        assert!(shed, "_e was idle");
        f.busy();
        assert!(admit(&admission).is_none(), "all busy: refused");
        drop(f);
        assert!(admit(&admission).is_some());
    }

    /// A shed connection's task ends, whether it was shed before or after it was handed.
    #[test]
    fn a_shed_connection_s_task_is_aborted() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let admission = Admission::new(1);
            let (a, _) = admit(&admission).unwrap();
            let task = tokio::spawn(std::future::pending::<()>());
            a.slot().serve_in(task.abort_handle());
            let (b, shed) = admit(&admission).unwrap();
            assert!(shed && a.is_shed());
            assert!(task.await.unwrap_err().is_cancelled());
            // b is shed before its task is handed: the task ends as soon as it is.
            let (_c, _) = admit(&admission).unwrap();
            let late = tokio::spawn(std::future::pending::<()>());
            b.slot().serve_in(late.abort_handle());
            assert!(late.await.unwrap_err().is_cancelled());
            drop(a);
            drop(b);
            assert_eq!(admission.open(), 1);
        });
    }
}
