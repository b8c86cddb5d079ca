#!/usr/bin/env python3
"""The rate at which a gateway drains a queued flood, from its Prometheus endpoint.

    drain-rate.py URL N

Polls URL (the gateway's /metrics) from the gateway's start: its rate is the reports applied
(dctwin_reports_applied_total) over the time from the first poll that counted any to the poll that
reached N. If the count stops moving for 5 s before N, the rate covers what was applied and a line
on stderr says how much was missing. Prints the rate (reports/s) alone on stdout.
"""
import sys
import time
import urllib.request

url, n = sys.argv[1], int(sys.argv[2])
first = last = None
deadline = time.time() + 600
while time.time() < deadline:
    try:
        text = urllib.request.urlopen(url, timeout=1).read().decode()
    except OSError:
        time.sleep(0.01)
        continue
    now = time.time()
    got = next(int(float(l.split()[-1])) for l in text.splitlines() if l.startswith("dctwin_reports_applied_total"))
    if got > 0 and first is None:
        first = last = (now, got)
    if first and got != last[1]:
        last = (now, got)
    if got >= n or (first and now - last[0] > 5):
        print("%.0f" % ((last[1] - first[1]) / max(last[0] - first[0], 1e-3)))
        if got < n:
            print("only %d of %d reports were applied" % (got, n), file=sys.stderr)
        break
    time.sleep(0.01)
