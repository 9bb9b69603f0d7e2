//! Security events (brute-force delays, a full throttle table, shed or refused connections, a
//! full token store), written to stderr at most once per interval and kind: the first event
//! of a kind is written at once, later ones within the interval are counted and the count is
//! written when the interval is over (by [`SecurityLog::flush`], which the server's periodic
//! task calls). A flood therefore costs a line per kind and interval, not a line per request.
//!
//! Lines name registered client ids and peer addresses, never a secret or a token: callers
//! pass only those, and ids of clients that are not registered never reach this log.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A (client, address) pair ran out of free failed authentications: its attempts wait.
    ThrottleDelay,
    /// The brute-force table is full: new addresses of a client share one limit.
    ThrottleTableFull,
    /// An idle connection was closed to make room for a new one.
    ConnectionShed,
    /// A new connection was refused: every open one was busy.
    ConnectionRefused,
    /// The token store (or the revocation list) is full: token requests get 503.
    TokenStoreFull,
}

const KINDS: usize = 5;

impl Event {
    fn index(self) -> usize {
        self as usize
    }

    /// The plural noun that counts it in a summary line.
    fn counted(self) -> &'static str {
        match self {
            Event::ThrottleDelay => "client/address pairs started waiting after failed authentications",
            Event::ThrottleTableFull => "failed authentications counted under a shared per-client limit (throttle table full)",
            Event::ConnectionShed => "idle connections shed at the connection limit",
            Event::ConnectionRefused => "connections refused at the connection limit (all busy)",
            Event::TokenStoreFull => "token requests refused with 503 (token store full)",
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Kind {
    /// When a line for this kind was last written.
    last: Option<Instant>,
    /// Events since then that got no line of their own.
    pending: u64,
}

/// Lines kept in memory for [`SecurityLog::lines`] (tests, `ReferenceServer::security_events`).
const KEPT: usize = 200;

/// The rate-limited security log.
pub struct SecurityLog {
    interval: Duration,
    to_stderr: bool,
    kinds: Mutex<[Kind; KINDS]>,
    kept: Mutex<VecDeque<String>>,
}

impl SecurityLog {
    pub fn new(interval: Duration, to_stderr: bool) -> SecurityLog {
        SecurityLog {
            interval,
            to_stderr,
            kinds: Mutex::new([Kind::default(); KINDS]),
            kept: Mutex::new(VecDeque::new()),
        }
    }

    /// Notes one event; `line` says what happened and is built only when it is written.
    pub fn note(&self, event: Event, line: impl FnOnce() -> String) {
        let now = Instant::now();
        let earlier = {
            let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
            let kind = &mut kinds[event.index()];
            if kind
                .last
                .is_some_and(|last| now.duration_since(last) < self.interval)
            {
                kind.pending += 1;
                return;
            }
            kind.last = Some(now);
            std::mem::take(&mut kind.pending)
        };
        let line = line();
        if earlier > 0 {
            // Events the periodic flush had not written yet: counted here, in order.
            let secs = self.interval.as_secs_f64();
            self.write(format!(
                "{line} (and {earlier} more in the {secs:.0} s before)"
            ));
        } else {
            self.write(line);
        }
    }

    /// Writes the counts of events that got no line of their own once their interval is over.
    pub fn flush(&self) {
        let now = Instant::now();
        let mut due = Vec::new();
        {
            let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
            for (i, kind) in kinds.iter_mut().enumerate() {
                let over = kind
                    .last
                    .is_none_or(|last| now.duration_since(last) >= self.interval);
                if kind.pending > 0 && over {
                    due.push((i, kind.pending));
                    kind.pending = 0;
                    kind.last = Some(now);
                }
            }
        }
        for (i, count) in due {
            let event = ALL[i];
            let secs = self.interval.as_secs_f64();
            self.write(format!(
                "{count} more {} in the last {secs:.0} s",
                event.counted()
            ));
        }
    }

    fn write(&self, line: String) {
        let line = format!("reference server security: {line}");
        if self.to_stderr {
            eprintln!("{line}");
        }
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back(line);
    }

    /// The lines written so far (the last [`KEPT`]).
    pub fn lines(&self) -> Vec<String> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.iter().cloned().collect()
    }
}

const ALL: [Event; KINDS] = [
    Event::ThrottleDelay,
    Event::ThrottleTableFull,
    Event::ConnectionShed,
    Event::ConnectionRefused,
    Event::TokenStoreFull,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_kind_and_interval_then_a_count() {
        let log = SecurityLog::new(Duration::from_millis(200), false);
        for i in 0..1000 {
            log.note(Event::ConnectionShed, || format!("shed {i}"));
        }
        log.note(Event::TokenStoreFull, || "full".into());
        assert_eq!(
            log.lines(),
            [
                "reference server security: shed 0",
                "reference server security: full"
            ]
        );
        log.flush();
        assert_eq!(
            log.lines().len(),
            2,
            "nothing is due before the interval ends"
        );
        std::thread::sleep(Duration::from_millis(250));
        log.flush();
        let lines = log.lines();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[2].starts_with("reference server security: 999 more idle connections shed"),
            "{lines:?}"
        );
        log.flush();
        assert_eq!(log.lines().len(), 3, "a count is written once");
        // A count not yet flushed goes with the next line written.
        for _ in 0..4 {
            log.note(Event::TokenStoreFull, || "full again".into());
        }
        std::thread::sleep(Duration::from_millis(250));
        log.note(Event::TokenStoreFull, || "full once more".into());
        let lines = log.lines();
        assert_eq!(lines[3], "reference server security: full again");
        assert_eq!(
            lines[4],
            "reference server security: full once more (and 3 more in the 0 s before)"
        );
    }

    #[test]
    fn every_kind_has_its_place() {
        for (i, event) in ALL.iter().enumerate() {
            assert_eq!(event.index(), i);
        }
    }
}
