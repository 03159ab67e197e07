//! Transactions over raw frames: END_TRANSACTION commit / rollback / unknown and its checks,
//! the check-back service (CHECK_TRANSACTION_STATE to a recording producer, answered with
//! END_TRANSACTION), producers that are gone, restarts with open transactions, the check
//! limit (TRANS_CHECK_MAX_TIME_TOPIC), immunity, the Java 4.9.8 store's pending transactions,
//! and sends while many half messages are open. Every wait is bounded.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apogee::broker::transaction::{self, TRANS_CHECK_GROUP};
use apogee::broker::BrokerConfig;
use apogee::remoting::{Connection, ConnectionOptions, Handler, RemotingClient, Reply};
use apogee::rt;
use apogee::store::message_inner::MessageInner;
use apogee::store::results::AcceptAll;
use apogee::store::store_config::MessageStoreConfig;
use apogee_codec::codes::{request as rc, response};
use apogee_codec::header::pull::{pull_sys_flag, PullMessageRequestHeader};
use apogee_codec::header::transaction::{
    CheckTransactionStateRequestHeader, EndTransactionRequestHeader,
};
use apogee_codec::header::{SendMessageRequestHeaderV2, SendMessageResponseHeader};
use apogee_codec::message::{
    decode_offset_msg_id, decode_record, iter_records, sysflag, MessageExt, MessageProperties,
};
use apogee_codec::RemotingCommand;
use bytes::Bytes;
use common::TestBroker;
use futures::future::BoxFuture;

const HALF: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
const OP: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
const MAX_TIME: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
const WAIT_LIMIT: Duration = Duration::from_secs(15);

const COMMIT: i32 = 8;
const ROLLBACK: i32 = 12;
const UNKNOWN: i32 = 0;

// ---- helpers ---------------------------------------------------------------------------------

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn props(entries: &[(&str, &str)]) -> String {
    let mut p = MessageProperties::new();
    for (k, v) in entries {
        p.insert(*k, *v);
    }
    String::from_utf8(p.encode()).unwrap()
}

/// A broker whose check runs every `interval_ms` with the given timeout and limit.
fn tx_broker(interval_ms: u64, timeout_ms: u64, check_max: i32) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let (b, s) = tx_configs(dir.path(), interval_ms, timeout_ms, check_max);
    common::start_broker_with(b, s, dir)
}

fn tx_configs(
    dir: &Path,
    interval_ms: u64,
    timeout_ms: u64,
    check_max: i32,
) -> (BrokerConfig, MessageStoreConfig) {
    let (mut b, s) = common::configs(dir, None);
    b.transaction_check_interval = interval_ms;
    b.transaction_time_out = timeout_ms;
    b.transaction_check_max = check_max;
    (b, s)
}

/// A broker whose periodic check never runs in a test (rounds are started by hand).
fn quiet_broker(timeout_ms: u64) -> TestBroker {
    tx_broker(3_600_000, timeout_ms, 15)
}

/// Records what the broker sends to a client and, when told to, answers each
/// CHECK_TRANSACTION_STATE at once with END_TRANSACTION on the same connection, as the Java
/// producer does from its check callback.
#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<RemotingCommand>>,
    /// (producer group, decision) to answer checks with.
    answer: Mutex<Option<(String, i32)>>,
}

impl Recorder {
    fn checks(&self) -> Vec<RemotingCommand> {
        let mut v: Vec<RemotingCommand> = self
            .got
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.code == rc::CHECK_TRANSACTION_STATE)
            .cloned()
            .collect();
        // Checks are sent concurrently; order them by the copy they name.
        v.sort_by_key(|c| {
            c.read_header::<CheckTransactionStateRequestHeader>()
                .map(|h| h.tran_state_table_offset)
                .unwrap_or(-1)
        });
        v
    }

    fn answer_with(&self, group: &str, decision: i32) {
        *self.answer.lock().unwrap() = Some((group.to_owned(), decision));
    }
}

impl Handler for Recorder {
    fn handle(
        self: Arc<Self>,
        conn: Arc<Connection>,
        req: RemotingCommand,
    ) -> BoxFuture<'static, Reply> {
        let answer = match (req.code, self.answer.lock().unwrap().clone()) {
            (rc::CHECK_TRANSACTION_STATE, Some((group, d))) => Some(answer_cmd(&group, &req, d)),
            _ => None,
        };
        self.got.lock().unwrap().push(req);
        Box::pin(async move {
            if let Some(cmd) = answer {
                conn.oneway(cmd).await;
            }
            Reply::None
        })
    }
}

/// A producer of `group` (registered by heartbeat) that records what the broker sends it.
fn producer(tb: &TestBroker, group: &str, answer: Option<i32>) -> (RemotingClient, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    if let Some(d) = answer {
        rec.answer_with(group, d);
    }
    let c = RemotingClient::new(rec.clone(), ConnectionOptions::default());
    let body = serde_json::json!({
        "clientID": format!("127.0.0.1@{group}"),
        "consumerDataSet": [],
        "producerDataSet": [{"groupName": group}, {"groupName": "CLIENT_INNER_PRODUCER"}]
    });
    let hb =
        RemotingCommand::request(rc::HEART_BEAT, 0).with_body(serde_json::to_vec(&body).unwrap());
    let r = common::call(&c, tb.addr(), hb);
    assert_eq!(r.code, response::SUCCESS, "{r}");
    (c, rec)
}

fn wait_checks(rec: &Recorder, n: usize) -> Vec<RemotingCommand> {
    wait_until(&format!("{n} CHECK_TRANSACTION_STATE"), || {
        rec.checks().len() >= n
    });
    rec.checks()
}

struct Half {
    uniq: String,
    resp: SendMessageResponseHeader,
    commit_log_offset: i64,
}

/// Send a half message (born now) to `topic` / `queue_id` for producer group `group`.
#[allow(clippy::too_many_arguments)]
fn send_half(
    c: &RemotingClient,
    addr: SocketAddr,
    topic: &str,
    queue_id: i32,
    group: &str,
    uniq: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Half {
    let mut entries = vec![
        ("TRAN_MSG", "true"),
        ("PGROUP", group),
        ("UNIQ_KEY", uniq),
        ("KEYS", "k1 k2"),
        ("TAGS", "TagTx"),
        ("WAIT", "true"),
        ("user-prop", "ü-value"),
    ];
    entries.extend_from_slice(extra);
    let h = SendMessageRequestHeaderV2 {
        a: group.into(),
        b: topic.into(),
        c: "TBW102".into(),
        d: 4,
        e: queue_id,
        f: sysflag::TRANSACTION_PREPARED_TYPE,
        g: now_ms(),
        h: 7,
        i: Some(props(&entries)),
        j: Some(0),
        k: false,
        l: None,
        m: false,
        n: Some("broker-test".into()),
    };
    let cmd = RemotingCommand::request(rc::SEND_MESSAGE_V2, 0)
        .with_header(&h)
        .with_body(body.to_vec());
    let r = rt::block_on(c.invoke(addr, cmd, Duration::from_secs(10))).expect("send answer");
    assert_eq!(r.code, response::SUCCESS, "{r}");
    let resp: SendMessageResponseHeader = r.read_header().unwrap();
    assert_eq!(resp.transaction_id.as_deref(), Some(uniq));
    let commit_log_offset = decode_offset_msg_id(&resp.msg_id).unwrap().offset;
    Half {
        uniq: uniq.into(),
        resp,
        commit_log_offset,
    }
}

fn end_tx_cmd(
    group: &str,
    tran_state_table_offset: i64,
    commit_log_offset: i64,
    decision: i32,
    from_check: bool,
    msg_id: &str,
) -> RemotingCommand {
    let h = EndTransactionRequestHeader {
        rpc: Default::default(),
        producer_group: group.into(),
        tran_state_table_offset,
        commit_log_offset,
        commit_or_rollback: decision,
        from_transaction_check: from_check,
        msg_id: msg_id.into(),
        transaction_id: Some(msg_id.into()),
        topic: None,
    };
    RemotingCommand::request(rc::END_TRANSACTION, 0).with_header(&h)
}

/// END_TRANSACTION as clients send it: oneway.
fn end_tx_oneway(c: &RemotingClient, addr: SocketAddr, cmd: RemotingCommand) {
    rt::block_on(c.invoke_oneway(addr, cmd)).expect("oneway sent");
}

/// END_TRANSACTION answering a check (as the Java client builds it from the check header).
fn answer_cmd(group: &str, check: &RemotingCommand, d: i32) -> RemotingCommand {
    let h: CheckTransactionStateRequestHeader = check.read_header().unwrap();
    end_tx_cmd(
        group,
        h.tran_state_table_offset,
        h.commit_log_offset,
        d,
        true,
        h.msg_id.as_deref().unwrap(),
    )
}

fn answer_check(
    c: &RemotingClient,
    addr: SocketAddr,
    group: &str,
    check: &RemotingCommand,
    d: i32,
) {
    end_tx_oneway(c, addr, answer_cmd(group, check, d));
}

/// Every record of a queue, read from the store.
fn stored(tb: &TestBroker, topic: &str, queue_id: i32) -> Vec<MessageExt> {
    let store = tb.broker.store();
    assert!(store.wait_dispatched(Duration::from_secs(5)));
    let mut out = Vec::new();
    let mut offset = store.min_offset_in_queue(topic, queue_id);
    while let Some(r) = store.get_message(topic, queue_id, offset, 32, &AcceptAll) {
        if r.messages.is_empty() || r.next_begin_offset <= offset {
            break;
        }
        for m in &r.messages {
            out.push(MessageExt::from_record(&decode_record(m).unwrap().0));
        }
        offset = r.next_begin_offset;
    }
    out
}

/// The queue's max offset once everything stored so far is dispatched.
fn queue_len(tb: &TestBroker, topic: &str, queue_id: i32) -> i64 {
    let store = tb.broker.store();
    assert!(store.wait_dispatched(Duration::from_secs(5)));
    store.max_offset_in_queue(topic, queue_id)
}

fn progress(tb: &TestBroker, topic: &str) -> Option<i64> {
    tb.broker
        .inner()
        .configs
        .consumer_offsets
        .query(TRANS_CHECK_GROUP, topic, 0)
}

/// A check round, once everything stored so far is dispatched.
fn check_now(tb: &TestBroker) -> transaction::CheckRound {
    assert!(tb.broker.store().wait_dispatched(Duration::from_secs(5)));
    rt::block_on(transaction::check_now(tb.broker.inner()))
}

/// PULL_MESSAGE of a queue from `offset`; the records of the answer.
fn pull(
    c: &RemotingClient,
    tb: &TestBroker,
    topic: &str,
    queue_id: i32,
    offset: i64,
) -> Vec<MessageExt> {
    let h = PullMessageRequestHeader {
        consumer_group: "G_TX_READER".into(),
        topic: topic.into(),
        queue_id,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: pull_sys_flag::FLAG_SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        ..Default::default()
    };
    let r = common::call(
        c,
        tb.addr(),
        RemotingCommand::request(rc::PULL_MESSAGE, 0).with_header(&h),
    );
    if r.code != response::SUCCESS {
        return vec![];
    }
    iter_records(&r.body)
        .map(|rec| MessageExt::from_record(&rec.unwrap()))
        .collect()
}

/// The one record of a check, with its header.
fn check_parts(check: &RemotingCommand) -> (CheckTransactionStateRequestHeader, MessageExt) {
    let h: CheckTransactionStateRequestHeader = check.read_header().unwrap();
    let (rec, n) = decode_record(&check.body).expect("the check body is one record");
    assert_eq!(n, check.body.len());
    (h, MessageExt::from_record(&rec))
}

fn check_times(m: &MessageExt) -> i32 {
    m.property("TRANSACTION_CHECK_TIMES")
        .map(|v| v.parse().unwrap())
        .unwrap_or(0)
}

// ---- END_TRANSACTION -------------------------------------------------------------------------

#[test]
fn commit_stores_the_real_message_and_an_op_message() {
    let tb = quiet_broker(6000);
    let c = common::client();
    let half = send_half(
        &c,
        tb.addr(),
        "TxTopic",
        1,
        "pg",
        "UNIQ-COMMIT-1",
        &[],
        b"tx body",
    );
    let h = &half.resp;
    assert_eq!(h.queue_id, 1);
    let halves = stored(&tb, HALF, 0);
    assert_eq!(halves.len(), 1);
    let hm = &halves[0];

    // Answered when not oneway (Java's processor answers; clients send it oneway).
    let cmd = end_tx_cmd(
        "pg",
        h.queue_offset,
        half.commit_log_offset,
        COMMIT,
        false,
        &half.uniq,
    );
    let r = common::call(&c, tb.addr(), cmd);
    assert_eq!(r.code, response::SUCCESS, "{r}");

    let real = stored(&tb, "TxTopic", 1);
    assert_eq!(real.len(), 1);
    let m = &real[0];
    assert_eq!(m.topic, "TxTopic");
    assert_eq!(m.queue_id, 1);
    assert_eq!(m.queue_offset, 0);
    assert_eq!(
        m.sys_flag & sysflag::TRANSACTION_MASK,
        sysflag::TRANSACTION_COMMIT_TYPE
    );
    assert_eq!(m.prepared_transaction_offset, half.commit_log_offset);
    assert_eq!(&m.body[..], b"tx body");
    assert_eq!(m.flag, 7);
    assert_eq!(m.born_timestamp, hm.born_timestamp);
    assert_eq!(m.born_host, hm.born_host);
    assert_eq!(m.store_host, tb.addr());
    // Java keeps the half message's properties string as it is (REAL_*, TRAN_MSG, PGROUP).
    assert_eq!(m.properties.encode(), hm.properties.encode());
    assert_eq!(m.keys(), Some("k1 k2"));
    assert_eq!(m.tags(), Some("TagTx"));
    assert_eq!(m.uniq_key(), Some("UNIQ-COMMIT-1"));
    assert_eq!(m.property("user-prop"), Some("ü-value"));
    assert_eq!(m.property("REAL_TOPIC"), Some("TxTopic"));

    // Pullable by a consumer.
    let pulled = pull(&c, &tb, "TxTopic", 1, 0);
    assert_eq!(pulled.len(), 1);
    assert_eq!(pulled[0].uniq_key(), Some("UNIQ-COMMIT-1"));

    // The op message, laid out as Java's.
    let ops = stored(&tb, OP, 0);
    assert_eq!(ops.len(), 1);
    let op = &ops[0];
    assert_eq!(op.queue_id, 0);
    assert_eq!(&op.body[..], h.queue_offset.to_string().as_bytes());
    assert_eq!(
        op.properties.encode(),
        b"WAIT\x01true\x02TAGS\x01d".to_vec()
    );
    assert_eq!(op.sys_flag, 0);
    assert_eq!(op.born_host, tb.addr());
    assert_eq!(op.store_host, tb.addr());
    // Java registers no topic config for the op topic.
    assert!(tb.broker.inner().configs.topics.get(OP).is_none());

    // A oneway commit of a second transaction works the same, without an answer.
    let half2 = send_half(
        &c,
        tb.addr(),
        "TxTopic",
        1,
        "pg",
        "UNIQ-COMMIT-2",
        &[],
        b"second",
    );
    let cmd = end_tx_cmd(
        "pg",
        half2.resp.queue_offset,
        half2.commit_log_offset,
        COMMIT,
        false,
        &half2.uniq,
    );
    end_tx_oneway(&c, tb.addr(), cmd);
    wait_until("the second commit", || queue_len(&tb, "TxTopic", 1) == 2);
    wait_until("the second op", || queue_len(&tb, OP, 0) == 2);

    // Both are resolved: a check round has nothing to do.
    std::thread::sleep(Duration::from_millis(50));
    let round = check_now(&tb);
    assert_eq!(round.checked, 0);
    assert_eq!(round.resolved, 2);
    assert_eq!(progress(&tb, HALF), Some(2));
    assert_eq!(progress(&tb, OP), Some(2));
    tb.stop();
}

#[test]
fn rollback_stores_only_the_op_message() {
    let tb = quiet_broker(6000);
    let c = common::client();
    let half = send_half(
        &c,
        tb.addr(),
        "TxRollback",
        0,
        "pg",
        "UNIQ-RB-1",
        &[],
        b"gone",
    );
    let cmd = end_tx_cmd(
        "pg",
        half.resp.queue_offset,
        half.commit_log_offset,
        ROLLBACK,
        false,
        &half.uniq,
    );
    let r = common::call(&c, tb.addr(), cmd);
    assert_eq!(r.code, response::SUCCESS, "{r}");
    assert_eq!(queue_len(&tb, "TxRollback", 0), 0);
    let ops = stored(&tb, OP, 0);
    assert_eq!(ops.len(), 1);
    assert_eq!(&ops[0].body[..], b"0");
    assert!(pull(&c, &tb, "TxRollback", 0, 0).is_empty());
    std::thread::sleep(Duration::from_millis(50));
    let round = check_now(&tb);
    assert_eq!((round.checked, round.resolved), (0, 1));
    assert_eq!(queue_len(&tb, "TxRollback", 0), 0);
    tb.stop();
}

#[test]
fn end_transaction_is_checked_against_the_half_message() {
    let tb = quiet_broker(6000);
    let c = common::client();
    let half = send_half(&c, tb.addr(), "TxChecks", 0, "pg", "UNIQ-CHK", &[], b"x");
    let (q, phy) = (half.resp.queue_offset, half.commit_log_offset);
    let expect = |cmd: RemotingCommand, remark: &str| {
        let r = common::call(&c, tb.addr(), cmd);
        assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");
        assert_eq!(r.remark.as_deref(), Some(remark), "{r}");
    };
    expect(
        end_tx_cmd("other", q, phy, COMMIT, false, "UNIQ-CHK"),
        "The producer group wrong",
    );
    expect(
        end_tx_cmd("pg", q + 5, phy, ROLLBACK, false, "UNIQ-CHK"),
        "The transaction state table offset wrong",
    );
    expect(
        end_tx_cmd("pg", q, phy + 1, COMMIT, false, "UNIQ-CHK"),
        "Find prepared transaction message failed",
    );
    expect(
        end_tx_cmd("pg", q, 1 << 40, COMMIT, false, "UNIQ-CHK"),
        "Find prepared transaction message failed",
    );
    expect(
        end_tx_cmd("pg", q, -1, ROLLBACK, true, "UNIQ-CHK"),
        "Find prepared transaction message failed",
    );
    // Not a transaction type: the header check fails.
    let r = common::call(
        &c,
        tb.addr(),
        end_tx_cmd("pg", q, phy, 4, false, "UNIQ-CHK"),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");
    assert!(
        r.remark
            .as_deref()
            .unwrap_or("")
            .contains("commitOrRollback"),
        "{r}"
    );
    // Missing header fields.
    let r = common::call(
        &c,
        tb.addr(),
        RemotingCommand::request(rc::END_TRANSACTION, 0),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");

    // Unknown: no answer at all, nothing written.
    let quiet = common::client();
    let r = rt::block_on(quiet.invoke(
        tb.addr(),
        end_tx_cmd("pg", q, phy, UNKNOWN, false, "UNIQ-CHK"),
        Duration::from_millis(300),
    ));
    assert!(r.is_err(), "no answer to an unknown decision: {r:?}");

    // A committed message cannot be committed again by naming its own offsets.
    let r = common::call(
        &c,
        tb.addr(),
        end_tx_cmd("pg", q, phy, COMMIT, false, "UNIQ-CHK"),
    );
    assert_eq!(r.code, response::SUCCESS, "{r}");
    let real = stored(&tb, "TxChecks", 0);
    assert_eq!(real.len(), 1);
    let phy_real = decode_offset_msg_id(&real[0].offset_msg_id())
        .unwrap()
        .offset;
    expect(
        end_tx_cmd("pg", 0, phy_real, COMMIT, false, "UNIQ-CHK"),
        "Find prepared transaction message failed",
    );
    assert_eq!(queue_len(&tb, "TxChecks", 0), 1);
    assert_eq!(queue_len(&tb, OP, 0), 1);
    tb.stop();
}

// ---- the check-back --------------------------------------------------------------------------

#[test]
fn unknown_is_checked_and_committed_by_the_producer() {
    let tb = tx_broker(200, 100, 15);
    let (pc, rec) = producer(&tb, "pg-commit", Some(COMMIT));
    let half = send_half(
        &pc,
        tb.addr(),
        "TxChecked",
        2,
        "pg-commit",
        "UNIQ-CHECK-C",
        &[],
        b"checked",
    );
    let cmd = end_tx_cmd(
        "pg-commit",
        half.resp.queue_offset,
        half.commit_log_offset,
        UNKNOWN,
        false,
        &half.uniq,
    );
    end_tx_oneway(&pc, tb.addr(), cmd);

    // Checked, answered with a commit, delivered.
    wait_until("the committed message", || {
        queue_len(&tb, "TxChecked", 2) == 1
    });
    let checks = rec.checks();
    let (h, m) = check_parts(&checks[0]);
    // The check names the fresh copy of the half message.
    assert_eq!(h.msg_id.as_deref(), Some("UNIQ-CHECK-C"));
    assert_eq!(h.transaction_id.as_deref(), Some("UNIQ-CHECK-C"));
    assert!(h.tran_state_table_offset > half.resp.queue_offset);
    assert!(h.commit_log_offset > half.commit_log_offset);
    let id = decode_offset_msg_id(h.offset_msg_id.as_deref().unwrap()).unwrap();
    assert_eq!(id.offset, h.commit_log_offset);
    assert_eq!(id.store_host, tb.addr());
    // Its body: the record with the real topic and queue.
    assert_eq!(m.topic, "TxChecked");
    assert_eq!(m.queue_id, 2);
    assert_eq!(m.queue_offset, h.tran_state_table_offset);
    assert_eq!(m.physical_offset, h.commit_log_offset);
    assert_eq!(&m.body[..], b"checked");
    assert_eq!(m.uniq_key(), Some("UNIQ-CHECK-C"));
    assert_eq!(m.property("PGROUP"), Some("pg-commit"));
    assert_eq!(check_times(&m), 1);
    // The copy in the half queue.
    let copy = stored(&tb, HALF, 0)
        .into_iter()
        .find(|x| x.queue_offset == h.tran_state_table_offset)
        .unwrap();
    assert_eq!(copy.physical_offset, h.commit_log_offset);
    assert_eq!(check_times(&copy), 1);
    assert_eq!(copy.property("REAL_TOPIC"), Some("TxChecked"));

    let real = stored(&tb, "TxChecked", 2);
    assert_eq!(&real[0].body[..], b"checked");
    assert_eq!(real[0].prepared_transaction_offset, h.commit_log_offset);
    assert_eq!(real[0].keys(), Some("k1 k2"));
    assert_eq!(pull(&pc, &tb, "TxChecked", 2, 0).len(), 1);

    // Settled: the progress passes everything and no further check comes.
    wait_until("the progress to pass the copy", || {
        progress(&tb, HALF) == Some(queue_len(&tb, HALF, 0)) && progress(&tb, OP) == Some(1)
    });
    let n = rec.checks().len();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(rec.checks().len(), n);
    assert_eq!(n, 1);
    assert_eq!(queue_len(&tb, "TxChecked", 2), 1);
    tb.stop();
}

#[test]
fn unknown_is_checked_and_rolled_back_by_the_producer() {
    let tb = tx_broker(200, 100, 15);
    let (pc, rec) = producer(&tb, "pg-rollback", Some(ROLLBACK));
    let half = send_half(
        &pc,
        tb.addr(),
        "TxCheckedRb",
        0,
        "pg-rollback",
        "UNIQ-CHECK-R",
        &[],
        b"never",
    );
    wait_until("the op message", || queue_len(&tb, OP, 0) == 1);
    let checks = rec.checks();
    let (h, m) = check_parts(&checks[0]);
    assert_eq!(m.topic, "TxCheckedRb");
    assert!(h.tran_state_table_offset > half.resp.queue_offset);
    let ops = stored(&tb, OP, 0);
    assert_eq!(
        &ops[0].body[..],
        h.tran_state_table_offset.to_string().as_bytes()
    );
    wait_until("the progress to pass the copy", || {
        progress(&tb, HALF) == Some(queue_len(&tb, HALF, 0)) && progress(&tb, OP) == Some(1)
    });
    let n = rec.checks().len();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(rec.checks().len(), n);
    assert_eq!(n, 1);
    assert_eq!(queue_len(&tb, "TxCheckedRb", 0), 0);
    tb.stop();
}

#[test]
fn a_producer_that_is_gone_loses_nothing() {
    let tb = tx_broker(200, 100, 1000);
    // Sent by a client that never registers as a producer, then goes away.
    let c = common::client();
    let half = send_half(
        &c,
        tb.addr(),
        "TxOrphan",
        0,
        "pg-orphan",
        "UNIQ-ORPHAN",
        &[],
        b"kept",
    );
    c.close_all();
    // Checked (re-appended) again and again with nobody to ask.
    wait_until("two check rounds", || queue_len(&tb, HALF, 0) >= 3);
    assert_eq!(queue_len(&tb, "TxOrphan", 0), 0);
    assert!(stored(&tb, HALF, 0)
        .iter()
        .all(|m| m.uniq_key() == Some("UNIQ-ORPHAN")));

    // A producer of the group comes back: it is asked and decides.
    let (_pc, rec) = producer(&tb, "pg-orphan", Some(COMMIT));
    wait_until("the committed message", || {
        queue_len(&tb, "TxOrphan", 0) == 1
    });
    let checks = rec.checks();
    let (h, m) = check_parts(&checks[0]);
    assert!(check_times(&m) >= 3, "{:?}", m.properties);
    assert!(h.tran_state_table_offset > half.resp.queue_offset);
    assert_eq!(&stored(&tb, "TxOrphan", 0)[0].body[..], b"kept");
    tb.stop();
}

#[test]
fn open_transactions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (b, s) = tx_configs(dir.path(), 3_600_000, 100, 15);
    let tb = common::start_broker_with(b.clone(), s.clone(), dir);
    let c = common::client();
    let half = send_half(
        &c,
        tb.addr(),
        "TxRestart",
        1,
        "pg-restart",
        "UNIQ-RESTART",
        &[],
        b"durable",
    );
    std::thread::sleep(Duration::from_millis(150));
    // Two rounds with no producer online: two copies, checked once and twice.
    assert_eq!(check_now(&tb).checked, 1);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(check_now(&tb).checked, 1);
    assert_eq!(queue_len(&tb, HALF, 0), 3);
    assert_eq!(progress(&tb, HALF), Some(2));
    assert_eq!(progress(&tb, OP), None);
    assert_eq!(check_times(&stored(&tb, HALF, 0)[2]), 2);
    rt::block_on(tb.broker.shutdown());
    let dir = tb.dir;

    let tb = common::start_broker_with(b, s, dir);
    // The progress came back from consumerOffset.json.
    assert_eq!(progress(&tb, HALF), Some(2));
    assert_eq!(queue_len(&tb, HALF, 0), 3);
    let (pc, rec) = producer(&tb, "pg-restart", None);
    let round = check_now(&tb);
    assert_eq!((round.checked, round.sent), (1, 1));
    let checks = wait_checks(&rec, 1);
    let (h, m) = check_parts(&checks[0]);
    // The latest copy was checked, not the original again.
    assert_eq!(check_times(&m), 3);
    assert_eq!(h.tran_state_table_offset, 3);
    assert_eq!(m.queue_id, 1);
    answer_check(&pc, tb.addr(), "pg-restart", &checks[0], COMMIT);
    wait_until("the committed message", || {
        queue_len(&tb, "TxRestart", 1) == 1
    });
    let real = stored(&tb, "TxRestart", 1);
    assert_eq!(&real[0].body[..], b"durable");
    assert_eq!(
        real[0].born_timestamp,
        stored(&tb, HALF, 0)[0].born_timestamp
    );
    assert!(h.commit_log_offset > half.commit_log_offset);
    wait_until("the op message", || queue_len(&tb, OP, 0) == 1);
    std::thread::sleep(Duration::from_millis(20));
    let round = check_now(&tb);
    assert_eq!((round.checked, round.resolved), (0, 1));
    assert_eq!(progress(&tb, HALF), Some(4));
    assert_eq!(progress(&tb, OP), Some(1));
    tb.stop();
}

#[test]
fn too_many_checks_move_the_half_message_to_trans_check_max_time_topic() {
    let tb = tx_broker(200, 100, 2);
    let (_pc, rec) = producer(&tb, "pg-silent", None);
    let c = common::client();
    send_half(
        &c,
        tb.addr(),
        "TxSilent",
        3,
        "pg-silent",
        "UNIQ-SILENT",
        &[],
        b"undecided",
    );
    wait_until("the discarded message", || queue_len(&tb, MAX_TIME, 0) == 1);
    let n = queue_len(&tb, HALF, 0);
    std::thread::sleep(Duration::from_millis(700));
    // Asked exactly twice (checkMax), never again, and nothing delivered.
    let checks = rec.checks();
    assert_eq!(checks.len(), 2);
    let times: Vec<i32> = checks
        .iter()
        .map(|c| check_times(&check_parts(c).1))
        .collect();
    assert_eq!(times, vec![1, 2]);
    assert_eq!(queue_len(&tb, HALF, 0), n);
    assert_eq!(queue_len(&tb, "TxSilent", 3), 0);
    assert_eq!(progress(&tb, HALF), Some(n));
    let discarded = stored(&tb, MAX_TIME, 0);
    assert_eq!(discarded.len(), 1);
    let d = &discarded[0];
    assert_eq!(d.uniq_key(), Some("UNIQ-SILENT"));
    assert_eq!(d.property("REAL_TOPIC"), Some("TxSilent"));
    assert_eq!(d.property("REAL_QID"), Some("3"));
    assert_eq!(check_times(d), 2);
    assert_eq!(&d.body[..], b"undecided");
    let tc = tb
        .broker
        .inner()
        .configs
        .topics
        .get(MAX_TIME)
        .expect("topic created");
    assert_eq!(
        (tc.read_queue_nums, tc.write_queue_nums, tc.perm),
        (1, 1, 6)
    );
    tb.stop();
}

#[test]
fn check_immunity_delays_the_first_check() {
    let tb = tx_broker(200, 100, 1000);
    let (pc, rec) = producer(&tb, "pg-immune", Some(COMMIT));
    let sent_at = Instant::now();
    let half = send_half(
        &pc,
        tb.addr(),
        "TxImmune",
        0,
        "pg-immune",
        "UNIQ-IMMUNE",
        &[("CHECK_IMMUNITY_TIME_IN_SECONDS", "1")],
        b"later",
    );
    let checks = wait_checks(&rec, 1);
    assert!(sent_at.elapsed() >= Duration::from_millis(1000));
    let (h, m) = check_parts(&checks[0]);
    // Copied forward while immune, each copy naming the original offset.
    assert_eq!(
        m.property("TRAN_PREPARED_QUEUE_OFFSET"),
        Some(half.resp.queue_offset.to_string().as_str())
    );
    assert_eq!(m.property("WAIT"), Some("false"));
    assert!(h.tran_state_table_offset >= 2);
    wait_until("the committed message", || {
        queue_len(&tb, "TxImmune", 0) == 1
    });
    wait_until("the progress to pass the copy", || {
        progress(&tb, HALF) == Some(queue_len(&tb, HALF, 0))
    });
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(rec.checks().len(), 1);
    assert_eq!(queue_len(&tb, "TxImmune", 0), 1);
    tb.stop();
}

#[test]
fn many_open_half_messages_do_not_hold_up_sends() {
    let tb = tx_broker(200, 100, 1_000_000);
    let store = tb.broker.store().clone();
    let n = 3000;
    let born = now_ms() - 1000;
    for i in 0..n {
        let mut p = MessageProperties::new();
        for (k, v) in [
            ("TRAN_MSG", "true"),
            ("PGROUP", "pg-nobody"),
            ("REAL_TOPIC", "TxMany"),
            ("REAL_QID", "0"),
        ] {
            p.insert(k, v);
        }
        p.insert("UNIQ_KEY", format!("UNIQ-MANY-{i}"));
        let r = store.put_message_blocking(
            MessageInner {
                topic: HALF.into(),
                queue_id: 0,
                flag: 0,
                sys_flag: 0,
                born_timestamp: born,
                born_host: "127.0.0.1:40000".parse().unwrap(),
                store_host: tb.addr(),
                reconsume_times: 0,
                prepared_transaction_offset: 0,
                body: Bytes::from_static(b"open"),
                properties: p.encode(),
            },
            false,
        );
        assert!(r.status.is_stored());
    }
    // Sends go on while rounds re-append thousands of half messages.
    let c = common::client();
    let started = Instant::now();
    for i in 0..200 {
        let h = SendMessageRequestHeaderV2 {
            a: "pg".into(),
            b: "TxPlain".into(),
            c: "TBW102".into(),
            d: 4,
            e: 0,
            f: 0,
            g: now_ms(),
            h: 0,
            i: Some(props(&[("UNIQ_KEY", &format!("PLAIN-{i}"))])),
            j: Some(0),
            k: false,
            l: None,
            m: false,
            n: None,
        };
        let cmd = RemotingCommand::request(rc::SEND_MESSAGE_V2, 0)
            .with_header(&h)
            .with_body(b"plain".to_vec());
        let r = common::call(&c, tb.addr(), cmd);
        assert_eq!(r.code, response::SUCCESS, "{r}");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    wait_until("a round over every open half message", || {
        progress(&tb, HALF).is_some_and(|p| p >= n)
    });
    assert_eq!(queue_len(&tb, "TxPlain", 0), 200);
    tb.stop();
}

// ---- the Java 4.9.8 store --------------------------------------------------------------------

fn fixtures_dir() -> PathBuf {
    let mut candidates = Vec::new();
    if let Some(d) = std::env::var_os("APOGEE_FIXTURES_DIR") {
        candidates.push(PathBuf::from(d));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    candidates.push(PathBuf::from("/work/shared/fixtures"));
    candidates
        .into_iter()
        .find(|d| d.join("java-4.9.8-clean.tar.gz").is_file())
        .expect("Java fixtures not found: set APOGEE_FIXTURES_DIR to shared/fixtures")
}

/// A broker on a copy of the clean Java store (first check already run by Java: half progress
/// 24, op progress 20, four pending transactions re-appended at 24..27).
fn java_store_broker(file_reserved_hours: &str) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(fixtures_dir().join("java-4.9.8-clean.tar.gz"))
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("run tar");
    assert!(status.success());
    let root = dir.path().join("store");
    let (mut b, _) = tx_configs(dir.path(), 3_600_000, 6000, 15);
    b.broker_name = "broker-a".into();
    let mut s = MessageStoreConfig::default();
    for (k, v) in [
        ("mappedFileSizeCommitLog", "1048576"),
        ("mappedFileSizeConsumeQueue", "6000"),
        ("maxHashSlotNum", "1000"),
        ("maxIndexNum", "4000"),
        ("fileReservedTime", file_reserved_hours),
    ] {
        assert_eq!(s.set(k, v), Ok(true));
    }
    s.store_path_root_dir = root.to_string_lossy().into_owned();
    s.warm_maped_file_enable = false;
    common::start_broker_with(b, s, dir)
}

#[test]
fn the_java_stores_pending_transactions_are_checked() {
    let tb = java_store_broker("1000000");
    assert_eq!(progress(&tb, HALF), Some(24));
    assert_eq!(progress(&tb, OP), Some(20));
    assert_eq!(queue_len(&tb, HALF, 0), 28);
    assert_eq!(
        queue_len(&tb, "FixTxn", 0) + queue_len(&tb, "FixTxn", 1),
        12
    );
    let (pc, rec) = producer(&tb, "FixTxnProducerGroup", None);
    let round = check_now(&tb);
    assert_eq!((round.checked, round.sent, round.discarded), (4, 4, 0));
    let checks = wait_checks(&rec, 4);
    let mut keys = Vec::new();
    for (i, ch) in checks.iter().enumerate() {
        let (h, m) = check_parts(ch);
        assert_eq!(h.tran_state_table_offset, 28 + i as i64);
        assert_eq!(m.topic, "FixTxn");
        assert_eq!(check_times(&m), 2);
        keys.push(m.keys().unwrap().to_owned());
    }
    assert_eq!(
        keys,
        ["tx-UNKN-5", "tx-UNKN-11", "tx-UNKN-17", "tx-UNKN-23"]
    );
    assert_eq!(progress(&tb, HALF), Some(28));
    // Commit two, roll back two.
    for (i, ch) in checks.iter().enumerate() {
        answer_check(
            &pc,
            tb.addr(),
            "FixTxnProducerGroup",
            ch,
            if i % 2 == 0 { COMMIT } else { ROLLBACK },
        );
    }
    wait_until("four op messages", || queue_len(&tb, OP, 0) == 24);
    assert_eq!(
        queue_len(&tb, "FixTxn", 0) + queue_len(&tb, "FixTxn", 1),
        14
    );
    let committed: Vec<String> = stored(&tb, "FixTxn", 0)
        .into_iter()
        .chain(stored(&tb, "FixTxn", 1))
        .filter_map(|m| m.keys().map(str::to_owned))
        .filter(|k| k.starts_with("tx-UNKN"))
        .collect();
    assert_eq!(committed.len(), 2);
    assert!(committed.contains(&"tx-UNKN-5".to_owned()));
    assert!(committed.contains(&"tx-UNKN-17".to_owned()));
    std::thread::sleep(Duration::from_millis(20));
    let round = check_now(&tb);
    assert_eq!((round.checked, round.resolved), (0, 4));
    assert_eq!(progress(&tb, HALF), Some(32));
    assert_eq!(progress(&tb, OP), Some(24));
    tb.stop();
}

#[test]
fn the_java_stores_stale_half_messages_are_discarded() {
    // Born days ago, kept for at most an hour: discarded at once, never checked.
    let tb = java_store_broker("1");
    let (_pc, rec) = producer(&tb, "FixTxnProducerGroup", None);
    let round = check_now(&tb);
    assert_eq!((round.checked, round.discarded), (0, 4));
    let discarded = stored(&tb, MAX_TIME, 0);
    assert_eq!(discarded.len(), 4);
    assert!(discarded.iter().all(|m| check_times(m) == 2));
    assert_eq!(progress(&tb, HALF), Some(28));
    assert!(rec.checks().is_empty());
    tb.stop();
}

// ---- hostile input ---------------------------------------------------------------------------

/// Store a half message as the send path would, with any born timestamp and properties.
fn put_half(tb: &TestBroker, born: i64, entries: &[(&str, &str)]) {
    let mut p = MessageProperties::new();
    for (k, v) in entries {
        p.insert(*k, *v);
    }
    let r = tb.broker.store().put_message_blocking(
        MessageInner {
            topic: HALF.into(),
            queue_id: 0,
            flag: 0,
            sys_flag: 0,
            born_timestamp: born,
            born_host: "127.0.0.1:40000".parse().unwrap(),
            store_host: tb.addr(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Bytes::from_static(b"odd"),
            properties: p.encode(),
        },
        false,
    );
    assert!(r.status.is_stored());
}

#[test]
fn odd_half_messages_and_progress_do_not_break_the_check() {
    let tb = quiet_broker(100);
    let (_pc, rec) = producer(&tb, "pg-odd", None);
    let base = [("TRAN_MSG", "true"), ("PGROUP", "pg-odd")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, &str)> = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let old = now_ms() - 1000;
    put_half(
        &tb,
        i64::MIN,
        &with(&[("REAL_TOPIC", "T"), ("REAL_QID", "0")]),
    );
    put_half(
        &tb,
        i64::MAX,
        &with(&[("REAL_TOPIC", "T"), ("REAL_QID", "0")]),
    );
    put_half(&tb, old, &with(&[("REAL_TOPIC", "T"), ("REAL_QID", "x")]));
    put_half(&tb, old, &with(&[("REAL_QID", "0")]));
    put_half(
        &tb,
        old,
        &with(&[
            ("REAL_TOPIC", "T"),
            ("REAL_QID", "0"),
            ("TRANSACTION_CHECK_TIMES", "abc"),
        ]),
    );
    put_half(
        &tb,
        old,
        &with(&[
            ("REAL_TOPIC", "T"),
            ("REAL_QID", "0"),
            ("TRANSACTION_CHECK_TIMES", "99"),
        ]),
    );
    put_half(
        &tb,
        now_ms(),
        &with(&[
            ("REAL_TOPIC", "T"),
            ("REAL_QID", "0"),
            ("CHECK_IMMUNITY_TIME_IN_SECONDS", "zz"),
            ("TRAN_PREPARED_QUEUE_OFFSET", "-1"),
        ]),
    );
    std::thread::sleep(Duration::from_millis(150));
    let r1 = check_now(&tb);
    std::thread::sleep(Duration::from_millis(20));
    let r2 = check_now(&tb);
    // Discarded: born "long ago" (i64::MIN) and over the check limit.
    assert!(r1.discarded >= 2, "{r1:?}");
    assert!(r1.checked >= 4, "{r1:?}");
    assert!(r2.checked >= 1, "{r2:?}");
    // Only well-formed halves reached the producer.
    for ch in rec.checks() {
        let (_, m) = check_parts(&ch);
        assert_eq!(m.topic, "T");
    }

    // Progress values nobody should have written.
    let offsets = &tb.broker.inner().configs.consumer_offsets;
    for (half, op) in [(i64::MAX, i64::MAX), (-5, 0), (0, -7), (1 << 40, 3)] {
        offsets.commit(TRANS_CHECK_GROUP, HALF, 0, half);
        offsets.commit(TRANS_CHECK_GROUP, OP, 0, op);
        check_now(&tb);
    }
    // An op message with a body that is no number, one for a far offset.
    for body in [&b"not a number"[..], b"9223372036854775807", b"-3"] {
        let mut p = MessageProperties::new();
        p.insert("TAGS", "d");
        tb.broker.store().put_message_blocking(
            MessageInner {
                topic: OP.into(),
                queue_id: 0,
                flag: 0,
                sys_flag: 0,
                born_timestamp: now_ms(),
                born_host: tb.addr(),
                store_host: tb.addr(),
                reconsume_times: 0,
                prepared_transaction_offset: 0,
                body: Bytes::copy_from_slice(body),
                properties: p.encode(),
            },
            false,
        );
    }
    offsets.commit(TRANS_CHECK_GROUP, HALF, 0, -1);
    offsets.commit(TRANS_CHECK_GROUP, OP, 0, -1);
    check_now(&tb);
    // Still serving.
    let c = common::client();
    let half = send_half(
        &c,
        tb.addr(),
        "TxAfterOdd",
        0,
        "pg",
        "UNIQ-AFTER",
        &[],
        b"ok",
    );
    let cmd = end_tx_cmd(
        "pg",
        half.resp.queue_offset,
        half.commit_log_offset,
        COMMIT,
        false,
        &half.uniq,
    );
    assert_eq!(common::call(&c, tb.addr(), cmd).code, response::SUCCESS);
    tb.stop();
}
