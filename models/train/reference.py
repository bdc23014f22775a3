"""Writes a bundle's reference.jsonl: raw events with the exact probabilities XGBoost gives them.

    python3 models/train/reference.py models/install-v1 [--events 300]

The serving side (Swift, `ModelBundle.load`) replays these events through its own featurizer and
evaluator whenever it loads the bundle (start-up, reload, offline scoring) and refuses the bundle
unless every probability matches bit for bit and lies in [0, 1]: a model.json paired with the wrong
features.json, a corrupted file or a model that featurizes differently never serves.

Events: an even sample of the held-out test data (simulator/data/test_data.csv.gz, as the Swift
reader turns rows into events), plus variants that exercise missing and null fields, unknown
categories and odd numbers, so the check covers the default directions and vocabularies too.
One JSON object per line: id, raw (the exact event text), p (for people) and p_bits (the float32
bit pattern XGBoost returned, what is compared).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import struct
import sys

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import featurize  # noqa: E402
import fixtures  # noqa: E402
import metrics  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TEST_DATA = os.path.join(ROOT, "simulator", "data", "test_data.csv.gz")


def reference_events(spec: dict, count: int, held_events: list[bytes] | None = None) -> list[bytes]:
    """`count` raw events: a spread of held-out events plus edge-case variants of them."""
    fz = featurize.Featurizer(spec)
    if held_events is None:
        numbers = {k for k, v in fz.types.items() if v == featurize.NUMBER}
        held_events, _ = metrics.read_test_data(TEST_DATA, numbers)
    rng = random.Random(23)
    plain = held_events[:: max(1, len(held_events) // (count * 2 // 3))][: count * 2 // 3]
    variants = [raw for raw in fixtures.valid_variants(plain[:50], rng) if _valid(fz, raw)]
    rng.shuffle(variants)
    return plain + variants[: count - len(plain)]


def _valid(fz, raw: bytes) -> bool:
    try:
        fz.row(featurize.load_event(raw, fz.max_event_bytes))
        return True
    except featurize.FeatureError:
        return False


def write(bundle: str, count: int = 300, held_events: list[bytes] | None = None) -> int:
    with open(os.path.join(bundle, "features.json")) as f:
        spec = json.load(f)
    model = xgb.Booster(model_file=os.path.join(bundle, "model.json"))
    fz = featurize.Featurizer(spec)
    events = reference_events(spec, count, held_events)
    parsed = [featurize.load_event(raw, fz.max_event_bytes) for raw in events]
    X = np.vstack([fz.row(ev) for ev in parsed]).astype(np.float32)
    d = xgb.DMatrix(X, missing=np.nan, feature_names=fz.names, nthread=1,
                    feature_types=["c" if c else "q" for c in fz.categorical], enable_categorical=True)
    p = model.predict(d).astype(np.float32)
    with open(os.path.join(bundle, "reference.jsonl"), "w") as f:
        for ev, raw, value in zip(parsed, events, p):
            bits = struct.unpack("<I", struct.pack("<f", float(value)))[0]
            f.write(json.dumps({"id": ev["id"], "raw": raw.decode("utf-8"), "p": float(value), "p_bits": bits},
                               ensure_ascii=False, separators=(",", ":")) + "\n")
    return len(events)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle", help="bundle folder holding model.json and features.json")
    ap.add_argument("--events", type=int, default=300, help="how many reference events (default 300)")
    args = ap.parse_args()
    n = write(args.bundle, args.events)
    print(f"{args.bundle}/reference.jsonl: {n} events")


if __name__ == "__main__":
    main()
