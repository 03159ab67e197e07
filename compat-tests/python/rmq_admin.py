"""A tiny raw remoting client (JSON header) for test set-up: create topics, wait for routes."""
import json
import socket
import struct

_opaque = [1000]


def _frame(code, ext, body=b""):
    _opaque[0] += 1
    header = json.dumps({
        "code": code, "extFields": ext, "flag": 0, "language": "PYTHON",
        "opaque": _opaque[0], "serializeTypeCurrentRPC": "JSON", "version": 409,
    }, separators=(",", ":")).encode()
    return struct.pack(">II", 4 + len(header) + len(body), len(header)) + header + body


def call(addr, code, ext, body=b"", timeout=10.0):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(_frame(code, ext, body))
        head = _recv_exact(s, 4)
        (length,) = struct.unpack(">I", head)
        rest = _recv_exact(s, length)
        (word,) = struct.unpack(">I", rest[:4])
        hlen = word & 0xFFFFFF
        header = json.loads(rest[4:4 + hlen].decode())
        return header, rest[4 + hlen:]


def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def create_topic(broker_addr, topic, queues=4):
    h, _ = call(broker_addr, 17, {
        "topic": topic, "defaultTopic": "TBW102", "readQueueNums": str(queues),
        "writeQueueNums": str(queues), "perm": "6", "topicFilterType": "SINGLE_TAG",
        "topicSysFlag": "0", "order": "false",
    })
    if h.get("code") != 0:
        raise RuntimeError("create topic %s failed: %r" % (topic, h))


def route_exists(namesrv_addr, topic):
    h, body = call(namesrv_addr, 105, {"topic": topic})
    return h.get("code") == 0 and len(body) > 0
