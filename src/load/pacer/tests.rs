use super::*;

/// Runs the clock over `pacing` with `users` tasks taking iterations (each holding it
/// for `hold`); returns every iteration's (scenario, due, lag, waited).
async fn drive(
    pacing: Arc<Pacing>,
    users: usize,
    hold: Duration,
) -> Vec<(usize, Instant, Duration, bool)> {
    pacing.set_start(Instant::now() + Duration::from_millis(5));
    let lanes = pacing.lanes.len();
    let clock = {
        let pacing = pacing.clone();
        std::thread::spawn(move || {
            precise_sleeps();
            run_clock(&pacing);
            pacing.finish();
        })
    };
    let mut tasks = Vec::new();
    for user in 0..users {
        let pacing = pacing.clone();
        tasks.push(tokio::spawn(async move {
            let lane = user % lanes;
            let mut seen = Vec::new();
            while let Some((due, waited)) = pacing.take(lane).await {
                seen.push((
                    lane,
                    due,
                    Instant::now().saturating_duration_since(due),
                    waited,
                ));
                if !hold.is_zero() {
                    tokio::time::sleep(hold).await;
                }
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    clock.join().unwrap();
    all
}

#[test]
fn the_sleeper_wakes_on_time() {
    precise_sleeps();
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

#[tokio::test(flavor = "current_thread")]
async fn the_clock_releases_the_whole_plan_in_order() {
    let pacing = Arc::new(Pacing::new(RatePlan::constant(2000.0, 0.05), &[3, 1], 8));
    let mut seen = drive(pacing.clone(), 8, Duration::ZERO).await;
    let count = |lane| seen.iter().filter(|s| s.0 == lane).count();
    assert_eq!((count(0), count(1)), (75, 25));
    seen.sort_by_key(|s| s.1);
    let start = pacing.start().unwrap();
    let lane0: Vec<Instant> = seen.iter().filter(|s| s.0 == 0).map(|s| s.1).collect();
    let expected: Vec<Instant> = (0..75)
        .map(|k| pacing.timetables[0].due(start, k).unwrap())
        .collect();
    assert_eq!(lane0, expected, "each iteration once, at its time");
    // Nothing is released early.
    assert!(seen.iter().all(|s| s.2 < Duration::from_secs(1)));
}

#[tokio::test(flavor = "current_thread")]
async fn waiting_users_start_on_time() {
    // 2,000/s with 16 users mostly waiting: the start lag stays far under tokio's 1 ms
    // timer tick. The median, not the worst: on a loaded machine any one wake can lose
    // the core for a scheduler slice.
    let pacing = Arc::new(Pacing::new(RatePlan::constant(2000.0, 0.1), &[1], 16));
    let seen = drive(pacing, 16, Duration::from_micros(100)).await;
    assert_eq!(seen.len(), 200);
    let mut lags: Vec<Duration> = seen.iter().map(|s| s.2).collect();
    lags.sort();
    assert!(lags[100] < Duration::from_micros(500), "{:?}", lags[100]);
    assert!(
        seen.iter().filter(|s| s.3).count() > 100,
        "users were waiting"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn busy_users_release_the_plan_while_the_clock_sleeps() {
    // 4 users each holding an iteration for 2 ms against 2,000/s: they are busy nearly
    // all the time, so the clock sleeps, and the users coming back release every
    // iteration themselves, each once.
    let pacing = Arc::new(Pacing::new(RatePlan::constant(2000.0, 0.1), &[1], 4));
    let seen = drive(pacing.clone(), 4, Duration::from_millis(2)).await;
    assert_eq!(seen.len(), 200);
    let mut dues: Vec<Instant> = seen.iter().map(|s| s.1).collect();
    dues.sort();
    dues.dedup();
    assert_eq!(dues.len(), 200, "each iteration once");
    assert!(pacing.dormant_spells.load(Ordering::Relaxed) > 0);
}

#[tokio::test(flavor = "current_thread")]
async fn above_ten_thousand_a_second_the_clock_batches_and_never_waits_precisely() {
    // 50,000/s with idle users: the clock releases in batches every 100 µs; every
    // iteration is still taken once. At 2,000/s it waits for each one's time.
    let fast = Arc::new(Pacing::new(RatePlan::constant(50_000.0, 0.05), &[1], 64));
    let seen = drive(fast.clone(), 64, Duration::ZERO).await;
    assert_eq!(seen.len(), 2500);
    // At most one: the plan's last iteration has none after it to be close to.
    assert!(fast.precise_waits.load(Ordering::Relaxed) <= 1);
    let slow = Arc::new(Pacing::new(RatePlan::constant(2000.0, 0.05), &[1], 8));
    assert_eq!(drive(slow.clone(), 8, Duration::ZERO).await.len(), 100);
    assert!(slow.precise_waits.load(Ordering::Relaxed) > 50);
}

#[tokio::test(flavor = "current_thread")]
async fn a_stopped_clock_lets_the_users_go() {
    let pacing = Arc::new(Pacing::new(RatePlan::constant(10.0, 60.0), &[1], 4));
    let stopper = {
        let pacing = pacing.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            pacing.stop();
        })
    };
    let seen = tokio::time::timeout(Duration::from_secs(5), drive(pacing, 4, Duration::ZERO))
        .await
        .expect("users end when the clock stops");
    stopper.await.unwrap();
    assert!((1..=3).contains(&seen.len()), "{}", seen.len());
}
