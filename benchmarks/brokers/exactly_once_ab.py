#!/usr/bin/env python3
"""At-least-once vs exactly-once `scorer run` on noida-db: drain rate and end-to-end latency.

    python3 benchmarks/brokers/exactly_once_ab.py [--backlog 300000] [--rounds 5] [--latency-seconds 20]

Exactly-once needs a broker whose transactions hide aborted records; of the brokers here only
noida-db does (BENCHMARKS.md, "Transactions on the brokers here"), so both modes run on it.

Drain: every round starts a fresh noida-db (scripts/noida.sh install), produces one backlog of
test events (the simulator, --loop) and drains it twice, once per mode, in fresh consumer groups
writing to separate output topics; the order alternates between rounds. A mode's rate is the
input offsets its group committed between 10 % and 90 % of the backlog, per second: what
exactly-once makes visible to read_committed readers (at each transaction), and what at-least-once
has made safe. CPU-seconds per million events are the scorer's own (/proc), over the same window.

Latency: per round and mode, a fresh broker, the scorer, and `simulator --rate 5000 --measure`
(which reads predictions read_committed) for --latency-seconds; prints the simulator's percentiles.

Both binaries come from .build/release (`swift build -c release`). noida-db answers a Fetch with
everything it holds, ignoring fetch.max.bytes: the scorer gets `-X receive.message.max.bytes` at
librdkafka's maximum, or a backlog above 100 MB stalls its consumer.
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(REPO, ".build", "release")
MODES = ("at-least-once", "exactly-once")
LARGE_FETCHES = ["-X", "receive.message.max.bytes=2147483647"]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Noida:
    """A fresh noida-db (Kafka only) on a free port, with the given topics."""

    def __init__(self, topics: dict[str, int]):
        binary = subprocess.run(["bash", os.path.join(REPO, "scripts", "noida.sh"), "install"],
                                check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.data = tempfile.mkdtemp(prefix="noida-")
        self.proc = subprocess.Popen([binary, "start", "--only", "kafka", "--kafka-port", str(port), "--data-dir", self.data],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.brokers = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        admin = AdminClient({"bootstrap.servers": self.brokers})
        for future in admin.create_topics([NewTopic(t, n, 1) for t, n in topics.items()]).values():
            future.result()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        subprocess.run(["rm", "-rf", self.data])


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


COMMIT_INTERVAL = ["--commit-interval", "100"]


def scorer_argv(brokers: str, mode: str, group: str, output: str, tag: str) -> list[str]:
    argv = [os.path.join(BIN, "scorer"), "run", "--brokers", brokers, "--broker-profile", "kafka", "--group", group,
            "--guarantee", mode, "--output-topic", output, "--no-metrics", "--log-level", "warning", *LARGE_FETCHES,
            *COMMIT_INTERVAL]
    if mode == "exactly-once":
        argv += ["--transactional-id", f"bench-{tag}"]
    return argv


def drain(noida: Noida, mode: str, backlog: int, partitions: int, tag: str, logdir: str) -> tuple[float, float]:
    group = f"drain-{tag}"
    with open(os.path.join(logdir, f"{group}.log"), "w") as out:
        svc = subprocess.Popen(scorer_argv(noida.brokers, mode, group, f"out-{mode}", tag), stdout=out, stderr=out)
    reader = Consumer({"bootstrap.servers": noida.brokers, "group.id": group, "enable.auto.commit": False})
    tps = [TopicPartition("impressions", p) for p in range(partitions)]
    samples = []
    started = time.monotonic()
    try:
        while True:
            done = sum(max(tp.offset, 0) for tp in reader.committed(tps, timeout=10))
            samples.append((time.monotonic(), done, cpu_seconds(svc.pid)))
            if done >= backlog:
                break
            if svc.poll() is not None or time.monotonic() - started > 300:
                raise SystemExit(f"error: {mode} did not drain ({done} of {backlog} committed); see {logdir}/{group}.log")
            time.sleep(0.02)
    finally:
        svc.terminate()
        svc.wait()
        reader.close()

    def crossing(level: float) -> float:
        for (ta, na, _), (tb, nb, _) in zip(samples, samples[1:]):
            if nb >= level:
                return ta + (tb - ta) * (level - na) / max(nb - na, 1)
        return samples[-1][0]

    t10, t90 = crossing(0.1 * backlog), crossing(0.9 * backlog)
    a = max((s for s in samples if s[0] <= t10), key=lambda s: s[0])
    b = min((s for s in samples if s[0] >= t90), key=lambda s: s[0])
    rate = 0.8 * backlog / (t90 - t10) if t90 > t10 else float("inf")
    cpu = (b[2] - a[2]) / (b[1] - a[1]) * 1e6 if b[1] > a[1] else float("nan")
    return rate, cpu


def latency(mode: str, seconds: int, rate: int, tag: str, logdir: str) -> dict[str, float]:
    noida = Noida({"impressions": 4, "predictions": 4, "impressions.dlq": 1})
    try:
        with open(os.path.join(logdir, f"latency-{tag}.log"), "w") as out:
            svc = subprocess.Popen(scorer_argv(noida.brokers, mode, f"latency-{tag}", "predictions", tag), stdout=out, stderr=out)
        time.sleep(4)  # joined
        sim = subprocess.run([os.path.join(BIN, "simulator"), "--brokers", noida.brokers, "--broker-profile", "kafka",
                              "--rate", str(rate), "--duration", str(seconds), "--measure"], capture_output=True, text=True)
        svc.terminate()
        svc.wait()
    finally:
        noida.stop()
    text = sim.stdout + sim.stderr
    header = re.search(r"Latency \(ms\)\s+p50\s+p90\s+p99\s+p99\.9\s+max.*\n\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", text)
    summary = re.search(r"Predictions: ([\d,]+) of ([\d,]+)\s+missing (\d+)\s+duplicates (\d+)", text)
    if not header or not summary:
        raise SystemExit(f"error: no latency summary from the simulator:\n{text[-2000:]}")
    p50, p90, p99, p999, worst = (float(x) for x in header.groups())
    return {"p50": p50, "p90": p90, "p99": p99, "p99.9": p999, "max": worst,
            "missing": int(summary.group(3)), "duplicates": int(summary.group(4))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backlog", type=int, default=300_000)
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--rounds", type=int, default=5, help="drain rounds (0 skips the drain)")
    p.add_argument("--latency-seconds", type=int, default=20, help="0 skips the latency runs")
    p.add_argument("--rate", type=int, default=5_000, help="events/s of the latency runs")
    p.add_argument("--commit-interval", type=int, default=100, help="scorer run --commit-interval (ms) of both modes")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated modes of the latency runs")
    args = p.parse_args()
    COMMIT_INTERVAL[1] = str(args.commit_interval)
    logdir = tempfile.mkdtemp(prefix="eos-ab-")
    log(f"logs in {logdir}")
    drains: dict[str, list[tuple[float, float]]] = {m: [] for m in MODES}
    for r in range(args.rounds):
        noida = Noida({"impressions": args.partitions, "out-at-least-once": args.partitions,
                       "out-exactly-once": args.partitions, "impressions.dlq": 1})
        try:
            subprocess.run([os.path.join(BIN, "simulator"), "--brokers", noida.brokers, "--broker-profile", "kafka",
                            "--count", str(args.backlog), "--rate", "1000000", "--loop"], check=True, stdout=subprocess.DEVNULL)
            for mode in (MODES if r % 2 == 0 else MODES[::-1]):
                rate, cpu = drain(noida, mode, args.backlog, args.partitions, f"{mode}-{r}", logdir)
                drains[mode].append((rate, cpu))
                log(f"drain round {r + 1} {mode}: {rate:,.0f} events/s, {cpu:.2f} CPU-s per million")
        finally:
            noida.stop()
    if args.rounds > 0:
        report_drains(args, drains)
    if args.latency_seconds <= 0:
        return
    latencies(args, logdir)


def report_drains(args, drains) -> None:
    print(f"Drain of {args.backlog:,} events over {args.partitions} partitions, noida-db, fresh broker per round, "
          f"median of {args.rounds} rounds (order alternating); progress = committed input offsets")
    base = statistics.median(x[0] for x in drains[MODES[0]])
    base_cpu = statistics.median(x[1] for x in drains[MODES[0]])
    for mode in MODES:
        rate = statistics.median(x[0] for x in drains[mode])
        cpu = statistics.median(x[1] for x in drains[mode])
        rounds = ", ".join(f"{x[0] / 1000:,.0f}k" for x in drains[mode])
        print(f"  {mode:15}{rate:>12,.0f} events/s {rate / base:5.2f}x  {cpu:6.2f} CPU-s/M {cpu / base_cpu:5.2f}x   rounds: {rounds}")


def latencies(args, logdir) -> None:
    modes = tuple(args.modes.split(","))
    print(f"End-to-end latency at {args.rate:,}/s for {args.latency_seconds} s (simulator --measure, read_committed), "
          f"commit interval {args.commit_interval} ms, ms:")
    for r in range(2):
        for mode in (modes if r % 2 == 0 else modes[::-1]):
            result = latency(mode, args.latency_seconds, args.rate, f"{mode}-{r}", logdir)
            print(f"  {mode:15} p50 {result['p50']:6.1f}  p90 {result['p90']:6.1f}  p99 {result['p99']:6.1f}  "
                  f"p99.9 {result['p99.9']:6.1f}  max {result['max']:6.1f}  missing {result['missing']}  duplicates {result['duplicates']}",
                  flush=True)


if __name__ == "__main__":
    main()
