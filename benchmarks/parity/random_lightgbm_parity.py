#!/usr/bin/env python3
"""Randomized parity: freshly trained LightGBM models (model.txt) vs `scorer score --features-csv`.

Each model draws its objective, tree shape (leaf-wise num_leaves, max_depth), boosting (gbdt or
random forest), missing-value handling (NaN, zero_as_missing, use_missing=false), share of zeros
and NaN, categorical features, linear trees and rounds at random. The scorer must reproduce
LightGBM's predict(raw_score=True) and predict() bit for bit (float64) on rows that include NaN,
+-inf, LightGBM's zero band (+-1e-35 and neighbours), invalid categories, and every numerical
threshold as the float32 values at and one ulp around it.

Usage: SCORER=.build/release/scorer python3 benchmarks/parity/random_lightgbm_parity.py --models 40
Exits non-zero on any mismatch (printing the model, row and values).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import lightgbm as lgb

F32 = np.float32
OBJECTIVES = ["binary", "regression", "multiclass", "multiclassova", "lambdarank", "rank_xendcg", "cross_entropy",
              "cross_entropy_lambda", "regression_l1", "huber", "quantile", "poisson", "gamma", "tweedie"]


def labels(rng, objective, signal, classes):
    if objective == "binary":
        return (signal + rng.normal(size=len(signal)) * 0.5 > 0).astype(int)
    if objective.startswith("multiclass"):
        return np.digitize(signal, np.quantile(signal, np.linspace(0, 1, classes + 1)[1:-1]))
    if objective.startswith("cross_entropy"):
        return 1 / (1 + np.exp(-signal))
    if objective in ("poisson",):
        return np.floor(np.abs(signal) * 3)
    if objective in ("gamma", "tweedie"):
        return np.abs(signal) + 0.1
    if objective in ("lambdarank", "rank_xendcg"):
        return np.clip(np.round(signal + 2), 0, 4).astype(int)
    return signal + rng.normal(size=len(signal)) * 0.1


def make_rows(rng, n, features, categorical, categories, missing, zeros, scale):
    X = (rng.normal(size=(n, features)) * scale).astype(np.float32)
    X[rng.random(size=X.shape) < zeros] = 0.0
    for column in categorical:
        X[:, column] = rng.integers(0, categories[column], size=n)
    X[rng.random(size=X.shape) < missing] = np.nan
    return X


def thresholds(booster):
    pairs = set()

    def walk(node):
        if "split_index" in node:
            if node["decision_type"] == "<=":
                pairs.add((node["split_feature"], float(node["threshold"])))
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    return sorted(pairs)


def around(t):
    with np.errstate(over="ignore"):
        return _around(t)


def _around(t):
    below = F32(t)
    if float(below) > t:
        below = np.nextafter(below, F32(-np.inf))
    return [v for v in {below, np.nextafter(below, F32(-np.inf)), np.nextafter(below, F32(np.inf)), F32(t)} if np.isfinite(v)]


def edge_rows(rng, booster, rows, categorical):
    edges = []
    found = thresholds(booster)
    if len(found) > 60:
        found = [found[i] for i in sorted(rng.choice(len(found), 60, replace=False))]
    for feature, t in found:
        for value in around(t):
            row = rows[rng.integers(len(rows))].copy()
            row[feature] = value
            edges.append(row)
    band = []
    for m in (F32(1e-35), F32(1e-36), F32(0.0)):
        for v in (m, np.nextafter(m, F32(1)), np.nextafter(m, F32(-1))):
            band += [v, -v]
    for feature in sorted({f for f, _ in found})[:4]:
        for value in band + [F32(np.inf), F32(-np.inf), F32(np.nan)]:
            row = rows[rng.integers(len(rows))].copy()
            row[feature] = value
            edges.append(row)
    for column in categorical:
        for value in (-1.0, -0.5, -1e-36, 0.7, 31.0, 32.0, 1e10, 2.0 ** 24, 2.0 ** 31, np.inf, np.nan, 75.0):
            row = rows[rng.integers(len(rows))].copy()
            row[column] = value
            edges.append(row)
    return np.vstack([rows, np.asarray(edges, dtype=np.float32)]) if edges else rows


def write_csv(path, rows, rng):
    with open(path, "w") as handle:
        for row in rows:
            fields = []
            for value in row:
                if np.isnan(value):
                    fields.append(rng.choice(["", "nan", "NaN"]))
                elif np.isinf(value):
                    fields.append("inf" if value > 0 else "-inf")
                else:
                    fields.append("%.9g" % value)
            handle.write(",".join(fields) + "\n")


def run_scorer(scorer, model_path, csv_path, raw):
    command = [scorer, "score", "--model", model_path, "--features-csv", csv_path] + (["--margin"] if raw else [])
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return np.asarray([[float(x) for x in line.split(",")] for line in result.stdout.splitlines()], dtype=np.float64)


def same_bits(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64).reshape(a.shape) if a.size == np.asarray(b).size else None
    if b is None:
        return np.zeros(len(a), dtype=bool)
    equal = (a.view(np.uint64) == b.view(np.uint64)) | (np.isnan(a) & np.isnan(b))
    return equal.reshape(len(a), -1).all(axis=1)


def one_model(index, rng, scorer, workdir):
    objective = OBJECTIVES[rng.integers(len(OBJECTIVES))]
    features = int(rng.integers(2, 25))
    categorical = [c for c in range(features) if rng.random() < rng.choice([0.0, 0.0, 0.2, 0.4])]
    categories = {c: int(rng.integers(2, 70)) for c in categorical}
    missing = float(rng.choice([0.0, 0.05, 0.2]))
    zeros = float(rng.choice([0.0, 0.1, 0.3]))
    classes = int(rng.integers(3, 6))
    n = int(rng.integers(300, 900))
    X = make_rows(rng, n, features, categorical, categories, missing, zeros, rng.choice([1.0, 1e-3, 100.0]))
    column = next((c for c in range(features) if c not in categorical), 0)
    signal = np.nan_to_num(X[:, column]) / (np.nanstd(X[:, column]) + 1e-9) + (X[:, categorical[0]] % 3 == 0 if categorical else 0)
    y = labels(rng, objective, signal, classes)
    params = {
        "objective": objective, "num_leaves": int(rng.integers(2, 64)), "max_depth": int(rng.choice([-1, -1, 3, 6, 12])),
        "learning_rate": float(rng.uniform(0.05, 0.5)), "min_data_in_leaf": int(rng.integers(2, 30)),
        "seed": int(rng.integers(1 << 30)), "num_threads": 1, "verbose": -1, "deterministic": True,
        "max_cat_to_onehot": int(rng.choice([1, 4, 64])), "min_data_per_group": 5, "cat_smooth": 1.0,
    }
    if objective.startswith("multiclass"):
        params["num_class"] = classes
    handling = rng.choice(["nan", "nan", "zero", "none"])
    if handling == "zero":
        params["zero_as_missing"] = True
    elif handling == "none":
        params["use_missing"] = False
    kind = rng.choice(["gbdt", "gbdt", "gbdt", "rf", "linear"])
    if kind == "rf":
        params.update(boosting="rf", bagging_fraction=0.7, bagging_freq=1, feature_fraction=0.8)
    elif kind == "linear" and objective in ("binary", "regression", "multiclass", "cross_entropy", "poisson") and handling != "zero":
        params["linear_tree"] = True
    rounds = int(rng.integers(1, 31))
    extra = {"group": [n // 10] * 10} if objective in ("lambdarank", "rank_xendcg") else {}
    if extra:
        X, y, n = X[: n // 10 * 10], y[: n // 10 * 10], n // 10 * 10
    dataset = lgb.Dataset(X, y, categorical_feature=categorical or "auto", params={"verbose": -1}, **extra)
    booster = lgb.train(params, dataset, rounds)

    model_path = os.path.join(workdir, f"model_{index}.txt")
    booster.save_model(model_path)
    if os.environ.get("KEEP_MODELS"):
        booster.save_model(os.path.join(os.environ["KEEP_MODELS"], f"model_{index}.txt"))
    model = lgb.Booster(model_file=model_path)
    rows = edge_rows(rng, model, make_rows(rng, 150, features, categorical, categories, missing, zeros, 1.0), categorical)
    csv_path = os.path.join(workdir, f"rows_{index}.csv")
    write_csv(csv_path, rows, rng)

    expected_raw = np.asarray(model.predict(rows, raw_score=True), dtype=np.float64).reshape(len(rows), -1)
    expected = np.asarray(model.predict(rows), dtype=np.float64).reshape(len(rows), -1)
    raw = run_scorer(scorer, model_path, csv_path, True)
    predictions = run_scorer(scorer, model_path, csv_path, False)

    description = (f"model {index} ({objective}, {params.get('boosting', 'gbdt')}{', linear' if params.get('linear_tree') else ''}, "
                   f"missing {handling}, {model.num_trees()} trees, num_leaves {params['num_leaves']}, {len(categorical)} categorical)")
    problems = []
    for name, got, want in (("raw", raw, expected_raw), ("prediction", predictions, expected)):
        if got.shape != want.shape:
            problems.append(f"{name} shape {got.shape} != {want.shape}")
            continue
        for row in np.flatnonzero(~same_bits(got, want))[:3]:
            problems.append(f"row {row}: {name} {got[row].tolist()} != LightGBM {want[row].tolist()}")
    return description, len(rows), problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=40, help="number of random models (default 40)")
    parser.add_argument("--seed", type=int, default=2025, help="random seed (default 2025)")
    parser.add_argument("--scorer", default=os.environ.get("SCORER", ".build/release/scorer"), help="scorer binary (default: $SCORER)")
    args = parser.parse_args()
    if not os.access(args.scorer, os.X_OK):
        sys.exit(f"random_lightgbm_parity: scorer binary not found at {args.scorer} (set SCORER)")
    rng = np.random.default_rng(args.seed)
    started = time.time()
    failures, total_rows = 0, 0
    with tempfile.TemporaryDirectory(prefix="lightgbm-parity-") as workdir:
        for index in range(args.models):
            description, row_count, problems = one_model(index, rng, args.scorer, workdir)
            total_rows += row_count
            if problems:
                failures += 1
                print(f"MISMATCH {description}")
                for problem in problems:
                    print(f"  {problem}")
    print(f"random LightGBM parity: {args.models - failures}/{args.models} models match LightGBM {lgb.__version__} "
          f"({total_rows} rows, raw scores and predictions bit-exact in float64) in {time.time() - started:.0f}s")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
