"""ACL scenarios for the C++ core client 1.2 (PyPI `rocketmq==0.4.4`, venv `.venv`), which signs
requests after `set_session_credentials(access_key, secret_key, channel)`:

    python scenarios_acl.py <scenario> <namesrv addr> <broker addr>

The addresses given are ignored: every scenario starts its own standalone `apogee` with
`aclEnable=true` and the plain_acl.yml below (binary from $APOGEE_BIN_DIR, default
../../target/debug). Topics are created with raw UPDATE_AND_CREATE_TOPIC frames signed here
by an admin account (HMAC-SHA1 over the sorted ext field values + body, as 4.x clients sign).
Prints `RESULT ok` or `RESULT fail <why>`.
"""
import base64
import hashlib
import hmac
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

import rmq_admin
import run_compat
import scenarios_lib as lib
from rocketmq import client as rc

HERE = os.path.dirname(os.path.abspath(__file__))

PRODUCER = ("aclProducer", "producer-secret-1")
CONSUMER = ("aclConsumer", "consumer-secret-1")
ADMIN = ("aclAdmin01", "admin-secret-01")

PLAIN_ACL = """
globalWhiteRemoteAddresses:
accounts:
  - accessKey: aclProducer
    secretKey: producer-secret-1
    admin: false
    defaultTopicPerm: PUB
    defaultGroupPerm: SUB
    topicPerms:
      - AclDenied=DENY
  - accessKey: aclConsumer
    secretKey: consumer-secret-1
    admin: false
    defaultTopicPerm: SUB
    defaultGroupPerm: SUB
  - accessKey: aclAdmin01
    secretKey: admin-secret-01
    admin: true
"""


class AclNode:
    """A standalone apogee with ACL on, in a temporary directory."""

    def __init__(self):
        bin_dir = os.environ.get("APOGEE_BIN_DIR") or os.path.join(HERE, "..", "..", "target", "debug")
        self.tmp = tempfile.mkdtemp(prefix="apogee-acl-")
        os.makedirs(os.path.join(self.tmp, "conf"))
        with open(os.path.join(self.tmp, "conf", "plain_acl.yml"), "w") as f:
            f.write(PLAIN_ACL)
        conf = os.path.join(self.tmp, "broker.conf")
        with open(conf, "w") as f:
            f.write("aclEnable=true\nrocketmqHome=%s\n" % self.tmp)
        ns_port = run_compat.free_port_pair()
        broker_port = run_compat.free_port_pair()
        self.log = open(os.path.join(self.tmp, "apogee.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(bin_dir, "apogee"), "-c", conf, "--store", os.path.join(self.tmp, "store"),
             "--namesrv-port", str(ns_port), "--broker-port", str(broker_port),
             "--broker-ip", "127.0.0.1"],
            stdout=self.log, stderr=self.log)
        run_compat.wait_port(ns_port, self.proc)
        run_compat.wait_port(broker_port, self.proc)
        self.namesrv = "127.0.0.1:%d" % ns_port
        self.broker = "127.0.0.1:%d" % broker_port

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        if not os.environ.get("APOGEE_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)


def sign(ext, body, access_key, secret_key):
    """Add AccessKey and Signature to `ext` the way AclClientRPCHook does."""
    ext = dict(ext, AccessKey=access_key)
    content = "".join(v for _, v in sorted(ext.items())).encode() + body
    digest = hmac.new(secret_key.encode(), content, hashlib.sha1).digest()
    ext["Signature"] = base64.b64encode(digest).decode()
    return ext


def create_topic(node, topic, credentials=ADMIN):
    ext = {"topic": topic, "defaultTopic": "TBW102", "readQueueNums": "4",
           "writeQueueNums": "4", "perm": "6", "topicFilterType": "SINGLE_TAG",
           "topicSysFlag": "0", "order": "false"}
    h, _ = rmq_admin.call(node.broker, 17, sign(ext, b"", *credentials))
    return h


def new_topic(node, prefix):
    topic = "%s_%s" % (prefix, uuid.uuid4().hex[:8])
    h = create_topic(node, topic)
    lib.check(h.get("code") == 0, "signed topic creation refused: %r" % h)
    lib.wait_route(node.namesrv, topic)
    return topic


def stored(node, topic, queues=4):
    """Messages stored in `topic` (GET_MAX_OFFSET per queue, signed by the admin)."""
    total = 0
    for q in range(queues):
        h, _ = rmq_admin.call(node.broker, 30, sign({"topic": topic, "queueId": str(q)}, b"", *ADMIN))
        lib.check(h.get("code") == 0, "GET_MAX_OFFSET: %r" % h)
        total += int(h["extFields"]["offset"])
    return total


def stored_eventually(node, topic, want, timeout=5.0):
    """`stored` until it reaches `want` (the consume queue is built just after the append, as
    in Java, so a read right after the send may not count it yet)."""
    deadline = time.time() + timeout
    while True:
        n = stored(node, topic)
        if n >= want or time.time() > deadline:
            return n
        time.sleep(0.05)


def producer(node, group, credentials):
    p = rc.Producer(group)
    p.set_namesrv_addr(node.namesrv)
    if credentials:
        p.set_session_credentials(credentials[0], credentials[1], "ALIYUN")
    p.set_timeout(3000)
    p.start()
    lib._to_close.append(p)
    return p


def send_refused(p, topic):
    """Send once; returns the failure text, or None when the send went through."""
    try:
        r = p.send_sync(lib.make_message(topic, 0))
    except Exception as e:  # the C++ client raises on a refused send
        return str(e) or type(e).__name__
    if r.status != lib.SendStatus.OK:
        return "status %s" % r.status
    return None


def with_node(f):
    def run(_ctx):
        node = AclNode()
        try:
            f(node)
        finally:
            # The verdict is judged by what happened; stop the node after the clients.
            for obj in reversed(lib._to_close):
                try:
                    obj.shutdown()
                except Exception:
                    pass
            lib._to_close.clear()
            node.stop()
    return run


@with_node
def signed_send_consume(node, n=50):
    """Signed sends are stored; a consumer signing with its own account receives them all."""
    topic = new_topic(node, "AclSend")
    p = producer(node, "acl_pg_" + uuid.uuid4().hex[:6], PRODUCER)
    for i in range(n):
        r = p.send_sync(lib.make_message(topic, i))
        lib.check(r.status == lib.SendStatus.OK, "send %d: %s" % (i, r.status))
    coll = lib.Collector()
    c = rc.PushConsumer("acl_cg_" + uuid.uuid4().hex[:6])
    c.set_namesrv_addr(node.namesrv)
    # Its own client instance: librocketmq shares one client (and signs its heartbeats with
    # one account's credentials) among the producers and consumers of an instance name.
    c.set_instance_name("acl_consumer_instance")
    c.set_session_credentials(CONSUMER[0], CONSUMER[1], "ALIYUN")
    c.subscribe(topic, coll, "*")
    # A fresh group starts from the last offset in 4.x clients unless the queue is new: the
    # topic was created for this scenario, so everything sent is consumed.
    c.start()
    lib._to_close.append(c)
    lib.expect_all(coll, n, 60)


@with_node
def refused_without_valid_credentials(node):
    """A wrong secret, no credentials, and a topic the account may not publish to are all
    refused by the broker; unsigned admin requests too."""
    topic = new_topic(node, "AclRefuse")
    h = create_topic(node, "Unsigned_" + uuid.uuid4().hex[:6], credentials=("aclAdmin01", "not-the-secret"))
    lib.check(h.get("code") != 0 and "Check signature failed" in h.get("remark", ""),
              "topic creation with a wrong secret: %r" % h)
    h = create_topic(node, "NotAdmin_" + uuid.uuid4().hex[:6], credentials=PRODUCER)
    lib.check(h.get("code") != 0 and "Need admin permission" in h.get("remark", ""),
              "topic creation by a non-admin: %r" % h)

    bad = producer(node, "acl_bad_" + uuid.uuid4().hex[:6], (PRODUCER[0], "wrong-secret-9"))
    why = send_refused(bad, topic)
    lib.check(why is not None, "a send signed with a wrong secret was accepted")

    anon = producer(node, "acl_anon_" + uuid.uuid4().hex[:6], None)
    why = send_refused(anon, topic)
    lib.check(why is not None, "an unsigned send was accepted")
    # The client reports its own retry error; what counts is that nothing was stored.
    lib.check(stored(node, topic) == 0, "refused sends stored messages")

    good = producer(node, "acl_good_" + uuid.uuid4().hex[:6], PRODUCER)
    denied = new_topic(node, "AclDenied")
    # The DENY entry names the exact topic `AclDenied`; create it too.
    h = create_topic(node, "AclDenied")
    lib.check(h.get("code") == 0, "create AclDenied: %r" % h)
    lib.wait_route(node.namesrv, "AclDenied")
    why = send_refused(good, "AclDenied")
    lib.check(why is not None, "a send to a DENY topic was accepted")
    lib.check(stored(node, "AclDenied") == 0, "a refused send to AclDenied was stored")
    # ...while the same producer may publish elsewhere.
    lib.check(send_refused(good, denied) is None, "a permitted send was refused")
    lib.check(stored_eventually(node, denied, 1) == 1, "the permitted send was not stored")


NAMES = {
    "acl-signed-send+consume": signed_send_consume,
    "acl-refused": refused_without_valid_credentials,
}

if __name__ == "__main__":
    lib.main(NAMES, shutdown=False)
