#!/usr/bin/env python3
"""Forest on a LightGBM model.txt vs the lightgbm package's Booster.predict, side by side in one run.

The model has the evaluator benchmark's shape in LightGBM terms: 500 trees, binary, 56 features,
~3% missing, max_depth 6 with num_leaves 63 (so trees are nearly full), trained once into the work
directory. Both engines score the same float32 rows into transformed probabilities on one thread
(lightgbm: num_threads=1; the scorer: --threads 1). Engines are interleaved, order alternating per
repeat; medians are reported. Our side runs in a persistent `scorer model bench --interactive`
process (load time not counted); LightGBM's side is timed around Booster.predict calls on float32
NumPy slices, which is how a Python user calls it.

Before timing, the scorer's float64 probabilities for 2,000 rows (`scorer score --features-csv`) are
compared bit for bit with LightGBM's predict(); the script stops on any difference.

Usage: python3 benchmarks/lightgbm_model_vs_lightgbm.py [--scorer PATH] [--repeats 5] [--seconds 0.4]
       [--batches 1,16,256,4096]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import lightgbm as lgb
import numpy as np

N_FEATURES, N_TREES, DEPTH, MISSING = 56, 500, 6, 0.03


def benchmark_model(workdir):
    path = os.path.join(workdir, "bench_lightgbm.txt")
    rng = np.random.default_rng(11)
    rows = rng.normal(size=(65536, N_FEATURES)).astype(np.float32)
    rows[rng.random(rows.shape) < MISSING] = np.nan
    if not os.path.exists(path):
        X = rng.normal(size=(20000, N_FEATURES)).astype(np.float32)
        X[rng.random(X.shape) < MISSING] = np.nan
        weights = rng.normal(size=N_FEATURES)
        logit = np.nan_to_num(X) @ weights * 0.3 + np.sin(np.nan_to_num(X[:, 0]) * 3)
        y = (logit + rng.logistic(size=len(X)) > 0).astype(int)
        params = {"objective": "binary", "max_depth": DEPTH, "num_leaves": 2 ** DEPTH - 1, "learning_rate": 0.05,
                  "min_data_in_leaf": 5, "bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.8,
                  "seed": 3, "verbose": -1, "num_threads": os.cpu_count()}
        lgb.train(params, lgb.Dataset(X, y), N_TREES).save_model(path)
    rows_path = os.path.join(workdir, "bench_lightgbm_rows.f32")
    rows.tofile(rows_path)
    return path, lgb.Booster(model_file=path), rows, rows_path


def check_parity(scorer, model_path, booster, rows, workdir):
    sample = rows[:2000]
    csv = os.path.join(workdir, "lightgbm_parity.csv")
    with open(csv, "w") as handle:
        for row in sample:
            handle.write(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n")
    out = subprocess.run([scorer, "score", "--model", model_path, "--features-csv", csv],
                         capture_output=True, text=True, check=True).stdout.split()
    ours = np.asarray([float(v) for v in out], dtype=np.float64)
    theirs = np.asarray(booster.predict(sample, num_threads=1), dtype=np.float64)
    same = int((ours.view(np.uint64) == theirs.view(np.uint64)).sum())
    print(f"parity: {same}/{len(sample)} probabilities bit-identical (float64) to LightGBM {lgb.__version__} predict()")
    if same != len(sample):
        sys.exit("parity check failed; not benchmarking a wrong evaluator")


def time_lightgbm(booster, rows, batch, seconds):
    start, scored = 0, 0
    began = time.perf_counter()
    while True:
        for _ in range(max(1, 256 // batch)):
            if start + batch > len(rows):
                start = 0
            booster.predict(rows[start:start + batch], num_threads=1)
            start += batch
            scored += batch
        elapsed = time.perf_counter() - began
        if elapsed >= seconds:
            return scored / elapsed


class ScorerBench:
    def __init__(self, scorer, model_path, rows_path):
        self.process = subprocess.Popen(
            [scorer, "model", "bench", model_path, "--rows", rows_path, "--threads", "1", "--interactive"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def rate(self, batch, seconds):
        self.process.stdin.write(f"{batch} {seconds}\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline().split()[1])

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scorer", default=os.environ.get("SCORER", ".build/release/scorer"))
    parser.add_argument("--workdir", default="/tmp/forest-bench")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.4, help="measuring time per engine, batch and repeat")
    parser.add_argument("--batches", default="1,16,256,4096")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    model_path, booster, rows, rows_path = benchmark_model(args.workdir)
    check_parity(args.scorer, model_path, booster, rows, args.workdir)
    trees = booster.num_trees()
    print(f"model: {model_path}, {trees} trees, {N_FEATURES} features, {MISSING:.0%} missing; one thread; "
          f"{args.repeats} interleaved repeats x {args.seconds}s, medians")
    print("| batch | LightGBM rows/s | Forest rows/s | LightGBM ns/row/tree | Forest ns/row/tree | Forest / LightGBM (repeats) |")
    print("|---|---|---|---|---|---|")
    ours = ScorerBench(args.scorer, model_path, rows_path)
    for batch in [int(b) for b in args.batches.split(",")]:
        theirs_rates, our_rates = [], []
        for repeat in range(args.repeats):
            if repeat % 2 == 0:
                theirs_rates.append(time_lightgbm(booster, rows, batch, args.seconds))
                our_rates.append(ours.rate(batch, args.seconds))
            else:
                our_rates.append(ours.rate(batch, args.seconds))
                theirs_rates.append(time_lightgbm(booster, rows, batch, args.seconds))
        theirs, mine = statistics.median(theirs_rates), statistics.median(our_rates)
        ratios = ", ".join(f"{m / t:.1f}x" for m, t in zip(our_rates, theirs_rates))
        print(f"| {batch} | {theirs:,.0f} | {mine:,.0f} | {1e9 / theirs / trees:.2f} | {1e9 / mine / trees:.2f} | "
              f"**{mine / theirs:.1f}x** ({ratios}) |", flush=True)
    ours.close()


if __name__ == "__main__":
    main()
