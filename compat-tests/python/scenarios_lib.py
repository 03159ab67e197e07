"""Scenarios shared by every Python-hosted client that exposes the `rocketmq.client` API (the
C++ core 1.2 binding `rocketmq==0.4.4`, the C++ 2.1 build `rocketmq-python-cvs==2.1.0.3`, the
Apache wheel `rocketmq-client-python==0.5.0rc2`). All three install a module called `rocketmq`,
so each lives in its own virtualenv and its per-client scenario file (scenarios_<client>.py)
imports this module from there and picks the scenarios the client has.

A scenario runs in its own process: `python scenarios_<client>.py <scenario> <namesrv> <broker>`.
It prints `RESULT ok` or `RESULT fail <why>` *before* shutting the native client down, then
leaves with os._exit: some builds crash in PushConsumer.shutdown (the C++ 2.1 one does), and
the verdict must be judged by what was received, not by how the native library exits.
"""
import ctypes
import os
import sys
import threading
import time
import uuid

import rmq_admin
from rocketmq import client as rc
from rocketmq.ffi import dll

MessageModel = rc.MessageModel
SendStatus = rc.SendStatus

# Things to shut down after the verdict was printed.
_to_close = []


class Fail(Exception):
    pass


def s(v):
    return v.decode() if isinstance(v, bytes) else v


def check(cond, why):
    if not cond:
        raise Fail(why)


def wait_route(namesrv, topic, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if rmq_admin.route_exists(namesrv, topic):
            return
        time.sleep(0.2)
    raise Fail("no route for %s" % topic)


def new_topic(ctx, prefix, queues=4):
    """A fresh topic with `queues` queues on every broker of the deployment."""
    topic = "%s_%s" % (prefix, uuid.uuid4().hex[:8])
    for broker in ctx.brokers:
        rmq_admin.create_topic(broker, topic, queues)
    wait_route(ctx.namesrv, topic)
    return topic


def wait_for(pred, timeout, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def ok_status():
    """What a push callback returns on success: 0.5.0rc2 insists on ConsumeStatus; the 0.4.4
    API ignores the return value."""
    cs = getattr(rc, "ConsumeStatus", None)
    return cs.CONSUME_SUCCESS if cs is not None else None


def make_producer(ctx, group, orderly=False):
    if orderly and "orderly" in Producer_init_args():
        p = rc.Producer(group, orderly=True)
    else:
        p = rc.Producer(group)
    p.set_namesrv_addr(ctx.namesrv)
    p.start()
    _to_close.append(p)
    return p


def Producer_init_args():
    import inspect
    return inspect.signature(rc.Producer.__init__).parameters


def make_message(topic, i, tag="TagA", body=None):
    m = rc.Message(topic)
    m.set_keys("key-%d" % i)
    m.set_tags(tag)
    m.set_property("seq", str(i))
    m.set_body(body if body is not None else ("body-%d-" % i) + "x" * (i % 200))
    return m


def body_of(i):
    return ("body-%d-" % i) + "x" * (i % 200)


class Collector:
    """A push callback that records what arrived, checking body/keys against body_of(seq)."""

    def __init__(self, expect_body=True):
        self.lock = threading.Lock()
        self.seqs = []          # in arrival order
        self.msgs = []
        self.problems = []
        self.expect_body = expect_body

    def __call__(self, msg):
        seq = s(msg.get_property("seq"))
        with self.lock:
            try:
                i = int(seq)
            except (TypeError, ValueError):
                self.problems.append("message without seq: %r" % (seq,))
                return ok_status()
            if self.expect_body and s(msg.body) != body_of(i):
                self.problems.append("body of %d differs: %r" % (i, s(msg.body)[:40]))
            if s(msg.keys) != "key-%d" % i:
                self.problems.append("keys of %d: %r" % (i, s(msg.keys)))
            self.seqs.append(i)
            self.msgs.append((i, s(msg.tags), msg.queue_id, msg.reconsume_times, time.time()))
        return ok_status()

    def distinct(self):
        with self.lock:
            return set(self.seqs)


def make_push(ctx, group, topic, callback, expression="*", orderly=False,
              model=None, instance=None, start=True):
    c = rc.PushConsumer(group, orderly=orderly) if model is None else \
        rc.PushConsumer(group, orderly=orderly, message_model=model)
    c.set_namesrv_addr(ctx.namesrv)
    if instance:
        c.set_instance_name(instance)
    c.subscribe(topic, callback, expression)
    if start:
        c.start()
    _to_close.append(c)
    return c


def expect_all(coll, n, timeout, what="received"):
    wait_for(lambda: len(coll.distinct()) >= n, timeout)
    check(not coll.problems, "; ".join(coll.problems[:5]))
    got = coll.distinct()
    check(len(got) >= n, "%s %d of %d" % (what, len(got), n))


# ---------------------------------------------------------------------------------------------
# scenarios

def sync_send_push_consume(ctx, n=1000):
    topic = new_topic(ctx, "Sync")
    p = make_producer(ctx, "PG_" + topic)
    for i in range(n):
        r = p.send_sync(make_message(topic, i, "TagA" if i % 2 == 0 else "TagB"))
        check(r.status == SendStatus.OK, "send %d: status %s" % (i, r.status))
    coll = Collector()
    make_push(ctx, "CG_" + topic, topic, coll)
    expect_all(coll, n, 90)
    tags = {i: t for (i, t, _, _, _) in coll.msgs}
    bad = [i for i, t in tags.items() if t != ("TagA" if i % 2 == 0 else "TagB")]
    check(not bad, "wrong tags on %s" % bad[:5])


def async_send(ctx, n=200):
    topic = new_topic(ctx, "Async")
    p = make_producer(ctx, "PG_" + topic)
    ok, errs = [], []
    lock = threading.Lock()

    def on_ok(res):
        with lock:
            ok.append(res.status)

    def on_err(exc):
        with lock:
            errs.append(str(exc))

    msgs = []  # the native client reads the message after send_async returns: keep them alive
    for i in range(n):
        m = make_message(topic, i)
        msgs.append(m)
        p.send_async(m, on_ok, on_err)
    wait_for(lambda: len(ok) + len(errs) >= n, 30)
    check(not errs, "%d async sends failed: %s" % (len(errs), errs[:3]))
    check(len(ok) == n, "%d of %d async callbacks" % (len(ok), n))
    check(all(st == SendStatus.OK for st in ok), "statuses %s" % set(ok))
    coll = Collector()
    make_push(ctx, "CG_" + topic, topic, coll)
    expect_all(coll, n, 60)


def oneway_send(ctx, n=200):
    topic = new_topic(ctx, "Oneway")
    p = make_producer(ctx, "PG_" + topic)
    for i in range(n):
        p.send_oneway(make_message(topic, i))
    coll = Collector()
    make_push(ctx, "CG_" + topic, topic, coll)
    expect_all(coll, n, 60)


def batch_send(ctx, batches=4, per=50):
    topic = new_topic(ctx, "Batch")
    p = make_producer(ctx, "PG_" + topic)
    for b in range(batches):
        r = p.send_batch([make_message(topic, b * per + j) for j in range(per)])
        check(r.status == SendStatus.OK, "batch %d: status %s" % (b, r.status))
    coll = Collector()
    make_push(ctx, "CG_" + topic, topic, coll)
    expect_all(coll, batches * per, 60)


def batch_send_v1_quirk(ctx, batches=4, per=50):
    """Client bug (apache/rocketmq-client-cpp#189, #363): librocketmq 1.2 sends a batch as a
    plain SEND_MESSAGE (code 10, V1 header) with extField batch="1"; librocketmq 2.1 as
    SEND_MESSAGE_V2 (code 310) with m="1" -- never SEND_BATCH_MESSAGE (320). Java 4.9.8 reads
    that Boolean with Boolean.parseBoolean("1") == false, so it stores ONE message per batch whose
    body is the raw batch encoding and whose properties are the header's (WAIT=true only).
    This scenario checks that Apogee does exactly what Java does: one record per batch, send
    OK, nothing split, nothing lost."""
    topic = new_topic(ctx, "Batch")
    p = make_producer(ctx, "PG_" + topic)
    for b in range(batches):
        r = p.send_batch([make_message(topic, b * per + j) for j in range(per)])
        check(r.status == SendStatus.OK, "batch %d: status %s" % (b, r.status))
    got = []
    lock = threading.Lock()

    def cb(msg):
        with lock:
            got.append((s(msg.get_property("seq")), s(msg.get_property("WAIT")), msg.store_size))
        return ok_status()
    make_push(ctx, "CG_" + topic, topic, cb)
    wait_for(lambda: len(got) >= batches, 30)
    time.sleep(2)
    check(len(got) == batches, "expected %d records (one per batch, as Java 4.9.8 stores them),"
          " got %d: %s" % (batches, len(got), got[:5]))
    check(all(not seq for (seq, _, _) in got), "a batch was split: %s" % got[:5])


def first_send_fresh_node(ctx, n=20):
    """The very first sends to a freshly started broker (the runner runs this scenario first in
    each deployment mode, before anything else wrote to the store). Java 4.9.8 answers them at
    once (warmMapedFileEnable=false: the first commit-log file is a sparse mmap); the C++ 2.1
    client gives a send 3 s and does not retry on SYSTEM_BUSY."""
    topic = new_topic(ctx, "Fresh")
    p = make_producer(ctx, "PG_" + topic)
    for i in range(n):
        t0 = time.time()
        try:
            r = p.send_sync(make_message(topic, i))
        except Exception as e:
            raise Fail("send %d failed after %.1fs: %s" % (i, time.time() - t0, str(e)[:200]))
        took = time.time() - t0
        check(r.status == SendStatus.OK, "send %d: status %s" % (i, r.status))
        # Java 4.9.8 answers the first send in milliseconds; 1.5 s leaves room for a slow CI.
        check(took < 1.5, "send %d took %.1fs (a fresh store must not stall the first put)"
              % (i, took))


def tag_filter(ctx, n=300):
    topic = new_topic(ctx, "Tags")
    p = make_producer(ctx, "PG_" + topic)
    tags = ["TagA", "TagB", "TagC"]
    for i in range(n):
        p.send_sync(make_message(topic, i, tags[i % 3]))
    coll = Collector()
    make_push(ctx, "CG_" + topic, topic, coll, expression="TagA || TagB")
    want = {i for i in range(n) if i % 3 != 2}
    wait_for(lambda: want <= coll.distinct(), 60)
    time.sleep(2)  # anything filtered wrongly would have arrived with the rest
    check(not coll.problems, "; ".join(coll.problems[:5]))
    got = coll.distinct()
    check(want <= got, "received %d of %d TagA/TagB" % (len(want & got), len(want)))
    extra = sorted(got - want)
    check(not extra, "%d TagC messages delivered (e.g. %s)" % (len(extra), extra[:5]))


def pull_consumer(ctx, n=100, more=20):
    """The 0.4.4 API's PullConsumer keeps offsets in a Python dict (the C API has no
    offset-commit call), so 'commit' here means: the next pull starts at nextBeginOffset
    and returns only what came after."""
    topic = new_topic(ctx, "Pull")
    p = make_producer(ctx, "PG_" + topic)
    for i in range(n):
        p.send_sync(make_message(topic, i))
    pc = rc.PullConsumer("CG_" + topic)
    pc.set_namesrv_addr(ctx.namesrv)
    pc.start()
    _to_close.append(pc)

    def pull_all():
        out = []
        for m in pc.pull(topic):
            i = int(s(m.get_property("seq")))
            check(s(m.body) == body_of(i), "body of %d differs" % i)
            out.append(i)
        return out

    first = []
    deadline = time.time() + 20
    while len(set(first)) < n and time.time() < deadline:
        first += pull_all()
    check(sorted(set(first)) == list(range(n)), "first pull: %d of %d" % (len(set(first)), n))
    check(len(first) == n, "first pull: %d duplicates" % (len(first) - n))
    again = pull_all()
    check(not again, "pull after reaching the end returned %d messages" % len(again))
    for i in range(n, n + more):
        p.send_sync(make_message(topic, i))
    second = []
    deadline = time.time() + 20
    while len(set(second)) < more and time.time() < deadline:
        second += pull_all()
    check(sorted(second) == list(range(n, n + more)),
          "pull from committed offsets returned %s" % sorted(second)[:10])


def delay_level(ctx, n=5):
    topic = new_topic(ctx, "Delay")
    coll = Collector()
    make_push(ctx, "CG_" + topic, topic, coll)
    time.sleep(3)  # let the consumer rebalance so arrival time is delivery time
    p = make_producer(ctx, "PG_" + topic)
    sent_at = {}
    for i in range(n):
        m = make_message(topic, i)
        m.set_delay_time_level(1)
        sent_at[i] = time.time()
        r = p.send_sync(m)
        check(r.status == SendStatus.OK, "send %d: status %s" % (i, r.status))
    expect_all(coll, n, 30)
    for (i, _, _, _, at) in coll.msgs:
        lag = at - sent_at[i]
        check(lag >= 0.9, "message %d arrived %.2fs after send (level 1 is 1s)" % (i, lag))
        check(lag < 15, "message %d arrived %.2fs after send" % (i, lag))


def orderly(ctx, keys=8, per=50):
    topic = new_topic(ctx, "Order")
    p = make_producer(ctx, "PG_" + topic, orderly=True)
    n = keys * per
    for i in range(n):
        k = i % keys
        m = make_message(topic, i)
        m.set_property("okey", str(k))
        if hasattr(p, "send_orderly"):
            r = p.send_orderly(m, k)          # 0.4.4 API: hashing selector on the int arg
        else:
            r = p.send_orderly_with_sharding_key(m, "key-%d" % k)
        check(r.status == SendStatus.OK, "send %d: status %s" % (i, r.status))
    coll = Collector()
    make_push(ctx, "CG_" + topic, topic, coll, orderly=True)
    expect_all(coll, n, 60)
    with coll.lock:
        msgs = list(coll.msgs)
    last, queue_of = {}, {}
    for (i, _, q, _, _) in msgs:
        k = i % keys
        queue_of.setdefault(k, set()).add(q)
        check(i >= last.get(k, -1), "key %d: %d arrived after %d" % (k, i, last.get(k, -1)))
        last[k] = i
    multi = {k: qs for k, qs in queue_of.items() if len(qs) > 1}
    check(not multi, "a sharding key spread over queues: %s" % multi)


def _tx_producer(ctx, group, checker):
    """A transactional producer. 0.5.0rc2 has TransactionMQProducer; the C++ 2.1 build ships
    the same C entry points (CreateTransactionProducer, SendMessageTransaction) but its Python
    wrapper does not expose them, so they are called through ctypes with the 0.5.0rc2
    signatures."""
    if hasattr(rc, "TransactionMQProducer"):
        p = rc.TransactionMQProducer(group, checker)
        p.set_namesrv_addr(ctx.namesrv)
        p.start()
        _to_close.append(p)
        return p.send_message_in_transaction
    from rocketmq.ffi import _CSendResult
    CHECK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
    EXEC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
    dll.CreateTransactionProducer.argtypes = [ctypes.c_char_p, CHECK, ctypes.c_void_p]
    dll.CreateTransactionProducer.restype = ctypes.c_void_p
    dll.SendMessageTransaction.argtypes = [ctypes.c_void_p, ctypes.c_void_p, EXEC,
                                           ctypes.c_void_p, ctypes.POINTER(_CSendResult)]
    dll.SendMessageTransaction.restype = ctypes.c_int
    refs = []
    chk = CHECK(lambda prod, cmsg, arg: int(checker(rc.RecvMessage(cmsg))))
    refs.append(chk)
    h = dll.CreateTransactionProducer(group.encode(), chk, None)
    check(h, "CreateTransactionProducer returned null")
    rc.ffi_check(dll.SetProducerNameServerAddress(h, ctx.namesrv.encode()))
    rc.ffi_check(dll.StartProducer(h))

    class _Res:
        pass

    def send(msg, local_execute, user_args=None):
        cb = EXEC(lambda prod, cmsg, arg: int(local_execute(rc.RecvMessage(cmsg), None)))
        refs.append(cb)
        cres = _CSendResult()
        rc.ffi_check(dll.SendMessageTransaction(h, msg,
                                                cb, None, ctypes.pointer(cres)))
        r = _Res()
        r.status = SendStatus(cres.sendStatus)
        r.msg_id = cres.msgId.decode()
        return r
    return send


# TransactionStatus values of the C API (0.5.0rc2 names them; the C++ 2.1 C API uses the same).
TX_COMMIT, TX_ROLLBACK, TX_UNKNOWN = 0, 1, 2


def transactional(ctx):
    topic = new_topic(ctx, "Tx")
    checked = []
    decision = {"0": TX_COMMIT, "1": TX_ROLLBACK, "2": TX_UNKNOWN}

    def checker(msg):
        i = s(msg.get_property("seq"))
        checked.append(i)
        return TX_COMMIT if i == "2" else TX_ROLLBACK

    send = _tx_producer(ctx, "PG_" + topic, checker)
    for i in range(3):
        r = send(make_message(topic, i), lambda m, arg: decision[s(m.get_property("seq"))])
        check(r.status == SendStatus.OK, "half send %d: status %s" % (i, r.status))
    coll = Collector()
    make_push(ctx, "CG_" + topic, topic, coll)
    # broker started with transactionCheckInterval=2000, transactionTimeOut=1000
    wait_for(lambda: {0, 2} <= coll.distinct(), 40)
    time.sleep(1)
    check(not coll.problems, "; ".join(coll.problems[:5]))
    got = coll.distinct()
    check(0 in got, "committed message not delivered")
    check(1 not in got, "rolled-back message delivered")
    check("2" in checked, "broker never checked back the unknown transaction (checked: %s)" % checked)
    check(2 in got, "unknown->checked->commit message not delivered (checked: %s)" % checked)
    check("0" not in checked and "1" not in checked,
          "broker checked back a transaction that was already ended: %s" % checked)


def consume_later(ctx, n=3):
    """The first delivery answers RECONSUME_LATER; the broker must redeliver (through the retry
    topic, after delay level 3 = 10 s) with a higher reconsume count. The 0.4.4 wrapper cannot
    answer RECONSUME_LATER (an exception in the callback is re-raised by its `finally`, so ctypes
    returns 0 = success), hence the raw C callback for every client."""
    topic = new_topic(ctx, "Later")
    p = make_producer(ctx, "PG_" + topic)
    for i in range(n):
        p.send_sync(make_message(topic, i))
    seen = []
    lock = threading.Lock()

    def raw(consumer, cmsg):
        m = rc.RecvMessage(cmsg)
        i = int(s(m.get_property("seq")))
        with lock:
            seen.append((i, m.reconsume_times, s(m.body)))
        return 1 if m.reconsume_times == 0 else 0   # RECONSUME_LATER, then CONSUME_SUCCESS

    c = rc.PushConsumer("CG_" + topic)
    c.set_namesrv_addr(ctx.namesrv)
    rc.ffi_check(dll.Subscribe(c._handle, topic.encode(), b"*"))
    c._register_callback(raw)
    c.start()
    _to_close.append(c)

    def redelivered():
        with lock:
            return {i for (i, rt, _) in seen if rt >= 1}
    wait_for(lambda: len(redelivered()) >= n, 45)
    with lock:
        first = {i for (i, rt, _) in seen if rt == 0}
        bad = [(i, b) for (i, _, b) in seen if b != body_of(i)]
    check(len(first) == n, "first deliveries: %s" % sorted(first))
    check(not bad, "redelivered body differs: %s" % bad[:2])
    check(len(redelivered()) == n, "redelivered with reconsume count >= 1: %s of %d (seen %s)"
          % (sorted(redelivered()), n, seen[:10]))


def two_consumers(ctx, n=400):
    topic = new_topic(ctx, "Two")
    group = "CG_" + topic
    a, b = Collector(), Collector()
    make_push(ctx, group, topic, a, instance="instA")
    make_push(ctx, group, topic, b, instance="instB")
    time.sleep(4)  # both registered; NOTIFY_CONSUMER_IDS_CHANGED -> rebalance
    p = make_producer(ctx, "PG_" + topic)
    for i in range(n):
        p.send_sync(make_message(topic, i))
    wait_for(lambda: len(a.distinct() | b.distinct()) >= n, 60)
    time.sleep(1)
    check(not a.problems and not b.problems, "; ".join((a.problems + b.problems)[:5]))
    got = a.distinct() | b.distinct()
    check(len(got) >= n, "received %d of %d" % (len(got), n))
    check(a.seqs and b.seqs, "one consumer got everything (A %d, B %d)" % (len(a.seqs), len(b.seqs)))
    if len(ctx.brokers) > 1:
        # Queue ids repeat across brokers (a message does not say which broker it came
        # from here), so judge by deliveries: each message exactly once in the group.
        total = len(a.seqs) + len(b.seqs)
        check(total == n, "%d deliveries for %d messages (A %d, B %d)"
              % (total, n, len(a.seqs), len(b.seqs)))
        return
    qa = {q for (_, _, q, _, _) in a.msgs}
    qb = {q for (_, _, q, _, _) in b.msgs}
    check(not (qa & qb), "both consumers consumed queues %s" % sorted(qa & qb))


def broadcast(ctx, n=100):
    topic = new_topic(ctx, "Bcast")
    group = "CG_" + topic
    a, b = Collector(), Collector()
    make_push(ctx, group, topic, a, model=MessageModel.BROADCASTING, instance="bcA")
    make_push(ctx, group, topic, b, model=MessageModel.BROADCASTING, instance="bcB")
    time.sleep(4)  # offsets of a broadcast consumer are local: start before sending
    p = make_producer(ctx, "PG_" + topic)
    for i in range(n):
        p.send_sync(make_message(topic, i))
    wait_for(lambda: len(a.distinct()) >= n and len(b.distinct()) >= n, 60)
    check(not a.problems and not b.problems, "; ".join((a.problems + b.problems)[:5]))
    check(len(a.distinct()) >= n and len(b.distinct()) >= n,
          "A got %d, B got %d of %d" % (len(a.distinct()), len(b.distinct()), n))


def ask_runner(what, timeout=120):
    """Asks the runner (run_compat.py) to act on the deployment, e.g. `restart-broker`;
    returns once it answered."""
    sys.stdout.write("CONTROL %s\n" % what)
    sys.stdout.flush()
    box = []
    t = threading.Thread(target=lambda: box.append(sys.stdin.readline().strip()), daemon=True)
    t.start()
    t.join(timeout)
    check(box and box[0] == "CONTROL done", "runner did not %s: %r" % (what, box))


def send_retrying(p, topic, i, seconds=30):
    """A sync send that rides over a broker restart: retried until `seconds` pass."""
    deadline = time.time() + seconds
    while True:
        try:
            r = p.send_sync(make_message(topic, i))
            if r.status == SendStatus.OK:
                return
            why = "status %s" % r.status
        except Exception as e:
            why = str(e)[:200]
        if time.time() > deadline:
            raise Fail("send %d kept failing across the restart: %s" % (i, why))
        time.sleep(0.5)


def restart_mid_consume(ctx, n=400):
    """Send half, consume, restart the broker (SIGTERM, same store and ports) while the push
    consumer is running, send the other half: every message arrives (duplicates allowed and
    counted), and the client is still alive to report it."""
    topic = new_topic(ctx, "Restart")
    p = make_producer(ctx, "PG_" + topic)
    half = n // 2
    for i in range(half):
        send_retrying(p, topic, i)
    coll = Collector()
    make_push(ctx, "CG_" + topic, topic, coll)
    check(wait_for(lambda: len(coll.distinct()) >= half // 2, 60),
          "before the restart: received %d of %d" % (len(coll.distinct()), half))
    ask_runner("restart-broker")
    for i in range(half, n):
        send_retrying(p, topic, i)
    wait_for(lambda: len(coll.distinct()) >= n, 120)
    check(not coll.problems, "; ".join(coll.problems[:5]))
    got = coll.distinct()
    missing = sorted(set(range(n)) - got)
    check(not missing, "lost across the restart: %d of %d (e.g. %s); %d duplicates"
          % (len(missing), n, missing[:5], len(coll.seqs) - len(got)))
    sys.stderr.write("restart-mid-consume: %d duplicates\n" % (len(coll.seqs) - len(got)))


ALL = {
    "restart-mid-consume": restart_mid_consume,
    "sync-send+push-consume": sync_send_push_consume,
    "async-send": async_send,
    "oneway-send": oneway_send,
    "batch-send": batch_send,
    "batch-send-v1-quirk": batch_send_v1_quirk,
    "first-send-fresh-node": first_send_fresh_node,
    "tag-filter": tag_filter,
    "pull-consumer": pull_consumer,
    "delay-level": delay_level,
    "orderly": orderly,
    "transactional": transactional,
    "consume-later": consume_later,
    "two-consumers": two_consumers,
    "broadcast": broadcast,
}


class Ctx:
    def __init__(self, namesrv, broker):
        self.namesrv = namesrv
        self.brokers = broker.split(",")
        self.broker = self.brokers[0]


def main(scenarios, shutdown=True):
    name, namesrv, broker = sys.argv[1], sys.argv[2], sys.argv[3]
    if name == "--list":
        print(" ".join(scenarios))
        os._exit(0)
    try:
        if name not in scenarios:
            raise Fail("scenario %s not available for this client" % name)
        scenarios[name](Ctx(namesrv, broker))
        why = None
    except Exception as e:  # report, do not crash the runner
        why = str(e) if isinstance(e, Fail) else "%s: %s" % (type(e).__name__, e)
    sys.stdout.write("RESULT ok\n" if why is None else "RESULT fail %s\n" % why)
    sys.stdout.flush()
    if shutdown:
        for obj in reversed(_to_close):
            try:
                obj.shutdown()
            except Exception:
                pass
    os._exit(0)
