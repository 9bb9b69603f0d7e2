//! The brute-force throttle's unit tests.

use super::*;

fn throttle(max_failures: u32, max_delay: Duration) -> FailureThrottle {
    FailureThrottle::new(BruteForce {
        max_failures,
        window: Duration::from_secs(60),
        max_delay,
    })
}

fn source(ip: &str) -> Source {
    ip.parse::<IpAddr>().unwrap().into()
}

fn id(name: &str) -> ClientKey {
    name.into()
}

#[test]
fn waits_past_the_free_failures_and_is_released_after_the_delay() {
    let t = throttle(3, Duration::from_secs(30));
    let (a, here) = (id("a"), source("192.0.2.1"));
    assert_eq!(t.waiting(&a, here), None);
    assert_eq!(t.record_failure(&a, here), Noted::Nothing);
    assert_eq!(t.record_failure(&a, here), Noted::Nothing);
    assert_eq!(t.waiting(&a, here), None);
    assert_eq!(t.record_failure(&a, here), Noted::StartedWaiting);
    assert_eq!(t.waiting(&a, here), Some(1));
    assert_eq!(t.waiting(&id("b"), here), None, "other clients wait not");
    assert_eq!(
        t.waiting(&a, source("192.0.2.2")),
        None,
        "other sources neither"
    );
    std::thread::sleep(Duration::from_millis(1050));
    assert_eq!(t.waiting(&a, here), None, "the first delay is a second");
}

#[test]
fn delays_double_up_to_the_longest() {
    let t = throttle(2, Duration::from_secs(5));
    let (a, here) = (id("a"), source("192.0.2.1"));
    t.record_failure(&a, here);
    let mut waits = Vec::new();
    for _ in 0..6 {
        t.record_failure(&a, here);
        waits.push(t.waiting(&a, here).unwrap());
    }
    assert_eq!(waits, [1, 2, 4, 5, 5, 5]);
}

#[test]
fn a_success_clears_its_sources_failures_only() {
    let t = throttle(3, Duration::from_secs(30));
    let a = id("a");
    let (here, there) = (source("192.0.2.1"), source("192.0.2.2"));
    for _ in 0..100 {
        t.record_failure(&a, here);
        t.record_failure(&a, here);
        t.record_success(&a, here);
        assert_eq!(t.waiting(&a, here), None);
    }
    t.record_failure(&a, there);
    t.record_failure(&a, there);
    t.record_success(&a, here);
    t.record_failure(&a, there);
    assert!(
        t.waiting(&a, there).is_some(),
        "a success elsewhere does not help"
    );
    assert_eq!(t.waiting(&a, here), None);
}

#[test]
fn ipv6_sources_are_64_bit_prefixes_and_mapped_ipv4_is_ipv4() {
    assert_eq!(source("2001:db8:1:2::1"), source("2001:db8:1:2:ffff::9"));
    assert_ne!(source("2001:db8:1:2::1"), source("2001:db8:1:3::1"));
    assert_eq!(source("::ffff:192.0.2.1"), source("192.0.2.1"));
    assert_eq!(source("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
}

/// Issue 14 item 6: a table full of pairs that keep failing must not switch the
/// protection off for a new pair; its failures count in its client's shared entry.
#[test]
fn a_full_table_fails_safe() {
    let settings = BruteForce {
        max_failures: 3,
        window: Duration::from_secs(60),
        max_delay: Duration::from_secs(30),
    };
    let t = FailureThrottle::with_capacity(settings, 100);
    let (a, b) = (id("a"), id("b"));
    for i in 0..100u32 {
        let filler = source(&format!("10.0.{}.{}", i / 256, i % 256));
        assert_eq!(t.record_failure(&b, filler), Noted::Nothing);
    }
    assert_eq!(t.tracked_pairs(), 100);
    let guesser = source("192.0.2.1");
    for _ in 0..2 {
        assert_eq!(t.record_failure(&a, guesser), Noted::Shared);
    }
    assert_eq!(t.waiting(&a, guesser), None);
    t.record_failure(&a, guesser);
    assert!(t.waiting(&a, guesser).is_some(), "the guesser waits");
    assert!(
        t.waiting(&a, source("192.0.2.7")).is_some(),
        "so do other untracked sources of the same client (fail safe)"
    );
    assert_eq!(t.waiting(&b, guesser), None, "other clients do not");
    assert_eq!(t.tracked_pairs(), 100, "the table stays bounded");
}

#[test]
fn stale_pairs_make_room() {
    let settings = BruteForce {
        max_failures: 3,
        window: Duration::from_millis(100),
        max_delay: Duration::from_secs(30),
    };
    let t = FailureThrottle::with_capacity(settings, 10);
    let b = id("b");
    for i in 0..10 {
        t.record_failure(&b, source(&format!("10.0.0.{i}")));
    }
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(
        t.record_failure(&id("a"), source("192.0.2.1")),
        Noted::Nothing
    );
    assert_eq!(t.tracked_pairs(), 1);
}
