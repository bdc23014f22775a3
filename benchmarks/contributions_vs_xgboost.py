#!/usr/bin/env python3
"""TreeSHAP contributions: Forest vs XGBoost's predict(pred_contribs=True), side by side in one run.

Same model and rows as benchmarks/evaluator_vs_xgboost.py (500 trees, depth 6, binary:logistic, 56
features, 3% missing; trained once into the work directory), or any model with --model and --rows.
Both engines compute exact path-dependent TreeSHAP for the same float32 rows on one thread
(XGBoost: nthread=1; its DMatrix for each batch is built before timing, so only pred_contribs is
timed). Engines are interleaved, order alternating per repeat; medians are reported.

Before timing, the scorer's contributions for 200 rows are compared with XGBoost's: the script
reports how many values are bit-identical and the largest absolute difference, and stops if any
differs by more than 1e-5.

Usage: python3 benchmarks/contributions_vs_xgboost.py [--scorer PATH] [--repeats 5] [--seconds 1]
       [--batches 1,16,256] [--model PATH --rows FILE.f32]
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np
import xgboost as xgb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evaluator_vs_xgboost import production_shaped_model  # noqa: E402
from forest_bench import ScorerBench, interleaved, write_rows_csv  # noqa: E402


def check_parity(scorer, model_path, booster, rows, workdir):
    sample = rows[:200]
    csv = os.path.join(workdir, "contrib_parity.csv")
    write_rows_csv(sample, csv)
    out = subprocess.run([scorer, "score", "--model", model_path, "--features-csv", csv, "--contribs"],
                         capture_output=True, text=True, check=True).stdout
    ours = np.asarray([[np.float32(v) for v in line.split(",")] for line in out.splitlines()], dtype=np.float32)
    theirs = booster.predict(xgb.DMatrix(sample, feature_types=booster.feature_types, enable_categorical=True),
                             pred_contribs=True).astype(np.float32).reshape(len(sample), -1)
    same = int((ours.view(np.uint32) == theirs.view(np.uint32)).sum())
    worst = float(np.max(np.abs(ours - theirs)))
    print(f"parity: {same}/{theirs.size} contributions bit-identical to XGBoost {xgb.__version__} pred_contribs, "
          f"largest difference {worst:.3g}")
    if worst > 1e-5:
        sys.exit("parity check failed; not benchmarking a wrong explainer")


def time_xgboost(booster, matrices, batch, seconds):
    scored, index = 0, 0
    began = time.perf_counter()
    while True:
        booster.predict(matrices[index % len(matrices)], pred_contribs=True)
        index += 1
        scored += batch
        elapsed = time.perf_counter() - began
        if elapsed >= seconds:
            return scored / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scorer", default=os.environ.get("SCORER", ".build/release/scorer"))
    parser.add_argument("--workdir", default="/tmp/forest-bench")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="measuring time per engine, batch and repeat")
    parser.add_argument("--batches", default="1,16,256")
    parser.add_argument("--model", help="an XGBoost model (default: the 500-tree benchmark model)")
    parser.add_argument("--rows", help="raw float32 rows for --model (row-major)")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    if args.model:
        model_path = args.model
        booster = xgb.Booster(model_file=os.path.join(model_path, "model.json") if os.path.isdir(model_path) else model_path)
        rows = np.fromfile(args.rows, dtype=np.float32).reshape(-1, booster.num_features())
        rows_path = args.rows
    else:
        model_path, booster, rows = production_shaped_model(args.workdir)
        rows_path = os.path.join(args.workdir, "bench_rows.f32")
    booster.set_param({"nthread": 1})
    check_parity(args.scorer, model_path, booster, rows, args.workdir)
    trees = len(booster.get_dump())
    print(f"model: {model_path}, {trees} trees, {booster.num_features()} features; one thread; "
          f"{args.repeats} interleaved repeats x {args.seconds}s, medians")
    print("| batch | XGBoost rows/s | Forest rows/s | XGBoost us/row | Forest us/row | Forest / XGBoost |")
    print("|---|---|---|---|---|---|")
    ours = ScorerBench(args.scorer, model_path, rows_path, extra_arguments=["--contribs"])
    for batch in [int(b) for b in args.batches.split(",")]:
        matrices = [xgb.DMatrix(rows[start:start + batch], feature_types=booster.feature_types, enable_categorical=True)
                    for start in range(0, min(len(rows), 8 * batch), batch) if start + batch <= len(rows)]
        theirs_rates, our_rates, theirs, mine = interleaved(
            lambda: time_xgboost(booster, matrices, batch, args.seconds),
            lambda: ours.rate(batch, args.seconds), args.repeats)
        ratios = ", ".join(f"{m / t:.1f}x" for m, t in zip(our_rates, theirs_rates))
        print(f"| {batch} | {theirs:,.0f} | {mine:,.0f} | {1e6 / theirs:,.1f} | {1e6 / mine:,.1f} | "
              f"**{mine / theirs:.1f}x** ({ratios}) |", flush=True)
    ours.close()


if __name__ == "__main__":
    main()
