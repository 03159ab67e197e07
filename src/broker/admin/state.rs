//! Per-broker state of the admin side: put/get counters and rates (GET_BROKER_RUNTIME_INFO),
//! the broker's effective configuration (GET/UPDATE_BROKER_CONFIG) and the lock that keeps
//! name-server registrations in order.
//!
//! `BrokerInner` has no field for this state, so it lives in a small registry keyed by the
//! broker's allocation (a `Weak` per broker; entries of dropped brokers are purged). Several
//! brokers in one process (tests) each get their own state.
//!
//! **Counters.** Puts are counted by a dispatcher arrival listener (every message that
//! reaches a consume queue, as Java's store counts every put), so the send path has nothing
//! to call. Gets must be reported by the pull path with [`record_get`](super::record_get).
//! Daily snapshots ("yesterday morning", "today morning") roll at local midnight, lazily but
//! exactly: the roll happens before the first event of the new day is counted. Rates come
//! from the totals at the end of each second with activity (kept for 10 minutes).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};

use apogee_codec::body::DataVersion;

use crate::broker::{BrokerConfig, BrokerInner};
use crate::store::dispatcher::Arrival;
use crate::store::store_config::MessageStoreConfig;
use crate::store::sys;

const DAY_MS: i64 = 86_400_000;
/// Samples older than this (plus one before it) are dropped: the longest rate window, s.
const SAMPLE_HORIZON_S: i64 = 600;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Milliseconds of the next local midnight after `now`.
fn next_local_midnight(now: i64) -> i64 {
    let t = sys::local_time(now);
    let since = ((i64::from(t.hour) * 60 + i64::from(t.minute)) * 60 + i64::from(t.second)) * 1000
        + i64::from(t.millis);
    now - since + DAY_MS
}

/// Counter totals; in the sample queue, the totals at the end of second `sec`.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    sec: i64,
    puts: u64,
    found: u64,
    miss: u64,
    transferred: u64,
}

#[derive(Debug, Default)]
struct Daily {
    put_yesterday_morning: u64,
    put_today_morning: u64,
    get_yesterday_morning: u64,
    get_today_morning: u64,
}

/// Counters and rates.
#[derive(Debug)]
pub(crate) struct Stats {
    puts: AtomicU64,
    gets_found: AtomicU64,
    gets_miss: AtomicU64,
    transferred: AtomicU64,
    next_midnight: AtomicI64,
    daily: Mutex<Daily>,
    boot_ms: i64,
    /// The second of the latest event; its totals are the current ones.
    active_sec: AtomicI64,
    /// Totals at the end of earlier active seconds, oldest first.
    samples: Mutex<VecDeque<Sample>>,
}

impl Stats {
    fn new(now: i64) -> Self {
        Stats {
            puts: AtomicU64::new(0),
            gets_found: AtomicU64::new(0),
            gets_miss: AtomicU64::new(0),
            transferred: AtomicU64::new(0),
            next_midnight: AtomicI64::new(next_local_midnight(now)),
            daily: Mutex::new(Daily::default()),
            boot_ms: now,
            active_sec: AtomicI64::new(now.div_euclid(1000)),
            samples: Mutex::new(VecDeque::new()),
        }
    }

    fn current(&self) -> Sample {
        Sample {
            sec: 0,
            puts: self.puts.load(Ordering::Acquire),
            found: self.gets_found.load(Ordering::Acquire),
            miss: self.gets_miss.load(Ordering::Acquire),
            transferred: self.transferred.load(Ordering::Acquire),
        }
    }

    /// Take the daily snapshots when a local midnight has passed (before counting anything
    /// of the new day).
    fn roll_if_due(&self, now: i64) {
        if now < self.next_midnight.load(Ordering::Acquire) {
            return;
        }
        let mut d = lock(&self.daily);
        let due = self.next_midnight.load(Ordering::Acquire);
        if now < due {
            return;
        }
        let cur = self.current();
        if now < due + DAY_MS {
            // One midnight passed: this morning's totals become yesterday's.
            d.put_yesterday_morning = d.put_today_morning;
            d.get_yesterday_morning = d.get_today_morning;
        } else {
            // Whole days passed without any event: nothing changed since.
            d.put_yesterday_morning = cur.puts;
            d.get_yesterday_morning = cur.transferred;
        }
        d.put_today_morning = cur.puts;
        d.get_today_morning = cur.transferred;
        self.next_midnight
            .store(next_local_midnight(now), Ordering::Release);
    }

    /// Called before counting an event of second `sec`: when it opens a new second, the
    /// totals so far are those at the end of the last active second; queue them. The hot
    /// path (an event in the same second) takes no lock.
    fn close_second(&self, sec: i64) {
        let prev = self.active_sec.load(Ordering::Acquire);
        if sec <= prev
            || self
                .active_sec
                .compare_exchange(prev, sec, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let mut q = lock(&self.samples);
        let ended = Sample {
            sec: prev,
            ..self.current()
        };
        q.push_back(ended);
        // Keep one entry at or before the horizon so the longest window has a base.
        while q.len() > 2 && q.get(1).is_some_and(|x| x.sec <= sec - SAMPLE_HORIZON_S) {
            q.pop_front();
        }
    }

    fn on_put(&self, now: i64) {
        self.roll_if_due(now);
        self.close_second(now.div_euclid(1000));
        self.puts.fetch_add(1, Ordering::AcqRel);
    }

    fn on_get(&self, now: i64, msgs: u64) {
        self.roll_if_due(now);
        self.close_second(now.div_euclid(1000));
        if msgs > 0 {
            self.gets_found.fetch_add(1, Ordering::AcqRel);
            self.transferred.fetch_add(msgs, Ordering::AcqRel);
        } else {
            self.gets_miss.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Per-second rates over the last 10 s, 1 min and 10 min of the counter `pick`.
    fn rates(&self, now: i64, pick: impl Fn(&Sample) -> f64) -> [f64; 3] {
        let q = lock(&self.samples);
        let cur = self.current();
        let active = self.active_sec.load(Ordering::Acquire);
        let now_sec = now.div_euclid(1000);
        [10i64, 60, 600].map(|window| {
            let edge = now_sec - window;
            // The totals at the window's start: nothing happened since the last active
            // second if that is before it; else the newest closed second at or before it;
            // with none (the broker is younger than the window) count from the boot.
            let (base, span_ms) = if active <= edge {
                (cur, window * 1000)
            } else {
                match q.iter().rev().find(|s| s.sec <= edge) {
                    Some(s) => (*s, window * 1000),
                    None => (Sample::default(), now - self.boot_ms),
                }
            };
            if span_ms <= 0 {
                return 0.0;
            }
            let delta = pick(&cur) - pick(&base);
            (delta.max(0.0) * 1000.0) / span_ms as f64
        })
    }
}

/// The values GET_BROKER_RUNTIME_INFO reports from the counters.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatsView {
    pub puts: u64,
    pub transferred: u64,
    pub put_yesterday_morning: u64,
    pub put_today_morning: u64,
    pub get_yesterday_morning: u64,
    pub get_today_morning: u64,
    pub put_tps: [f64; 3],
    pub get_found_tps: [f64; 3],
    pub get_miss_tps: [f64; 3],
    pub get_total_tps: [f64; 3],
    pub get_transferred_tps: [f64; 3],
}

/// The broker's configuration as the admin requests see and change it.
#[derive(Debug, Clone)]
pub(crate) struct EffectiveConfig {
    pub broker: BrokerConfig,
    pub store: MessageStoreConfig,
    /// Java `Configuration.dataVersion`: bumped by every UPDATE_BROKER_CONFIG.
    pub version: DataVersion,
}

/// Everything the admin side keeps per broker.
#[derive(Debug)]
pub struct AdminState {
    pub(crate) boot_ms: i64,
    pub(crate) stats: Stats,
    config: Mutex<EffectiveConfig>,
    /// Held for a whole registration round so that rounds reach the name servers in order.
    pub(crate) register_lock: futures::lock::Mutex<()>,
    listener_attached: AtomicBool,
}

impl AdminState {
    fn new(b: &BrokerInner) -> Self {
        let now = sys::now_ms();
        let mut broker = b.config.clone();
        // Show what the broker really uses (port 0 = chosen at bind time).
        broker.listen_port = b.store_host.port();
        if broker.broker_ip1.trim().is_empty() {
            broker.broker_ip1 = b.store_host.ip().to_string();
        }
        if broker.broker_ip2.trim().is_empty() {
            broker.broker_ip2 = broker.broker_ip1.clone();
        }
        AdminState {
            boot_ms: now,
            stats: Stats::new(now),
            config: Mutex::new(EffectiveConfig {
                broker,
                store: b.store.config().clone(),
                version: DataVersion::new(0, now),
            }),
            register_lock: futures::lock::Mutex::new(()),
            listener_attached: AtomicBool::new(false),
        }
    }

    pub(crate) fn config(&self) -> EffectiveConfig {
        lock(&self.config).clone()
    }

    pub(crate) fn broker_config(&self) -> BrokerConfig {
        lock(&self.config).broker.clone()
    }

    /// Apply properties (unknown keys and ill-typed values are ignored, as Java's
    /// `Configuration.update` does) and bump the version. Returns the keys applied.
    pub(crate) fn update_config(&self, props: &BTreeMap<String, String>) -> Vec<String> {
        let mut c = lock(&self.config);
        let mut applied = Vec::new();
        for (k, v) in props {
            let b = c.broker.set(k, v);
            let s = c.store.set(k, v);
            match (b, s) {
                (Ok(true), _) | (_, Ok(true)) => applied.push(k.clone()),
                (Err(e), _) | (_, Err(e)) => log::warn!("UPDATE_BROKER_CONFIG: {e}; ignored"),
                _ => log::warn!("UPDATE_BROKER_CONFIG: unknown key '{k}' ignored"),
            }
        }
        c.version.next_version(sys::now_ms());
        applied
    }

    /// A snapshot of the counters and rates.
    pub(crate) fn stats_view(&self) -> StatsView {
        let now = sys::now_ms();
        let s = &self.stats;
        s.roll_if_due(now);
        let cur = s.current();
        let d = lock(&s.daily);
        StatsView {
            puts: cur.puts,
            transferred: cur.transferred,
            put_yesterday_morning: d.put_yesterday_morning,
            put_today_morning: d.put_today_morning,
            get_yesterday_morning: d.get_yesterday_morning,
            get_today_morning: d.get_today_morning,
            put_tps: s.rates(now, |x| x.puts as f64),
            get_found_tps: s.rates(now, |x| x.found as f64),
            get_miss_tps: s.rates(now, |x| x.miss as f64),
            get_total_tps: s.rates(now, |x| (x.found + x.miss) as f64),
            get_transferred_tps: s.rates(now, |x| x.transferred as f64),
        }
    }

    pub(crate) fn record_get(&self, msgs: u64) {
        self.stats.on_get(sys::now_ms(), msgs);
    }
}

type Registry = Vec<(Weak<BrokerInner>, Arc<AdminState>)>;

static REGISTRY: RwLock<Registry> = RwLock::new(Vec::new());

fn find(reg: &Registry, b: &Arc<BrokerInner>) -> Option<Arc<AdminState>> {
    let ptr = Arc::as_ptr(b);
    reg.iter()
        .find(|(w, _)| std::ptr::eq(w.as_ptr(), ptr) && w.strong_count() > 0)
        .map(|(_, s)| Arc::clone(s))
}

/// The admin state of a broker, created on first use (at broker start, by
/// `registration::start`). Creating it also starts counting puts.
pub fn state(b: &Arc<BrokerInner>) -> Arc<AdminState> {
    if let Some(s) = find(&REGISTRY.read().unwrap_or_else(|p| p.into_inner()), b) {
        return s;
    }
    let s = {
        let mut reg = REGISTRY.write().unwrap_or_else(|p| p.into_inner());
        reg.retain(|(w, _)| w.strong_count() > 0);
        if let Some(s) = find(&reg, b) {
            return s;
        }
        let s = Arc::new(AdminState::new(b));
        reg.push((Arc::downgrade(b), Arc::clone(&s)));
        s
    };
    if !s.listener_attached.swap(true, Ordering::AcqRel) {
        let counter = Arc::clone(&s);
        b.store
            .add_arrival_listener(Arc::new(move |_a: &Arrival<'_>| {
                counter.stats.on_put(sys::now_ms());
            }));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_daily_roll() {
        let t0 = 1_700_000_000_000i64;
        let s = Stats::new(t0);
        for i in 0..100 {
            s.on_put(t0 + 1000 + i * 10);
        }
        // 100 puts within the last 10 s of t0+5s: the broker is 5 s old, base = boot sample.
        let r = s.rates(t0 + 5000, |x| x.puts as f64);
        assert!((r[0] - 20.0).abs() < 1e-9, "{r:?}");
        // 20 s later nothing new happened in the last 10 s.
        let r = s.rates(t0 + 25_000, |x| x.puts as f64);
        assert_eq!(r[0], 0.0);
        assert!(r[1] > 0.0);
        s.on_get(t0 + 26_000, 5);
        s.on_get(t0 + 26_500, 0);
        assert_eq!(s.current().transferred, 5);
        assert_eq!(s.current().found, 1);
        assert_eq!(s.current().miss, 1);

        // Crossing midnight: this morning's totals are the totals at the roll.
        let midnight = s.next_midnight.load(Ordering::Acquire);
        s.on_put(midnight + 1);
        {
            let d = lock(&s.daily);
            assert_eq!(d.put_today_morning, 100);
            assert_eq!(d.put_yesterday_morning, 0);
            assert_eq!(d.get_today_morning, 5);
        }
        s.on_put(midnight + DAY_MS + 5);
        let d = lock(&s.daily);
        assert_eq!(d.put_yesterday_morning, 100);
        assert_eq!(d.put_today_morning, 101);
        drop(d);
        // Days without events: both snapshots equal the total.
        s.on_put(midnight + 5 * DAY_MS);
        let d = lock(&s.daily);
        assert_eq!(d.put_yesterday_morning, 102);
        assert_eq!(d.put_today_morning, 102);
    }

    #[test]
    fn samples_are_bounded() {
        let t0 = 1_700_000_000_000i64;
        let s = Stats::new(t0);
        for i in 0..5000 {
            s.on_put(t0 + i * 1000);
        }
        let n = lock(&s.samples).len();
        assert!(n <= 602, "{n}");
        let r = s.rates(t0 + 5000 * 1000, |x| x.puts as f64);
        assert!((r[2] - 1.0).abs() < 0.01, "{r:?}");
    }

    #[test]
    fn midnight_is_after_now() {
        let now = sys::now_ms();
        let m = next_local_midnight(now);
        assert!(m > now && m <= now + DAY_MS + 3_600_000);
    }
}
