"""Shared pieces of the evaluator benchmarks (evaluator_vs_xgboost.py, contributions_vs_xgboost.py,
lightgbm_model_vs_lightgbm.py): the synthetic data set, the persistent `scorer model bench`
process, the timing loop for the Python engines and the interleaved measurement.

One place for them, so that every anchor is timed the same way as the others.
"""
import statistics
import subprocess
import time

import numpy as np

N_FEATURES, N_TREES, DEPTH, MISSING = 56, 500, 6, 0.03


def benchmark_rows(rng, count=65536):
    """The rows every engine scores: standard normal float32 with MISSING of them NaN."""
    rows = rng.normal(size=(count, N_FEATURES)).astype(np.float32)
    rows[rng.random(rows.shape) < MISSING] = np.nan
    return rows


def training_set(rng, count=20000):
    """A labelled set with a linear and a non-linear signal, for training the benchmark models."""
    X = benchmark_rows(rng, count)
    weights = rng.normal(size=N_FEATURES)
    logit = np.nan_to_num(X) @ weights * 0.3 + np.sin(np.nan_to_num(X[:, 0]) * 3)
    y = (logit + rng.logistic(size=len(X)) > 0).astype(int)
    return X, y


def write_rows_csv(rows, path):
    """Rows as `scorer score --features-csv` reads them: exact decimal values, empty for missing."""
    with open(path, "w") as handle:
        for row in rows:
            handle.write(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n")


def time_calls(call, rows, batch, seconds):
    """Rows per second of `call(rows[start:start + batch])`, cycling through `rows` for `seconds`."""
    start, scored = 0, 0
    began = time.perf_counter()
    while True:
        for _ in range(max(1, 256 // batch)):
            if start + batch > len(rows):
                start = 0
            call(rows[start:start + batch])
            start += batch
            scored += batch
        elapsed = time.perf_counter() - began
        if elapsed >= seconds:
            return scored / elapsed


class ScorerBench:
    """A persistent `scorer model bench --interactive` process: start-up and model loading are not
    timed; each `rate(batch, seconds)` asks it for one measurement."""

    def __init__(self, scorer, model_path, rows_path, threads=1, extra_arguments=(), environment=None):
        self.process = subprocess.Popen(
            [scorer, "model", "bench", model_path, "--rows", rows_path, "--threads", str(threads), "--interactive",
             *extra_arguments],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment)

    def rate(self, batch, seconds):
        self.process.stdin.write(f"{batch} {seconds}\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline().split()[1])

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def interleaved(theirs, ours, repeats):
    """Runs the two measurements `repeats` times, alternating which goes first (the machine's speed
    drifts). Returns (their rates, our rates, their median, our median)."""
    theirs_rates, our_rates = [], []
    for repeat in range(repeats):
        if repeat % 2 == 0:
            theirs_rates.append(theirs())
            our_rates.append(ours())
        else:
            our_rates.append(ours())
            theirs_rates.append(theirs())
    return theirs_rates, our_rates, statistics.median(theirs_rates), statistics.median(our_rates)
