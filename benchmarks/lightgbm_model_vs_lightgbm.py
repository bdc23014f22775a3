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
import subprocess
import sys

import lightgbm as lgb
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forest_bench import (DEPTH, MISSING, N_FEATURES, N_TREES, ScorerBench, benchmark_rows,  # noqa: E402
                          interleaved, time_calls, training_set, write_rows_csv)


def benchmark_model(workdir):
    path = os.path.join(workdir, "bench_lightgbm.txt")
    rng = np.random.default_rng(11)
    rows = benchmark_rows(rng)
    if not os.path.exists(path):
        X, y = training_set(rng)
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
    write_rows_csv(sample, csv)
    out = subprocess.run([scorer, "score", "--model", model_path, "--features-csv", csv],
                         capture_output=True, text=True, check=True).stdout.split()
    ours = np.asarray([float(v) for v in out], dtype=np.float64)
    theirs = np.asarray(booster.predict(sample, num_threads=1), dtype=np.float64)
    same = int((ours.view(np.uint64) == theirs.view(np.uint64)).sum())
    print(f"parity: {same}/{len(sample)} probabilities bit-identical (float64) to LightGBM {lgb.__version__} predict()")
    if same != len(sample):
        sys.exit("parity check failed; not benchmarking a wrong evaluator")


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
        theirs_rates, our_rates, theirs, mine = interleaved(
            lambda: time_calls(lambda chunk: booster.predict(chunk, num_threads=1), rows, batch, args.seconds),
            lambda: ours.rate(batch, args.seconds), args.repeats)
        ratios = ", ".join(f"{m / t:.1f}x" for m, t in zip(our_rates, theirs_rates))
        print(f"| {batch} | {theirs:,.0f} | {mine:,.0f} | {1e9 / theirs / trees:.2f} | {1e9 / mine / trees:.2f} | "
              f"**{mine / theirs:.1f}x** ({ratios}) |", flush=True)
    ours.close()


if __name__ == "__main__":
    main()
