#!/usr/bin/env python3
"""Writes the labelled traces of the anomaly evaluation (tools/anomaly/traces/*.csv).

Each trace is one metric of one server at a 10 s interval, with the shapes that precede failures
in a machine room and the shapes that are normal but fool a naive detector. A CSV row is
`offset_s,value,label`: seconds from the trace's start, the value (empty: the sample is missing)
and 1 inside a labelled failure window. The first line names the metric. Deterministic (fixed
seeds): running it again writes the same files.

    tools/anomaly/make_traces.py [OUT_DIR]
"""
import math
import os
import random
import sys

STEP = 10
DAY = 86400


def write(out_dir, name, metric, samples):
    """samples: list of (offset_s, value or None, label 0/1)."""
    with open(os.path.join(out_dir, name + ".csv"), "w") as f:
        f.write(f"# metric={metric}\n")
        for t, v, label in samples:
            f.write(f"{t},{'' if v is None else format(v, '.4g')},{label}\n")


def grid(days):
    return range(0, int(days * DAY), STEP)


def in_any(t, windows):
    return any(a <= t < b for a, b in windows)


def spikes(rng):
    # A quiet temperature with short excursions: a failing sensor or a thermal event one or two
    # samples long.
    events = [(int(d * DAY), n) for d, n in [(0.31, 1), (0.52, 2), (0.77, 1), (1.05, 2), (1.28, 1), (1.5, 2),
                                            (1.71, 1), (1.9, 2)]]
    windows = [(t, t + n * STEP) for t, n in events]
    out = []
    for t in grid(2):
        v = 45 + rng.gauss(0, 0.4)
        if in_any(t, windows):
            v += 7 + rng.random() * 3
        out.append((t, v, int(in_any(t, windows))))
    return "temp_c", out


def drift(rng):
    # An inlet temperature with a small daily swing; a filter clogs: a slow rise of 0.6 degrees an
    # hour for eight hours, then it is replaced.
    start, end = int(1.3 * DAY), int(1.3 * DAY) + 8 * 3600
    out = []
    for t in grid(2.5):
        v = 24 + 0.8 * math.sin(2 * math.pi * t / DAY) + rng.gauss(0, 0.25)
        if start <= t < end:
            v += 0.6 * (t - start) / 3600
        out.append((t, v, int(start <= t < end)))
    return "inlet_temp_c", out


def step(rng):
    # A fan fails: the level steps up by four degrees and stays there until it is swapped.
    windows = [(int(0.6 * DAY), int(0.6 * DAY) + 3 * 3600), (int(1.4 * DAY), int(1.4 * DAY) + 5 * 3600)]
    out = []
    for t in grid(2.5):
        v = 31 + rng.gauss(0, 0.5) + (4 if in_any(t, windows) else 0)
        out.append((t, v, int(in_any(t, windows))))
    return "exhaust_temp_c", out


def daily(rng):
    # A nightly batch job takes the CPU to 90 % from 02:00 to 02:30 every day: normal. On day 3 it
    # runs at 13:00 instead (a misconfigured cron), and on day 4 the CPU is pinned for an hour at
    # 15:00 (a runaway process): both failures.
    windows = [(2 * DAY + 13 * 3600, 2 * DAY + 13 * 3600 + 1800), (3 * DAY + 15 * 3600, 3 * DAY + 16 * 3600)]
    out = []
    for t in grid(4):
        day = t // DAY
        tod = t % DAY
        job = 2 * 3600 <= tod < 2 * 3600 + 1800 and day != 2
        v = 0.2 + rng.gauss(0, 0.04)
        if job or in_any(t, windows):
            v = 0.9 + rng.gauss(0, 0.03)
        out.append((t, min(1.0, max(0.0, v)), int(in_any(t, windows))))
    return "cpu_util", out


def noisy(rng):
    # A PSU's power draw: noisy and wandering, never a failure.
    out = []
    level = 350.0
    for t in grid(2):
        level += rng.gauss(0, 1.5) - (level - 350) * 0.002
        v = level + rng.gauss(0, 12) + (rng.choice([-1, 1]) * 35 if rng.random() < 0.002 else 0)
        out.append((t, v, 0))
    return "power_w", out


def gaps(rng):
    # A temperature whose reports go missing now and then (minutes at a time), with one real step
    # of five degrees for an hour.
    holes = []
    for _ in range(14):
        a = rng.randrange(0, 2 * DAY, STEP)
        holes.append((a, a + rng.choice([120, 300, 900, 1800])))
    window = (int(1.2 * DAY), int(1.2 * DAY) + 3600)
    out = []
    for t in grid(2):
        if in_any(t, holes) and not in_any(t, [window]):
            out.append((t, None, 0))
            continue
        v = 52 + rng.gauss(0, 0.6) + (5 if in_any(t, [window]) else 0)
        out.append((t, v, int(in_any(t, [window]))))
    return "temp_c", out


def bursts(rng):
    # Packet drops: zero most of the time, with short harmless bursts (a link renegotiating): a
    # flat series whose standard deviation is nearly nothing, never a failure.
    out = []
    burst_left = 0
    for t in grid(2):
        if burst_left == 0 and rng.random() < 0.0015:
            burst_left = rng.choice([1, 2, 3])
        v = 0.0
        if burst_left:
            v = round(rng.uniform(0.0005, 0.003), 4)
            burst_left -= 1
        out.append((t, v, 0))
    return "net_drop_rate", out


TRACES = {"spikes": spikes, "drift": drift, "step": step, "daily": daily, "noisy": noisy, "gaps": gaps,
          "bursts": bursts}


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "traces")
    os.makedirs(out_dir, exist_ok=True)
    for i, (name, make) in enumerate(sorted(TRACES.items())):
        metric, samples = make(random.Random(1000 + i))
        write(out_dir, name, metric, samples)
        labelled = sum(s[2] for s in samples)
        print(f"{name}: {metric}, {len(samples)} samples, {labelled} labelled")


if __name__ == "__main__":
    main()
