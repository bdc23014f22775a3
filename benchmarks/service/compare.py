#!/usr/bin/env python3
"""`scorer run` vs the Python baseline, side by side on one development cluster (run through
benchmarks/service_vs_python.sh, which builds the release binaries first).

Three measurements, same broker, same model bundle, same events, for both services:

1. Throughput: a backlog of --backlog events (default 500,000) is produced once to a topic of
   --partitions partitions (the mock broker keeps ~5 MB per partition, so the backlog is spread thin
   enough that nothing is dropped; the low watermarks are checked). Each round starts each service in
   a fresh consumer group and samples the outputs the broker has acknowledged (the output topics'
   high watermarks) and the process's CPU time every 25 ms, until the group has committed everything.
   Sustained rate = 80% of the backlog / time from 10% to 90% of the outputs acknowledged (start-up
   and the tail excluded; crossings interpolated between samples); CPU-seconds per million events
   over the same window. Rounds alternate which service goes first; medians reported.
2. Latency: the simulator (`simulator --measure`) sends at --rate events/s for --latency-seconds to a
   fresh topic set per round while the service under test scores them; end-to-end latency is send to
   prediction read back (p50/p99/max) and missing counts ids without any answer. The simulator's
   consumer that reads predictions back is the measuring instrument: it runs with
   fetch.wait.max.ms=0 (--measurer-fetch-wait-max-ms) so that the mock broker's hold of an empty
   fetch (up to 1 ms, which a real broker does not add) is not counted against either service.
   Each service is warmed up (a few hundred events scored) before the simulator starts. Rounds
   alternate.
3. Memory: the service's resident set size (VmRSS) sampled every second during the latency run;
   steady state = median of the samples after the first 10 s, and the maximum.

Sides (--sides): scorer run, the Python baseline, the lean Python baseline and the C pass-through
(throughput only). Prints a table with the ratios and, with --json FILE, writes every figure.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Consumer, TopicPartition

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# MARK: - process figures from /proc

def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime, all threads


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


# MARK: - Kafka figures

class GroupProgress:
    """Committed offsets of a group (without joining it) and the topic's watermarks."""

    def __init__(self, brokers: str, group: str, topic: str, partitions: int):
        self.consumer = Consumer({"bootstrap.servers": brokers, "group.id": group,
                                  "enable.auto.commit": False})
        self.partitions = [TopicPartition(topic, p) for p in range(partitions)]

    def committed(self) -> int:
        parts = self.consumer.committed(self.partitions, timeout=10)
        return sum(max(tp.offset, 0) for tp in parts)

    def close(self):
        self.consumer.close()


class OutputProgress:
    """Outputs (predictions and dead letters) the broker has acknowledged: the sum of the output
    topics' high watermarks, read with one ListOffsets request.

    Unlike committed offsets, which `scorer run` moves every 100 ms (its commit interval), this
    grows with every acknowledged produce request, so a drain of about a second is timed to a few
    milliseconds instead of to +-100 ms.

    It calls the system librdkafka (the version `scorer broker`'s mock cluster is built from)
    through ctypes: the newer librdkafka inside the confluent-kafka wheel gets "Unknown broker
    error" from that mock for the ListOffsets request `offsets_for_times` sends.
    """

    class _Partition(ctypes.Structure):  # rd_kafka_topic_partition_t
        _fields_ = [("topic", ctypes.c_char_p), ("partition", ctypes.c_int32), ("offset", ctypes.c_int64),
                    ("metadata", ctypes.c_void_p), ("metadata_size", ctypes.c_size_t), ("opaque", ctypes.c_void_p),
                    ("err", ctypes.c_int), ("private", ctypes.c_void_p)]

    class _List(ctypes.Structure):  # rd_kafka_topic_partition_list_t
        _fields_ = [("cnt", ctypes.c_int), ("size", ctypes.c_int), ("elems", ctypes.c_void_p)]

    def __init__(self, brokers: str, topics: tuple[str, ...], partitions: int):
        lib = self.lib = ctypes.CDLL(ctypes.util.find_library("rdkafka") or "librdkafka.so.1")
        for name, restype in (("rd_kafka_conf_new", ctypes.c_void_p), ("rd_kafka_new", ctypes.c_void_p),
                              ("rd_kafka_topic_partition_list_new", ctypes.POINTER(self._List)),
                              ("rd_kafka_topic_partition_list_add", ctypes.c_void_p)):
            getattr(lib, name).restype = restype
        lib.rd_kafka_conf_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.rd_kafka_topic_partition_list_add.argtypes = [ctypes.POINTER(self._List), ctypes.c_char_p, ctypes.c_int32]
        lib.rd_kafka_offsets_for_times.argtypes = [ctypes.c_void_p, ctypes.POINTER(self._List), ctypes.c_int]
        lib.rd_kafka_destroy.argtypes = [ctypes.c_void_p]
        lib.rd_kafka_topic_partition_list_destroy.argtypes = [ctypes.POINTER(self._List)]
        error = ctypes.create_string_buffer(512)
        conf = lib.rd_kafka_conf_new()
        for key, value in (("bootstrap.servers", brokers), ("group.id", "bench-output-progress"), ("log_level", "3")):
            if lib.rd_kafka_conf_set(conf, key.encode(), value.encode(), error, 512) != 0:
                raise SystemExit(f"error: librdkafka {key}: {error.value.decode()}")
        self.handle = lib.rd_kafka_new(1, conf, error, 512)  # RD_KAFKA_CONSUMER
        if not self.handle:
            raise SystemExit(f"error: librdkafka consumer: {error.value.decode()}")
        self.list = lib.rd_kafka_topic_partition_list_new(len(topics) * partitions)
        for topic in topics:
            for partition in range(partitions):
                lib.rd_kafka_topic_partition_list_add(self.list, topic.encode(), partition)
        self.elems = ctypes.cast(self.list.contents.elems, ctypes.POINTER(self._Partition))

    def acknowledged(self) -> int:
        count = self.list.contents.cnt
        for i in range(count):
            self.elems[i].offset = -1  # ListOffsets takes a timestamp; -1 asks for the high watermark
        err = self.lib.rd_kafka_offsets_for_times(self.handle, self.list, 10_000)
        if err != 0:
            raise SystemExit(f"error: ListOffsets of the output topics failed (librdkafka error {err})")
        return sum(max(self.elems[i].offset, 0) for i in range(count))

    def close(self):
        self.lib.rd_kafka_topic_partition_list_destroy(self.list)
        self.lib.rd_kafka_destroy(self.handle)


def crossing_time(samples: list[tuple[float, int]], level: float) -> float:
    """When a sampled, non-decreasing count first reached `level`, interpolated linearly between
    the two samples around it."""
    previous = samples[0]
    for sample in samples:
        if sample[1] >= level:
            if sample[1] == previous[1]:
                return sample[0]
            return previous[0] + (sample[0] - previous[0]) * (level - previous[1]) / (sample[1] - previous[1])
        previous = sample
    raise ValueError("level never reached")


def watermarks(brokers: str, topic: str, partitions: int) -> tuple[int, int]:
    c = Consumer({"bootstrap.servers": brokers, "group.id": "bench-watermarks"})
    low = high = 0
    for p in range(partitions):
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        low += lo
        high += hi
    c.close()
    return low, high


# MARK: - the services under test

class Service:
    def __init__(self, name: str, argv: list[str], log_path: str):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.proc = None

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def start(self):
        self.log_file = open(self.log_path, "ab")
        self.log_file.write(f"\n$ {' '.join(self.argv)}\n".encode())
        self.log_file.flush()
        self.proc = subprocess.Popen(self.argv, stdout=self.log_file, stderr=subprocess.STDOUT, cwd=REPO)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check_alive(self):
        if self.proc.poll() is not None:
            raise SystemExit(f"error: {self.name} exited with status {self.proc.returncode}; see {self.log_path}")

    def stop(self, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


class Services:
    """Several instances of one service in one consumer group (scale-up on one box): CPU summed."""

    def __init__(self, services: list[Service]):
        self.services = services
        self.name = services[0].name
        self.log_path = services[0].log_path

    @property
    def pid(self) -> int:
        return self.services[0].pid

    def cpu(self) -> float:
        return sum(cpu_seconds(s.pid) for s in self.services)

    def start(self):
        for s in self.services:
            s.start()

    def check_alive(self):
        for s in self.services:
            s.check_alive()

    def stop(self, timeout=60):
        for s in self.services:
            s.stop(timeout)


def make_service(side, args, brokers_file, group, topics, logdir, fetch_wait_max_ms=None):
    argv = service_argv(side, args, brokers_file, group, topics, fetch_wait_max_ms)
    log_path = os.path.join(logdir, f"{side}.log")
    if side != "swift_x2":
        return Service(side, argv, log_path)
    return Services([Service(side, argv, log_path), Service(side, argv, os.path.join(logdir, f"{side}-2.log"))])


def service_argv(side: str, args, brokers_file: str, group: str, topics: tuple[str, str, str],
                 fetch_wait_max_ms: int | None = None) -> list[str]:
    """The command line of one service; `fetch_wait_max_ms` (None: each side's development-cluster
    default, 1 ms for both) is given to both sides the same way."""
    inp, out, dlq = topics
    if side in ("swift", "swift_b", "swift_x2"):
        scorer = args.scorer_b if side == "swift_b" and args.scorer_b else args.scorer
        argv = [scorer, "run", "--brokers", f"@{brokers_file}", "--group", group, "--model", args.model,
                "--input-topic", inp, "--output-topic", out, "--dlq-topic", dlq, "--log-level", "warning"]
        if fetch_wait_max_ms is not None:
            argv += ["-X", f"fetch.wait.max.ms={fetch_wait_max_ms}"]
        if args.session_timeout_ms is not None:
            argv += ["-X", f"session.timeout.ms={args.session_timeout_ms}"]
        if side == "swift_b":
            argv += shlex.split(args.swift_b_args)
        if side == "swift_x2":
            argv += ["--metrics-port", "0"]
        return argv
    if side == "passthrough":
        argv = [args.passthrough, "--brokers", f"@{brokers_file}", "--group", group,
                "--input-topic", inp, "--output-topic", out]
        if fetch_wait_max_ms is not None:
            argv += ["-X", f"fetch.wait.max.ms={fetch_wait_max_ms}"]
        if args.session_timeout_ms is not None:
            argv += ["-X", f"session.timeout.ms={args.session_timeout_ms}"]
        return argv
    script = "python_lean_baseline.py" if side == "lean" else "python_baseline.py"
    argv = [sys.executable, "-u", os.path.join(REPO, "benchmarks", script),
            "--brokers", f"@{brokers_file}", "--group", group, "--model", args.model,
            "--input-topic", inp, "--output-topic", out, "--dlq-topic", dlq]
    if fetch_wait_max_ms is not None:
        argv += ["--fetch-wait-max-ms", str(fetch_wait_max_ms)]
    if args.session_timeout_ms is not None:
        argv += ["-X", f"session.timeout.ms={args.session_timeout_ms}"]
    return argv


# MARK: - measurements

def throughput_round(side, args, brokers, brokers_file, round_no, logdir):
    group = f"bench-{side}-{round_no}"
    topics = ("backlog", "backlog.out", "backlog.dlq")
    svc = make_service(side, args, brokers_file, group, topics, logdir)
    progress = GroupProgress(brokers, group, "backlog", args.partitions)
    outputs = OutputProgress(brokers, topics[1:], args.partitions)
    total = args.backlog
    base = outputs.acknowledged()  # earlier rounds' outputs
    svc.start()
    started = time.monotonic()
    perf = None
    # A CPU profile of the drain from 5% to 95% of the outputs acknowledged (every thread of the
    # service; start-up and the tail left out): perf's software clock (no PMU in this VM), call
    # graphs by frame pointers. The events and CPU-seconds between start and stop are logged.
    profile = args.perf and side in args.perf.split(",")
    perf_out = os.path.join(logdir, f"perf-{side}-{round_no}.data")
    perf_marks = []
    samples = []  # (monotonic, outputs acknowledged this round, cpu)
    try:
        done, polls = 0, 0
        while True:
            svc.check_alive()
            # --progress committed: the group's committed offsets (what exactly-once makes visible
            # to read_committed readers, at each transaction) instead of the outputs acknowledged.
            done_now = progress.committed() if getattr(args, "progress", "outputs") == "committed" else outputs.acknowledged() - base
            samples.append((time.monotonic(), done_now, svc.cpu(), cpu_seconds(args.broker_pid)))
            if profile and perf is None and not perf_marks and samples[-1][1] >= 0.05 * total:
                perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(args.perf_frequency), "-g",
                                         "-p", str(svc.pid), "-o", perf_out], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                perf_marks.append(samples[-1])
            elif perf is not None and samples[-1][1] >= 0.95 * total:
                perf.send_signal(signal.SIGINT)
                perf.wait(60)
                perf = None
                perf_marks.append(samples[-1])
                events, cpu = perf_marks[1][1] - perf_marks[0][1], perf_marks[1][2] - perf_marks[0][2]
                log(f"perf {side}: {perf_out}: {events} events, {cpu:.2f} CPU-s recorded "
                    f"(python3 benchmarks/service/perf_breakdown.py {perf_out} --events {events} --cpu-seconds {cpu:.2f})")
            if polls % 4 == 0:
                done = progress.committed()
            polls += 1
            if done >= total:
                break
            if time.monotonic() - started > args.round_timeout:
                raise SystemExit(f"error: {side} did not drain the backlog in {args.round_timeout} s "
                                 f"({done} of {total} committed); see {svc.log_path}")
            time.sleep(0.025)
    finally:
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
        svc.stop()
        progress.close()
        outputs.close()

    # Sustained rate: outputs acknowledged between 10% and 90% of the backlog (start-up, group
    # join and the tail excluded), the crossing moments interpolated between 25 ms samples.
    counts = [(t, n) for t, n, _, _ in samples]
    t10, t90 = crossing_time(counts, 0.1 * total), crossing_time(counts, 0.9 * total)
    events = 0.8 * total
    seconds = t90 - t10
    # CPU: /proc counts 10 ms ticks; taken between the samples just outside the window.
    a = max((s for s in samples if s[0] <= t10), key=lambda s: s[0])
    b = min((s for s in samples if s[0] >= t90), key=lambda s: s[0])
    cpu = b[2] - a[2]
    broker_cpu = b[3] - a[3]
    result = {"rate": events / seconds if seconds > 0 else float("inf"),
              "cpu_s_per_million": cpu / (b[1] - a[1]) * 1e6 if b[1] > a[1] else float("nan"),
              "broker_cpu_s_per_million": broker_cpu / (b[1] - a[1]) * 1e6 if b[1] > a[1] else float("nan"),
              "broker_cores": broker_cpu / (b[0] - a[0]) if b[0] > a[0] else float("nan"),
              "wall_s": samples[-1][0] - started, "window_events": events, "window_s": seconds}
    log(f"throughput {side} round {round_no}: {result['rate']:,.0f} events/s, "
        f"{result['cpu_s_per_million']:.1f} CPU-s per million (broker {result['broker_cpu_s_per_million']:.1f}), "
        f"{result['wall_s']:.1f} s from start to fully committed")
    return result


def latency_round(side, args, brokers, brokers_file, round_no, logdir):
    prefix = f"lat{round_no}-{side}"
    topics = (f"{prefix}.in", f"{prefix}.out", f"{prefix}.dlq")
    group = f"bench-lat-{side}-{round_no}"
    svc = make_service(side, args, brokers_file, group, topics, logdir, args.fetch_wait_max_ms)
    progress = GroupProgress(brokers, group, topics[0], args.partitions)
    svc.start()
    rss = []
    cpu_start = None
    try:
        # Warm-up: the service has joined its group and scored these before the clock starts.
        warm = 200
        subprocess.run([sys.executable, os.path.join(HERE, "produce_events.py"), "--brokers", f"@{brokers_file}",
                        "--topic", topics[0], "--count", str(warm), "--id-suffix=-warmup", "--model", args.model],
                       check=True, cwd=REPO)
        deadline = time.monotonic() + args.round_timeout
        while progress.committed() < warm:
            svc.check_alive()
            if time.monotonic() > deadline:
                raise SystemExit(f"error: {side} did not score the warm-up events; see {svc.log_path}")
            time.sleep(0.2)
        sim_argv = [args.simulator, "--brokers", f"@{brokers_file}", "--topic", topics[0],
                    "--predictions-topic", topics[1], "--dead-letter-topic", topics[2],
                    "--rate", str(args.rate), "--duration", f"{args.latency_seconds}s", "--loop",
                    "--measure", "--json", "--drain", "5s", "--linger-ms", str(args.sim_linger_ms),
                    "-X", f"fetch.wait.max.ms={args.measurer_fetch_wait_max_ms}"]
        sim_out = os.path.join(logdir, f"simulator-{prefix}.ndjson")
        with open(sim_out, "w") as out, open(os.path.join(logdir, "simulator.log"), "ab") as err:
            sim = subprocess.Popen(sim_argv, stdout=out, stderr=err, cwd=REPO)
            t0 = time.monotonic()
            cpu_start = svc.cpu()
            broker_start = cpu_seconds(args.broker_pid)
            while sim.poll() is None:
                svc.check_alive()
                if time.monotonic() - t0 >= 10 and time.monotonic() - t0 <= args.latency_seconds:
                    rss.append(rss_mb(svc.pid))
                time.sleep(1.0)
            cpu_used = svc.cpu() - cpu_start
            broker_used = cpu_seconds(args.broker_pid) - broker_start
            wall = time.monotonic() - t0
    finally:
        svc.stop()
        progress.close()
    summary = None
    with open(sim_out) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                obj = json.loads(line)
                if obj.get("type") == "summary":
                    summary = obj
    if summary is None:
        raise SystemExit(f"error: the simulator wrote no summary; see {sim_out}")
    lat = summary["latency_ms"]
    counts = summary["counts"]
    result = {"p50_ms": lat["p50_ms"], "p99_ms": lat["p99_ms"], "max_ms": lat["max_ms"],
              "sent": counts["sent"], "predicted": counts["predicted"], "missing": summary.get("missing"),
              "duplicates": counts.get("duplicates"), "achieved_rate": summary.get("achieved_rate"),
              "kept_up": summary.get("kept_up"),
              "rss_mb_median": statistics.median(rss) if rss else float("nan"),
              "rss_mb_max": max(rss) if rss else float("nan"),
              "cpu_cores": cpu_used / wall if wall > 0 else float("nan"),
              "broker_cores": broker_used / wall if wall > 0 else float("nan")}
    log(f"latency {side} round {round_no}: p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
        f"max {result['max_ms']:.1f} ms, missing {result['missing']}, RSS {result['rss_mb_median']:.0f} MB, "
        f"{result['cpu_cores']:.2f} cores")
    return result


# MARK: - main

class DevelopmentBroker:
    """`scorer broker` in a child process with the given topics; yields (address, bootstrap file)."""

    def __init__(self, args, logdir, name, partitions, topics):
        self.file = os.path.join(logdir, f"bootstrap-{name}")
        argv = [args.scorer, "broker", "--partitions", str(partitions), "--bootstrap-file", self.file]
        for t in topics:
            argv += ["--topic", t]
        self.argv = argv
        self.log_path = os.path.join(logdir, f"broker-{name}.log")

    def __enter__(self):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO)
        for _ in range(300):
            if os.path.exists(self.file) and os.path.getsize(self.file) > 0:
                break
            if self.proc.poll() is not None:
                raise SystemExit(f"error: scorer broker exited; see {self.log_path}")
            time.sleep(0.1)
        with open(self.file) as f:
            brokers = next(l.strip() for l in f if l.strip() and not l.startswith("#"))
        return brokers, self.file

    def __exit__(self, *_):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class TansuBroker(DevelopmentBroker):
    """Tansu (scripts/tansu.sh run) in a child process with the given topics; yields (address,
    bootstrap file). Every client must load librdkafka >= 2.2 (service_vs_python.sh sees to it)."""

    def __init__(self, args, logdir, name, partitions, topics):
        self.file = os.path.join(logdir, f"bootstrap-{name}")
        argv = ["bash", os.path.join(REPO, "scripts", "tansu.sh"), "run", "--partitions", str(partitions),
                "--bootstrap-file", self.file]
        for t in topics:
            argv += ["--topic", f"{t}:{partitions}"]
        self.argv = argv
        self.log_path = os.path.join(logdir, f"broker-{name}.log")

    def __exit__(self, *_):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class NoidaBroker(TansuBroker):
    """noida-db's Kafka (scripts/noida.sh run), the broker here whose transactions hide aborted
    records (exactly-once runs), with the given topics; yields (address, bootstrap file)."""

    def __init__(self, args, logdir, name, partitions, topics):
        super().__init__(args, logdir, name, partitions, topics)
        self.argv[1] = os.path.join(REPO, "scripts", "noida.sh")


BROKERS = {"mock": DevelopmentBroker, "tansu": TansuBroker, "noida": NoidaBroker}


def broker_pid(brokers: str, fallback: int) -> int:
    """The broker process: Tansu's or noida-db's own (found by its listener), or `scorer broker`
    (the mock cluster runs inside it)."""
    port = brokers.rsplit(":", 1)[-1]
    for pattern in (f"tansu broker --listener-url tcp://{brokers}", f"noida-db start .*--kafka-port {port}"):
        found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
        if found:
            return int(found[0])
    return fallback


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bin_dir = os.path.join(REPO, ".build", "release")
    p.add_argument("--scorer", default=os.path.join(bin_dir, "scorer"))
    p.add_argument("--simulator", default=os.path.join(bin_dir, "simulator"))
    p.add_argument("--model", default=os.path.join(REPO, "models", "install-v1"))
    p.add_argument("--passthrough", default=os.path.join(bin_dir, "passthrough"),
                   help="the C pass-through (benchmarks/passthrough/passthrough.c, built by service_vs_python.sh)")
    p.add_argument("--sides", default="swift,python,lean,passthrough",
                   help="comma-separated sides: swift (scorer run), python (benchmarks/python_baseline.py), lean "
                        "(benchmarks/python_lean_baseline.py), passthrough (the C pass-through, throughput only); "
                        "throughput rounds rotate which goes first; for A/B runs: swift_b (--scorer-b and/or "
                        "--swift-b-args), swift_x2 (two scorer run instances in one group, CPU summed)")
    p.add_argument("--scorer-b", default=None, help="the scorer binary of side swift_b (default: --scorer)")
    p.add_argument("--swift-b-args", default="", help="extra arguments of side swift_b, e.g. '-X linger.ms=5'")
    p.add_argument("--backlog", type=int, default=500_000, help="events to drain per throughput round")
    p.add_argument("--partitions", type=int, default=64, help="partitions of the backlog topics")
    p.add_argument("--latency-partitions", type=int, default=1,
                   help="partitions of the latency-run topics (1: the mock broker walks every retained message "
                        "set of a partition per fetch and returns one set per partition, so more partitions of "
                        "smaller sets slow it down until it falls behind; see BENCHMARKS.md)")
    p.add_argument("--sim-linger-ms", type=int, default=1, help="the simulator's producer linger for the latency run")
    p.add_argument("--repeats", type=int, default=3, help="throughput rounds per service")
    p.add_argument("--rate", type=int, default=5000, help="simulator rate for the latency run")
    p.add_argument("--latency-seconds", type=int, default=60)
    p.add_argument("--latency-repeats", type=int, default=1, help="latency rounds per service")
    p.add_argument("--fetch-wait-max-ms", type=int, default=None,
                   help="fetch.wait.max.ms for both services in the latency run (default: their development-cluster "
                        "setting, 1). The mock broker holds an empty fetch this long even when data arrives (a real "
                        "broker answers at once), so 0 cuts about 1 ms per consuming hop at the price of polling "
                        "the broker without pause while idle; see BENCHMARKS.md")
    p.add_argument("--measurer-fetch-wait-max-ms", type=int, default=None,
                   help="fetch.wait.max.ms of the simulator's consumer that reads the predictions back (the "
                        "measuring instrument, not the service under test). 0 (the default) makes it ask again at "
                        "once, as a real broker answers a waiting fetch as soon as data arrives; 1 adds the mock "
                        "broker's hold (up to 1 ms) to every figure of both services, as runs before session 6 did")
    p.add_argument("--broker", choices=["mock", "tansu"], default="mock",
                   help="mock: librdkafka's mock cluster (scorer broker); tansu: Tansu, an independent "
                        "Kafka-compatible broker (scripts/tansu.sh), which needs librdkafka >= 2.2 on every client")
    p.add_argument("--session-timeout-ms", type=int, default=None,
                   help="session.timeout.ms for both services (default: librdkafka's 45 s on the mock, 10 s on "
                        "Tansu, which holds every group join for half of it)")
    p.add_argument("--round-timeout", type=float, default=600)
    p.add_argument("--perf", default="", help="comma-separated sides to record with `perf record` during their "
                                              "throughput rounds (perf-SIDE-ROUND.data in the log folder)")
    p.add_argument("--perf-frequency", type=int, default=2000, help="perf samples per second per thread")
    p.add_argument("--skip", choices=["throughput", "latency"], action="append", default=[])
    p.add_argument("--json", help="write every figure to this file")
    args = p.parse_args()
    args.sides = [s for s in args.sides.split(",") if s]
    for side in args.sides:
        if side not in LABELS:
            raise SystemExit(f"error: unknown side {side!r}")
    if "passthrough" in args.sides and not os.access(args.passthrough, os.X_OK):
        raise SystemExit(f"error: {args.passthrough} is not built (run benchmarks/service_vs_python.sh)")
    for exe in (args.scorer, args.simulator):
        if not os.access(exe, os.X_OK):
            raise SystemExit(f"error: {exe} is not built (run benchmarks/service_vs_python.sh)")

    Broker = TansuBroker if args.broker == "tansu" else DevelopmentBroker
    if args.broker == "tansu":
        # Tansu answers no data to fetches shorter than its own processing (0-5 ms) and holds an
        # empty one for the whole wait: 100 ms for every consumer (README's settings table).
        if args.fetch_wait_max_ms is None:
            args.fetch_wait_max_ms = 100
        if args.measurer_fetch_wait_max_ms is None:
            args.measurer_fetch_wait_max_ms = 100
        if args.session_timeout_ms is None:
            args.session_timeout_ms = 10_000
    elif args.measurer_fetch_wait_max_ms is None:
        args.measurer_fetch_wait_max_ms = 0

    logdir = tempfile.mkdtemp(prefix="service-vs-python-")
    log(f"logs in {logdir}")
    results = {"broker": args.broker, "backlog": args.backlog, "partitions": args.partitions, "latency_partitions": args.latency_partitions,
               "fetch_wait_max_ms": args.fetch_wait_max_ms,
               "measurer_fetch_wait_max_ms": args.measurer_fetch_wait_max_ms,
               "rate": args.rate, "latency_seconds": args.latency_seconds,
               "sides": args.sides,
               "throughput": {side: [] for side in args.sides},
               "latency": {side: [] for side in args.sides if side not in ("passthrough", "swift_x2")}}

    if "throughput" not in args.skip:
        broker = Broker(args, logdir, "throughput", args.partitions, ["backlog", "backlog.out", "backlog.dlq"])
        with broker as (brokers, brokers_file):
            args.broker_pid = broker_pid(brokers, broker.proc.pid)
            log(f"producing a backlog of {args.backlog:,} events over {args.partitions} partitions")
            subprocess.run([sys.executable, os.path.join(HERE, "produce_events.py"), "--brokers", f"@{brokers_file}",
                            "--topic", "backlog", "--count", str(args.backlog), "--model", args.model],
                           check=True, cwd=REPO)
            # (Tansu keeps everything, and its ListOffsets(latest) reports the last batch's base offset.)
            low, high = watermarks(brokers, "backlog", args.partitions) if args.broker == "mock" else (0, args.backlog)
            if low != 0 or high != args.backlog:
                raise SystemExit(f"error: the broker holds offsets {low}..{high}, not 0..{args.backlog}: "
                                 f"use more --partitions (the mock broker keeps ~5 MB per partition)")
            for r in range(1, args.repeats + 1):
                k = (r - 1) % len(args.sides)
                order = args.sides[k:] + args.sides[:k]  # rotated: each side goes first in turn
                for side in order:
                    results["throughput"][side].append(throughput_round(side, args, brokers, brokers_file, r, logdir))

    if "latency" not in args.skip:
        topics = []
        latency_sides = [s for s in args.sides if s not in ("passthrough", "swift_x2")]
        for r in range(1, args.latency_repeats + 1):
            for side in latency_sides:
                topics += [f"lat{r}-{side}.in", f"lat{r}-{side}.out", f"lat{r}-{side}.dlq"]
        # Its own broker with fewer partitions: events are consumed as they arrive, so retention
        # does not matter, and 64 near-empty partitions would only add per-partition fetch work.
        broker = Broker(args, logdir, "latency", args.latency_partitions, topics)
        with broker as (brokers, brokers_file):
            args.broker_pid = broker_pid(brokers, broker.proc.pid)
            saved = args.partitions
            args.partitions = args.latency_partitions
            for r in range(1, args.latency_repeats + 1):
                k = (r - 1) % len(latency_sides)
                for side in latency_sides[k:] + latency_sides[:k]:
                    results["latency"][side].append(latency_round(side, args, brokers, brokers_file, r, logdir))
            args.partitions = saved

    report(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def median(rounds, key):
    values = [r[key] for r in rounds if r.get(key) is not None]
    return statistics.median(values) if values else float("nan")


LABELS = {"swift": "scorer run", "python": "python", "lean": "python lean", "passthrough": "C pass-through",
          "swift_b": "scorer run B", "swift_x2": "scorer run x2"}


def report(results):
    print()
    where = "Tansu" if results.get("broker") == "tansu" else "the development cluster"
    print(f"Service vs Python baselines on {where} ({results['partitions']} partitions for the backlog, "
          f"{results['latency_partitions']} for the latency run)")
    t = {side: rounds for side, rounds in results["throughput"].items() if rounds}
    if t:
        sides = list(t)
        n = max(len(r) for r in t.values())
        print(f"Throughput, draining {results['backlog']:,} events (median of {n} interleaved rounds):")
        print(f"  {'':26}" + "".join(f"{LABELS[s]:>16}" for s in sides))
        rate = {s: median(t[s], "rate") for s in sides}
        cpu = {s: median(t[s], "cpu_s_per_million") for s in sides}
        print(f"  {'events/s':26}" + "".join(f"{rate[s]:>16,.0f}" for s in sides))
        print(f"  {'CPU-s per million':26}" + "".join(f"{cpu[s]:>16.2f}" for s in sides))
        print(f"  {'broker CPU-s per million':26}" + "".join(f"{median(t[s], 'broker_cpu_s_per_million'):>16.1f}" for s in sides))
        print(f"  {'broker cores':26}" + "".join(f"{median(t[s], 'broker_cores'):>16.2f}" for s in sides))
        for s in sides:
            print(f"  rounds {LABELS[s]}: " + ", ".join(f"{r['rate']:,.0f} ({r['cpu_s_per_million']:.2f})" for r in t[s])
                  + "  events/s (CPU-s per million)")
        if "swift" in t:
            for s in sides:
                if s == "swift":
                    continue
                if s in ("swift_b", "swift_x2"):
                    print(f"  {LABELS[s]} / scorer run: {rate[s] / rate['swift']:.3f}x the rate, "
                          f"{cpu[s] / cpu['swift']:.3f}x the CPU per event")
                elif s == "passthrough":
                    print(f"  scorer run / {LABELS[s]}: {rate['swift'] / rate[s]:.2f}x the rate, "
                          f"{cpu['swift'] / cpu[s]:.1f}x the CPU per event")
                else:
                    print(f"  scorer run vs {LABELS[s]}: {rate['swift'] / rate[s]:.1f}x the rate, "
                          f"{cpu[s] / cpu['swift']:.1f}x less CPU per event")
    lat = {side: rounds for side, rounds in results["latency"].items() if rounds}
    if lat:
        sides = list(lat)
        fetch_wait = results.get("fetch_wait_max_ms")
        fetch_wait = "1 (development-cluster default)" if fetch_wait is None else str(fetch_wait)
        print(f"End-to-end latency at {results['rate']:,}/s for {results['latency_seconds']} s "
              f"(median of {max(len(r) for r in lat.values())} round(s) each; the services' fetch.wait.max.ms = "
              f"{fetch_wait}; the measuring consumer's = {results.get('measurer_fetch_wait_max_ms', 1)}):")
        print(f"  {'':26}" + "".join(f"{LABELS[s]:>16}" for s in sides))
        rows = (("p50_ms", "p50 ms", ".2f"), ("p99_ms", "p99 ms", ".2f"), ("max_ms", "max ms", ".2f"),
                ("missing", "missing", ",.0f"), ("duplicates", "duplicates", ",.0f"), ("sent", "sent", ",.0f"),
                ("rss_mb_median", "RSS MB (steady)", ".0f"), ("rss_mb_max", "RSS MB (max)", ".0f"),
                ("cpu_cores", "CPU cores (service)", ".2f"), ("broker_cores", "CPU cores (broker)", ".2f"))
        for key, label, fmt in rows:
            print(f"  {label:26}" + "".join(f"{median(lat[s], key):>16{fmt}}" for s in sides))


if __name__ == "__main__":
    main()
