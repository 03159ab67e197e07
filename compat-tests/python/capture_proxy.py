"""A recording TCP proxy for the remoting protocol: forwards every connection it accepts to one
server and writes each frame, in both directions, to its own file:

    <dir>/<label>-c<conn>-<seq>-<c2s|s2c>-<req|resp>-<code>-<json|rocketmq>.bin

`seq` counts the frames of one connection in the order the proxy saw them; `code` is the
request code of a request, the response code of a response; the last part is the header's
serialization type. The file holds the whole frame as it travelled, length prefix included.

`rewrite` (bytes -> bytes) is applied to the bodies of frames coming from the server (the name
server's route and cluster-info answers name broker addresses): the proxy for a name server
rewrites the brokers' addresses to their proxies, so that a client talks to the brokers through
them too. The recorded file keeps the bytes the server sent.
"""
import json
import os
import socket
import struct
import threading

_conn_ids = [0]
_conn_lock = threading.Lock()


def _describe(frame):
    """(kind, code, serialization) of a whole frame."""
    if len(frame) < 8:
        return "bad", -1, "short"
    (word,) = struct.unpack(">I", frame[4:8])
    ser, hlen = word >> 24, word & 0xFFFFFF
    header = frame[8:8 + hlen]
    try:
        if ser == 0:
            h = json.loads(header.decode("utf-8"))
            code, flag = int(h.get("code", -1)), int(h.get("flag", 0))
            name = "json"
        else:
            code, = struct.unpack(">h", header[0:2])
            flag, = struct.unpack(">i", header[9:13])
            name = "rocketmq"
    except (ValueError, struct.error, UnicodeDecodeError):
        return "bad", -1, "undecodable"
    return ("resp" if flag & 1 else "req"), code, name


def _rewrite(frame, rewrite):
    (word,) = struct.unpack(">I", frame[4:8])
    hlen = word & 0xFFFFFF
    head, body = frame[8:8 + hlen], frame[8 + hlen:]
    new = body
    for old, repl in rewrite.items():
        new = new.replace(old, repl)
    if new == body:
        return frame
    return struct.pack(">II", 4 + hlen + len(new), word) + head + new


class Proxy:
    def __init__(self, listen_port, target, directory, label, rewrite=None):
        os.makedirs(directory, exist_ok=True)
        self.target, self.dir, self.label = target, directory, label
        self.rewrite = rewrite or {}
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", listen_port))
        self.sock.listen(64)
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with _conn_lock:
                _conn_ids[0] += 1
                cid = _conn_ids[0]
            seq = [0]
            lock = threading.Lock()
            for src, dst, way in ((client, server, "c2s"), (server, client, "s2c")):
                threading.Thread(target=self._pump, args=(src, dst, way, cid, seq, lock),
                                 daemon=True).start()

    def _pump(self, src, dst, way, cid, seq, lock):
        buf = b""
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while len(buf) >= 4:
                    (length,) = struct.unpack(">I", buf[:4])
                    if len(buf) < 4 + length:
                        break
                    frame, buf = buf[:4 + length], buf[4 + length:]
                    kind, code, ser = _describe(frame)
                    with lock:
                        seq[0] += 1
                        n = seq[0]
                    name = "%s-c%03d-%05d-%s-%s-%d-%s.bin" % (self.label, cid, n, way, kind, code, ser)
                    with open(os.path.join(self.dir, name), "wb") as f:
                        f.write(frame)
                    if way == "s2c" and self.rewrite and kind == "resp":
                        frame = _rewrite(frame, self.rewrite)
                    dst.sendall(frame)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
