//! The connection limit (issue 14 item 8): at most `max_connections` open at once. A new
//! connection past the limit closes the one that has been idle longest: a connection is idle
//! from the moment it is accepted until its request head is complete (so one still sending a
//! head, or a TLS handshake, is idle) and again between requests; it is busy only while a
//! request it sent in full is being answered. When every open connection is busy, the new one
//! is refused with a short 503 instead. Either way the server keeps accepting: a flood of
//! connections that never finish a request cannot hold the slots that real clients need.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// The open connections and which of them are idle.
pub struct Admission {
    max: usize,
    table: Mutex<Table>,
    /// Open connections now (for tests and `ReferenceServer::open_connections`).
    open: AtomicUsize,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    /// Orders idleness: a connection idle since an earlier `seq` has been idle longer.
    next_seq: u64,
    open: HashMap<u64, Slot>,
    /// Idle connections by when they became idle.
    idle: BTreeMap<u64, u64>,
}

struct Slot {
    /// Its `seq` in `idle`, while it is idle.
    idle_since: Option<u64>,
    shed: Arc<Notify>,
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
    id: u64,
    /// Notified when the connection is shed.
    pub shed: Arc<Notify>,
}

impl Admission {
    pub fn new(max: usize) -> Arc<Admission> {
        Arc::new(Admission {
            max: max.max(1),
            table: Mutex::new(Table::default()),
            open: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Admits a new connection, shedding the longest-idle one at the limit.
    pub fn admit(self: &Arc<Self>) -> Admitted {
        let mut table = self.lock();
        let mut shed_one = false;
        if table.open.len() >= self.max {
            let Some((_, victim)) = table.idle.pop_first() else {
                return Admitted::Full;
            };
            if let Some(slot) = table.open.remove(&victim) {
                slot.shed.notify_one();
            }
            shed_one = true;
        }
        let (id, seq) = (table.next_id, table.next_seq);
        table.next_id += 1;
        table.next_seq += 1;
        let shed = Arc::new(Notify::new());
        table.open.insert(
            id,
            Slot {
                idle_since: Some(seq),
                shed: shed.clone(),
            },
        );
        table.idle.insert(seq, id);
        self.open.store(table.open.len(), Ordering::Relaxed);
        Admitted::Yes {
            slot: SlotGuard {
                admission: self.clone(),
                id,
                shed,
            },
            shed_one,
        }
    }
}

impl SlotGuard {
    /// A complete request is being answered: not to be shed.
    pub fn busy(&self) {
        let mut table = self.admission.lock();
        let Table { open, idle, .. } = &mut *table;
        if let Some(since) = open.get_mut(&self.id).and_then(|s| s.idle_since.take()) {
            idle.remove(&since);
        }
    }

    /// Answered: idle again, the most recently idle of all.
    pub fn idle(&self) {
        let mut table = self.admission.lock();
        let seq = table.next_seq;
        let Table { open, idle, .. } = &mut *table;
        if let Some(slot) = open.get_mut(&self.id) {
            if slot.idle_since.is_none() {
                slot.idle_since = Some(seq);
                idle.insert(seq, self.id);
                table.next_seq += 1;
            }
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut table = self.admission.lock();
        if let Some(slot) = table.open.remove(&self.id) {
            if let Some(since) = slot.idle_since {
                table.idle.remove(&since);
            }
        }
        self.admission
            .open
            .store(table.open.len(), Ordering::Relaxed);
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
        let shed_b = b.shed.notified();
        tokio_test_ready(shed_b);
        // c and d are idle; a finishes and becomes the most recently idle.
        a.idle();
        let (_e, _) = admit(&admission).unwrap();
        let shed_c = c.shed.notified();
        tokio_test_ready(shed_c);
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

    /// A `Notify` that was notified before anyone waited completes at once.
    fn tokio_test_ready(notified: tokio::sync::futures::Notified<'_>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::from_millis(100), notified)
                .await
                .expect("the shed connection was told");
        });
    }
}
