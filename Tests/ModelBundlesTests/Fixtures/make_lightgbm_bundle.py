"""Writes the LightGBM test bundle Tests/ModelBundlesTests/Fixtures/install-lgbm/.

    python3 Tests/ModelBundlesTests/Fixtures/make_lightgbm_bundle.py

A small LightGBM model (binary objective, 40 trees of <= 15 leaves, native categorical features,
one thread, deterministic) trained on install-v1's feature rows: the impression events are
generated exactly as models/train/train.py generates them (same count, same seed, same time-ordered
80/20 split), every 10th training event is featurized through models/train/featurize.py with
install-v1's features.json (copied into the bundle unchanged), and LightGBM sees the category codes
of features.json's categorical features as categorical features. The bundle holds model.txt
(`Booster.save_model`), features.json, card.json (name install-lgbm) and reference.jsonl in
models/train/reference.py's format: the same choice of held-out events and edge-case variants, each
with the float32 bits of the probability LightGBM's `predict()` gave it.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import sys

import lightgbm as lgb
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
TRAIN = os.path.join(ROOT, "models", "train")
sys.path.insert(0, TRAIN)
import featurize  # noqa: E402
import generate  # noqa: E402
import metrics  # noqa: E402
import reference  # noqa: E402
from train import COLUMNS, N_EVENTS, SEED  # noqa: E402

BUNDLE = os.path.join(HERE, "install-lgbm")
SOURCE = os.path.join(ROOT, "models", "install-v1")
TEST_DATA = os.path.join(ROOT, "simulator", "data", "test_data.csv.gz")
EVERY = 10
ROUNDS = 40
REFERENCE_EVENTS = 120
PARAMS = {
    "objective": "binary", "learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 50,
    "num_threads": 1, "deterministic": True, "force_row_wise": True, "seed": SEED, "verbose": -1,
}


def main() -> None:
    os.makedirs(BUNDLE, exist_ok=True)
    shutil.copyfile(os.path.join(SOURCE, "features.json"), os.path.join(BUNDLE, "features.json"))
    with open(os.path.join(BUNDLE, "features.json")) as f:
        spec = json.load(f)
    fz = featurize.Featurizer(spec)
    numbers = {k for k, v in fz.types.items() if v == featurize.NUMBER}

    df = generate.generate(N_EVENTS, seed=SEED)
    train = df.iloc[: int(len(df) * 0.8)].iloc[::EVERY]
    events = (featurize.csv_row_to_event(COLUMNS, ["" if v is None else str(v) for v in r], numbers)
              for r in train[COLUMNS].itertuples(index=False, name=None))
    X = fz.matrix(events)
    y = train.install.to_numpy()
    categorical = [k for k, c in enumerate(fz.categorical) if c]
    data = lgb.Dataset(X, label=y, feature_name=fz.names, categorical_feature=categorical, free_raw_data=False)
    booster = lgb.train(PARAMS, data, num_boost_round=ROUNDS)
    booster.save_model(os.path.join(BUNDLE, "model.txt"))
    booster = lgb.Booster(model_file=os.path.join(BUNDLE, "model.txt"))

    held_events, y_held = metrics.read_test_data(TEST_DATA, numbers)
    X_held = fz.matrix(held_events)
    p_held = booster.predict(X_held)
    card = {
        "name": "install-lgbm",
        "version": 1,
        "created_by": "Tests/ModelBundlesTests/Fixtures/make_lightgbm_bundle.py",
        "lightgbm_version": lgb.__version__,
        "data": {"generator": "models/train/generate.py", "seed": SEED, "events": len(df),
                 "train_rows": len(train), "note": f"every {EVERY}th event of install-v1's training part"},
        "parameters": {**PARAMS, "num_trees": ROUNDS},
        "features": len(fz.names),
        "validation": {"auc": metrics.auc(y_held, p_held), "mean_predicted": float(p_held.mean()),
                       "actual_rate": float(np.mean(y_held)), "rows": len(y_held)},
    }
    with open(os.path.join(BUNDLE, "card.json"), "w") as f:
        json.dump(card, f, indent=1)
        f.write("\n")

    raws = reference.reference_events(spec, REFERENCE_EVENTS, held_events)
    parsed = [featurize.load_event(raw, fz.max_event_bytes) for raw in raws]
    rows = np.vstack([fz.row(ev) for ev in parsed]).astype(np.float32)
    p = booster.predict(rows).astype(np.float32)
    with open(os.path.join(BUNDLE, "reference.jsonl"), "w") as f:
        for ev, raw, value in zip(parsed, raws, p):
            bits = struct.unpack("<I", struct.pack("<f", float(value)))[0]
            f.write(json.dumps({"id": ev["id"], "raw": raw.decode("utf-8"), "p": float(value), "p_bits": bits},
                               ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{BUNDLE}: {ROUNDS} trees, {len(train)} training rows, validation AUC {card['validation']['auc']:.4f}, "
          f"{len(raws)} reference events")


if __name__ == "__main__":
    main()
