#!/usr/bin/env python3
"""Offline event scoring: `scorer score --events` vs the Python path, side by side in one run.

Input: the simulator's test data (simulator/data/test_data.csv.gz, 210,000 events, gzip), scored
with models/install-v1 into prediction JSON lines written to a file, start to finish (process start,
model load, decompression, parsing, featurizing, scoring and output all counted).

- scorer: `scorer score --model models/install-v1 --events FILE --output OUT --threads N`.
- Python: what a competent engineer would write with the training pipeline's own code: gzip + csv
  reader, each row made into its event by featurize.py's csv_row_to_event (the same CSV -> JSON rule
  the scorer uses), parsed with orjson, featurized with featurize.py's Featurizer (the very code the
  model was trained with), scored per 10,000-row batch with XGBoost's inplace_predict (nthread = N),
  and written as orjson lines. Timed in-process (interpreter start-up and imports excluded, model
  load included).

Runs alternate which side goes first; medians of --repeats runs. Before timing, both sides' p for the
first 2,000 events are compared (must print identically).

Usage: python3 benchmarks/offline_vs_python.py [--scorer PATH] [--threads 2] [--repeats 5]
"""
import argparse
import csv
import gzip
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import orjson
import xgboost as xgb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "models", "train"))
from featurize import FeatureError, Featurizer, csv_row_to_event, parse_timestamp_ms  # noqa: E402

NUMBER_COLUMNS = {"sourceGameId", "startCount", "viewCount", "clickCount", "installCount", "startCount1d", "startCount7d"}


def python_path(data, model_dir, output, threads, limit=None):
    """Scores the events of `data` into JSON lines at `output`; returns (events scored, seconds)."""
    began = time.perf_counter()
    with open(os.path.join(model_dir, "features.json")) as f:
        featurizer = Featurizer(json.load(f))
    booster = xgb.Booster(model_file=os.path.join(model_dir, "model.json"))
    booster.set_param({"nthread": threads})
    name = json.load(open(os.path.join(model_dir, "card.json"))).get("name", "model")
    width = len(featurizer.features)
    scored = 0
    with gzip.open(data, "rt", encoding="utf-8", newline="") as source, open(output, "wb") as sink:
        reader = csv.reader(source)
        header = next(reader)
        rows, ids, stamps = [], [], []

        def flush():
            x = Featurizer.to_float32(np.array(rows, dtype=np.float64).reshape(len(rows), width))
            p = booster.inplace_predict(x)
            scored_at = int(time.time() * 1000)
            sink.write(b"".join(orjson.dumps({"id": i, "p": q, "model": name, "scored_at": scored_at, "event_ts": t}) + b"\n"
                                for i, q, t in zip(ids, p.tolist(), stamps)))
            rows.clear(), ids.clear(), stamps.clear()

        for cells in reader:
            event = orjson.loads(csv_row_to_event(header, cells, NUMBER_COLUMNS))
            try:
                rows.append(featurizer.row64(event))
            except FeatureError:
                continue
            ids.append(event["id"])
            stamps.append(parse_timestamp_ms(event["timestamp"]) if isinstance(event.get("timestamp"), str) else None)
            scored += 1
            if len(rows) == 10_000:
                flush()
            if limit and scored >= limit:
                break
        if rows:
            flush()
    return scored, time.perf_counter() - began


def scorer_path(scorer, data, model_dir, output, threads):
    began = time.perf_counter()
    subprocess.run([scorer, "score", "--model", model_dir, "--events", data, "--output", output, "--threads", str(threads)],
                   check=True)
    seconds = time.perf_counter() - began
    with open(output, "rb") as f:
        count = sum(1 for _ in f)
    return count, seconds


def check_parity(scorer, data, model_dir, workdir, threads):
    ours_path, theirs_path = os.path.join(workdir, "ours.jsonl"), os.path.join(workdir, "theirs.jsonl")
    scorer_path(scorer, data, model_dir, ours_path, threads)
    python_path(data, model_dir, theirs_path, threads, limit=2000)
    with open(ours_path, "rb") as f:
        ours = [orjson.loads(line) for _, line in zip(range(2000), f)]
    with open(theirs_path, "rb") as f:
        theirs = [orjson.loads(line) for line in f]
    same = sum(1 for a, b in zip(ours, theirs) if a["id"] == b["id"] and np.float32(a["p"]) == np.float32(b["p"]))
    print(f"parity: {same}/{len(theirs)} events with the same id and float32 p on both sides")
    if same != len(theirs):
        sys.exit("parity check failed")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scorer", default=os.environ.get("SCORER", ".build/release/scorer"))
    parser.add_argument("--data", default=os.path.join(REPO, "simulator", "data", "test_data.csv.gz"))
    parser.add_argument("--model", default=os.path.join(REPO, "models", "install-v1"))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="offline-bench-")
    check_parity(args.scorer, args.data, args.model, workdir, args.threads)
    ours, theirs = [], []
    out = os.path.join(workdir, "out.jsonl")
    for repeat in range(args.repeats):
        sides = [("scorer", lambda: scorer_path(args.scorer, args.data, args.model, out, args.threads)),
                 ("python", lambda: python_path(args.data, args.model, out, args.threads))]
        if repeat % 2:
            sides.reverse()
        for side, run in sides:
            count, seconds = run()
            (ours if side == "scorer" else theirs).append(count / seconds)
            print(f"  round {repeat + 1} {side}: {count:,} events in {seconds:.3f} s = {count / seconds:,.0f} events/s", flush=True)
    mine, python = statistics.median(ours), statistics.median(theirs)
    print(f"| threads | scorer score --events (events/s) | Python featurize.py + inplace_predict (events/s) | ratio |")
    print(f"|---|---|---|---|")
    print(f"| {args.threads} | {mine:,.0f} | {python:,.0f} | **{mine / python:.1f}x** "
          f"({', '.join(f'{a / b:.1f}x' for a, b in zip(ours, theirs))}) |")


if __name__ == "__main__":
    main()
