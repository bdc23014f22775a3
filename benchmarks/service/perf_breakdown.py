#!/usr/bin/env python3
"""Where `scorer run`'s CPU goes: a `perf record -g` profile of a drain, broken down two ways.

- By stage: each sample is charged to the nearest frame of our code on its call stack that names a
  stage (parse/featurize, score, encode, headers, produce call, delivery handling, offset tracking,
  consume, ...), walking from the sampled instruction towards the root; samples of librdkafka's own
  threads (rdk:*) are charged to "librdkafka threads", by thread name.
- By where the instruction was: our binary, Swift runtime, librdkafka, allocator (jemalloc, or
  malloc/free), kernel, other libraries.

The table gives both at once (rows: stage, columns: where), as shares of all samples and as
microseconds of CPU per event (with --events, the events the drain moved, and --cpu-seconds, the
CPU the process used over the recording; otherwise shares only).

    python3 benchmarks/service/perf_breakdown.py PERF.data [--events 500000 --cpu-seconds 2.1]

Recorded by `benchmarks/service_vs_python.sh --sides swift --repeats 1 --skip latency --perf swift`.
perf's cpu-clock is sampled, so a share is known to about +-sqrt(n) samples.
"""
from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys

# Nearest-frame rules, checked in order for each frame from the leaf up: the first frame that
# matches any rule decides the stage.
STAGES = [
    ("headers", re.compile(r"makeHeaderList|rd_kafka_headers_new|rd_kafka_header_add")),
    ("encode", re.compile(r"PredictionEncoder|withPrediction|appendDecimal")),
    ("produce call", re.compile(r"KafkaProducer\.produce|rd_kafka_produceva|OutputWriter\.publish")),
    ("delivery handling", re.compile(r"DeliveryLoop|pollDeliveries|serveEvents|DeliveryReport|rd_kafka_queue_poll")),
    ("offset tracking", re.compile(r"OffsetTracker|OffsetCommitter|acknowledgeDelivered|PartitionRun")),
    ("score", re.compile(r"Forest|ForestKernels|forest_|predict|BatchScorer|ScoringWorker|BatchRuntime")),
    ("parse/featurize", re.compile(r"Features\.|Featurizer|JSONCursor|ByteStringTable|featurize")),
    ("consume", re.compile(r"KafkaConsumer|KafkaMessageBatch|MicroBatchGatherer|rd_kafka_consume_batch_queue|FetchRestarter")),
    ("output writer (rest)", re.compile(r"OutputWriter|ScoringPipeline")),
    ("metrics", re.compile(r"ScoringMetrics|MetricsServer|VariantStats")),
]
WHERE = ["our code", "Swift runtime", "librdkafka", "allocator", "kernel", "libc/other"]
ALLOC = re.compile(r"^(je_|malloc|free|calloc|realloc|cfree|_int_malloc|_int_free|posix_memalign|aligned_alloc|"
                   r"tcache|arena_|extent_|sdallocx|mallocx|rallocx|__libc_malloc|__libc_free|_rjem_|"
                   r"imalloc|ifree|large_|emap_|pac_|sec_|edata_|rtree_|hpa_|ecache_)")


def where(sym: str, dso: str) -> str:
    d = dso.rsplit("/", 1)[-1]
    if "kernel" in d or d.startswith("[vdso") or d == "[unknown]" and sym.startswith("0xffff"):
        return "kernel"
    if "jemalloc" in d or ALLOC.match(sym):
        return "allocator"
    if "rdkafka" in d:
        return "librdkafka"
    if d.startswith("libswift") or d.startswith("libdispatch") or d.startswith("libFoundation"):
        return "Swift runtime"
    if d.startswith("scorer"):  # the binary (or a copy of it, e.g. scorer-A for an A/B)
        return "our code"
    return "libc/other"


def demangle(symbols: set[str]) -> dict[str, str]:
    names = sorted(s for s in symbols if s.startswith("$s") or s.startswith("_$s"))
    if not names:
        return {}
    try:
        out = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(names), capture_output=True,
                             text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return {}
    return dict(zip(names, out)) if len(out) == len(names) else {}


def samples(path: str):
    """("thread name/tid", [(symbol, dso), ...] leaf first) per sample."""
    text = subprocess.run(["perf", "script", "-i", path, "-F", "comm,tid,ip,sym,dso"], capture_output=True, text=True,
                          check=True).stdout
    comm, frames = None, []
    for line in text.splitlines():
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
        elif not line[0].isspace():
            head = line.split()
            comm, frames = f"{' '.join(head[:-1])}/{head[-1]}", []
        else:
            parts = line.strip().split(None, 1)
            rest = parts[1] if len(parts) > 1 else ""
            m = re.match(r"(.*?)\s+\((.*)\)$", rest)
            sym, dso = (m.group(1), m.group(2)) if m else (rest, "")
            sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
            frames.append((sym, dso))
    if comm is not None:
        yield comm, frames


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("perf_data")
    p.add_argument("--events", type=float, default=None, help="events moved during the recording")
    p.add_argument("--cpu-seconds", type=float, default=None, help="CPU-seconds the process used during it")
    p.add_argument("--top", type=int, default=25, help="also list the N hottest symbols")
    p.add_argument("--unattributed", type=int, default=0, help="list the N commonest stacks no stage rule matched")
    args = p.parse_args()

    raw = list(samples(args.perf_data))
    mangled = {s for _, fr in raw for s, _ in fr}
    names = demangle(mangled)
    table = collections.defaultdict(collections.Counter)  # stage -> where -> samples
    hot = collections.Counter()
    threads = collections.Counter()
    unattributed = collections.Counter()
    decided = []  # (thread, where, stage or None, frames)
    by_thread = collections.defaultdict(collections.Counter)
    for comm, frames in raw:
        if not frames:
            continue
        leaf_sym, leaf_dso = frames[0]
        w = where(leaf_sym, leaf_dso)
        stage = None
        if comm.startswith("rdk:"):
            stage = "librdkafka threads"
        else:
            for sym, _ in frames:
                full = names.get(sym, sym)
                for name, rule in STAGES:
                    if rule.search(full):
                        stage = name
                        break
                if stage:
                    break
        if stage:
            by_thread[comm][stage] += 1
        decided.append((comm, w, stage, frames))
        hot[(names.get(leaf_sym, leaf_sym)[:90], leaf_dso.rsplit('/', 1)[-1])] += 1
        threads[comm.split("/")[0]] += 1
    # Stacks through code built without frame pointers (librdkafka, libc) end there: such a
    # sample is charged to its thread's role, named by the stage most of the thread's other samples have.
    def role_of(stage: str) -> str:
        if stage in ("parse/featurize", "score"):
            return "scoring worker thread"
        if stage == "delivery handling":
            return "delivery thread"
        return "pipeline thread (consume, produce)"

    role = {t: f"{role_of(c.most_common(1)[0][0])}, stack cut (librdkafka/libc calls, waits)" for t, c in by_thread.items()}
    for comm, w, stage, frames in decided:
        if stage is None:
            stage = role.get(comm, f"other ({comm.split('/')[0]})")
            chain = " < ".join(names.get(sym, sym)[:50] for sym, _ in frames[:6])
            unattributed[(stage, chain)] += 1
        table[stage][w] += 1
    total = sum(sum(c.values()) for c in table.values())
    if not total:
        print("no samples", file=sys.stderr)
        return 1
    per_event = None
    if args.events and args.cpu_seconds:
        per_event = args.cpu_seconds / args.events * 1e6 / total  # us of CPU per event per sample
        print(f"{total} samples; {args.cpu_seconds:.2f} CPU-s over {args.events:,.0f} events = "
              f"{args.cpu_seconds / args.events * 1e6:.2f} us per event")
    else:
        print(f"{total} samples")
    cell = (lambda n: f"{n * per_event:.2f}") if per_event else (lambda n: f"{100 * n / total:.1f}%")
    print("\n| stage | " + " | ".join(WHERE) + " | total |")
    print("|---|" + "---:|" * (len(WHERE) + 1))
    for stage, counts in sorted(table.items(), key=lambda kv: -sum(kv[1].values())):
        n = sum(counts.values())
        print(f"| {stage} | " + " | ".join(cell(counts[w]) if counts[w] else "" for w in WHERE) + f" | **{cell(n)}** ({100 * n / total:.1f}%) |")
    cols = [sum(table[s][w] for s in table) for w in WHERE]
    print("| **total** | " + " | ".join(f"**{cell(c)}**" for c in cols) + f" | **{cell(total)}** |")
    print("\nthreads: " + ", ".join(f"{c} {100 * n / total:.1f}%" for c, n in threads.most_common()))
    print(f"\nhottest symbols (self):")
    for (sym, dso), n in hot.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {sym}  ({dso})")
    if args.unattributed:
        print("\nunattributed stacks (leaf first):")
        for (stage, chain), n in unattributed.most_common(args.unattributed):
            print(f"  {100 * n / total:5.1f}%  [{stage}] {chain}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
