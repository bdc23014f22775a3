#!/usr/bin/env python3
"""Interleaved A/B drain of several `scorer run` command lines on one development cluster.

Each side is NAME=SCORER [EXTRA ARGS...]: a scorer binary (another build, e.g. an older commit's)
and flags added after the usual `run` arguments (`--shadow models/install-v1`, `--canary ...`).
One backlog is produced once; every round runs each side in a fresh consumer group, rotating the
order so no side always goes first, and measures what benchmarks/service/compare.py measures for a
throughput round (sustained events/s between 10 % and 90 % of the outputs acknowledged, and the
service's CPU-seconds per million events). Prints medians and each side's ratio to the first side.

  python3 benchmarks/service/scorer_ab.py \\
      --side "one model=.build/release/scorer" \\
      --side "with --shadow=.build/release/scorer --shadow models/install-v1" \\
      --backlog 300000 --repeats 5
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

import compare  # the throughput round, broker and service helpers of service_vs_python.sh

HERE = compare.HERE
REPO = compare.REPO


def parse_side(text: str) -> tuple[str, list[str]]:
    name, sep, command = text.partition("=")
    words = shlex.split(command)
    if not sep or not name.strip() or not words:
        raise argparse.ArgumentTypeError(f"--side wants NAME=SCORER [ARGS...], got {text!r}")
    scorer = words[0]
    if not os.access(scorer, os.X_OK):
        raise argparse.ArgumentTypeError(f"{scorer} is not an executable (build it with `swift build -c release`)")
    return name.strip(), words


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", action="append", type=parse_side, required=True,
                   help="NAME=SCORER [ARGS...]; give two or more; the first is the reference of the ratios")
    p.add_argument("--model", default=os.path.join(REPO, "models", "install-v1"), help="--model of every side")
    p.add_argument("--backlog", type=int, default=300_000, help="events drained per round")
    p.add_argument("--partitions", type=int, default=64, help="partitions of the backlog topic (the mock keeps ~5 MB each)")
    p.add_argument("--repeats", type=int, default=5, help="rounds per side")
    p.add_argument("--round-timeout", type=float, default=600)
    p.add_argument("--broker", choices=sorted(compare.BROKERS), default="mock",
                   help="mock: librdkafka's mock cluster (scorer broker); tansu or noida: an independent broker "
                        "(scripts/tansu.sh, scripts/noida.sh; noida-db's transactions hide aborted records, so "
                        "exactly-once sides need it); run the sides through scripts/librdkafka.sh exec for Tansu")
    p.add_argument("--progress", choices=["outputs", "committed"], default="outputs",
                   help="what a round's rate counts: outputs acknowledged by the broker (default; a fine clock), or "
                        "input offsets committed by the group (what exactly-once makes visible, at each commit)")
    args = p.parse_args()
    if len(args.side) < 2:
        p.error("give at least two --side")
    names = [name for name, _ in args.side]
    if len(set(names)) != len(names):
        p.error("side names must differ")
    commands = dict(args.side)

    # compare.throughput_round builds each service's command line with compare.service_argv; give
    # it ours: the side's binary, the usual run arguments, then the side's own flags.
    def service_argv(side, a, brokers_file, group, topics, fetch_wait_max_ms=None):
        scorer, *extra = commands[side]
        inp, out, dlq = topics
        return [scorer, "run", "--brokers", f"@{brokers_file}", "--group", group, "--model", a.model,
                "--input-topic", inp, "--output-topic", out, "--dlq-topic", dlq, "--log-level", "warning", *extra]

    compare.service_argv = service_argv
    args.session_timeout_ms = None
    args.perf = None  # compare.py's optional profile of a round: not here
    args.scorer = commands[names[0]][0]

    logdir = tempfile.mkdtemp(prefix="scorer-ab-")
    compare.log(f"logs in {logdir}")
    results: dict[str, list[dict]] = {name: [] for name in names}
    broker = compare.BROKERS[args.broker](args, logdir, "ab", args.partitions, ["backlog", "backlog.out", "backlog.dlq"])
    with broker as (brokers, brokers_file):
        args.broker_pid = compare.broker_pid(brokers, broker.proc.pid)
        compare.log(f"producing a backlog of {args.backlog:,} events over {args.partitions} partitions")
        subprocess.run([sys.executable, os.path.join(HERE, "produce_events.py"), "--brokers", f"@{brokers_file}",
                        "--topic", "backlog", "--count", str(args.backlog), "--model", args.model],
                       check=True, cwd=REPO)
        low, high = compare.watermarks(brokers, "backlog", args.partitions) if args.broker != "tansu" else (0, args.backlog)
        if low != 0 or high != args.backlog:
            raise SystemExit(f"error: the broker holds offsets {low}..{high}, not 0..{args.backlog}: use more --partitions")
        for r in range(1, args.repeats + 1):
            shift = (r - 1) % len(names)
            for name in names[shift:] + names[:shift]:
                results[name].append(compare.throughput_round(name, args, brokers, brokers_file, r, logdir))

    first = names[0]
    base_rate = statistics.median(x["rate"] for x in results[first])
    base_cpu = statistics.median(x["cpu_s_per_million"] for x in results[first])
    print()
    print(f"Drain of {args.backlog:,} events over {args.partitions} partitions ({args.broker}; progress: {args.progress}), "
          f"median of {args.repeats} interleaved rounds")
    width = max(len(n) for n in names) + 2
    print(f"  {'side':{width}}{'events/s':>12}{'ratio':>9}{'CPU-s/M':>10}{'ratio':>9}   rounds (events/s / CPU-s per M)")
    for name in names:
        rate = statistics.median(x["rate"] for x in results[name])
        cpu = statistics.median(x["cpu_s_per_million"] for x in results[name])
        rounds = ", ".join(f"{x['rate'] / 1000:,.0f}k/{x['cpu_s_per_million']:.2f}" for x in results[name])
        print(f"  {name:{width}}{rate:>12,.0f}{rate / base_rate:>8.2f}x{cpu:>10.2f}{cpu / base_cpu:>8.2f}x   {rounds}")


if __name__ == "__main__":
    main()
