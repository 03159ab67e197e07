"""Picks a few golden frames per client out of a capture (run_compat.py --capture DIR) for the
codec's tests (codec/tests/captured/<client>/):

    python pick_golden.py <capture dir of one client> <destination dir>

Per client: the first request of each interesting code the client sent (heartbeat, route,
cluster info, sends, pull, offsets, transaction end), the server's answer to each (same
connection and opaque) when it is under 8 KiB, and the first request of each code the server
initiated. Connections of the suite's own set-up helper (one request per connection) are left
out (rocketmq-client-v4 also opens a connection per name-server request, but with the binary
header).
"""
import collections
import os
import shutil
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from capture_proxy import _describe  # noqa: E402

CODES = {34, 105, 106, 10, 310, 320, 11, 14, 15, 36, 37, 38}
MAX = 8 * 1024


def opaque_of(frame):
    (word,) = struct.unpack(">I", frame[4:8])
    ser, hlen = word >> 24, word & 0xFFFFFF
    header = frame[8:8 + hlen]
    if ser == 0:
        import json
        return int(json.loads(header.decode())["opaque"])
    return struct.unpack(">i", header[5:9])[0]


def main(src, dst):
    files = sorted(os.listdir(src))
    by_conn = collections.defaultdict(list)
    for name in files:
        label, conn = name.split("-")[:2]
        by_conn[(label, conn)].append(name)
    picked, seen = [], set()
    for key, names in sorted(by_conn.items()):
        if sum(1 for n in names if "-c2s-" in n) <= 1 and names[0].endswith("-json.bin"):
            continue  # the set-up helper: one JSON request per connection
        frames = {n: open(os.path.join(src, n), "rb").read() for n in names}
        for n in names:
            way = "c2s" if "-c2s-" in n else "s2c"
            kind, code, ser = _describe(frames[n])
            if kind != "req":
                continue
            if way == "c2s" and code not in CODES:
                continue
            if (way, code) in seen or len(frames[n]) > MAX:
                continue
            seen.add((way, code))
            picked.append(n)
            op = opaque_of(frames[n])
            back = "s2c" if way == "c2s" else "c2s"
            for m in names:
                if "-%s-resp-" % back in m and opaque_of(frames[m]) == op:
                    if len(frames[m]) <= MAX:
                        picked.append(m)
                    break
    os.makedirs(dst, exist_ok=True)
    for n in picked:
        shutil.copy(os.path.join(src, n), os.path.join(dst, n))
    print("%s: %d frames" % (dst, len(picked)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
