//! What every transaction shares during a run: endpoints, prepared credentials and bodies,
//! the token pool, the uniqueness set, the recorders, and the optional arrival pacing and
//! request throttle. Everything per-request is prepared here once.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderValue;
use url::Url;

use super::client::{basic, LoadClient, Nonces};
use super::pacer::Pacing;
use super::recorder::{Problem, Recorders, Request};

/// Endpoint URLs, parsed once: cloning a `Url` is cheaper than parsing a string per request.
pub struct Urls {
    pub token: Endpoint,
    pub introspection: Option<Endpoint>,
    pub revocation: Option<Endpoint>,
    pub resource: Option<Endpoint>,
    /// The introspection endpoint on each other node of a cluster (`--node`), with the
    /// node's origin: the flow asks each whether a token it revoked is refused there too.
    pub node_introspection: Vec<(String, Endpoint)>,
}

/// An endpoint, and its route when the generator's own HTTP/1.1 client serves it (plain
/// HTTP; `None`: reqwest does).
pub struct Endpoint {
    pub url: Url,
    pub route: Option<super::http1::Route>,
}

impl Urls {
    /// The endpoints; `own_client` false leaves every request to reqwest.
    pub fn new(
        token: Url,
        introspection: Option<Url>,
        revocation: Option<Url>,
        resource: Option<Url>,
        nodes: &[String],
        own_client: bool,
    ) -> Urls {
        let mut origins = Vec::new();
        let mut endpoint = |url: Url| Endpoint {
            route: own_client
                .then(|| super::http1::Route::new(&url, &mut origins))
                .flatten(),
            url,
        };
        let node_introspection = introspection
            .as_ref()
            .map(|url| {
                nodes
                    .iter()
                    .filter_map(|node| {
                        let moved = crate::target::on_node(url.as_str(), node)?;
                        Some((node.clone(), Url::parse(&moved).ok()?))
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .map(|(node, url)| (node, endpoint(url)))
            .collect();
        Urls {
            node_introspection,
            token: endpoint(token),
            introspection: introspection.map(&mut endpoint),
            revocation: revocation.map(&mut endpoint),
            resource: resource.map(&mut endpoint),
        }
    }
}

/// What every transaction needs, shared by all users.
pub struct LoadContext {
    pub urls: Urls,
    /// `Basic …` of the main client, of the introspection client, and with a wrong secret.
    pub main_basic: HeaderValue,
    pub introspector_basic: HeaderValue,
    pub wrong_basic: HeaderValue,
    pub main_id: String,
    /// `grant_type=client_credentials[&scope=…]`, and the same with the client's credentials.
    pub issue_body: Bytes,
    pub post_body: Bytes,
    /// Tokens issued before the run, for the introspection transaction.
    pub pool: Vec<String>,
    pool_next: AtomicU64,
    pub seen: TokenSet,
    pub unique_tokens: bool,
    pub introspect_sample: u64,
    pub(super) issued: AtomicU64,
    /// Every response's count, latency and check outcome.
    pub recorders: Recorders,
    /// Every request and its latency in µs, when `--sample-log` asks for them.
    samples: Option<Mutex<Vec<(Request, u64)>>>,
    /// The most of a response body read; a longer body is an error of its own kind.
    pub max_body: usize,
    /// How long a request may take (`--timeout`), whatever the hard stop leaves.
    pub request_timeout: Duration,
    /// When every request must be done: the end of `--run-time` plus a grace period (an
    /// arrival-rate run's comes from its timetable instead).
    pub hard_stop: Option<Instant>,
    /// The timetables of an arrival-rate run (`--rate`, `--rate-plan`).
    pub pacing: Option<Pacing>,
    /// `--throttle-requests`: at most so many requests per second, all users together.
    pub throttle: Option<Throttle>,
    /// Goose's reset: the whole-run figures start again once this many users are launched
    /// (`None` under `--no-reset-metrics`, a test plan or an arrival rate).
    pub reset_at_users: Option<u64>,
    /// Users Goose launches (the most at once): the threshold watch starts when all are.
    pub expected_users: u64,
    launched: AtomicU64,
    /// When the whole-run figures began: the start, or the reset.
    measured_from: Mutex<Instant>,
    /// The client of `issue_jwt` (a client assertion per request; DPoP proofs when it is
    /// DPoP-bound), of `issue_dpop` (the main client, with proofs) and of `issue_mtls`.
    pub jwt_client: Option<LoadClient>,
    pub dpop_client: Option<LoadClient>,
    pub mtls_client: Option<LoadClient>,
    /// The DPoP nonces the servers last gave.
    pub nonces: Nonces,
}

impl LoadContext {
    pub fn new(
        urls: Urls,
        main: (&str, &str),
        introspector: (&str, &str),
        scope: Option<&str>,
        pool: Vec<String>,
        profile: &super::profile::Profile,
        keep_samples: bool,
    ) -> LoadContext {
        use crate::form::encode as enc;
        let mut issue_body = "grant_type=client_credentials".to_owned();
        if let Some(scope) = scope {
            issue_body.push_str(&format!("&scope={}", enc(scope)));
        }
        LoadContext {
            post_body: Bytes::from(format!(
                "{issue_body}&client_id={}&client_secret={}",
                enc(main.0),
                enc(main.1)
            )),
            issue_body: Bytes::from(issue_body),
            main_basic: basic(main.0, main.1),
            introspector_basic: basic(introspector.0, introspector.1),
            wrong_basic: basic(main.0, &format!("wrong-{}", main.1)),
            main_id: main.0.to_owned(),
            urls,
            pool,
            pool_next: AtomicU64::new(0),
            seen: TokenSet::default(),
            unique_tokens: profile.unique_tokens,
            introspect_sample: profile.introspect_sample,
            issued: AtomicU64::new(0),
            recorders: Recorders::new(),
            samples: keep_samples.then(|| Mutex::new(Vec::new())),
            max_body: super::DEFAULT_MAX_BODY,
            request_timeout: Duration::from_secs(60),
            hard_stop: None,
            pacing: None,
            throttle: None,
            reset_at_users: None,
            expected_users: 0,
            launched: AtomicU64::new(0),
            measured_from: Mutex::new(Instant::now()),
            jwt_client: None,
            dpop_client: None,
            mtls_client: None,
            nonces: Nonces::default(),
        }
    }

    /// Round-robin over the pool: every token gets introspected, no RNG needed.
    pub(super) fn next_pool_token(&self) -> &str {
        let i = self.pool_next.fetch_add(1, Ordering::Relaxed) as usize;
        self.pool
            .get(i % self.pool.len().max(1))
            .map_or("", String::as_str)
    }

    /// Records a response of Goose user `user` that ended at `at`.
    pub(super) fn record(
        &self,
        user: usize,
        request: Request,
        latency_us: u64,
        at: Instant,
        outcome: Result<(), Problem>,
    ) {
        let second = self.recorders.second(at);
        self.recorders
            .stripe(user)
            .record(request, latency_us, second, outcome);
        self.sample(request, latency_us);
    }

    /// A Goose user is launched: once every user is, the whole-run figures start again
    /// (Goose's `--no-reset-metrics` keeps them), so the ramp-up is not in the percentiles.
    pub(super) fn user_launched(&self) {
        let launched = self.launched.fetch_add(1, Ordering::Relaxed) + 1;
        if Some(launched) == self.reset_at_users {
            self.recorders.reset();
            self.reset_samples();
            *self.measured_from.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
    }

    /// Whether every user Goose launches is launched.
    pub(super) fn all_launched(&self) -> bool {
        self.launched.load(Ordering::Relaxed) >= self.expected_users
    }

    /// How long the whole-run figures cover, up to now.
    pub fn measured(&self) -> Duration {
        self.measured_from
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    /// Keeps the sample for `--sample-log`, when asked.
    pub(super) fn sample(&self, request: Request, latency_us: u64) {
        if let Some(samples) = &self.samples {
            samples
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((request, latency_us));
        }
    }

    fn reset_samples(&self) {
        if let Some(samples) = &self.samples {
            samples.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }

    /// Writes the kept samples as `METHOD name<TAB>µs` lines.
    pub fn write_samples(&self, path: &std::path::Path) -> std::io::Result<()> {
        let Some(samples) = &self.samples else {
            return Ok(());
        };
        let samples = samples.lock().unwrap_or_else(|p| p.into_inner());
        let mut text = String::with_capacity(samples.len() * 40);
        for (request, us) in samples.iter() {
            text.push_str(request.label());
            text.push('\t');
            text.push_str(&us.to_string());
            text.push('\n');
        }
        std::fs::write(path, text)
    }
}

/// Hashes of every token seen in the run, to catch a token issued twice. 64-bit hashes keep
/// memory small; a false duplicate needs a collision (≈ n²/2⁶⁵: none in any real run).
#[derive(Default)]
pub struct TokenSet {
    shards: [Mutex<HashSet<u64>>; 16],
}

impl TokenSet {
    /// Records `token`; false if it was seen before.
    pub fn insert(&self, token: &str) -> bool {
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(token);
        let shard = &self.shards[(hash % 16) as usize];
        shard.lock().unwrap_or_else(|p| p.into_inner()).insert(hash)
    }
}

/// `--throttle-requests N`: requests start at most N a second, all users together (Goose's
/// throttle sits in the request path grantcheck no longer takes).
pub struct Throttle {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Throttle {
    pub fn new(per_second: usize) -> Throttle {
        Throttle {
            interval: Duration::from_secs_f64(1.0 / per_second.max(1) as f64),
            next: Mutex::new(None),
        }
    }

    /// Waits for this request's turn.
    pub async fn wait(&self) {
        let turn = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let turn = next.map_or(now, |n| n.max(now));
            *next = Some(turn + self.interval);
            turn
        };
        tokio::time::sleep_until(tokio::time::Instant::from_std(turn)).await;
    }
}
