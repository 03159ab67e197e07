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

# name, virtualenv (under this folder), pinned pip arguments, distribution name, scenario file,
# scenarios. Every client installs a module called `rocketmq`, so each has its own venv; the
# runner creates and fills a missing or outdated one itself (a failed install fails every
# scenario of that client: no silent skips).
CLIENTS = [
    ("cpp-core-0.4.4", ".venv", ["rocketmq==0.4.4"], ("rocketmq", "0.4.4"),
     "scenarios_cpp_core.py",
     ["sync-send+push-consume", "async-send", "oneway-send", "batch-send", "tag-filter",
      "pull-consumer", "delay-level", "orderly", "consume-later", "two-consumers",
      "broadcast"]),
    # Signed requests against a node of its own with aclEnable=true (scenarios_acl.py).
    ("cpp-core-0.4.4-acl", ".venv", ["rocketmq==0.4.4"], ("rocketmq", "0.4.4"),
     "scenarios_acl.py", ["acl-signed-send+consume", "acl-refused"]),
    ("cpp-2.1-cvs-2.1.0.3", ".venv-cvs", ["rocketmq-python-cvs==2.1.0.3"],
     ("rocketmq-python-cvs", "2.1.0.3"), "scenarios_cvs.py",
     ["first-send-fresh-node", "sync-send+push-consume", "async-send", "oneway-send", "batch-send", "tag-filter",
      "pull-consumer", "delay-level", "orderly", "transactional", "consume-later",
      "two-consumers", "broadcast"]),
    ("apache-py-0.5.0rc2", ".venv-apache", ["--pre", "rocketmq-client-python==0.5.0rc2"],
     ("rocketmq-client-python", "0.5.0rc2"), "scenarios_apache.py",
     ["sync-send+push-consume", "oneway-send", "tag-filter", "delay-level", "orderly",
      "transactional", "consume-later", "two-consumers", "broadcast"]),
]

# Broker settings for every node: a short transaction check so that `transactional` sees the
# broker check back an UNKNOWN transaction within seconds (defaults: 60 s / 6 s).
BROKER_EXTRA = "transactionCheckInterval=2000\ntransactionTimeOut=1000\n"


def venv_python(venv):
    return os.path.join(HERE, venv, "bin", "python")


def ensure_venv(venv, pip_args, dist):
    """Create/populate the client's venv when missing; returns None or why it failed."""
    py = venv_python(venv)
    probe = "import importlib.metadata as m; print(m.version(%r))" % dist[0]
    try:
        if os.path.exists(py):
            r = subprocess.run([py, "-c", probe], capture_output=True, text=True, timeout=60)
            if r.returncode == 0 and r.stdout.strip() == dist[1]:
                return None
        else:
            base = getattr(sys, "_base_executable", None) or sys.executable
            r = subprocess.run([base, "-m", "venv", os.path.join(HERE, venv)],
                               capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                return "venv creation failed: %s" % (r.stderr or r.stdout).strip()[-300:]
        r = subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
                           + pip_args, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            return "pip install %s failed: %s" % (" ".join(pip_args),
                                                  (r.stderr or r.stdout).strip()[-300:])
        r = subprocess.run([py, "-c", probe], capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or r.stdout.strip() != dist[1]:
            return "installed %s is %r, wanted %s" % (dist[0], r.stdout.strip(), dist[1])
        return None
    except (OSError, subprocess.SubprocessError) as e:
        return "install failed: %s" % e


def load_clients_json(directory):
    """Clients described by <directory>/clients.json: each entry's `argv` is a command line
    with the placeholders {dir}, {scenario}, {namesrv} and {broker}."""
    with open(os.path.join(directory, "clients.json")) as f:
        return [(c["client"], [a.replace("{dir}", directory) for a in c["argv"]], c["scenarios"])
                for c in json.load(f)]


# The Node.js clients (compat-tests/node, installed with `npm ci` by compat-tests/run): no
# venv; their script is an argv template.
CLIENTS += [(name, None, None, None, argv, scs)
            for name, argv, scs in load_clients_json(os.path.join(os.path.dirname(HERE), "node"))]


def free_port_pair():
    """A port p such that p, p-2 (the broker's fast port) and p+1 (its HA port) are free."""
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p < 1100:
            continue
        ok = True
        for q in (p, p - 2, p + 1):
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
            a_conf = os.path.join(tmp, "apogee-broker.conf")
            with open(a_conf, "w") as f:
                f.write(BROKER_EXTRA)
            p = subprocess.Popen(
                [os.path.join(bin_dir, "apogee"), "-c", a_conf, "--store", store,
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
                        "mappedFileSizeCommitLog=67108864\n" % (self.broker_port, store, self.ns_port)
                        + BROKER_EXTRA)
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


def run_scenario(python, script, sc, node, timeout):
    """Run one scenario in its own process; returns `ok` or `fail <why>`."""
    if isinstance(script, list):  # an argv template from a clients.json
        argv = [a.replace("{scenario}", sc).replace("{namesrv}", node.namesrv)
                .replace("{broker}", node.broker) for a in script]
    else:
        argv = [python, os.path.join(HERE, script), sc, node.namesrv, node.broker]
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
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("--client", action="append", help="only these clients (repeatable)")
    ap.add_argument("--scenario", action="append", help="only these scenarios (repeatable)")
    ap.add_argument("--mode", action="append", choices=["apogee", "mqnamesrv+mqbroker"])
    args = ap.parse_args()
    # The ACL scenarios start nodes of their own.
    os.environ["APOGEE_BIN_DIR"] = os.path.abspath(args.bin_dir)
    clients = [c for c in CLIENTS if not args.client or c[0] in args.client]
    passed = failed = 0
    broken = {}
    for name, venv, pip_args, dist, _, _ in clients:
        if venv is None:
            continue
        why = ensure_venv(venv, pip_args, dist)
        if why:
            broken[name] = why
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.mode or ("apogee", "mqnamesrv+mqbroker"):
            runs = [(name, venv, script, sc) for name, venv, _, _, script, scs in clients
                    for sc in scs if not args.scenario or sc in args.scenario]
            # `first-send-fresh-node` must meet a store nothing was written to yet: run it first.
            runs.sort(key=lambda r: r[3] != "first-send-fresh-node")
            try:
                node = Node(mode, args.bin_dir, tmp)
            except Exception as e:
                for name, _, _, sc in runs:
                    print("%s x %s [%s]: FAIL (node did not start: %s)" % (name, sc, mode, e))
                    failed += 1
                continue
            try:
                for name, venv, script, sc in runs:
                    t0 = time.time()
                    if name in broken:
                        failed += 1
                        print("%s x %s [%s]: FAIL: client not installed: %s" % (
                            name, sc, mode, broken[name]))
                        continue
                    py = venv_python(venv) if venv else None
                    verdict = run_scenario(py, script, sc, node, args.timeout)
                    note = ""
                    # A second attempt of `first-send-fresh-node` would meet a used store.
                    if verdict != "ok" and sc != "first-send-fresh-node":
                        # Native clients time out their own requests (3 s) when the machine
                        # is saturated; one fresh attempt tells a fluke from a failure. The
                        # first failure is always shown.
                        first = verdict
                        verdict = run_scenario(py, script, sc, node, args.timeout)
                        note = " (first attempt: %s)" % first[5:]
                    ok = verdict == "ok"
                    passed += ok
                    failed += not ok
                    print("%s x %s [%s]: %s%s (%.1fs)" % (
                        name, sc, mode, "PASS" if ok else "FAIL: " + verdict[5:], note,
                        time.time() - t0))
                    sys.stdout.flush()
            finally:
                node.stop()
        if failed:
            for fname in os.listdir(tmp):
                if fname.endswith(".log"):
                    print("---- %s (last lines) ----" % fname)
                    with open(os.path.join(tmp, fname)) as f:
                        print("".join(f.readlines()[-30:]))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
