//! Hand-rolled argument parsing (no CLI crate in the dependency tree).

use std::time::Duration;

use apogee_codec::command::SerializeType;

fn value<'a>(it: &mut std::slice::Iter<'a, String>, name: &str) -> Result<&'a str, String> {
    it.next()
        .map(String::as_str)
        .ok_or_else(|| format!("{name} needs a value"))
}

fn num<T: std::str::FromStr>(
    it: &mut std::slice::Iter<'_, String>,
    name: &str,
) -> Result<T, String> {
    let v = value(it, name)?;
    v.replace('_', "")
        .parse()
        .map_err(|_| format!("{name}: not a number: {v}"))
}

/// When a run stops.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    Duration(Duration),
    Count(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Sync,
    Oneway,
    Batch,
}

#[derive(Debug, Clone)]
pub struct ProduceArgs {
    pub namesrv: String,
    pub topic: String,
    pub create: bool,
    pub connections: usize,
    pub inflight: usize,
    pub size: usize,
    pub queues: usize,
    pub mode: Mode,
    pub batch: usize,
    pub limit: Limit,
    pub rate: Option<f64>,
    pub serialize: SerializeType,
    pub json: bool,
    pub group: String,
}

impl ProduceArgs {
    pub fn parse(argv: &[String]) -> Result<Self, String> {
        let mut a = ProduceArgs {
            namesrv: String::new(),
            topic: String::new(),
            create: false,
            connections: 4,
            inflight: 64,
            size: 1024,
            queues: 8,
            mode: Mode::Sync,
            batch: 16,
            limit: Limit::Duration(Duration::from_secs(10)),
            rate: None,
            serialize: SerializeType::Json,
            json: false,
            group: "apogee_bench_producer".into(),
        };
        let mut it = argv.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--namesrv" | "-n" => a.namesrv = value(&mut it, arg)?.to_owned(),
                "--topic" | "-t" => a.topic = value(&mut it, arg)?.to_owned(),
                "--group" => a.group = value(&mut it, arg)?.to_owned(),
                "--create" => a.create = true,
                "--connections" | "-c" => a.connections = num(&mut it, arg)?,
                "--inflight" | "-k" => a.inflight = num(&mut it, arg)?,
                "--size" | "-s" => a.size = num(&mut it, arg)?,
                "--queues" | "-q" => a.queues = num(&mut it, arg)?,
                "--batch" => a.batch = num(&mut it, arg)?,
                "--duration" | "-d" => {
                    a.limit = Limit::Duration(Duration::from_secs_f64(num(&mut it, arg)?))
                }
                "--count" => a.limit = Limit::Count(num(&mut it, arg)?),
                "--rate" => a.rate = Some(num(&mut it, arg)?),
                "--json" => a.json = true,
                "--mode" => {
                    a.mode = match value(&mut it, arg)? {
                        "sync" => Mode::Sync,
                        "oneway" => Mode::Oneway,
                        "batch" => Mode::Batch,
                        m => return Err(format!("--mode: sync, oneway or batch, not {m}")),
                    }
                }
                "--serialize" => a.serialize = serialize(value(&mut it, arg)?)?,
                other => return Err(format!("produce: unknown option {other}\n{}", super::USAGE)),
            }
        }
        if a.namesrv.is_empty() || a.topic.is_empty() {
            return Err(format!(
                "produce needs --namesrv and --topic\n{}",
                super::USAGE
            ));
        }
        if a.connections == 0 || a.inflight == 0 || a.queues == 0 || a.batch == 0 {
            return Err("--connections, --inflight, --queues and --batch must be > 0".into());
        }
        if a.inflight > 65_536 {
            return Err("--inflight: at most 65536".into());
        }
        if a.mode != Mode::Batch {
            a.batch = 1;
        }
        Ok(a)
    }
}

fn serialize(s: &str) -> Result<SerializeType, String> {
    match s {
        "json" => Ok(SerializeType::Json),
        "rocketmq" | "binary" => Ok(SerializeType::RocketMq),
        o => Err(format!("--serialize: json or rocketmq, not {o}")),
    }
}

#[derive(Debug, Clone)]
pub struct ConsumeArgs {
    pub namesrv: String,
    pub topic: String,
    pub group: String,
    pub batch: usize,
    pub inflight_per_queue: usize,
    pub from_start: bool,
    pub connections: usize,
    pub limit: Option<Limit>,
    pub long_polling: bool,
    pub json: bool,
}

impl ConsumeArgs {
    pub fn parse(argv: &[String]) -> Result<Self, String> {
        let mut a = ConsumeArgs {
            namesrv: String::new(),
            topic: String::new(),
            group: String::new(),
            batch: 32,
            inflight_per_queue: 1,
            from_start: false,
            connections: 1,
            limit: None,
            long_polling: true,
            json: false,
        };
        let mut it = argv.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--namesrv" | "-n" => a.namesrv = value(&mut it, arg)?.to_owned(),
                "--topic" | "-t" => a.topic = value(&mut it, arg)?.to_owned(),
                "--group" | "-g" => a.group = value(&mut it, arg)?.to_owned(),
                "--batch" => a.batch = num(&mut it, arg)?,
                "--inflight-per-queue" => a.inflight_per_queue = num(&mut it, arg)?,
                "--from-start" => a.from_start = true,
                "--connections" | "-c" => a.connections = num(&mut it, arg)?,
                "--duration" | "-d" => {
                    a.limit = Some(Limit::Duration(Duration::from_secs_f64(num(&mut it, arg)?)))
                }
                "--count" => a.limit = Some(Limit::Count(num(&mut it, arg)?)),
                "--no-long-polling" => a.long_polling = false,
                "--json" => a.json = true,
                other => return Err(format!("consume: unknown option {other}\n{}", super::USAGE)),
            }
        }
        if a.namesrv.is_empty() || a.topic.is_empty() || a.group.is_empty() {
            return Err(format!(
                "consume needs --namesrv, --topic and --group\n{}",
                super::USAGE
            ));
        }
        if a.batch == 0 || a.inflight_per_queue == 0 || a.connections == 0 {
            return Err("--batch, --inflight-per-queue and --connections must be > 0".into());
        }
        if a.limit.is_none() && !a.from_start {
            a.limit = Some(Limit::Duration(Duration::from_secs(10)));
        }
        Ok(a)
    }
}

#[derive(Debug, Clone)]
pub struct NullArgs {
    pub port: u16,
    pub queues: usize,
    pub ip: String,
}

impl NullArgs {
    pub fn parse(argv: &[String]) -> Result<Self, String> {
        let mut a = NullArgs {
            port: 9876,
            queues: 8,
            ip: "127.0.0.1".into(),
        };
        let mut it = argv.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--port" | "-p" => a.port = num(&mut it, arg)?,
                "--queues" | "-q" => a.queues = num(&mut it, arg)?,
                "--ip" => a.ip = value(&mut it, arg)?.to_owned(),
                other => {
                    return Err(format!(
                        "null-server: unknown option {other}\n{}",
                        super::USAGE
                    ))
                }
            }
        }
        Ok(a)
    }
}

/// `delay`: delayed messages through an in-process broker.
#[derive(Debug, Clone)]
pub struct DelayArgs {
    /// Messages to send.
    pub count: u64,
    /// Share of them sent as 5.x timer messages (`TIMER_DELIVER_MS`); the rest use delay
    /// levels 3 (10 s) and 4 (30 s).
    pub timer_share: f64,
    /// Earliest timer delivery, ms after the start of the run.
    pub min_delay_ms: i64,
    /// Timer deliveries are spread uniformly over this many ms after `min_delay_ms`.
    pub spread_ms: i64,
    pub connections: usize,
    pub inflight: usize,
    pub size: usize,
    /// The sends are paced to take this long (0: as fast as possible).
    pub send_secs: f64,
    /// Store directory (default: a new directory under the system temp dir, removed after).
    pub store: Option<String>,
    pub json: bool,
}

impl DelayArgs {
    pub fn parse(argv: &[String]) -> Result<Self, String> {
        let mut a = DelayArgs {
            count: 100_000,
            timer_share: 0.5,
            min_delay_ms: 10_000,
            spread_ms: 30_000,
            connections: 4,
            inflight: 32,
            size: 256,
            send_secs: 10.0,
            store: None,
            json: false,
        };
        let mut it = argv.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--count" => a.count = num(&mut it, arg)?,
                "--timer-share" => a.timer_share = num(&mut it, arg)?,
                "--min-delay-ms" => a.min_delay_ms = num(&mut it, arg)?,
                "--spread-ms" => a.spread_ms = num(&mut it, arg)?,
                "--connections" | "-c" => a.connections = num(&mut it, arg)?,
                "--inflight" | "-k" => a.inflight = num(&mut it, arg)?,
                "--size" | "-s" => a.size = num(&mut it, arg)?,
                "--send-secs" => a.send_secs = num(&mut it, arg)?,
                "--store" => a.store = Some(value(&mut it, arg)?.to_owned()),
                "--json" => a.json = true,
                other => return Err(format!("delay: unknown option {other}\n{}", super::USAGE)),
            }
        }
        if a.count == 0 || a.connections == 0 || a.inflight == 0 {
            return Err("--count, --connections and --inflight must be > 0".into());
        }
        if !(0.0..=1.0).contains(&a.timer_share) {
            return Err("--timer-share: between 0 and 1".into());
        }
        if !(0.0..=3600.0).contains(&a.send_secs) {
            return Err("--send-secs: between 0 and 3600".into());
        }
        if a.min_delay_ms < 0 || a.spread_ms < 1 {
            return Err("--min-delay-ms must be >= 0 and --spread-ms >= 1".into());
        }
        Ok(a)
    }
}
