#!/usr/bin/env python3
"""Randomized parity: freshly trained XGBoost models vs `scorer score --features-csv`.

Each model draws its objective, depth, rounds, booster (gbtree/dart/random forest), feature count,
categorical share, missing share and file format (.json/.ubj) at random; the scorer must reproduce
XGBoost's predict(output_margin=True) bit for bit and predict() within 1 ulp on rows that include
missing values and values exactly at split thresholds and one ulp either side. TreeSHAP
(`scorer score --contribs`) must match predict(pred_contribs=True) within 1e-5 per value (the
summary counts how many are bit-identical; --strict-contribs fails on any bit difference), and
`--top 3` must name the features of the three largest |contributions|.

Usage: SCORER=.build/release/scorer python3 benchmarks/parity/random_parity.py --models 50
Exits non-zero on any mismatch (printing the model, row and values).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import xgboost as xgb

OBJECTIVES = [
    "binary:logistic", "binary:logitraw", "binary:hinge", "reg:squarederror", "reg:squaredlogerror",
    "reg:logistic", "reg:pseudohubererror", "reg:absoluteerror", "reg:quantileerror", "count:poisson",
    "reg:gamma", "reg:tweedie", "survival:cox", "multi:softprob", "multi:softmax", "rank:pairwise",
    "rank:ndcg",
]


def labels(rng, objective, signal, n_classes):
    if objective.startswith("binary:"):
        return (signal + rng.normal(size=len(signal)) * 0.5 > 0).astype(int)
    if objective.startswith("multi:"):
        return np.digitize(signal, np.quantile(signal, np.linspace(0, 1, n_classes + 1)[1:-1]))
    if objective == "reg:logistic":
        return 1 / (1 + np.exp(-signal))
    if objective in ("reg:squaredlogerror", "reg:gamma", "reg:tweedie"):
        return np.abs(signal) + 0.1
    if objective == "count:poisson":
        return np.floor(np.abs(signal) * 3)
    if objective == "survival:cox":
        times = np.abs(signal) + 0.1
        return np.where(rng.random(len(signal)) < 0.3, -times, times)
    if objective.startswith("rank:"):
        return np.clip(np.round(signal + 2), 0, 4).astype(int)
    return signal + rng.normal(size=len(signal)) * 0.1


def make_data(rng, n, n_features, categorical, n_categories, missing):
    X = rng.normal(size=(n, n_features)).astype(np.float32) * rng.choice([1.0, 100.0])
    for column in categorical:
        X[:, column] = rng.integers(0, n_categories[column], size=n).astype(np.float32)
    X[rng.random(size=X.shape) < missing] = np.nan
    return X


def split_thresholds(booster):
    model = json.loads(booster.save_raw("json"))
    gb = model["learner"]["gradient_booster"]
    trees = (gb["gbtree"] if "gbtree" in gb else gb)["model"]["trees"]
    pairs = set()
    for tree in trees:
        types = tree.get("split_type") or [0] * len(tree["left_children"])
        for node, left in enumerate(tree["left_children"]):
            if left != -1 and types[node] == 0:
                pairs.add((tree["split_indices"][node], np.float32(tree["split_conditions"][node])))
    return sorted(pairs)


def write_csv(path, rows, rng):
    with open(path, "w") as handle:
        for row in rows:
            fields = []
            for value in row:
                if np.isnan(value):
                    fields.append(rng.choice(["", "nan", "NaN"]))
                else:
                    fields.append(repr(float(value)) if rng.random() < 0.2 else str(np.float32(value)))
            handle.write(",".join(fields) + "\n")


def run_scorer(scorer, model_path, csv_path, margin, extra=()):
    command = [scorer, "score", "--model", model_path, "--features-csv", csv_path, *extra]
    if margin:
        command.append("--margin")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    if extra and extra[0] == "--top":
        return [json.loads(line) for line in result.stdout.splitlines()]
    return [[np.float32(field) for field in line.split(",")] for line in result.stdout.splitlines()]


def has_negative_cover(booster):
    """Whether a reachable node has a negative sum_hessian (survival:cox can train such trees)."""
    model = json.loads(booster.save_raw("json"))
    gb = model["learner"]["gradient_booster"]
    for tree in (gb["gbtree"] if "gbtree" in gb else gb)["model"]["trees"]:
        pending = [0]
        while pending:
            node = pending.pop()
            if tree["sum_hessian"][node] < 0:
                return True
            if tree["left_children"][node] != -1:
                pending += [tree["left_children"][node], tree["right_children"][node]]
    return False


def check_contributions(scorer, model_path, csv_path, booster, dmatrix, n_rows, n_features, problems, counts):
    """TreeSHAP: values within 1e-5 of pred_contribs (bit-identical counted), and --top 3. A model
    with negative covers must be refused with one line naming the cover."""
    if has_negative_cover(booster):
        counts["refused"] += 1
        try:
            run_scorer(scorer, model_path, csv_path, False, ("--contribs",))
            problems.append("a model with negative covers was explained instead of refused")
        except RuntimeError as error:
            if "cover" not in str(error):
                problems.append(f"refusal does not name the cover: {error}")
        return
    expected = np.asarray(booster.predict(dmatrix, pred_contribs=True), dtype=np.float32).reshape(n_rows, -1)
    ours = np.asarray(run_scorer(scorer, model_path, csv_path, False, ("--contribs",)), dtype=np.float32)
    if ours.shape != expected.shape:
        problems.append(f"contribution shape {ours.shape} != {expected.shape}")
        return
    counts["contribs"] += expected.size
    counts["contribs_exact"] += int((ours.view(np.uint32) == expected.view(np.uint32)).sum())
    difference = np.abs(ours.astype(np.float64) - expected.astype(np.float64))
    counts["contribs_worst"] = max(counts["contribs_worst"], float(np.nanmax(difference)) if difference.size else 0.0)
    for row in np.flatnonzero((difference > 1e-5).any(axis=1))[:3]:
        column = int(np.argmax(difference[row]))
        problems.append(f"row {row}: contribution {column} is {ours[row, column]}, XGBoost {expected[row, column]}")
    tops = run_scorer(scorer, model_path, csv_path, False, ("--top", "3"))
    outputs = expected.shape[1] // (n_features + 1)
    names = booster.feature_names or [f"f{i}" for i in range(n_features)]
    for row in range(n_rows):
        per_output = tops[row] if outputs > 1 else [tops[row]]
        for output in range(outputs):
            values = expected[row, output * (n_features + 1): output * (n_features + 1) + n_features]
            order = sorted((i for i in range(n_features) if values[i] != 0), key=lambda i: (-abs(float(values[i])), i))[:3]
            got = [reason["feature"] for reason in per_output[output]]
            if got != [names[i] for i in order]:
                problems.append(f"row {row} output {output}: --top 3 gave {got}, expected {[names[i] for i in order]}")
                return


def ulps(a, b):
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    def ordered(x):
        bits = x.view(np.int32).astype(np.int64)
        return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)
    both_nan = np.isnan(a) & np.isnan(b)
    return np.where(both_nan, 0, np.abs(ordered(a) - ordered(b)))


def one_model(index, rng, scorer, workdir, counts):
    objective = OBJECTIVES[rng.integers(len(OBJECTIVES))]
    n_features = int(rng.integers(2, 30))
    categorical_share = rng.choice([0.0, 0.0, 0.2, 0.5])
    categorical = [c for c in range(n_features) if rng.random() < categorical_share]
    n_categories = {c: int(rng.integers(2, 70)) for c in categorical}
    missing = float(rng.choice([0.0, 0.03, 0.1, 0.3]))
    n_classes = int(rng.integers(3, 6))
    n = int(rng.integers(200, 600))
    X = make_data(rng, n, n_features, categorical, n_categories, missing)
    signal = np.nan_to_num(X[:, 0]) / (np.nanstd(X[:, 0]) + 1e-6) + np.nan_to_num(X[:, -1]) * 0.01
    y = labels(rng, objective, signal, n_classes)
    params = {
        "objective": objective, "max_depth": int(rng.integers(1, 9)), "eta": float(rng.uniform(0.05, 0.5)),
        "seed": int(rng.integers(1 << 30)), "nthread": 1,
    }
    if objective.startswith("multi:"):
        params["num_class"] = n_classes
    if objective == "reg:quantileerror":
        params["quantile_alpha"] = float(rng.uniform(0.1, 0.9))
    if categorical:
        params["max_cat_to_onehot"] = int(rng.choice([1, 4, 64]))
    kind = rng.choice(["gbtree", "gbtree", "gbtree", "dart", "forest"])
    if kind == "dart":
        params.update(booster="dart", rate_drop=float(rng.uniform(0.1, 0.5)), skip_drop=0.0)
    elif kind == "forest":
        params.update(num_parallel_tree=int(rng.integers(2, 5)), subsample=0.8, colsample_bynode=0.8)
    if rng.random() < 0.3:
        params["grow_policy"] = "lossguide"
        params["max_leaves"] = int(rng.integers(4, 40))
    rounds = int(rng.integers(1, 31))
    types = ["c" if c in categorical else "q" for c in range(n_features)]
    extra = {"qid": np.sort(rng.integers(0, 20, size=n))} if objective.startswith("rank:") else {}
    booster = xgb.train(params, xgb.DMatrix(X, y, feature_types=types, enable_categorical=True, **extra), rounds)

    rows = make_data(rng, 150, n_features, categorical, n_categories, missing)
    edges = []
    for feature, threshold in split_thresholds(booster)[:40]:
        for value in (np.nextafter(threshold, np.float32(-np.inf)), threshold, np.nextafter(threshold, np.float32(np.inf))):
            row = rows[rng.integers(len(rows))].copy()
            row[feature] = value
            edges.append(row)
    for column in categorical:
        for value in (-1.0, 0.7, 1e10, float(2 ** 24), 75.0):
            row = rows[rng.integers(len(rows))].copy()
            row[column] = value
            edges.append(row)
    if edges:
        rows = np.vstack([rows, np.asarray(edges, dtype=np.float32)])

    fmt = rng.choice(["json", "ubj"])
    model_path = os.path.join(workdir, f"model_{index}.{fmt}")
    csv_path = os.path.join(workdir, f"rows_{index}.csv")
    booster.save_model(model_path)
    write_csv(csv_path, rows, rng)

    dmatrix = xgb.DMatrix(rows, feature_types=types, enable_categorical=True)
    expected_margins = np.asarray(booster.predict(dmatrix, output_margin=True), dtype=np.float32).reshape(len(rows), -1)
    expected = np.asarray(booster.predict(dmatrix), dtype=np.float32).reshape(len(rows), -1)
    margins = np.asarray(run_scorer(scorer, model_path, csv_path, True), dtype=np.float32)
    predictions = np.asarray(run_scorer(scorer, model_path, csv_path, False), dtype=np.float32)

    description = f"model {index} ({objective}, {kind}, depth {params['max_depth']}, {rounds} rounds, {fmt}, {len(categorical)} categorical, missing {missing})"
    problems = []
    if margins.shape != expected_margins.shape:
        problems.append(f"margin shape {margins.shape} != {expected_margins.shape}")
    else:
        bad = np.flatnonzero((margins.view(np.uint32) != expected_margins.view(np.uint32)).any(axis=1))
        for row in bad[:3]:
            problems.append(f"row {row}: margins {margins[row].tolist()} != XGBoost {expected_margins[row].tolist()}")
    if predictions.shape != expected.shape:
        problems.append(f"prediction shape {predictions.shape} != {expected.shape}")
    else:
        bad = np.flatnonzero((ulps(predictions, expected) > 1).any(axis=1))
        for row in bad[:3]:
            problems.append(f"row {row}: predictions {predictions[row].tolist()} != XGBoost {expected[row].tolist()}")
    check_contributions(scorer, model_path, csv_path, booster, dmatrix, len(rows), n_features, problems, counts)
    return description, len(rows), problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=50, help="number of random models (default 50)")
    parser.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    parser.add_argument("--scorer", default=os.environ.get("SCORER", ".build/release/scorer"),
                        help="path of the scorer binary (default: $SCORER)")
    parser.add_argument("--strict-contribs", action="store_true", help="fail unless every contribution is bit-identical")
    args = parser.parse_args()
    if not os.access(args.scorer, os.X_OK):
        sys.exit(f"random_parity: scorer binary not found at {args.scorer} (set SCORER)")
    rng = np.random.default_rng(args.seed)
    started = time.time()
    failures, total_rows = 0, 0
    counts = {"contribs": 0, "contribs_exact": 0, "contribs_worst": 0.0, "refused": 0}
    with tempfile.TemporaryDirectory(prefix="forest-parity-") as workdir:
        for index in range(args.models):
            description, row_count, problems = one_model(index, rng, args.scorer, workdir, counts)
            total_rows += row_count
            if problems:
                failures += 1
                print(f"MISMATCH {description}")
                for problem in problems:
                    print(f"  {problem}")
    elapsed = time.time() - started
    print(f"random parity: {args.models - failures}/{args.models} models match XGBoost {xgb.__version__} "
          f"({total_rows} rows, margins bit-exact, predictions within 1 ulp) in {elapsed:.0f}s")
    print(f"contributions: {counts['contribs_exact']}/{counts['contribs']} bit-identical to pred_contribs, "
          f"largest difference {counts['contribs_worst']:.3g} (limit 1e-5); {counts['refused']} models with negative "
          f"covers refused as they should be")
    if args.strict_contribs and counts["contribs_exact"] != counts["contribs"]:
        failures += 1
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
