#!/usr/bin/env python3
"""Generates the LightGBM golden fixtures with LightGBM itself (the oracle for model.txt).

Run from anywhere: python3 Tests/ForestTests/Fixtures/LightGBM/generate_fixtures.py
Needs lightgbm (4.7.0 made the committed files) and numpy. Deterministic (fixed seeds, one thread).

For each case it writes <case>.txt (Booster.save_model) and <case>.expected.json holding:
  rows         float32 rows as bit patterns: random rows with NaN, plus edge rows: every numerical
               threshold t of the model as the float32 values just below, at and just above it
               (the largest float <= t, its neighbours, and the nearest float), LightGBM's zero band
               (+-1e-35f and one ulp either side, +-1e-36, +-0, +-1e-45), +-inf, NaN, and for
               categorical columns -1, -0.5, -1e-36, 0.3, 0.7, 1.9, 31, 32, 33, 1e10, 2^24, 2^31
  raw          Booster.predict(rows, raw_score=True) as float64 bit patterns (hex)
  predictions  Booster.predict(rows) as float64 bit patterns (hex)
  leaves       Booster.predict(rows, pred_leaf=True)
"""
import json
import os
import numpy as np
import lightgbm as lgb

HERE = os.path.dirname(os.path.abspath(__file__))
F32 = np.float32
BAND = [1e-35, 1e-36, 1e-45, 0.0]
CATEGORY_EDGES = [-1.0, -0.5, -1e-36, 0.0, 0.3, 0.7, 1.9, 31.0, 32.0, 33.0, 1e10, 2.0 ** 24, 2.0 ** 31, np.inf, -np.inf, np.nan]


def hex64(values):
    return [format(int(v), "016x") for v in np.asarray(values, dtype=np.float64).reshape(-1).view(np.uint64)]


def bits32(row):
    return np.asarray(row, dtype=np.float32).view(np.uint32).tolist()


def numerical_thresholds(booster):
    """(feature, threshold) of every numerical split, from the model's JSON dump (float64 exact)."""
    pairs = []

    def walk(node):
        if "split_index" not in node:
            return
        if node["decision_type"] == "<=":
            pairs.append((node["split_feature"], float(node["threshold"])))
        walk(node["left_child"])
        walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    return sorted(set(pairs))


def floats_around(t):
    """Float32 values at and around the float64 threshold t."""
    below = np.float32(t)
    if float(below) > t:
        below = np.nextafter(below, F32(-np.inf))
    values = {below, np.nextafter(below, F32(-np.inf)), np.nextafter(below, F32(np.inf)), np.float32(t)}
    return [v for v in values if np.isfinite(v)]


def band_values():
    values = []
    for magnitude in BAND:
        m = F32(magnitude)
        for v in (m, np.nextafter(m, F32(np.inf)), np.nextafter(m, F32(-np.inf))):
            values += [v, -v]
    return values + [F32(np.inf), F32(-np.inf), F32(np.nan)]


def edge_rows(rng, booster, base, categorical=(), limit=60):
    rows = []
    thresholds = numerical_thresholds(booster)
    if len(thresholds) > limit:
        thresholds = [thresholds[i] for i in sorted(rng.choice(len(thresholds), limit, replace=False))]
    numeric_features = sorted({f for f, _ in thresholds})
    for feature, t in thresholds:
        for value in floats_around(t):
            row = base[rng.integers(len(base))].copy()
            row[feature] = value
            rows.append(row)
    for feature in numeric_features[:6]:
        for value in band_values():
            row = base[rng.integers(len(base))].copy()
            row[feature] = value
            rows.append(row)
    for column in categorical:
        for value in CATEGORY_EDGES + [F32(1e-35), F32(-1e-35)]:
            row = base[rng.integers(len(base))].copy()
            row[column] = value
            rows.append(row)
    for special in (np.nan, 0.0, -0.0, np.inf, -np.inf):
        row = base[rng.integers(len(base))].copy()
        row[:] = special
        rows.append(row)
    return np.asarray(rows, dtype=np.float32)


def write_case(name, booster, rows):
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    path = os.path.join(HERE, f"{name}.txt")
    booster.save_model(path)
    model = lgb.Booster(model_file=path)  # the oracle reads the file the scorer reads
    raw = model.predict(rows, raw_score=True)
    predictions = model.predict(rows)
    leaves = model.predict(rows, pred_leaf=True).astype(int)
    n = len(rows)
    expected = {
        "name": name,
        "model": f"{name}.txt",
        "feature_count": rows.shape[1],
        "rows": [bits32(row) for row in rows],
        "raw": [hex64(r) for r in np.asarray(raw).reshape(n, -1)],
        "predictions": [hex64(r) for r in np.asarray(predictions).reshape(n, -1)],
        "leaves": np.asarray(leaves).reshape(n, -1).tolist(),
    }
    with open(os.path.join(HERE, f"{name}.expected.json"), "w") as handle:
        json.dump(expected, handle, separators=(",", ":"))
    print(f"{name}: {n} rows, {model.num_trees()} trees")


def train(params, X, y, rounds, categorical="auto", **dataset_args):
    params = {"seed": 7, "num_threads": 1, "verbose": -1, "deterministic": True, **params}
    dataset = lgb.Dataset(X, y, categorical_feature=categorical, params={"verbose": -1}, **dataset_args)
    return lgb.train(params, dataset, rounds)


def random_rows(rng, n, features, missing, zeros=0.0):
    X = rng.normal(size=(n, features)).astype(np.float32)
    X[rng.random(size=X.shape) < zeros] = 0.0
    X[rng.random(size=X.shape) < missing] = np.nan
    return X


def main():
    rng = np.random.default_rng(20240301)
    n, nf = 600, 8
    X = random_rows(rng, n, nf, 0.1, zeros=0.1)
    signal = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) - 0.3 * (X[:, 2] == 0) + rng.normal(size=n) * 0.3
    yb = (signal > 0).astype(int)

    # Missing types: NaN (default), Zero (zero_as_missing), None (use_missing=false).
    booster = train({"objective": "binary", "num_leaves": 15}, X, yb, 20)
    write_case("binary_nan", booster, np.vstack([X[:40], edge_rows(rng, booster, X)]))
    for name, extra in (("binary_zero", {"zero_as_missing": True}), ("regression_none", {"use_missing": False})):
        objective = "binary" if name.startswith("binary") else "regression"
        booster = train({"objective": objective, "num_leaves": 15, **extra}, X, yb if objective == "binary" else signal, 15)
        write_case(name, booster, np.vstack([X[:40], edge_rows(rng, booster, X)]))

    # Shallow trees (perfect layout) and deep ones (packed layout).
    booster = train({"objective": "binary", "num_leaves": 8, "max_depth": 3}, X, yb, 25)
    write_case("binary_shallow", booster, np.vstack([X[:40], edge_rows(rng, booster, X)]))
    booster = train({"objective": "regression", "num_leaves": 63, "min_data_in_leaf": 3}, X, signal, 10)
    write_case("regression_deep", booster, np.vstack([X[:40], edge_rows(rng, booster, X)]))

    # Categorical splits: > 32 categories (bitsets over several words), one-hot and partition splits.
    Xc = random_rows(rng, n, 6, 0.08)
    Xc[:, 2] = rng.integers(0, 45, size=n)
    Xc[:, 4] = rng.integers(0, 5, size=n)
    Xc[rng.random(n) < 0.05, 2] = np.nan
    yc = (np.isin(Xc[:, 2], [0, 1, 4, 9, 33, 40, 44]) + (Xc[:, 4] == 2) + np.nan_to_num(Xc[:, 0]) * 0.3 + rng.normal(size=n) * 0.2 > 0.6).astype(int)
    for name, extra in (("categorical", {"max_cat_to_onehot": 4, "min_data_per_group": 5, "cat_smooth": 1}),
                        ("categorical_onehot", {"max_cat_to_onehot": 64})):
        booster = train({"objective": "binary", "num_leaves": 12, "min_data_in_leaf": 5, **extra}, Xc, yc, 15, categorical=[2, 4])
        write_case(name, booster, np.vstack([Xc[:40], edge_rows(rng, booster, Xc, categorical=(2, 4))]))

    # Multi-class: softmax and one-vs-all.
    ym = np.digitize(signal, np.quantile(signal, [0.33, 0.66]))
    for objective in ("multiclass", "multiclassova"):
        booster = train({"objective": objective, "num_class": 3, "num_leaves": 7}, X, ym, 8)
        write_case(objective, booster, np.vstack([X[:30], edge_rows(rng, booster, X, limit=30)]))

    # Every other objective, one small model each.
    positive = np.abs(signal) + 0.1
    query = [20] * (n // 20)
    rank_label = np.clip(np.round(signal + 2), 0, 4).astype(int)
    objectives = [
        ("regression_sqrt", "regression", signal * 3, {"reg_sqrt": True}),
        ("regression_l1", "regression_l1", signal, {}),
        ("huber", "huber", signal, {}),
        ("quantile", "quantile", signal, {"alpha": 0.7}),
        ("poisson", "poisson", np.floor(positive * 3), {}),
        ("gamma", "gamma", positive, {}),
        ("tweedie", "tweedie", positive, {"tweedie_variance_power": 1.4}),
        ("cross_entropy", "cross_entropy", 1 / (1 + np.exp(-signal)), {}),
        ("cross_entropy_lambda", "cross_entropy_lambda", 1 / (1 + np.exp(-signal)), {}),
        ("lambdarank", "lambdarank", rank_label, {}),
        ("rank_xendcg", "rank_xendcg", rank_label, {}),
        ("binary_sigmoid", "binary", yb, {"sigmoid": 0.7}),
    ]
    for name, objective, label, extra in objectives:
        args = {"group": query} if objective in ("lambdarank", "rank_xendcg") else {}
        booster = train({"objective": objective, "num_leaves": 7, "learning_rate": 0.3, **extra}, X, label, 6, **args)
        write_case(name, booster, np.vstack([X[:20], edge_rows(rng, booster, X, limit=15)]))

    # Random forest mode (average_output), with single-leaf trees from an unsplittable round.
    booster = train({"objective": "binary", "boosting": "rf", "bagging_fraction": 0.7, "bagging_freq": 1,
                     "feature_fraction": 0.8, "num_leaves": 6}, X, yb, 6)
    write_case("random_forest", booster, np.vstack([X[:30], edge_rows(rng, booster, X, limit=30)]))
    booster = train({"objective": "regression", "num_leaves": 4, "min_data_in_leaf": 400}, X[:500], signal[:500], 3)
    write_case("single_leaf", booster, np.vstack([X[:20], edge_rows(rng, booster, X)]))

    # Linear trees (linear_tree=true): a linear model per leaf, NaN falls back to the leaf value.
    Xl = random_rows(rng, n, 5, 0.05, zeros=0.05)
    yl = 2 * np.nan_to_num(Xl[:, 0]) - np.nan_to_num(Xl[:, 1]) * np.nan_to_num(Xl[:, 2]) + rng.normal(size=n) * 0.1
    booster = train({"objective": "regression", "linear_tree": True, "num_leaves": 6, "linear_lambda": 0.1}, Xl, yl, 8)
    write_case("linear_regression", booster, np.vstack([Xl[:40], edge_rows(rng, booster, Xl)]))
    booster = train({"objective": "binary", "linear_tree": True, "num_leaves": 5}, Xl, (yl > 0).astype(int), 6)
    write_case("linear_binary", booster, np.vstack([Xl[:40], edge_rows(rng, booster, Xl)]))


if __name__ == "__main__":
    main()
