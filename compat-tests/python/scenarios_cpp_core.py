"""Scenarios for the C++ core client (PyPI `rocketmq==0.4.4`), one per process invocation:

    python scenarios_cpp_core.py <scenario> <namesrv addr> <broker addr>

Prints `RESULT ok` or `RESULT fail <why>` as its last line. Each scenario runs in its own
process so that a crash or hang of the native client is contained and judged by what it did.
"""
import sys
import threading
import time
import uuid

import rmq_admin
from rocketmq.client import Message, Producer, PushConsumer, SendStatus

N = 1000


def wait_route(namesrv, topic, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if rmq_admin.route_exists(namesrv, topic):
            return
        time.sleep(0.2)
    raise RuntimeError("no route for %s" % topic)


def sync_send_push_consume(namesrv, broker):
    topic = "CppSync_" + uuid.uuid4().hex[:8]
    rmq_admin.create_topic(broker, topic, 4)
    wait_route(namesrv, topic)

    producer = Producer("PG_" + topic)
    producer.set_namesrv_addr(namesrv)
    producer.start()
    sent = {}
    try:
        for i in range(N):
            msg = Message(topic)
            msg.set_keys("key-%d" % i)
            msg.set_tags("TagA" if i % 2 == 0 else "TagB")
            msg.set_property("seq", str(i))
            body = ("body-%d-" % i) + "x" * (i % 200)
            msg.set_body(body)
            r = producer.send_sync(msg)
            if r.status != SendStatus.OK:
                return "send %d: status %s" % (i, r.status)
            sent[str(i)] = body
    finally:
        producer.shutdown()

    received = {}
    problems = []
    lock = threading.Lock()
    done = threading.Event()

    def on_message(msg):
        seq = msg.get_property("seq")
        if isinstance(seq, bytes):
            seq = seq.decode()
        body = msg.body.decode() if isinstance(msg.body, bytes) else msg.body
        keys = msg.keys.decode() if isinstance(msg.keys, bytes) else msg.keys
        tags = msg.tags.decode() if isinstance(msg.tags, bytes) else msg.tags
        with lock:
            if seq not in sent:
                problems.append("unexpected message %r" % seq)
            elif body != sent[seq]:
                problems.append("body of %s differs" % seq)
            elif keys != "key-%s" % seq:
                problems.append("keys of %s: %r" % (seq, keys))
            elif tags != ("TagA" if int(seq) % 2 == 0 else "TagB"):
                problems.append("tags of %s: %r" % (seq, tags))
            received[seq] = True
            if len(received) >= N:
                done.set()
        return None

    consumer = PushConsumer("CG_" + topic)
    consumer.set_namesrv_addr(namesrv)
    consumer.subscribe(topic, on_message)
    consumer.start()
    done.wait(90)
    try:
        consumer.shutdown()
    except Exception:
        pass
    if problems:
        return "; ".join(problems[:5])
    if len(received) < N:
        return "received %d of %d" % (len(received), N)
    return None


SCENARIOS = {
    "sync-send+push-consume": sync_send_push_consume,
}


def main():
    name, namesrv, broker = sys.argv[1], sys.argv[2], sys.argv[3]
    try:
        why = SCENARIOS[name](namesrv, broker)
    except Exception as e:  # report, do not crash the runner
        why = "%s: %s" % (type(e).__name__, e)
    sys.stdout.write("RESULT ok\n" if why is None else "RESULT fail %s\n" % why)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
