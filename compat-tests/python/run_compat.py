"""Runs every client scenario against freshly started Apogee nodes and prints one line per
client x scenario, then `N passed, N failed`.

    python run_compat.py --bin-dir <dir with apogee, mqnamesrv, mqbroker>
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

CLIENTS = [
    ("cpp-core-0.4.4", os.path.join(HERE, "scenarios_cpp_core.py"),
     ["sync-send+push-consume"]),
]


def load_clients_json(directory):
    """Clients described by <directory>/clients.json: each entry's `argv` is a command line
    with the placeholders {dir}, {scenario}, {namesrv} and {broker}."""
    with open(os.path.join(directory, "clients.json")) as f:
        return [(c["client"], [a.replace("{dir}", directory) for a in c["argv"]], c["scenarios"])
                for c in json.load(f)]


CLIENTS += load_clients_json(os.path.join(os.path.dirname(HERE), "node"))


def free_port_pair():
    """A port p such that p and p-2 (the broker's fast port) are free."""
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p < 1100:
            continue
        ok = True
        for q in (p, p - 2):
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            finally:
                t.close()
        if ok:
            return p
    raise RuntimeError("no free ports")


def wait_port(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("process exited with %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("port %d not listening" % port)


class Node:
    """The servers of one deployment mode."""

    def __init__(self, mode, bin_dir, tmp):
        self.procs = []
        self.ns_port = free_port_pair()
        self.broker_port = free_port_pair()
        store = os.path.join(tmp, "store-" + mode)
        log = open(os.path.join(tmp, mode + ".log"), "w")
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
        if mode == "apogee":
            p = subprocess.Popen(
                [os.path.join(bin_dir, "apogee"), "--store", store,
                 "--namesrv-port", str(self.ns_port), "--broker-port", str(self.broker_port),
                 "--broker-ip", "127.0.0.1"],
                stdout=log, stderr=log, env=env)
            self.procs.append(p)
            wait_port(self.ns_port, p)
            wait_port(self.broker_port, p)
        else:
            ns_conf = os.path.join(tmp, "namesrv.conf")
            with open(ns_conf, "w") as f:
                f.write("listenPort=%d\nkvConfigPath=%s\n" % (self.ns_port, os.path.join(tmp, "kv.json")))
            ns = subprocess.Popen([os.path.join(bin_dir, "mqnamesrv"), "-c", ns_conf],
                                  stdout=log, stderr=log, env=env)
            self.procs.append(ns)
            wait_port(self.ns_port, ns)
            b_conf = os.path.join(tmp, "broker.conf")
            with open(b_conf, "w") as f:
                f.write("listenPort=%d\nbrokerIP1=127.0.0.1\nstorePathRootDir=%s\n"
                        "namesrvAddr=127.0.0.1:%d\nbrokerName=broker-a\n"
                        "mappedFileSizeCommitLog=67108864\n" % (self.broker_port, store, self.ns_port))
            b = subprocess.Popen([os.path.join(bin_dir, "mqbroker"), "-c", b_conf],
                                 stdout=log, stderr=log, env=env)
            self.procs.append(b)
            wait_port(self.broker_port, b)
        self.namesrv = "127.0.0.1:%d" % self.ns_port
        self.broker = "127.0.0.1:%d" % self.broker_port

    def stop(self):
        for p in reversed(self.procs):
            p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def run_scenario(script, sc, node, timeout):
    """Run one scenario in its own process; returns `ok` or `fail <why>`."""
    if isinstance(script, list):  # an argv template from a clients.json
        argv = [a.replace("{scenario}", sc).replace("{namesrv}", node.namesrv)
                .replace("{broker}", node.broker) for a in script]
    else:
        argv = [sys.executable, script, sc, node.namesrv, node.broker]
    try:
        out = subprocess.run(
            argv,
            capture_output=True, text=True, timeout=timeout, cwd=HERE).stdout
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        out += "\nRESULT fail timed out after %ds" % timeout
    result = [l for l in out.splitlines() if l.startswith("RESULT ")]
    return result[-1][7:] if result else "fail no result (crashed?)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--timeout", type=int, default=180)
    args = ap.parse_args()
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("apogee", "mqnamesrv+mqbroker"):
            try:
                node = Node(mode, args.bin_dir, tmp)
            except Exception as e:
                for client, _, scenarios in CLIENTS:
                    for sc in scenarios:
                        print("%s x %s [%s]: FAIL (node did not start: %s)" % (client, sc, mode, e))
                        failed += 1
                continue
            try:
                for client, script, scenarios in CLIENTS:
                    for sc in scenarios:
                        t0 = time.time()
                        verdict = run_scenario(script, sc, node, args.timeout)
                        note = ""
                        if verdict != "ok":
                            # Native clients time out their own requests (3 s) when the machine
                            # is saturated; one fresh attempt tells a fluke from a failure. The
                            # first failure is always shown.
                            first = verdict
                            verdict = run_scenario(script, sc, node, args.timeout)
                            note = " (first attempt: %s)" % first[5:]
                        ok = verdict == "ok"
                        passed += ok
                        failed += not ok
                        print("%s x %s [%s]: %s%s (%.1fs)" % (
                            client, sc, mode, "PASS" if ok else "FAIL: " + verdict[5:], note,
                            time.time() - t0))
                        sys.stdout.flush()
            finally:
                node.stop()
        if failed:
            for name in os.listdir(tmp):
                if name.endswith(".log"):
                    print("---- %s (last lines) ----" % name)
                    with open(os.path.join(tmp, name)) as f:
                        print("".join(f.readlines()[-30:]))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
