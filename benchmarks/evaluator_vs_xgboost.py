#!/usr/bin/env python3
"""Forest evaluator vs XGBoost's inplace_predict, side by side in one run.

The model is our production shape: 500 trees, depth 6, binary:logistic, 56 features, ~3% missing
values. Both engines score the same float32 rows (transformed probabilities), at batch sizes
1, 16, 256, 4096 and 65536, single-threaded and on all cores. Measurements interleave the two
engines (order alternating per repeat) and report medians, because this machine's speed drifts.
Our side runs in a persistent `scorer model bench --interactive` process, so process start-up and
model loading are not timed; XGBoost's side is timed around inplace_predict calls from Python,
which is how a Python user would call it.

Before timing, the scorer's margins for 2,000 of the rows are checked bit for bit against
XGBoost's predict(output_margin=True).

--kernel portable runs the scorer with FOREST_KERNEL=portable: the Swift fallback kernel that CPUs
without AVX2 (and other architectures) use, instead of the AVX2 kernel.

Usage: python3 benchmarks/evaluator_vs_xgboost.py [--scorer PATH] [--repeats 5] [--seconds 0.4]
       [--kernel auto|portable]
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import xgboost as xgb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forest_bench import (DEPTH, MISSING, N_FEATURES, N_TREES, ScorerBench, benchmark_rows,  # noqa: E402
                          interleaved, time_calls, training_set, write_rows_csv)

BATCHES = [1, 16, 256, 4096, 65536]


def production_shaped_model(workdir):
    path = os.path.join(workdir, "bench_model.ubj")
    rng = np.random.default_rng(11)
    rows = benchmark_rows(rng)
    if not os.path.exists(path):
        X, y = training_set(rng)
        params = {"objective": "binary:logistic", "max_depth": DEPTH, "eta": 0.05, "nthread": os.cpu_count(),
                  "seed": 3, "subsample": 0.8, "colsample_bytree": 0.8}
        xgb.train(params, xgb.DMatrix(X, y), N_TREES).save_model(path)
    booster = xgb.Booster(model_file=path)
    rows.tofile(os.path.join(workdir, "bench_rows.f32"))
    return path, booster, rows


def scorer_environment(kernel):
    environment = dict(os.environ)
    environment.pop("FOREST_KERNEL", None)
    if kernel == "portable":
        environment["FOREST_KERNEL"] = "portable"
    return environment


def check_parity(scorer, model_path, booster, rows, workdir, environment):
    sample = rows[:2000]
    csv = os.path.join(workdir, "parity.csv")
    write_rows_csv(sample, csv)
    out = subprocess.run([scorer, "score", "--model", model_path, "--features-csv", csv, "--margin"],
                         capture_output=True, text=True, check=True, env=environment).stdout.split()
    ours = np.asarray([np.float32(v) for v in out], dtype=np.float32)
    theirs = booster.predict(xgb.DMatrix(sample), output_margin=True).astype(np.float32)
    same = int((ours.view(np.uint32) == theirs.view(np.uint32)).sum())
    print(f"parity: {same}/{len(sample)} margins bit-identical to XGBoost {xgb.__version__}")
    if same != len(sample):
        sys.exit("parity check failed; not benchmarking a wrong evaluator")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scorer", default=os.environ.get("SCORER", ".build/release/scorer"))
    parser.add_argument("--workdir", default="/tmp/forest-bench")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.4, help="measuring time per engine, batch and repeat")
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)))
    parser.add_argument("--kernel", choices=["auto", "portable"], default="auto",
                        help="auto: the scorer's own choice (AVX2 where available); portable: the Swift fallback")
    args = parser.parse_args()
    environment = scorer_environment(args.kernel)
    os.makedirs(args.workdir, exist_ok=True)
    model_path, booster, rows = production_shaped_model(args.workdir)
    check_parity(args.scorer, model_path, booster, rows, args.workdir, environment)
    batches = [int(b) for b in args.batches.split(",")]
    cores = os.cpu_count() or 1
    print(f"model: {N_TREES} trees, depth {DEPTH}, {N_FEATURES} features, {MISSING:.0%} missing; "
          f"{args.repeats} repeats x {args.seconds}s, medians; {cores} cores; Forest kernel: {args.kernel}")
    print(f"| threads | batch | XGBoost rows/s | Forest rows/s | XGBoost ns/row/tree | Forest ns/row/tree | Forest / XGBoost |")
    print(f"|---|---|---|---|---|---|---|")
    for threads in sorted({1, cores}):
        booster.set_param({"nthread": threads})
        ours = ScorerBench(args.scorer, model_path, os.path.join(args.workdir, "bench_rows.f32"), threads,
                           environment=environment)
        for batch in batches:
            _, _, theirs, mine = interleaved(lambda: time_calls(booster.inplace_predict, rows, batch, args.seconds),
                                             lambda: ours.rate(batch, args.seconds), args.repeats)
            print(f"| {threads} | {batch} | {theirs:,.0f} | {mine:,.0f} | {1e9 / theirs / N_TREES:.2f} | "
                  f"{1e9 / mine / N_TREES:.2f} | {mine / theirs:.2f}x |", flush=True)
        ours.close()


if __name__ == "__main__":
    main()
