//! Scenarios for crates.io `rocketmq-client-rust =1.0.0` (the rocketmq-rust project's client):
//! DefaultMQProducer, TransactionMQProducer, DefaultMQPushConsumer (concurrent and orderly
//! listeners, clustering and broadcasting, TAG and SQL92 selectors) and DefaultLitePullConsumer.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use cheetah_string::CheetahString;
use parking_lot::Mutex;
use rocketmq_client_rust::{
    ClientRuntime, ClientRuntimeConfig, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus,
    ConsumeOrderlyContext, ConsumeOrderlyStatus, DefaultLitePullConsumer, DefaultMQProducer,
    DefaultMQPushConsumer, LocalTransactionState, MQPushConsumer, MessageSelector, SendStatus,
    TransactionListener, TransactionMQProducer,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_queue::MessageQueue;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::common::message::MessageTrait;
use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;

use crate::admin;
use crate::common::{body_of, bounded, check, sleep_ms, wait_for, Ctx, R};

/// The client's runtime. It owns a Tokio runtime of its own, which must never be dropped
/// inside ours: it is leaked (the process exits right after the verdict).
struct Env {
    client: Arc<ClientRuntime>,
}

fn env() -> Result<&'static Env, String> {
    use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};
    let owner = RuntimeOwner::plan(RuntimeConfig {
        thread_name: "compat-client".to_string(),
        ..Default::default()
    })
    .map_err(|e| format!("runtime plan: {e:?}"))?
    .build()
    .map_err(|e| format!("runtime build: {e:?}"))?;
    let telemetry = rocketmq_observability::install_global(
        &rocketmq_observability::TelemetryBootstrapConfig::default(),
    )
    .map_err(|e| format!("telemetry: {e:?}"))?;
    let client = ClientRuntime::try_new(
        owner.root_context().component("client"),
        ClientRuntimeConfig::default(),
        telemetry.handle(),
    )
    .map_err(|e| format!("client runtime: {e:?}"))?;
    Box::leak(Box::new(owner));
    Box::leak(Box::new(telemetry));
    Ok(Box::leak(Box::new(Env { client })))
}

/// What a received message carried, as far as the checks need it.
#[derive(Clone, Debug)]
struct Got {
    seq: usize,
    tags: String,
    queue: (String, i32),
    reconsume: i32,
    at: Instant,
}

#[derive(Default)]
struct Collector {
    got: Mutex<Vec<Got>>,
    problems: Mutex<Vec<String>>,
}

impl Collector {
    /// Records `m`, checking body and keys against its `seq` property.
    fn record(&self, m: &MessageExt) -> Option<usize> {
        let seq = m
            .property(&CheetahString::from_static_str("seq"))
            .and_then(|s| s.parse::<usize>().ok());
        let Some(i) = seq else {
            self.problems
                .lock()
                .push(format!("message without seq (topic {})", m.topic()));
            return None;
        };
        let body = m
            .body()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        if body != body_of(i) {
            self.problems
                .lock()
                .push(format!("body of {i} differs: {:?}", body.get(..40)));
        }
        let keys = m.get_keys().map(|k| k.to_string()).unwrap_or_default();
        if keys != format!("key-{i}") {
            self.problems.lock().push(format!("keys of {i}: {keys:?}"));
        }
        let user = m
            .property(&CheetahString::from_static_str("user"))
            .map(|s| s.to_string());
        if user.as_deref() != Some("prop-value") {
            self.problems
                .lock()
                .push(format!("user property of {i}: {user:?}"));
        }
        self.got.lock().push(Got {
            seq: i,
            tags: m.tags().map(|t| t.to_string()).unwrap_or_default(),
            queue: (m.message_queue_broker(), m.queue_id()),
            reconsume: m.reconsume_times(),
            at: Instant::now(),
        });
        Some(i)
    }

    fn distinct(&self) -> BTreeSet<usize> {
        self.got.lock().iter().map(|g| g.seq).collect()
    }

    fn ok(&self) -> R {
        let p = self.problems.lock();
        check(p.is_empty(), || {
            p.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
        })
    }
}

trait BrokerName {
    fn message_queue_broker(&self) -> String;
}

impl BrokerName for MessageExt {
    /// The broker a message was stored on, from its store host (the client does not carry the
    /// broker name on a message).
    fn message_queue_broker(&self) -> String {
        self.store_host().to_string()
    }
}

fn message(topic: &str, i: usize, tag: &str) -> Result<Message, String> {
    Message::builder()
        .topic(topic)
        .tags(tag)
        .key(format!("key-{i}"))
        .body(body_of(i).into_bytes())
        .raw_property("seq", i.to_string())
        .and_then(|b| b.raw_property("user", "prop-value"))
        .map_err(|e| format!("message builder: {e:?}"))?
        .build()
        .map_err(|e| format!("message build: {e:?}"))
}

async fn producer(env: &Env, ctx: &Ctx, group: &str) -> Result<DefaultMQProducer, String> {
    let mut p = DefaultMQProducer::builder(env.client.clone())
        .producer_group(group.to_string())
        .name_server_addr(ctx.namesrv.clone())
        .build();
    p.start()
        .await
        .map_err(|e| format!("producer start: {e}"))?;
    Ok(p)
}

async fn send_all(
    p: &DefaultMQProducer,
    topic: &str,
    range: std::ops::Range<usize>,
    tag: impl Fn(usize) -> String,
) -> R {
    for i in range {
        let r = p
            .send(message(topic, i, &tag(i))?)
            .await
            .map_err(|e| format!("send {i}: {e}"))?;
        let st = r.map(|r| r.send_status);
        check(st == Some(SendStatus::SendOk), || {
            format!("send {i}: status {st:?}")
        })?;
    }
    Ok(())
}

enum Listen {
    Concurrently,
    Orderly,
}

struct PushOpts<'a> {
    selector: Option<MessageSelector>,
    model: MessageModel,
    listen: Listen,
    group: &'a str,
    /// Instance name; needed for two broadcasting consumers of one group in one process (the
    /// client only makes the instance name unique for clustering consumers).
    instance: Option<&'a str>,
}

impl Default for PushOpts<'_> {
    fn default() -> Self {
        PushOpts {
            selector: None,
            model: MessageModel::Clustering,
            listen: Listen::Concurrently,
            group: "",
            instance: None,
        }
    }
}

async fn push(
    env: &Env,
    ctx: &Ctx,
    topic: &str,
    coll: Arc<Collector>,
    o: PushOpts<'_>,
) -> Result<DefaultMQPushConsumer, String> {
    let group = if o.group.is_empty() {
        format!("CG_{topic}")
    } else {
        o.group.to_string()
    };
    let mut b = DefaultMQPushConsumer::builder(env.client.clone());
    if let Some(name) = o.instance {
        b = b.client_config(
            rocketmq_client_rust::ClientConfig::builder()
                .instance_name(name)
                .build_unvalidated(),
        );
    }
    let mut c = b
        .consumer_group(group)
        .name_server_addr(ctx.namesrv.clone())
        .message_model(o.model)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .build();
    match o.selector {
        Some(sel) => c.subscribe_with_selector(topic, Some(sel)).await,
        None => c.subscribe(topic, "*").await,
    }
    .map_err(|e| format!("subscribe: {e}"))?;
    match o.listen {
        Listen::Concurrently => c.register_message_listener_concurrently(
            move |msgs: &[&MessageExt], _: &ConsumeConcurrentlyContext| {
                for m in msgs {
                    coll.record(m);
                }
                Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
            },
        ),
        Listen::Orderly => c.register_message_listener_orderly(
            move |msgs: &[&MessageExt], _: &mut ConsumeOrderlyContext| {
                for m in msgs {
                    coll.record(m);
                }
                Ok(ConsumeOrderlyStatus::Success)
            },
        ),
    }
    bounded(30, "consumer start", c.start())
        .await?
        .map_err(|e| format!("consumer start: {e:?}"))?;
    Ok(c)
}

async fn expect_all(coll: &Collector, n: usize, secs: u64) -> R {
    wait_for(secs, || coll.distinct().len() >= n).await;
    coll.ok()?;
    let got = coll.distinct().len();
    check(got >= n, || format!("received {got} of {n}"))
}

pub async fn run(scenario: &str, ctx: &Ctx) -> R {
    let env = env()?;
    match scenario {
        "sync-send+push-consume" => sync_send(env, ctx).await,
        "async-send" => async_send(env, ctx).await,
        "oneway-send" => oneway_send(env, ctx).await,
        "batch-send" => batch_send(env, ctx).await,
        "tag-filter" => tag_filter(env, ctx, false).await,
        "sql92-filter" => tag_filter(env, ctx, true).await,
        "lite-pull-consumer" => lite_pull(env, ctx).await,
        "delay-level" => delay_level(env, ctx).await,
        "orderly" => orderly(env, ctx).await,
        "orderly-two-consumers" => orderly_two(env, ctx).await,
        "transactional" => transactional(env, ctx).await,
        "consume-later" => consume_later(env, ctx).await,
        "retry-to-dlq" => retry_to_dlq(env, ctx).await,
        "two-consumers" => two_consumers(env, ctx).await,
        "broadcast" => broadcast(env, ctx).await,
        other => Err(format!("scenario {other} not available for this client")),
    }
}

async fn sync_send(env: &Env, ctx: &Ctx) -> R {
    let n = 1000;
    let topic = ctx.topic("RsSync", 4)?;
    let p = producer(env, ctx, &format!("PG_{topic}")).await?;
    let tag = |i: usize| {
        if i % 2 == 0 {
            "TagA".to_string()
        } else {
            "TagB".to_string()
        }
    };
    send_all(&p, &topic, 0..n, tag).await?;
    let coll = Arc::new(Collector::default());
    let _c = push(env, ctx, &topic, coll.clone(), PushOpts::default()).await?;
    expect_all(&coll, n, 90).await?;
    let bad: Vec<usize> = coll
        .got
        .lock()
        .iter()
        .filter(|g| g.tags != tag(g.seq))
        .map(|g| g.seq)
        .take(5)
        .collect();
    check(bad.is_empty(), || format!("wrong tags on {bad:?}"))
}

async fn async_send(env: &Env, ctx: &Ctx) -> R {
    let n = 200;
    let topic = ctx.topic("RsAsync", 4)?;
    let p = producer(env, ctx, &format!("PG_{topic}")).await?;
    let ok = Arc::new(AtomicUsize::new(0));
    let errs = Arc::new(Mutex::new(Vec::<String>::new()));
    // The client refuses requests beyond its own transport admission queue
    // ("transport.admission.queue_saturated") instead of waiting: keep at most 32 in flight.
    let in_flight = 32;
    for i in 0..n {
        let done = || ok.load(Ordering::SeqCst) + errs.lock().len();
        wait_for(30, || i < done() + in_flight).await;
        let (ok, errs) = (ok.clone(), errs.clone());
        p.send_with_callback(message(&topic, i, "TagA")?, move |res, err| {
            match (res, err) {
                (Some(r), None) if r.send_status == SendStatus::SendOk => {
                    ok.fetch_add(1, Ordering::SeqCst);
                }
                (r, e) => errs.lock().push(format!(
                    "{:?} {:?}",
                    r.map(|r| r.send_status),
                    e.map(|e| e.to_string())
                )),
            }
        })
        .await
        .map_err(|e| format!("send_with_callback {i}: {e}"))?;
    }
    wait_for(30, || ok.load(Ordering::SeqCst) + errs.lock().len() >= n).await;
    let e = errs.lock().clone();
    check(e.is_empty(), || {
        format!("{} async sends failed: {:?}", e.len(), &e[..e.len().min(3)])
    })?;
    let k = ok.load(Ordering::SeqCst);
    check(k == n, || format!("{k} of {n} async callbacks"))?;
    let coll = Arc::new(Collector::default());
    let _c = push(env, ctx, &topic, coll.clone(), PushOpts::default()).await?;
    expect_all(&coll, n, 60).await
}

async fn oneway_send(env: &Env, ctx: &Ctx) -> R {
    let n = 200;
    let topic = ctx.topic("RsOneway", 4)?;
    let p = producer(env, ctx, &format!("PG_{topic}")).await?;
    for i in 0..n {
        p.send_oneway(message(&topic, i, "TagA")?)
            .await
            .map_err(|e| format!("oneway {i}: {e}"))?;
    }
    let coll = Arc::new(Collector::default());
    let _c = push(env, ctx, &topic, coll.clone(), PushOpts::default()).await?;
    expect_all(&coll, n, 60).await
}

async fn batch_send(env: &Env, ctx: &Ctx) -> R {
    let (batches, per) = (4, 50);
    let topic = ctx.topic("RsBatch", 4)?;
    let p = producer(env, ctx, &format!("PG_{topic}")).await?;
    for b in 0..batches {
        let msgs = (b * per..(b + 1) * per)
            .map(|i| message(&topic, i, "TagA"))
            .collect::<Result<Vec<_>, _>>()?;
        let r = p
            .send_batch(msgs)
            .await
            .map_err(|e| format!("batch {b}: {e}"))?;
        check(r.send_status == SendStatus::SendOk, || {
            format!("batch {b}: status {:?}", r.send_status)
        })?;
    }
    let coll = Arc::new(Collector::default());
    let _c = push(env, ctx, &topic, coll.clone(), PushOpts::default()).await?;
    expect_all(&coll, batches * per, 60).await?;
    let n = coll.got.lock().len();
    check(n == batches * per, || {
        format!("{n} deliveries for {} messages", batches * per)
    })
}

/// TAG: `TagA || TagB` out of three tags. SQL92: `TAGS in ('TagA','TagB') AND seq BETWEEN 0
/// AND 200` style selection over user properties (the broker needs enablePropertyFilter=true).
async fn tag_filter(env: &Env, ctx: &Ctx, sql: bool) -> R {
    let n = 300;
    let topic = ctx.topic(if sql { "RsSql" } else { "RsTags" }, 4)?;
    let p = producer(env, ctx, &format!("PG_{topic}")).await?;
    let tags = ["TagA", "TagB", "TagC"];
    send_all(&p, &topic, 0..n, |i| tags[i % 3].to_string()).await?;
    let (selector, want): (MessageSelector, BTreeSet<usize>) = if sql {
        (
            MessageSelector::by_sql(
                "(TAGS = 'TagA' OR TAGS = 'TagB') AND seq BETWEEN 50 AND 249 AND user IS NOT NULL",
            ),
            (50..250).filter(|i| i % 3 != 2).collect(),
        )
    } else {
        (
            MessageSelector::by_tag("TagA || TagB"),
            (0..n).filter(|i| i % 3 != 2).collect(),
        )
    };
    let coll = Arc::new(Collector::default());
    let _c = push(
        env,
        ctx,
        &topic,
        coll.clone(),
        PushOpts {
            selector: Some(selector),
            ..Default::default()
        },
    )
    .await?;
    wait_for(60, || want.is_subset(&coll.distinct())).await;
    sleep_ms(2000).await; // anything wrongly let through would have arrived with the rest
    coll.ok()?;
    let got = coll.distinct();
    let missing = want.difference(&got).count();
    check(missing == 0, || {
        format!(
            "received {} of {} selected messages",
            want.len() - missing,
            want.len()
        )
    })?;
    let extra: Vec<usize> = got.difference(&want).copied().take(5).collect();
    check(extra.is_empty(), || {
        format!("messages outside the filter delivered (e.g. {extra:?})")
    })
}

/// Lite pull with manual commit: poll everything, commit, shut down; send more; a new lite
/// pull consumer of the same group gets exactly the new ones.
async fn lite_pull(env: &Env, ctx: &Ctx) -> R {
    let (n, more) = (100, 20);
    let topic = ctx.topic("RsLite", 4)?;
    let group = format!("CG_{topic}");
    let p = producer(env, ctx, &format!("PG_{topic}")).await?;
    send_all(&p, &topic, 0..n, |_| "TagA".to_string()).await?;
    let first = lite_round(env, ctx, &topic, &group, n).await?;
    check(first == (0..n).collect::<Vec<_>>(), || {
        format!(
            "first consumer polled {} messages: {:?}",
            first.len(),
            &first[..first.len().min(10)]
        )
    })?;
    send_all(&p, &topic, n..n + more, |_| "TagA".to_string()).await?;
    let second = lite_round(env, ctx, &topic, &group, more).await?;
    check(second == (n..n + more).collect::<Vec<_>>(), || {
        format!(
            "consumer resumed at committed offsets got {:?}",
            &second[..second.len().min(10)]
        )
    })
}

async fn lite_round(
    env: &Env,
    ctx: &Ctx,
    topic: &str,
    group: &str,
    want: usize,
) -> Result<Vec<usize>, String> {
    let c: DefaultLitePullConsumer =
        rocketmq_client_rust::DefaultLitePullConsumer::builder(env.client.clone())
            .consumer_group(group.to_string())
            .name_server_addr(ctx.namesrv.clone())
            .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
            .auto_commit(false)
            .build()
            .map_err(|e| format!("lite pull build: {e}"))?;
    c.subscribe(topic)
        .await
        .map_err(|e| format!("lite pull subscribe: {e}"))?;
    bounded(30, "lite pull start", c.start())
        .await?
        .map_err(|e| format!("lite pull start: {e}"))?;
    let mut seqs = Vec::new();
    let deadline = Instant::now() + std::time::Duration::from_secs(40);
    while seqs.len() < want && Instant::now() < deadline {
        for m in c.poll_with_timeout(1000).await {
            if let Some(i) = m
                .property(&CheetahString::from_static_str("seq"))
                .and_then(|s| s.parse::<usize>().ok())
            {
                check(
                    m.body().map(|b| b.to_vec()) == Some(body_of(i).into_bytes()),
                    || format!("body of {i} differs"),
                )?;
                seqs.push(i);
            }
        }
    }
    // Anything beyond `want` would show up now.
    for m in c.poll_with_timeout(1500).await {
        if let Some(i) = m
            .property(&CheetahString::from_static_str("seq"))
            .and_then(|s| s.parse::<usize>().ok())
        {
            seqs.push(i);
        }
    }
    bounded(20, "commit_sync", c.commit_sync()).await?;
    bounded(20, "lite pull shutdown", c.shutdown()).await?;
    seqs.sort_unstable();
    Ok(seqs)
}

async fn delay_level(env: &Env, ctx: &Ctx) -> R {
    let n = 5;
    let topic = ctx.topic("RsDelay", 4)?;
    let coll = Arc::new(Collector::default());
    let _c = push(env, ctx, &topic, coll.clone(), PushOpts::default()).await?;
    sleep_ms(3000).await; // rebalanced: arrival time is delivery time
    let p = producer(env, ctx, &format!("PG_{topic}")).await?;
    let mut sent = HashMap::new();
    for i in 0..n {
        let mut m = message(&topic, i, "TagA")?;
        m.set_delay_time_level(1);
        sent.insert(i, Instant::now());
        let r = p.send(m).await.map_err(|e| format!("send {i}: {e}"))?;
        let st = r.map(|r| r.send_status);
        check(st == Some(SendStatus::SendOk), || {
            format!("send {i}: status {st:?}")
        })?;
    }
    expect_all(&coll, n, 30).await?;
    for g in coll.got.lock().iter() {
        let lag = g.at.duration_since(sent[&g.seq]).as_secs_f64();
        check(lag >= 0.9, || {
            format!(
                "message {} arrived {lag:.2}s after send (level 1 is 1s)",
                g.seq
            )
        })?;
        check(lag < 15.0, || {
            format!("message {} arrived {lag:.2}s after send", g.seq)
        })?;
    }
    Ok(())
}

/// Two orderly consumers in one group: each queue is consumed by one of them only (the
/// broker's queue locks), keys keep their order, and every message arrives.
async fn orderly_two(env: &Env, ctx: &Ctx) -> R {
    let (keys, per) = (8usize, 40usize);
    let n = keys * per;
    let topic = ctx.topic("RsOrder2", 4)?;
    let group = format!("CG_{topic}");
    let (a, b) = (
        Arc::new(Collector::default()),
        Arc::new(Collector::default()),
    );
    let o = || PushOpts {
        group: &group,
        listen: Listen::Orderly,
        ..Default::default()
    };
    let _ca = push(env, ctx, &topic, a.clone(), o()).await?;
    let _cb = push(env, ctx, &topic, b.clone(), o()).await?;
    sleep_ms(4000).await; // both registered, queues rebalanced and locked
    let p = producer(env, ctx, &format!("PG_{topic}")).await?;
    for i in 0..n {
        let r = p
            .send_with_selector(
                message(&topic, i, "TagA")?,
                |mqs: &[MessageQueue], _m: &Message, k: &usize| {
                    mqs.get(k % mqs.len().max(1)).cloned()
                },
                i % keys,
            )
            .await
            .map_err(|e| format!("send {i}: {e}"))?;
        let st = r.map(|r| r.send_status);
        check(st == Some(SendStatus::SendOk), || {
            format!("send {i}: status {st:?}")
        })?;
    }
    wait_for(60, || a.distinct().union(&b.distinct()).count() >= n).await;
    sleep_ms(1000).await;
    a.ok()?;
    b.ok()?;
    let all: BTreeSet<usize> = a.distinct().union(&b.distinct()).copied().collect();
    check(all.len() == n, || format!("received {} of {n}", all.len()))?;
    let (ga, gb) = (a.got.lock().clone(), b.got.lock().clone());
    check(!ga.is_empty() && !gb.is_empty(), || {
        format!(
            "one consumer got everything (A {}, B {})",
            ga.len(),
            gb.len()
        )
    })?;
    let qa: BTreeSet<_> = ga.iter().map(|g| g.queue.clone()).collect();
    let qb: BTreeSet<_> = gb.iter().map(|g| g.queue.clone()).collect();
    let both: Vec<_> = qa.intersection(&qb).collect();
    check(both.is_empty(), || {
        format!("queues consumed by both consumers: {both:?}")
    })?;
    for got in [&ga, &gb] {
        let mut last: HashMap<usize, usize> = HashMap::new();
        for g in got.iter() {
            let k = g.seq % keys;
            if let Some(prev) = last.get(&k) {
                check(g.seq > *prev, || {
                    format!("key {k}: {} arrived after {prev}", g.seq)
                })?;
            }
            last.insert(k, g.seq);
        }
    }
    Ok(())
}

async fn orderly(env: &Env, ctx: &Ctx) -> R {
    let (keys, per) = (8usize, 50usize);
    let n = keys * per;
    let topic = ctx.topic("RsOrder", 4)?;
    let p = producer(env, ctx, &format!("PG_{topic}")).await?;
    for i in 0..n {
        let k = i % keys;
        let r = p
            .send_with_selector(
                message(&topic, i, "TagA")?,
                |mqs: &[MessageQueue], _m: &Message, k: &usize| {
                    mqs.get(k % mqs.len().max(1)).cloned()
                },
                k,
            )
            .await
            .map_err(|e| format!("send {i}: {e}"))?;
        let st = r.map(|r| r.send_status);
        check(st == Some(SendStatus::SendOk), || {
            format!("send {i}: status {st:?}")
        })?;
    }
    let coll = Arc::new(Collector::default());
    let _c = push(
        env,
        ctx,
        &topic,
        coll.clone(),
        PushOpts {
            listen: Listen::Orderly,
            ..Default::default()
        },
    )
    .await?;
    expect_all(&coll, n, 60).await?;
    let mut last: HashMap<usize, usize> = HashMap::new();
    let mut queues: BTreeMap<usize, BTreeSet<i32>> = BTreeMap::new();
    for g in coll.got.lock().iter() {
        let k = g.seq % keys;
        queues.entry(k).or_default().insert(g.queue.1);
        if let Some(prev) = last.get(&k) {
            check(g.seq >= *prev, || {
                format!("key {k}: {} arrived after {prev}", g.seq)
            })?;
        }
        last.insert(k, g.seq);
    }
    let multi: Vec<_> = queues.iter().filter(|(_, q)| q.len() > 1).collect();
    check(multi.is_empty(), || {
        format!("a key spread over queues: {multi:?}")
    })
}

struct Tx {
    checked: Arc<Mutex<Vec<String>>>,
}

fn seq_of(m: &dyn MessageTrait) -> String {
    m.property(&CheetahString::from_static_str("seq"))
        .map(|s| s.to_string())
        .unwrap_or_default()
}

impl TransactionListener for Tx {
    fn execute_local_transaction(
        &self,
        msg: &dyn MessageTrait,
        _arg: Option<&(dyn std::any::Any + Send + Sync)>,
    ) -> LocalTransactionState {
        match seq_of(msg).as_str() {
            "0" => LocalTransactionState::CommitMessage,
            "1" => LocalTransactionState::RollbackMessage,
            _ => LocalTransactionState::Unknown,
        }
    }

    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState {
        let s = seq_of(msg);
        self.checked.lock().push(s.clone());
        if s == "2" {
            LocalTransactionState::CommitMessage
        } else {
            LocalTransactionState::RollbackMessage
        }
    }
}

async fn transactional(env: &Env, ctx: &Ctx) -> R {
    let topic = ctx.topic("RsTx", 4)?;
    let checked = Arc::new(Mutex::new(Vec::new()));
    let mut p = TransactionMQProducer::builder(env.client.clone())
        .producer_group(format!("PG_{topic}"))
        .name_server_addr(ctx.namesrv.clone())
        .topics(vec![topic.clone()])
        .transaction_listener(Tx {
            checked: checked.clone(),
        })
        .build();
    p.start()
        .await
        .map_err(|e| format!("tx producer start: {e}"))?;
    for i in 0..3 {
        let r = p
            .send_message_in_transaction::<(), _>(message(&topic, i, "TagA")?, None)
            .await
            .map_err(|e| format!("half send {i}: {e}"))?;
        let st = r.send_result.as_ref().map(|r| r.send_status);
        check(st == Some(SendStatus::SendOk), || {
            format!("half send {i}: status {st:?}")
        })?;
    }
    let coll = Arc::new(Collector::default());
    let _c = push(env, ctx, &topic, coll.clone(), PushOpts::default()).await?;
    // The broker runs with transactionCheckInterval=2000, transactionTimeOut=1000.
    wait_for(40, || {
        coll.distinct().contains(&0) && coll.distinct().contains(&2)
    })
    .await;
    sleep_ms(1000).await;
    coll.ok()?;
    let got = coll.distinct();
    let checked = checked.lock().clone();
    check(got.contains(&0), || {
        "committed message not delivered".into()
    })?;
    check(!got.contains(&1), || "rolled-back message delivered".into())?;
    check(checked.contains(&"2".to_string()), || {
        format!("broker never checked back the unknown transaction (checked: {checked:?})")
    })?;
    check(got.contains(&2), || {
        format!("unknown->checked->commit message not delivered (checked: {checked:?})")
    })?;
    check(!checked.iter().any(|s| s == "0" || s == "1"), || {
        format!("broker checked back an ended transaction: {checked:?}")
    })
}

/// First delivery answers ReconsumeLater; the message must come back through %RETRY%<group>
/// (delay level 3 = 10 s) with reconsume count 1, body and properties intact.
async fn consume_later(env: &Env, ctx: &Ctx) -> R {
    let n = 3;
    let topic = ctx.topic("RsLater", 4)?;
    let p = producer(env, ctx, &format!("PG_{topic}")).await?;
    send_all(&p, &topic, 0..n, |_| "TagA".to_string()).await?;
    let coll = Arc::new(Collector::default());
    let c2 = coll.clone();
    let mut c = DefaultMQPushConsumer::builder(env.client.clone())
        .consumer_group(format!("CG_{topic}"))
        .name_server_addr(ctx.namesrv.clone())
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .build();
    c.subscribe(topic.as_str(), "*")
        .await
        .map_err(|e| format!("subscribe: {e}"))?;
    c.register_message_listener_concurrently(
        move |msgs: &[&MessageExt], _: &ConsumeConcurrentlyContext| {
            let mut later = false;
            for m in msgs {
                c2.record(m);
                later |= m.reconsume_times() == 0;
            }
            Ok(if later {
                ConsumeConcurrentlyStatus::ReconsumeLater
            } else {
                ConsumeConcurrentlyStatus::ConsumeSuccess
            })
        },
    );
    bounded(30, "consumer start", c.start())
        .await?
        .map_err(|e| format!("consumer start: {e:?}"))?;
    let redelivered = || {
        coll.got
            .lock()
            .iter()
            .filter(|g| g.reconsume >= 1)
            .map(|g| g.seq)
            .collect::<BTreeSet<_>>()
    };
    wait_for(45, || redelivered().len() >= n).await;
    coll.ok()?;
    let first: BTreeSet<usize> = coll
        .got
        .lock()
        .iter()
        .filter(|g| g.reconsume == 0)
        .map(|g| g.seq)
        .collect();
    check(first.len() == n, || format!("first deliveries: {first:?}"))?;
    let again = redelivered();
    check(again.len() == n, || {
        format!("redelivered with reconsume count >= 1: {again:?} of {n}")
    })
}

/// A group with maxReconsumeTimes=1 whose listener always answers ReconsumeLater: each
/// message is delivered twice (reconsume count 0, then 1 through %RETRY%), then the broker
/// moves it to %DLQ%<group> (checked with GET_MAX_OFFSET on the DLQ queue) and it never comes
/// back.
async fn retry_to_dlq(env: &Env, ctx: &Ctx) -> R {
    let n = 3;
    let topic = ctx.topic("RsDlq", 4)?;
    let group = format!("CG_{topic}");
    let p = producer(env, ctx, &format!("PG_{topic}")).await?;
    send_all(&p, &topic, 0..n, |_| "TagA".to_string()).await?;
    let coll = Arc::new(Collector::default());
    let c2 = coll.clone();
    let mut c = DefaultMQPushConsumer::builder(env.client.clone())
        .consumer_group(group.clone())
        .name_server_addr(ctx.namesrv.clone())
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .max_reconsume_times(1)
        .build();
    c.subscribe(topic.as_str(), "*")
        .await
        .map_err(|e| format!("subscribe: {e}"))?;
    c.register_message_listener_concurrently(
        move |msgs: &[&MessageExt], _: &ConsumeConcurrentlyContext| {
            for m in msgs {
                c2.record(m);
            }
            Ok(ConsumeConcurrentlyStatus::ReconsumeLater)
        },
    );
    bounded(30, "consumer start", c.start())
        .await?
        .map_err(|e| format!("consumer start: {e:?}"))?;
    let dlq = format!("%DLQ%{group}");
    let in_dlq = || {
        ctx.brokers
            .iter()
            .map(|b| admin::max_offset(b, &dlq, 0).ok().flatten().unwrap_or(0))
            .sum::<i64>()
    };
    wait_for(60, || in_dlq() >= n as i64).await;
    sleep_ms(3000).await; // a message that wrongly came back once more would show now
    coll.ok()?;
    let got = coll.got.lock().clone();
    let dl = in_dlq();
    check(dl == n as i64, || {
        format!(
            "%DLQ% queue holds {dl} messages, wanted {n} (deliveries: {:?})",
            got.iter().map(|g| (g.seq, g.reconsume)).collect::<Vec<_>>()
        )
    })?;
    for i in 0..n {
        let counts: Vec<i32> = got
            .iter()
            .filter(|g| g.seq == i)
            .map(|g| g.reconsume)
            .collect();
        check(counts == [0, 1], || {
            format!("message {i}: deliveries with reconsume counts {counts:?}, wanted [0, 1]")
        })?;
    }
    Ok(())
}

async fn two_consumers(env: &Env, ctx: &Ctx) -> R {
    let n = 400;
    let queues = 4 * ctx.brokers.len() as u32;
    let topic = ctx.topic("RsTwo", 4)?;
    let group = format!("CG_{topic}");
    let (a, b) = (
        Arc::new(Collector::default()),
        Arc::new(Collector::default()),
    );
    let _ca = push(
        env,
        ctx,
        &topic,
        a.clone(),
        PushOpts {
            group: &group,
            ..Default::default()
        },
    )
    .await?;
    let _cb = push(
        env,
        ctx,
        &topic,
        b.clone(),
        PushOpts {
            group: &group,
            ..Default::default()
        },
    )
    .await?;
    sleep_ms(4000).await; // both registered; rebalanced
    let p = producer(env, ctx, &format!("PG_{topic}")).await?;
    send_all(&p, &topic, 0..n, |_| "TagA".to_string()).await?;
    wait_for(60, || a.distinct().union(&b.distinct()).count() >= n).await;
    sleep_ms(1000).await;
    a.ok()?;
    b.ok()?;
    let all: BTreeSet<usize> = a.distinct().union(&b.distinct()).copied().collect();
    check(all.len() >= n, || format!("received {} of {n}", all.len()))?;
    let (la, lb) = (a.got.lock().len(), b.got.lock().len());
    check(la > 0 && lb > 0, || {
        format!("one consumer got everything (A {la}, B {lb})")
    })?;
    check(la + lb == n, || {
        format!("{} deliveries for {n} messages (A {la}, B {lb})", la + lb)
    })?;
    let qa: BTreeSet<_> = a.got.lock().iter().map(|g| g.queue.clone()).collect();
    let qb: BTreeSet<_> = b.got.lock().iter().map(|g| g.queue.clone()).collect();
    let both: Vec<_> = qa.intersection(&qb).collect();
    check(both.is_empty(), || {
        format!("both consumers consumed queues {both:?}")
    })?;
    check(qa.len() + qb.len() == queues as usize, || {
        format!("queues consumed: A {qa:?}, B {qb:?} (of {queues})")
    })
}

async fn broadcast(env: &Env, ctx: &Ctx) -> R {
    let n = 100;
    let topic = ctx.topic("RsBcast", 4)?;
    let group = format!("CG_{topic}");
    let (a, b) = (
        Arc::new(Collector::default()),
        Arc::new(Collector::default()),
    );
    let o = |instance| PushOpts {
        group: &group,
        model: MessageModel::Broadcasting,
        instance: Some(instance),
        ..Default::default()
    };
    let _ca = push(env, ctx, &topic, a.clone(), o("bcA")).await?;
    let _cb = push(env, ctx, &topic, b.clone(), o("bcB")).await?;
    sleep_ms(4000).await;
    let p = producer(env, ctx, &format!("PG_{topic}")).await?;
    send_all(&p, &topic, 0..n, |_| "TagA".to_string()).await?;
    wait_for(60, || a.distinct().len() >= n && b.distinct().len() >= n).await;
    a.ok()?;
    b.ok()?;
    let (na, nb) = (a.distinct().len(), b.distinct().len());
    check(na >= n && nb >= n, || {
        format!("A got {na}, B got {nb} of {n}")
    })
}
