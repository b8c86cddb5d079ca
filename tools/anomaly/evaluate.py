#!/usr/bin/env python3
"""The anomaly evaluation: replays the labelled traces (tools/anomaly/traces/*.csv) through a real
dctwin-gateway over a real mosquitto, reads back the incidents the model opened (from the
gateway's history, P/query/history), and scores them against the labels:

- a failure window is detected when a model incident (kinds: anomaly, change, forecast) of the
  trace's server opens inside it or within GRACE_S after it; its delay is from the window's start
  to the first such open;
- a false alarm is a model incident that opens outside every window (and its grace);
- false alarms per day are counted over the length of every trace.

Each trace is one server reporting one metric every 10 s, stamped in the past (days ago up to a
few minutes ago), so days of reports are replayed in a minute: the model judges by report
timestamps. Prints one table; asserts nothing (a measurement, not a test).

    tools/anomaly/evaluate.py [--gateway build/gateway/dctwin-gateway] [--config extra.toml]
                              [--traces DIR] [--keep]
"""
import argparse
import glob
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

GRACE_S = 300
MODEL_KINDS = ("anomaly", "change", "forecast")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(what, fn, timeout_s=60, every_s=0.2):
    deadline = time.time() + timeout_s
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every_s)
    raise SystemExit(f"timed out waiting for {what} (last: {last})")


def load_trace(path):
    with open(path) as f:
        header = f.readline().strip()
        metric = header.split("metric=", 1)[1]
        rows = []
        for line in f:
            t, v, label = line.strip().split(",")
            rows.append((int(t), None if v == "" else float(v), int(label)))
    return metric, rows


def windows_of(rows):
    out, start, prev = [], None, None
    for t, _, label in rows:
        if label and start is None:
            start = t
        if not label and start is not None:
            out.append((start, t))
            start = None
        prev = t
    if start is not None:
        out.append((start, prev + 10))
    return out


class Site:
    def __init__(self, gateway, extra_config, keep):
        self.dir = tempfile.mkdtemp(prefix="dctwin-anomaly-")
        self.keep = keep
        self.port = free_port()
        self.children = []
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 0\nmax_inflight_messages 0\n")
        self.spawn(["mosquitto", "-c", conf], "mosquitto.log")
        wait_for("mosquitto", self.accepts, 10)
        config = os.path.join(self.dir, "dctwin.toml")
        with open(config, "w") as f:
            # Nothing but the model's own judgement: servers never go silent, reports are never
            # rate limited (days are replayed in seconds), stats every second.
            f.write("[gateway]\nstats_interval_s = 1\n[metrics]\nlisten = \"\"\n"
                    "[model]\nheartbeat_timeout_s = 86400\nmax_messages_per_s = 0\n")
            if extra_config:
                with open(extra_config) as extra:
                    f.write(extra.read())
        self.gateway = self.spawn([gateway, "--config", config, "--broker", f"tcp://127.0.0.1:{self.port}",
                                   "--state", os.path.join(self.dir, "state.db"), "--gateway-id", "eval"],
                                  "gateway.log")

    def accepts(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    def spawn(self, argv, log, **kw):
        out = open(os.path.join(self.dir, log), "w")
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **kw)
        self.children.append(child)
        return child

    def rr(self, topic, payload):
        r = subprocess.run(["mosquitto_rr", "-V", "5", "-h", "127.0.0.1", "-p", str(self.port), "-t", f"dctwin/{topic}",
                            "-e", "dctwin/reply/eval", "-W", "10", "-m", json.dumps(payload)],
                           capture_output=True, text=True)
        return json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else None

    def pub(self, topic, payload):
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", "1", "-t", topic, "-m", payload],
                       check=True)

    def stats(self):
        r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-t", "dctwin/gateway/eval/stats",
                            "-C", "1", "-W", "5"], capture_output=True, text=True)
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def stop(self):
        for c in reversed(self.children):
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)
        for c in self.children:
            try:
                c.wait(15)
            except subprocess.TimeoutExpired:
                c.kill()
        if self.keep:
            print(f"kept: {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def history(site, since):
    events = []
    for kind in MODEL_KINDS:
        cursor = None
        while True:
            q = {"type": "incident", "level": "server", "kind": kind, "since": since, "limit": 1000}
            if cursor:
                q["cursor"] = cursor
            a = site.rr("query/history", q)
            if a is None or a.get("ok") is False:
                raise SystemExit(f"the history could not be read: {a}")
            events += a["events"]
            cursor = a.get("next_cursor")
            if not cursor:
                break
    return events


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateway", default=os.path.join(ROOT, "build", "gateway", "dctwin-gateway"))
    ap.add_argument("--config", help="a TOML file appended to the gateway's config (the model under test)")
    ap.add_argument("--traces", default=os.path.join(HERE, "traces"))
    ap.add_argument("--keep", action="store_true", help="keep the broker's and gateway's files")
    ap.add_argument("--verbose", action="store_true", help="list every model incident with its label")
    args = ap.parse_args()

    traces = {}
    for path in sorted(glob.glob(os.path.join(args.traces, "*.csv"))):
        traces[os.path.basename(path)[:-4]] = load_trace(path)
    longest = max(rows[-1][0] for _, rows in traces.values())
    t0 = int(time.time()) - longest - 900  # the newest report is a quarter of an hour old
    site = Site(args.gateway, args.config, args.keep)
    try:
        wait_for("the gateway", lambda: site.stats() is not None, 30)
        for name in traces:
            site.pub(f"dctwin/provisioning/{name}", json.dumps({"action": "commission", "rack": "eval"}))
        wait_for("the servers", lambda: all((site.rr(f"query/server/{n}", {}) or {}).get("found") for n in traces), 30)
        before = site.stats()["reports_applied"]
        started = time.time()
        pubs = []
        total = 0
        for name, (metric, rows) in traces.items():
            p = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(site.port), "-q", "1",
                                  "-t", f"dctwin/metrics/{name}", "-l"], stdin=subprocess.PIPE, text=True)
            lines = [json.dumps({"ts": t0 + t, metric: v}) for t, v, _ in rows if v is not None]
            total += len(lines)
            pubs.append((p, "\n".join(lines) + "\n"))
        for p, text in pubs:
            p.stdin.write(text)
            p.stdin.close()
        for p, _ in pubs:
            p.wait()
        wait_for(f"{total} reports applied",
                 lambda: (site.stats() or {}).get("reports_applied", 0) - before >= total, 600, 1)
        replay_s = time.time() - started
        time.sleep(1)  # the last commit's history rows
        events = history(site, t0 - 1)
    finally:
        site.stop()

    opens = {}
    for e in events:
        if e.get("state") == "open":
            opens.setdefault(e["subject"], []).append((e["opened_at"] - t0, e["kind"], e.get("summary", "")))
    print(f"anomaly evaluation: {len(traces)} traces, {total} reports replayed in {replay_s:.0f} s; "
          f"a window counts as found when a model incident ({', '.join(MODEL_KINDS)}) opens in it or "
          f"within {GRACE_S} s after it")
    print(f"{'trace':10} {'metric':16} {'days':>5} {'windows':>8} {'found':>6} {'delay (median)':>15} {'false alarms':>13}")
    found_all = windows_all = false_all = 0
    days_all = 0.0
    delays_all = []
    for name, (metric, rows) in traces.items():
        windows = windows_of(rows)
        days = (rows[-1][0] + 10) / 86400
        mine = sorted(opens.get(name, []))
        found, delays, false = 0, [], 0
        for a, b in windows:
            hits = [t for t, _, _ in mine if a <= t <= b + GRACE_S]
            if hits:
                found += 1
                delays.append(max(0, hits[0] - a))
        for t, _, _ in mine:
            if not any(a <= t <= b + GRACE_S for a, b in windows):
                false += 1
        delay = f"{statistics.median(delays):.0f} s" if delays else "-"
        print(f"{name:10} {metric:16} {days:5.1f} {len(windows):8} {found:6} {delay:>15} {false:13}")
        if args.verbose:
            for t, kind, summary in mine:
                hit = any(a <= t <= b + GRACE_S for a, b in windows)
                print(f"    {'found' if hit else 'FALSE'} at {t / 3600:7.2f} h  {kind}: {summary}")
        found_all += found
        windows_all += len(windows)
        false_all += false
        days_all += days
        delays_all += delays
    delay = f"{statistics.median(delays_all):.0f} s" if delays_all else "-"
    print(f"{'all':10} {'':16} {days_all:5.1f} {windows_all:8} {found_all:6} {delay:>15} {false_all:13}")
    print(f"found {found_all} of {windows_all} failure windows; {false_all} false alarms, "
          f"{false_all / days_all:.1f} per server-day")


if __name__ == "__main__":
    sys.exit(main())
