"""One command rebuilds everything the Swift side consumes (committed outputs):

    python3 models/train/train.py

1. generates the impression events (generate.py, seeded),
2. splits them by time 80/20 (train / held-out validation),
3. writes the held-out events as simulator/data/test_data.csv.gz (the simulator replays them),
4. builds features.json (vocabularies from the training part only),
5. featurizes both parts through featurize.py (the held-out part read back from the csv.gz, exactly as
   the Swift reader turns it into events),
6. trains XGBoost (binary:logistic, eta 0.05, depth 6, <= 500 rounds, early stopping on the held-out
   part, native categorical features, no re-weighting, one thread, fixed seed),
7. writes the bundle models/install-v1/ (model.json, features.json, card.json with the training
   rows' drift reference histograms (drift.py), reference.jsonl),
8. trains and writes models/install-v2/ the same way with other hyper-parameters (eta 0.1, depth 4,
   row and column subsampling): a second, different model for shadow and canary roll-outs,
9. writes the Swift parity fixture (Tests/FeaturesTests/Fixtures/parity.jsonl and the CSV sample)
   from install-v1.

`--bundle install-v2` retrains only that bundle (the data are generated the same way either way).
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import sys
import time

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import featurize  # noqa: E402
import generate  # noqa: E402
import drift  # noqa: E402
import metrics  # noqa: E402
import reference  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TEST_DATA = os.path.join(ROOT, "simulator", "data", "test_data.csv.gz")
FIXTURES = os.path.join(ROOT, "Tests", "FeaturesTests", "Fixtures")

SEED = 7
N_EVENTS = 1_050_000
PARAMS = {
    "objective": "binary:logistic",
    "eta": 0.05,
    "max_depth": 6,
    "tree_method": "hist",
    "nthread": 1,
    "seed": 0,
    "eval_metric": ["logloss", "auc"],  # early stopping watches the last one: AUC
}
MAX_ROUNDS = 500
EARLY_STOPPING = 30
# The bundles `make model` writes: name -> (card version, parameters). install-v2 is the roll-out
# candidate: shallower trees, a larger step, row and column subsampling. install-biased is trained
# the way the seeds' model was, installs weighted up (scale_pos_weight), so its mean p lands far
# above the install rate: the broken canary `scorer monitor` must catch (its ranking is still fine).
BIASED_POSITIVE_WEIGHT = 30
BUNDLES = {
    "install-v1": (1, PARAMS),
    "install-v2": (2, {**PARAMS, "eta": 0.1, "max_depth": 4, "subsample": 0.8, "colsample_bytree": 0.8,
                       "min_child_weight": 5}),
    "install-biased": (1, {**PARAMS, "scale_pos_weight": BIASED_POSITIVE_WEIGHT}),
}
COLUMNS = ["id", "timestamp", "campaignId", "platform", "softwareVersion", "sourceGameId", "country",
           "startCount", "viewCount", "clickCount", "installCount", "lastStart", "startCount1d",
           "startCount7d", "connectionType", "deviceType", "install"]


def vocabulary(values, min_count: int, limit: int) -> list:
    uniq, counts = np.unique(np.asarray(values), return_counts=True)
    order = np.lexsort((uniq, -counts))  # most frequent first, ties by value: deterministic
    chosen = [uniq[i] for i in order if counts[i] >= min_count][:limit]
    return [v.item() if hasattr(v, "item") else v for v in chosen]


def build_spec(train) -> dict:
    def cat(name, field, vocab, value_type="string"):
        f = {"name": name, "transform": "category", "field": field, "vocabulary": vocab}
        if value_type != "string":
            f["value_type"] = value_type
        return f

    return {
        "format": 1,
        "id_field": "id",
        "timestamp_field": "timestamp",
        "max_event_bytes": featurize.DEFAULT_MAX_EVENT_BYTES,
        "missing": "NaN: an absent or null field, a zero divisor, an unparseable timestamp or version",
        "unknown_category": "code len(vocabulary) (the 'other' bucket)",
        "features": [
            cat("campaign", "campaignId", vocabulary(train.campaignId, 200, 400)),
            cat("country", "country", vocabulary(train.country, 100, 100)),
            cat("platform", "platform", vocabulary(train.platform, 100, 10)),
            cat("connection", "connectionType", vocabulary(train.connectionType, 100, 10)),
            cat("device", "deviceType", vocabulary(train.deviceType, 200, 300)),
            cat("source_game", "sourceGameId", vocabulary(train.sourceGameId, 200, 400), "number"),
            {"name": "os_major", "transform": "version_major", "field": "softwareVersion"},
            {"name": "start_count", "transform": "number", "field": "startCount"},
            {"name": "view_count", "transform": "number", "field": "viewCount"},
            {"name": "click_count", "transform": "number", "field": "clickCount"},
            {"name": "install_count", "transform": "number", "field": "installCount"},
            {"name": "start_count_1d", "transform": "number", "field": "startCount1d"},
            {"name": "start_count_7d", "transform": "number", "field": "startCount7d"},
            {"name": "click_per_view", "transform": "ratio", "numerator": "clickCount", "denominator": "viewCount"},
            {"name": "view_per_start", "transform": "ratio", "numerator": "viewCount", "denominator": "startCount"},
            {"name": "install_per_click", "transform": "ratio", "numerator": "installCount", "denominator": "clickCount"},
            {"name": "days_since_last_start", "transform": "days_between", "from": "lastStart", "to": "timestamp"},
            {"name": "hour_utc", "transform": "hour_of_day", "field": "timestamp"},
            {"name": "weekday_utc", "transform": "day_of_week", "field": "timestamp"},
        ],
    }


def write_csv_gz(df, path: str) -> None:
    text = io.StringIO()
    df[COLUMNS].to_csv(text, index=False, lineterminator="\n")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(text.getvalue().encode("utf-8"))


def dmatrix(fz, X, y=None):
    return xgb.DMatrix(X, label=y, missing=np.nan, feature_names=fz.names, nthread=1,
                       feature_types=["c" if c else "q" for c in fz.categorical], enable_categorical=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=N_EVENTS, help="events to generate (20%% are held out)")
    ap.add_argument("--bundle", action="append", choices=list(BUNDLES),
                    help="train only this bundle (repeatable; default: all)")
    ap.add_argument("--cache", help="save the featurized matrices here, or reuse them if present (for tuning)")
    args = ap.parse_args()
    t0 = time.time()

    df = generate.generate(args.events, seed=SEED)
    cut = int(len(df) * 0.8)
    train, held = df.iloc[:cut], df.iloc[cut:]
    print(f"generated {len(df)} events ({time.time() - t0:.0f}s); train {len(train)}, held-out {len(held)}")

    write_csv_gz(held, TEST_DATA)
    spec = build_spec(train)
    fz = featurize.Featurizer(spec)
    numbers = {k for k, v in fz.types.items() if v == featurize.NUMBER}

    header = COLUMNS
    train_events = (featurize.csv_row_to_event(header, ["" if v is None else str(v) for v in r], numbers)
                    for r in train[COLUMNS].itertuples(index=False, name=None))
    y_train = train.install.to_numpy()
    held_events, y_held = metrics.read_test_data(TEST_DATA, numbers)
    if args.cache and os.path.exists(args.cache):
        cached = np.load(args.cache)
        X_train, X_held = cached["train"], cached["held"]
    else:
        X_train = fz.matrix(train_events)
        X_held = fz.matrix(held_events)
        if args.cache:
            np.savez(args.cache, train=X_train, held=X_held)
    print(f"featurized ({time.time() - t0:.0f}s)")

    d_train, d_held = dmatrix(fz, X_train, y_train), dmatrix(fz, X_held, y_held)
    first = None
    for name in args.bundle or list(BUNDLES):
        version, params = BUNDLES[name]
        model = train_bundle(name, version, params, spec, fz, d_train, d_held, X_held, y_held, y_train, df, train,
                             held, held_events, t0, X_train)
        if name == "install-v1":
            first = model

    if first is not None:
        import fixtures  # noqa: E402  (after the bundle exists)
        fixtures.write_all(spec, first, held_events, FIXTURES, TEST_DATA)
    print(f"done ({time.time() - t0:.0f}s)")


def train_bundle(name, version, params, spec, fz, d_train, d_held, X_held, y_held, y_train, df, train, held,
                 held_events, t0, X_train):
    """Trains one bundle and writes models/<name>/ (model.json, features.json, card.json, reference.jsonl)."""
    bundle = os.path.join(ROOT, "models", name)
    booster = xgb.train(params, d_train, num_boost_round=MAX_ROUNDS, evals=[(d_held, "validation")],
                        early_stopping_rounds=EARLY_STOPPING, verbose_eval=50)
    best = booster.best_iteration
    model = booster[: best + 1]
    os.makedirs(bundle, exist_ok=True)
    model.save_model(os.path.join(bundle, "model.json"))
    with open(os.path.join(bundle, "features.json"), "w") as f:
        json.dump(spec, f, indent=1)
        f.write("\n")
    print(f"{name}: trained {best + 1} rounds ({time.time() - t0:.0f}s)")

    # The card: every number below except the ceiling is recomputed by check_card.py.
    model = xgb.Booster(model_file=os.path.join(bundle, "model.json"))
    card = {
        "name": name,
        "version": version,
        "created_by": "models/train/train.py",
        "xgboost_version": xgb.__version__,
        "data": {
            "generator": "models/train/generate.py", "seed": SEED, "events": len(df),
            "train_rows": len(train), "validation_rows": len(held),
            "split": "time-ordered 80/20; validation = simulator/data/test_data.csv.gz",
            "train_install_rate": float(y_train.mean()),
        },
        "parameters": {**{k: v for k, v in params.items()}, "max_rounds": MAX_ROUNDS,
                       "early_stopping_rounds": EARLY_STOPPING, "best_iteration": best,
                       "num_trees": best + 1,
                       "class_weighting": (f"installs weighted x{params['scale_pos_weight']} (scale_pos_weight): "
                                           "deliberately miscalibrated" if "scale_pos_weight" in params else "none")},
        "features": len(fz.names),
        "validation": metrics.card_metrics(model, dmatrix(fz, X_held), y_held),
        "ceiling": {
            "auc_of_true_probabilities": metrics.auc(y_held, held.p_true.to_numpy()),
            "note": "AUC of the generator's own probabilities on the validation rows (not recomputable from the csv)",
        },
        # What `scorer run` measures feature drift against (drift.py documents the format).
        "drift_reference": drift.reference(spec, X_train, f"training rows ({len(X_train)})"),
    }
    with open(os.path.join(bundle, "card.json"), "w") as f:
        json.dump(card, f, indent=1)
        f.write("\n")
    v = card["validation"]
    print(f"{name}: AUC {v['auc']:.4f} (ceiling {card['ceiling']['auc_of_true_probabilities']:.4f}), "
          f"logloss {v['logloss']:.5f}, mean predicted {v['mean_predicted']:.5f} vs actual {v['actual_rate']:.5f}")
    count = reference.write(bundle, held_events=held_events)
    print(f"{name}: reference.jsonl with {count} events")
    return model


if __name__ == "__main__":
    main()
