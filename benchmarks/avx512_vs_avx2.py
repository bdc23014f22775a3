#!/usr/bin/env python3
"""The evaluator's AVX-512 kernel (16 rows per vector) vs its AVX2 kernel (8), side by side in one run.

Two persistent `scorer model bench --interactive` processes on the same rows, one with the default
kernel (AVX-512 where the CPU has it) and one with FOREST_KERNEL=avx2, measured alternately (order
alternating per repeat), medians. Models: the 500-tree benchmark model of
benchmarks/evaluator_vs_xgboost.py (its rows) and models/install-v1 (categorical splits) on featurized
test rows (--install-rows, raw float32, 19 per row; without it, install-v1 is skipped).

Before timing, the 500-tree model's margins for 2,000 rows are checked bit for bit against XGBoost
with each kernel.

Usage: python3 benchmarks/avx512_vs_avx2.py [--scorer PATH] [--repeats 5] [--seconds 0.4]
       [--install-rows FILE.f32] [--threads 1]
"""
import argparse
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evaluator_vs_xgboost import check_parity, production_shaped_model  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def environment(kernel):
    env = dict(os.environ)
    env.pop("FOREST_KERNEL", None)
    if kernel == "avx2":
        env["FOREST_KERNEL"] = "avx2"
    return env


class Bench:
    def __init__(self, scorer, model, rows, threads, kernel):
        self.process = subprocess.Popen(
            [scorer, "model", "bench", model, "--rows", rows, "--threads", str(threads), "--interactive"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment(kernel))

    def rate(self, batch, seconds):
        self.process.stdin.write(f"{batch} {seconds}\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline().split()[1])

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def kernel_name(scorer, model, kernel):
    out = subprocess.run([scorer, "model", "inspect", model], capture_output=True, text=True, check=True,
                         env=environment(kernel)).stdout
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("kernel")), "?")


def compare(name, scorer, model, rows, trees, batches, args):
    print(f"\n{name}: default kernel '{kernel_name(scorer, model, 'auto')}' vs FOREST_KERNEL=avx2 "
          f"'{kernel_name(scorer, model, 'avx2')}'; {args.threads} thread(s), {args.repeats} repeats x {args.seconds}s, medians")
    print("| batch | AVX2 ns/row/tree | AVX-512 ns/row/tree | AVX-512 / AVX2 speed (repeats) |")
    print("|---|---|---|---|")
    wide, narrow = Bench(scorer, model, rows, args.threads, "auto"), Bench(scorer, model, rows, args.threads, "avx2")
    for batch in batches:
        wide_rates, narrow_rates = [], []
        for repeat in range(args.repeats):
            pair = [(wide, wide_rates), (narrow, narrow_rates)]
            if repeat % 2:
                pair.reverse()
            for bench, rates in pair:
                rates.append(bench.rate(batch, args.seconds))
        w, n = statistics.median(wide_rates), statistics.median(narrow_rates)
        ratios = ", ".join(f"{a / b:.2f}x" for a, b in zip(wide_rates, narrow_rates))
        print(f"| {batch} | {1e9 / n / trees:.2f} | {1e9 / w / trees:.2f} | **{w / n:.2f}x** ({ratios}) |", flush=True)
    wide.close()
    narrow.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scorer", default=os.environ.get("SCORER", ".build/release/scorer"))
    parser.add_argument("--workdir", default="/tmp/forest-bench")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", default="1,16,64,256,4096")
    parser.add_argument("--install-rows", help="featurized install-v1 rows, raw float32")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    batches = [int(b) for b in args.batches.split(",")]
    model, booster, rows = production_shaped_model(args.workdir)
    for kernel in ("auto", "avx2"):
        print(f"{kernel}: ", end="")
        check_parity(args.scorer, model, booster, rows, args.workdir, environment(kernel))
    compare("500 trees, depth 6, 56 features", args.scorer, model, os.path.join(args.workdir, "bench_rows.f32"), 500, batches, args)
    if args.install_rows:
        install = os.path.join(REPO, "models", "install-v1")
        compare("install-v1 (46 trees, depth 6, 1,812 of 2,744 splits categorical)", args.scorer, install, args.install_rows, 46,
                batches, args)


if __name__ == "__main__":
    main()
