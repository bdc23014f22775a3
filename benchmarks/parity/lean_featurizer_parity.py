#!/usr/bin/env python3
"""The lean Python baseline's featurizer (benchmarks/lean_featurize.py) against the training
featurizer (models/train/featurize.py), bit for bit, on the parity fixture
(Tests/FeaturesTests/Fixtures/parity.jsonl, 2,086 events written by featurize.py: valid events,
variants and every kind of malformed one).

For every event, fed in batches of several sizes (the whole fixture at once, and chunks of 1, 7 and
500, so fast-path and fallback events mix in one batch): the float32 row must have the fixture's bits
and featurize.py's bits (run here again), the id must match, and a malformed event must get
featurize.py's dead-letter reason (kind and field). The rows scored with one `inplace_predict`, as
the lean baseline does, must give the fixture's probabilities bit for bit.

    python3 benchmarks/parity/lean_featurizer_parity.py      # from the repository root; a few seconds
"""
from __future__ import annotations

import base64
import json
import os
import sys

import numpy as np
import xgboost

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "benchmarks"))
sys.path.insert(0, os.path.join(REPO, "models", "train"))
from featurize import FeatureError, Featurizer, load_event  # noqa: E402
from lean_featurize import LeanFeaturizer  # noqa: E402

FIXTURE = os.path.join(REPO, "Tests", "FeaturesTests", "Fixtures", "parity.jsonl")
MODEL = os.path.join(REPO, "models", "install-v1")


def bits(row) -> list[int]:
    return np.asarray(row, dtype=np.float32).view(np.uint32).tolist()


def main() -> int:
    with open(os.path.join(MODEL, "features.json")) as f:
        spec = json.load(f)
    records = [json.loads(line) for line in open(FIXTURE)]
    raws = [base64.b64decode(r["raw"]) for r in records]
    reference = Featurizer(spec)
    lean = LeanFeaturizer(spec)
    booster = xgboost.Booster(model_file=os.path.join(MODEL, "model.json"))
    booster.set_param({"nthread": 1})

    # featurize.py now (the fixture was written by it; both must agree with the lean rows).
    expected = []
    for raw in raws:
        try:
            ev = load_event(raw, reference.max_event_bytes)
            expected.append(("row", bits(reference.row(ev)), ev["id"]))
        except FeatureError as e:
            expected.append(("error", str(e), None))

    failures: list[str] = []
    for chunk in (len(raws), 1, 7, 500):
        rows_seen = 0
        for start in range(0, len(raws), chunk):
            batch = raws[start:start + chunk]
            rows, kept, ids, dead = lean.featurize(batch)
            if len(kept) + len(dead) != len(batch) or len(set(kept) | {i for i, _ in dead}) != len(batch):
                failures.append(f"chunk {chunk} at {start}: {len(kept)} rows + {len(dead)} dead != {len(batch)}")
                continue
            if rows.dtype != np.float32 or rows.shape != (len(kept), len(spec["features"])):
                failures.append(f"chunk {chunk} at {start}: rows {rows.dtype} {rows.shape}")
                continue
            p = booster.inplace_predict(rows) if len(kept) else np.zeros(0, dtype=np.float32)
            for r, (i, ident) in enumerate(zip(kept, ids)):
                k = start + i
                rec, exp = records[k], expected[k]
                got = bits(rows[r])
                if exp[0] != "row":
                    failures.append(f"#{k}: featurize.py says {exp[1]}, lean featurized it")
                elif got != exp[1] or got != rec.get("row"):
                    cols = [f"{spec['features'][c]['name']}: {np.uint32(a).view(np.float32)} vs "
                            f"{np.uint32(b).view(np.float32)}" for c, (a, b) in enumerate(zip(got, exp[1])) if a != b]
                    failures.append(f"#{k}: {', '.join(cols) or 'fixture differs'}: {raws[k][:160]!r}")
                elif ident != exp[2] or ident != rec.get("id"):
                    failures.append(f"#{k}: id {ident!r} vs {exp[2]!r}")
                elif bits([p[r]])[0] != rec.get("p"):
                    failures.append(f"#{k}: p {p[r]!r} vs fixture bits {rec.get('p')}")
                rows_seen += 1
            for i, reason in dead:
                k = start + i
                rec, exp = records[k], expected[k]
                want = rec["error"] + ("" if rec.get("field") is None else " " + rec["field"])
                if exp != ("error", reason, None) or reason != want:
                    failures.append(f"#{k}: lean dead-lettered it as {reason!r}; featurize.py: {exp[1] if exp[0] == 'error' else 'a row'}")
        if chunk == len(raws):
            print(f"lean featurizer parity: {rows_seen} rows, {len(raws) - rows_seen} dead letters in one batch")
    if failures:
        print(f"lean featurizer parity: {len(failures)} mismatches", file=sys.stderr)
        for line in failures[:20]:
            print("  " + line, file=sys.stderr)
        return 1
    print(f"lean featurizer parity: {len(raws)} events x 4 batchings bit-identical to featurize.py "
          f"(rows, ids, dead-letter reasons, inplace_predict p)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
