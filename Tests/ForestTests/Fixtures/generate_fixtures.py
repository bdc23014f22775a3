#!/usr/bin/env python3
"""Generates the Forest golden fixtures with XGBoost itself (the evaluator's oracle).

Run from anywhere: python3 Tests/ForestTests/Fixtures/generate_fixtures.py
Needs xgboost (3.2.0 made the committed files) and numpy. Deterministic (fixed seeds).

For each case it writes the model (.json and/or .ubj, as saved by Booster.save_model) and
<case>.expected.json holding, as exact float32 bit patterns:
  rows         the input rows (random rows with NaN, plus edge rows: +-inf, values exactly at a
               split threshold and one ulp either side, invalid categories -1, -0.5, 0.7, 1e10, 2^24)
  margins      Booster.inplace_predict(predict_type="margin")  == predict(output_margin=True)
  predictions  Booster.inplace_predict(predict_type="value")   == predict()
  leaves       predict(pred_leaf=True) node ids (rows holding inf get null: DMatrix rejects inf)
  contribs     predict(pred_contribs=True): per output, one TreeSHAP value per feature then the bias,
               flattened (rows holding inf get null)
"""
import json
import os
import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
F32_MAX_CATEGORY = float(2 ** 24)


def bits(array):
    return np.asarray(array, dtype=np.float32).view(np.uint32).tolist()


def random_rows(rng, n, n_features, missing, categorical=(), n_categories=()):
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    for column, count in zip(categorical, n_categories):
        X[:, column] = rng.integers(0, count, size=n).astype(np.float32)
    X[rng.random(size=X.shape) < missing] = np.nan
    return X


def thresholds(booster, limit=12):
    """(feature, threshold) pairs of numerical splits, from the saved model."""
    model = json.loads(booster.save_raw("json"))
    booster_json = model["learner"]["gradient_booster"]
    trees = (booster_json["gbtree"] if "gbtree" in booster_json else booster_json)["model"]["trees"]
    pairs = []
    for tree in trees:
        types = tree.get("split_type", [0] * len(tree["left_children"]))
        for node, left in enumerate(tree["left_children"]):
            if left != -1 and types[node] == 0:
                pairs.append((tree["split_indices"][node], np.float32(tree["split_conditions"][node])))
    seen, result = set(), []
    for pair in pairs:
        if pair not in seen:
            seen.add(pair)
            result.append(pair)
    return result[:limit]


def edge_rows(rng, booster, base, categorical=()):
    rows = []
    for feature, threshold in thresholds(booster):
        for value in (np.nextafter(threshold, np.float32(-np.inf)), threshold,
                      np.nextafter(threshold, np.float32(np.inf))):
            row = base[rng.integers(0, len(base))].copy()
            row[feature] = value
            rows.append(row)
    for special in (np.inf, -np.inf, np.nan, 0.0, -0.0):
        row = base[rng.integers(0, len(base))].copy()
        row[:] = special
        for column in categorical:
            row[column] = 1.0
        rows.append(row)
    for column in categorical:
        for value in (-1.0, -0.5, 0.3, 0.7, 1.9, 2.5, 5.0, 33.0, 47.9, 100.0, 1e10,
                      F32_MAX_CATEGORY - 1, F32_MAX_CATEGORY, np.nan, np.inf):
            row = base[rng.integers(0, len(base))].copy()
            row[column] = value
            rows.append(row)
    return np.asarray(rows, dtype=np.float32)


def write_case(name, booster, rows, formats=("json",), leaves=True):
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    types = booster.feature_types
    finite = ~np.isinf(rows).any(axis=1)
    dmatrix = xgb.DMatrix(rows[finite], feature_types=types, enable_categorical=True)
    exact_margins = booster.predict(dmatrix, output_margin=True)
    inplace_margins = np.asarray(booster.inplace_predict(rows, predict_type="margin"))
    # The oracle is predict(DMatrix). DMatrix rejects inf, so rows holding inf take inplace_predict's
    # answer, but only where inplace_predict agrees with predict bit for bit on every finite row
    # (DART sums in a different order there; its inf rows are dropped).
    if not np.array_equal(exact_margins.view(np.uint32), inplace_margins[finite].view(np.uint32)):
        rows = rows[finite]
        finite = np.ones(len(rows), dtype=bool)
        margins = exact_margins
        predictions = booster.predict(dmatrix)
    else:
        margins = inplace_margins
        predictions = booster.inplace_predict(rows, predict_type="value")
        assert np.array_equal(np.asarray(predictions)[finite].view(np.uint32),
                              np.asarray(booster.predict(dmatrix)).view(np.uint32)), name
    leaf_rows = [None] * len(rows)
    contrib_rows = [None] * len(rows)
    contribs = booster.predict(dmatrix, pred_contribs=True).reshape(int(finite.sum()), -1)
    for target, source in zip(np.flatnonzero(finite), contribs):
        contrib_rows[target] = bits(source)
    if leaves:
        leaf_ids = booster.predict(dmatrix, pred_leaf=True).reshape(int(finite.sum()), -1).astype(int)
        for target, source in zip(np.flatnonzero(finite), leaf_ids):
            leaf_rows[target] = source.tolist()
    files = []
    for fmt in formats:
        path = f"{name}.{fmt}"
        booster.save_model(os.path.join(HERE, path))
        files.append(path)
    n = len(rows)
    expected = {
        "name": name,
        "models": files,
        "objective": json.loads(booster.save_config())["learner"]["objective"]["name"],
        "feature_count": rows.shape[1],
        "rows": [bits(row) for row in rows],
        "margins": [bits(row) for row in np.asarray(margins, dtype=np.float32).reshape(n, -1)],
        "predictions": [bits(row) for row in np.asarray(predictions, dtype=np.float32).reshape(n, -1)],
        "leaves": leaf_rows,
        "contribs": contrib_rows,
    }
    with open(os.path.join(HERE, f"{name}.expected.json"), "w") as handle:
        json.dump(expected, handle, separators=(",", ":"))
    print(f"{name}: {len(rows)} rows, {booster.num_boosted_rounds()} rounds, files {files}")


def train(params, X, y, rounds, **dmatrix_args):
    params = {"seed": 7, "nthread": 1, **params}
    dtrain = xgb.DMatrix(X, y, enable_categorical=True, **dmatrix_args)
    return xgb.train(params, dtrain, rounds)


def main():
    rng = np.random.default_rng(20240301)
    n, nf = 400, 8

    # Binary classification, numerical, missing values; both file formats.
    X = random_rows(rng, n, nf, 0.1)
    y = ((np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * 0.5 + rng.normal(size=n) * 0.3) > 0).astype(int)
    booster = train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.3}, X, y, 20)
    write_case("binary_numeric", booster, np.vstack([X[:40], edge_rows(rng, booster, X)]), formats=("json", "ubj"))

    # Legacy base_score formats: a scalar string (<= 3.0) and parentheses; same predictions.
    with open(os.path.join(HERE, "binary_numeric.json")) as handle:
        text = handle.read()
    model = json.loads(text)
    score = model["learner"]["learner_model_param"]["base_score"]
    scalar = score.strip("[]")
    for suffix, replacement in (("scalar_base", scalar), ("paren_base", f"({scalar})")):
        model["learner"]["learner_model_param"]["base_score"] = replacement
        with open(os.path.join(HERE, f"binary_numeric_{suffix}.json"), "w") as handle:
            json.dump(model, handle)

    # Multi-class.
    Xm = random_rows(rng, n, nf, 0.05)
    ym = (np.digitize(np.nan_to_num(Xm[:, 2]), [-0.5, 0.5])).astype(int)
    for objective, fmt in (("multi:softprob", "ubj"), ("multi:softmax", "json")):
        booster = train({"objective": objective, "num_class": 3, "max_depth": 3}, Xm, ym, 8)
        write_case(objective.replace(":", "_"), booster, np.vstack([Xm[:30], edge_rows(rng, booster, Xm)]), formats=(fmt,))

    # Categorical splits: partition-based (max_cat_to_onehot=1, > 32 categories so bitsets span
    # several words) and one-hot.
    categorical, counts = (3, 5), (45, 6)
    Xc = random_rows(rng, n, 6, 0.08, categorical, counts)
    yc = ((np.isin(np.nan_to_num(Xc[:, 3], nan=-1), [1, 4, 9, 33, 40, 44]).astype(float)
           + (np.nan_to_num(Xc[:, 5]) == 2) + np.nan_to_num(Xc[:, 0]) * 0.3 + rng.normal(size=n) * 0.2) > 0.6).astype(int)
    types = ["q", "q", "q", "c", "q", "c"]
    for name, onehot, fmt in (("categorical_partition", 1, "json"), ("categorical_onehot", 64, "ubj")):
        booster = train({"objective": "binary:logistic", "max_depth": 4, "max_cat_to_onehot": onehot}, Xc, yc, 12,
                        feature_types=types)
        write_case(name, booster, np.vstack([Xc[:40], edge_rows(rng, booster, Xc, categorical)]), formats=(fmt,))

    # DART (weight_drop) and random forests (num_parallel_tree).
    Xr = random_rows(rng, n, nf, 0.1)
    yr = np.nan_to_num(Xr[:, 0]) * 2 + np.nan_to_num(Xr[:, 4]) + rng.normal(size=n) * 0.1
    booster = train({"booster": "dart", "objective": "reg:squarederror", "max_depth": 3, "rate_drop": 0.3,
                     "skip_drop": 0.0}, Xr, yr, 15)
    write_case("dart", booster, np.vstack([Xr[:40], edge_rows(rng, booster, Xr)]), formats=("json", "ubj"))
    booster = train({"objective": "binary:logistic", "num_parallel_tree": 4, "subsample": 0.8,
                     "colsample_bynode": 0.8, "max_depth": 4}, X, y, 3)
    write_case("random_forest", booster, np.vstack([X[:40], edge_rows(rng, booster, X)]), formats=("ubj",))

    # Every other objective, one small model each.
    positive = np.abs(yr) + 0.1
    ylogistic = 1 / (1 + np.exp(-yr))
    cox = np.where(rng.random(n) < 0.3, -positive, positive)
    qid = np.repeat(np.arange(n // 20), 20)
    rank_label = np.clip(np.round(yr), 0, 4).astype(int)
    objectives = [
        ("reg:squarederror", yr, {}),
        ("reg:squaredlogerror", positive, {}),
        ("reg:logistic", ylogistic, {}),
        ("reg:pseudohubererror", yr, {}),
        ("reg:absoluteerror", yr, {}),
        ("reg:quantileerror", yr, {"quantile_alpha": 0.3}),
        ("count:poisson", np.floor(positive * 3), {}),
        ("reg:gamma", positive, {}),
        ("reg:tweedie", positive, {"tweedie_variance_power": 1.4}),
        ("survival:cox", cox, {}),
        ("binary:logitraw", (yr > 0).astype(int), {}),
        ("binary:hinge", (yr > 0).astype(int), {}),
        ("rank:pairwise", rank_label, {}),
        ("rank:ndcg", rank_label, {}),
    ]
    for objective, label, extra in objectives:
        args = {"qid": qid} if objective.startswith("rank:") else {}
        booster = train({"objective": objective, "max_depth": 3, "eta": 0.5, **extra}, Xr, label, 5, **args)
        rows = np.vstack([Xr[:20], edge_rows(rng, booster, Xr)[:12]])
        write_case("objective_" + objective.replace(":", "_"), booster, rows, formats=("ubj",))

    # Multi-target regression with one output per tree (tree_info names the target).
    ymt = np.stack([yr, np.nan_to_num(Xr[:, 1]) - yr], axis=1)
    booster = train({"objective": "reg:squarederror", "multi_strategy": "one_output_per_tree", "max_depth": 3}, Xr, ymt, 6)
    write_case("multi_target", booster, np.vstack([Xr[:30], edge_rows(rng, booster, Xr)[:12]]), formats=("json",))


if __name__ == "__main__":
    main()
