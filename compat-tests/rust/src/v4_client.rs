//! Scenarios for crates.io `rocketmq-client-v4 =0.4.2`, the one client speaking the ROCKETMQ
//! binary header. Its API is small: a `Producer` whose sends are queued to a background task
//! (no send result reaches the caller; every send is a SEND_BATCH_MESSAGE carrying one
//! message) and a `PullConsumer` driving its own pull loop (clustering or broadcasting, `*`
//! only, offsets committed with UPDATE_CONSUMER_OFFSET after every pull). Its client id is
//! `ip@pid`, so two consumers in one process get distinct ids set by hand.
//!
//! Its consumer splits the properties string of a received message at the characters `'1'`
//! and `'2'` instead of the separators U+0001 and U+0002 (a client bug), so it cannot read
//! back the properties of any message (keys, tags, user properties all come out empty or
//! mangled, whatever the broker sends). The scenarios therefore identify a message by its body
//! (`body-<seq>-...`), which the client does read intact; the other clients check properties.
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use rocketmq_client_v4::consumer::message_handler::MessageHandler;
use rocketmq_client_v4::consumer::pull_consumer_v2::PullConsumer;
use rocketmq_client_v4::producer::Producer;
use rocketmq_client_v4::protocols::body::message_body::MessageBody;
use tokio::sync::RwLock;

use crate::common::{body_of, bounded, check, sleep_ms, wait_for, Ctx, R};

#[derive(Default)]
struct Collector {
    got: Mutex<Vec<(usize, i32, String)>>,
    problems: Mutex<Vec<String>>,
}

impl Collector {
    fn distinct(&self) -> BTreeSet<usize> {
        self.got.lock().iter().map(|g| g.0).collect()
    }

    fn ok(&self) -> R {
        let p = self.problems.lock();
        check(p.is_empty(), || {
            p.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
        })
    }
}

struct Handler(Arc<Collector>);

impl MessageHandler for Handler {
    async fn handle(&self, m: &MessageBody) {
        let c = &self.0;
        let body = String::from_utf8_lossy(&m.body);
        let seq = body
            .strip_prefix("body-")
            .and_then(|r| r.split('-').next())
            .and_then(|d| d.parse::<usize>().ok());
        let Some(i) = seq else {
            c.problems
                .lock()
                .push(format!("unexpected body {:?}", body.get(..40)));
            return;
        };
        if m.body != body_of(i).into_bytes() {
            c.problems.lock().push(format!("body of {i} differs"));
        }
        c.got.lock().push((
            i,
            m.queue_id,
            m.store_host
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join("."),
        ));
    }
}

fn tag_of(i: usize) -> &'static str {
    if i % 2 == 0 {
        "TagA"
    } else {
        "TagB"
    }
}

/// A started consumer: its collector and the switch that stops its loops.
struct Running {
    coll: Arc<Collector>,
    run: Arc<RwLock<bool>>,
}

impl Running {
    async fn stop(&self) {
        *self.run.write().await = false;
    }
}

async fn consumer(
    ctx: &Ctx,
    group: &str,
    topic: &str,
    broadcast: bool,
    id: &str,
) -> Result<Running, String> {
    let mut c = if broadcast {
        PullConsumer::new_broadcast_consumer(
            ctx.namesrv.clone(),
            group.to_string(),
            topic.to_string(),
        )
    } else {
        PullConsumer::new(ctx.namesrv.clone(), group.to_string(), topic.to_string())
    };
    c.client_id = format!("{}-{id}", c.client_id);
    let coll = Arc::new(Collector::default());
    let run = Arc::new(RwLock::new(true));
    let (h, r) = (Arc::new(Handler(coll.clone())), run.clone());
    bounded(
        30,
        "consumer start",
        async move { c.start_consume(h, r).await },
    )
    .await?;
    Ok(Running { coll, run })
}

async fn send(ctx: &Ctx, topic: &str, range: std::ops::Range<usize>) -> R {
    let mut p = bounded(
        30,
        "producer start",
        Producer::new(format!("PG_{topic}"), ctx.namesrv.clone()),
    )
    .await?;
    for i in range {
        let props: HashMap<String, String> = [
            ("TAGS", tag_of(i).to_string()),
            ("KEYS", format!("key-{i}")),
            ("WAIT", "true".to_string()),
            ("seq", i.to_string()),
            ("user", "prop-value".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        p.send_with_properties(topic.to_string(), props, body_of(i).into_bytes())
            .await
            .map_err(|e| format!("send {i}: {e}"))?;
    }
    Ok(())
}

pub async fn run(scenario: &str, ctx: &Ctx) -> R {
    match scenario {
        "send+pull-consume" => send_consume(ctx).await,
        "offset-resume" => offset_resume(ctx).await,
        "two-consumers" => two_consumers(ctx).await,
        "broadcast" => broadcast(ctx).await,
        other => Err(format!("scenario {other} not available for this client")),
    }
}

async fn expect(c: &Collector, want: &BTreeSet<usize>, secs: u64) -> R {
    wait_for(secs, || want.is_subset(&c.distinct())).await;
    c.ok()?;
    let got = c.distinct();
    let missing: Vec<_> = want.difference(&got).take(5).collect();
    check(missing.is_empty(), || {
        format!(
            "received {} of {} (missing e.g. {missing:?})",
            want.len() - want.difference(&got).count(),
            want.len()
        )
    })
}

async fn send_consume(ctx: &Ctx) -> R {
    let n = 1000;
    let topic = ctx.topic("V4Send", 4)?;
    send(ctx, &topic, 0..n).await?;
    let c = consumer(ctx, &format!("CG_{topic}"), &topic, false, "a").await?;
    expect(&c.coll, &(0..n).collect(), 90).await?;
    sleep_ms(1000).await;
    let total = c.coll.got.lock().len();
    check(total == n, || {
        format!("{total} deliveries for {n} messages")
    })
}

/// The first consumer takes 100 messages and stops (its pull loop committed the offsets);
/// 20 more are sent; a second consumer of the group must get exactly those 20.
async fn offset_resume(ctx: &Ctx) -> R {
    let (n, more) = (100, 20);
    let topic = ctx.topic("V4Resume", 4)?;
    let group = format!("CG_{topic}");
    send(ctx, &topic, 0..n).await?;
    let a = consumer(ctx, &group, &topic, false, "a").await?;
    expect(&a.coll, &(0..n).collect(), 60).await?;
    sleep_ms(1500).await;
    a.stop().await;
    sleep_ms(3000).await;
    send(ctx, &topic, n..n + more).await?;
    let b = consumer(ctx, &group, &topic, false, "b").await?;
    expect(&b.coll, &(n..n + more).collect(), 60).await?;
    sleep_ms(2000).await;
    let stale: Vec<usize> = b
        .coll
        .distinct()
        .into_iter()
        .filter(|i| *i < n)
        .take(5)
        .collect();
    check(stale.is_empty(), || {
        format!("second consumer got already consumed messages again (e.g. {stale:?})")
    })
}

async fn two_consumers(ctx: &Ctx) -> R {
    let n = 400;
    let topic = ctx.topic("V4Two", 4)?;
    let group = format!("CG_{topic}");
    let a = consumer(ctx, &group, &topic, false, "a").await?;
    let b = consumer(ctx, &group, &topic, false, "b").await?;
    sleep_ms(5000).await;
    send(ctx, &topic, 0..n).await?;
    let all = || a.coll.distinct().union(&b.coll.distinct()).count();
    wait_for(60, || all() >= n).await;
    sleep_ms(1000).await;
    a.coll.ok()?;
    b.coll.ok()?;
    check(all() >= n, || format!("received {} of {n}", all()))?;
    let (la, lb) = (a.coll.got.lock().len(), b.coll.got.lock().len());
    check(la > 0 && lb > 0, || {
        format!("one consumer got everything (A {la}, B {lb})")
    })?;
    check(la + lb == n, || {
        format!("{} deliveries for {n} messages (A {la}, B {lb})", la + lb)
    })
}

async fn broadcast(ctx: &Ctx) -> R {
    let n = 100;
    let topic = ctx.topic("V4Bcast", 4)?;
    let group = format!("CG_{topic}");
    let a = consumer(ctx, &group, &topic, true, "a").await?;
    let b = consumer(ctx, &group, &topic, true, "b").await?;
    sleep_ms(5000).await; // broadcast consumers start at the queue's end
    send(ctx, &topic, 0..n).await?;
    let want: BTreeSet<usize> = (0..n).collect();
    expect(&a.coll, &want, 60)
        .await
        .map_err(|e| format!("consumer A: {e}"))?;
    expect(&b.coll, &want, 30)
        .await
        .map_err(|e| format!("consumer B: {e}"))
}
