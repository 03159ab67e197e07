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
import threading
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
      "broadcast", "restart-mid-consume"]),
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
# broker check back an UNKNOWN transaction within seconds (defaults: 60 s / 6 s), and the
# property filter on for `sql92-filter` (off by default, as in Java).
BROKER_EXTRA = "transactionCheckInterval=2000\ntransactionTimeOut=1000\nenablePropertyFilter=true\n"


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


# Clients left out of the `two-brokers` mode (their clients.json says "single_broker_only").
SINGLE_BROKER_ONLY = set()


def load_clients_json(directory):
    """Clients described by <directory>/clients.json: each entry's `argv` is a command line
    with the placeholders {dir}, {scenario}, {namesrv} and {broker}."""
    with open(os.path.join(directory, "clients.json")) as f:
        entries = json.load(f)
    SINGLE_BROKER_ONLY.update(c["client"] for c in entries if c.get("single_broker_only"))
    return [(c["client"], [a.replace("{dir}", directory) for a in c["argv"]], c["scenarios"])
            for c in entries]


# The Node.js clients (compat-tests/node, installed with `npm ci` by compat-tests/run) and the
# Rust clients (compat-tests/rust, built with cargo by compat-tests/run): no venv; their
# command line is an argv template.
for _eco in ("node", "rust"):
    CLIENTS += [(name, None, None, None, argv, scs)
                for name, argv, scs in load_clients_json(os.path.join(os.path.dirname(HERE), _eco))]

# Exact versions of the clients, for the result file and the generated matrix.
VERSIONS = {
    "cpp-core-0.4.4": "PyPI rocketmq==0.4.4 (rocketmq-client-cpp 1.2)",
    "cpp-2.1-cvs-2.1.0.3": "PyPI rocketmq-python-cvs==2.1.0.3 (rocketmq-client-cpp 2.1)",
    "apache-py-0.5.0rc2": "PyPI rocketmq-client-python==0.5.0rc2",
    "ali-ons-3.12.0": "npm ali-ons@3.12.0",
    "rocketmq-node-2.0.1": "npm rocketmq@2.0.1",
    "rocketmq-client-rust-1.0.0": "crates.io rocketmq-client-rust =1.0.0",
    "rocketmq-client-v4-0.4.2": "crates.io rocketmq-client-v4 =0.4.2",
}

# Deployment modes. `two-brokers` (one mqnamesrv, mqbroker broker-a and broker-b in one
# cluster) only runs the scenarios that are about several brokers.
MODES = ["apogee", "mqnamesrv+mqbroker", "two-brokers"]
TWO_BROKER_SCENARIOS = {"two-consumers"}


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
    """The servers of one deployment mode. `namesrv` and `broker` are what clients are given
    (`broker` lists every broker, comma separated); with a capture directory both point at
    recording proxies (capture_proxy.py) instead of the servers themselves."""

    def __init__(self, mode, bin_dir, tmp, capture_dir=None):
        self.mode = mode
        self.procs = {}      # name -> (argv, ports to wait for, Popen)
        self.proxies = []
        self.log = open(os.path.join(tmp, mode + ".log"), "a")
        self.env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
        self.ns_port = free_port_pair()
        broker_ports = []
        if mode == "apogee":
            port = free_port_pair()
            broker_ports.append(port)
            a_conf = os.path.join(tmp, "apogee-broker.conf")
            with open(a_conf, "w") as f:
                f.write(BROKER_EXTRA)
            self._start("apogee", [os.path.join(bin_dir, "apogee"), "-c", a_conf,
                                   "--store", os.path.join(tmp, "store-" + mode),
                                   "--namesrv-port", str(self.ns_port), "--broker-port", str(port),
                                   "--broker-ip", "127.0.0.1"], [self.ns_port, port])
        else:
            ns_conf = os.path.join(tmp, "namesrv-%s.conf" % mode)
            with open(ns_conf, "w") as f:
                f.write("listenPort=%d\nkvConfigPath=%s\n" % (
                    self.ns_port, os.path.join(tmp, "kv-%s.json" % mode)))
            self._start("mqnamesrv", [os.path.join(bin_dir, "mqnamesrv"), "-c", ns_conf],
                        [self.ns_port])
            names = ["broker-a"] if mode == "mqnamesrv+mqbroker" else ["broker-a", "broker-b"]
            for name in names:
                port = free_port_pair()
                broker_ports.append(port)
                b_conf = os.path.join(tmp, "%s-%s.conf" % (mode, name))
                with open(b_conf, "w") as f:
                    f.write("listenPort=%d\nbrokerIP1=127.0.0.1\nstorePathRootDir=%s\n"
                            "namesrvAddr=127.0.0.1:%d\nbrokerName=%s\n"
                            "mappedFileSizeCommitLog=67108864\n" % (
                                port, os.path.join(tmp, "store-%s-%s" % (mode, name)),
                                self.ns_port, name) + BROKER_EXTRA)
                self._start(name, [os.path.join(bin_dir, "mqbroker"), "-c", b_conf], [port])
        self.brokers = ["127.0.0.1:%d" % p for p in broker_ports]
        self.namesrv = "127.0.0.1:%d" % self.ns_port
        if capture_dir:
            self._capture(capture_dir, broker_ports)
        self.broker = ",".join(self.brokers)

    def _start(self, name, argv, ports):
        p = subprocess.Popen(argv, stdout=self.log, stderr=self.log, env=self.env)
        self.procs[name] = (argv, ports, p)
        for port in ports:
            wait_port(port, p)

    def _capture(self, capture_dir, broker_ports):
        """Recording proxies for the name server and each broker (main and fast port). Route
        and cluster answers of the name server are rewritten to name the broker proxies, so
        clients send everything through them."""
        import capture_proxy
        rewrite = {}
        proxied = []
        for port in broker_ports:
            pport = free_port_pair()
            rewrite[b"127.0.0.1:%d" % port] = b"127.0.0.1:%d" % pport
            for off in (0, 2):
                self.proxies.append(capture_proxy.Proxy(
                    pport - off, ("127.0.0.1", port - off), capture_dir, "broker%d" % len(proxied)))
            proxied.append("127.0.0.1:%d" % pport)
        nsport = free_port_pair()
        self.proxies.append(capture_proxy.Proxy(nsport, ("127.0.0.1", self.ns_port), capture_dir,
                                                "namesrv", rewrite=rewrite))
        self.namesrv = "127.0.0.1:%d" % nsport
        self.brokers = proxied

    def restart_brokers(self):
        """SIGTERM every broker (the whole node in `apogee` mode) and start it again on the same
        store and ports."""
        for name in list(self.procs):
            if name == "mqnamesrv":
                continue
            argv, ports, p = self.procs[name]
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            deadline = time.time() + 30
            while True:
                try:
                    self._start(name, argv, ports)
                    break
                except RuntimeError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.5)

    def stop(self):
        for px in self.proxies:
            px.close()
        procs = [p for (_, _, p) in self.procs.values()]
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def run_scenario(python, script, sc, node, timeout):
    """Run one scenario in its own process; returns `ok` or `fail <why>`. A scenario may ask
    the runner to restart the brokers by printing `CONTROL restart-broker`; it is answered
    with `CONTROL done` (or `CONTROL failed <why>`) on its stdin."""
    if isinstance(script, list):  # an argv template from a clients.json
        argv = [a.replace("{scenario}", sc).replace("{namesrv}", node.namesrv)
                .replace("{broker}", node.broker) for a in script]
    else:
        argv = [python, os.path.join(HERE, script), sc, node.namesrv, node.broker]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, cwd=HERE)
    except OSError as e:
        return "fail client could not be started: %s" % e
    lines = []

    def reader():
        for line in proc.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            if line == "CONTROL restart-broker":
                try:
                    node.restart_brokers()
                    answer = "CONTROL done\n"
                except Exception as e:  # reported to the scenario, which fails
                    answer = "CONTROL failed %s\n" % e
                try:
                    proc.stdin.write(answer)
                    proc.stdin.flush()
                except OSError:
                    pass
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        lines.append("RESULT fail timed out after %ds" % timeout)
    t.join(10)
    result = [l for l in lines if l.startswith("RESULT ")]
    return result[-1][7:] if result else "fail no result (crashed?)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--timeout", type=int, default=180)
    ap.add_argument("--client", action="append", help="only these clients (repeatable)")
    ap.add_argument("--scenario", action="append", help="only these scenarios (repeatable)")
    ap.add_argument("--mode", action="append", choices=MODES)
    ap.add_argument("--capture", metavar="DIR",
                    help="record every frame between clients and servers into DIR")
    ap.add_argument("--results", metavar="FILE", help="write the verdicts as JSON to FILE")
    args = ap.parse_args()
    # The ACL scenarios start nodes of their own.
    os.environ["APOGEE_BIN_DIR"] = os.path.abspath(args.bin_dir)
    clients = [c for c in CLIENTS if not args.client or c[0] in args.client]
    passed = failed = 0
    results = []
    started = time.time()
    broken = {}
    for name, venv, pip_args, dist, _, _ in clients:
        if venv is None:
            continue
        why = ensure_venv(venv, pip_args, dist)
        if why:
            broken[name] = why
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.mode or MODES:
            runs = [(name, venv, script, sc) for name, venv, _, _, script, scs in clients
                    for sc in scs if not args.scenario or sc in args.scenario
                    if mode != "two-brokers" or (sc in TWO_BROKER_SCENARIOS
                                                 and name not in SINGLE_BROKER_ONLY)]
            if not runs:
                continue
            # `first-send-fresh-node` must meet a store nothing was written to yet: run it first.
            runs.sort(key=lambda r: r[3] != "first-send-fresh-node")
            try:
                node = Node(mode, args.bin_dir, tmp, args.capture)
            except Exception as e:
                for name, _, _, sc in runs:
                    print("%s x %s [%s]: FAIL (node did not start: %s)" % (name, sc, mode, e))
                    results.append({"client": name, "scenario": sc, "mode": mode, "ok": False,
                                    "verdict": "node did not start: %s" % e})
                    failed += 1
                continue
            try:
                for name, venv, script, sc in runs:
                    t0 = time.time()
                    if name in broken:
                        failed += 1
                        print("%s x %s [%s]: FAIL: client not installed: %s" % (
                            name, sc, mode, broken[name]))
                        results.append({"client": name, "scenario": sc, "mode": mode,
                                        "ok": False, "verdict": "client not installed"})
                        continue
                    py = venv_python(venv) if venv else None
                    verdict = run_scenario(py, script, sc, node, args.timeout)
                    note = ""
                    first = None
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
                    took = time.time() - t0
                    print("%s x %s [%s]: %s%s (%.1fs)" % (
                        name, sc, mode, "PASS" if ok else "FAIL: " + verdict[5:], note, took))
                    results.append({"client": name, "scenario": sc, "mode": mode, "ok": ok,
                                    "verdict": "ok" if ok else verdict[5:],
                                    "first_attempt": first and first[5:],
                                    "seconds": round(took, 1)})
                    sys.stdout.flush()
            finally:
                node.stop()
        if failed:
            for fname in os.listdir(tmp):
                if fname.endswith(".log"):
                    print("---- %s (last lines) ----" % fname)
                    with open(os.path.join(tmp, fname)) as f:
                        print("".join(f.readlines()[-30:]))
    wall = time.time() - started
    print("%d passed, %d failed" % (passed, failed))
    if args.results:
        with open(args.results, "w") as f:
            json.dump({"passed": passed, "failed": failed, "wall_seconds": round(wall),
                       "versions": {c[0]: VERSIONS.get(c[0], c[0]) for c in clients},
                       "results": results}, f, indent=1)
            f.write("\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
