"""Per-feature reference histograms for drift monitoring (`drift_reference` in card.json), and the
PSI that `scorer run` computes against them.

    python3 models/train/drift.py [BUNDLE ...]   # (re)writes drift_reference into the cards

train.py writes the reference of every bundle it trains, from the training rows. This command
writes it into existing cards without retraining: it regenerates the same training events
(generate.py, same seed and size as train.py), featurizes them with the bundle's features.json and
replaces only the card's `drift_reference` (model.json and features.json, hence the model
identity, are untouched).

The reference, per tracked feature, over all training rows (each list of shares plus
`missing_share` sums to 1):
- numeric: `edges`, the distinct training quantiles at 10%, 20%, ..., 90% above the minimum
  (float32 values; when there are none, the smallest value above the minimum, or the next float32
  after it); bin i holds the values with exactly i edges <= value (NumPy's
  `searchsorted(edges, x, side="right")`); `shares[i]` is bin i's share;
- categorical: `categories`, the codes (0 ... len(vocabulary), the last being the "other" bucket)
  whose training share is at least MIN_CATEGORY_SHARE (at most MAX_CATEGORIES, ascending);
  `shares[i]` is the share of code categories[i], and the last share that of every other code
  (including codes out of range).
Features derived from the event clock (hour_of_day, day_of_week transforms) are left out: any window
shorter than a week differs from the training mix by construction.

PSI over the bins plus a missing cell: sum((a - e) * ln(a / e)), both shares floored at PSI_FLOOR
so an empty cell stays finite.
"""
from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import featurize  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BINS = 10
PSI_FLOOR = 1e-4
# Categories tracked one by one: those with at least this training share, at most this many; the
# rest share one cell. Few cells keep the PSI of a few thousand rows from being mostly noise
# (its expected value for an undrifted sample is about (cells - 1) / rows).
MIN_CATEGORY_SHARE = 0.01
MAX_CATEGORIES = 30
CLOCK_TRANSFORMS = {"hour_of_day", "day_of_week"}


def reference(spec: dict, X: np.ndarray, source: str) -> dict:
    """The `drift_reference` of a card: histograms of the featurized rows `X` (float32, NaN = missing)."""
    X = np.asarray(X, dtype=np.float32)
    rows = len(X)
    features = []
    for j, f in enumerate(spec["features"]):
        if f["transform"] in CLOCK_TRANSFORMS:
            continue
        column = X[:, j]
        missing = np.isnan(column)
        present = column[~missing]
        entry: dict = {"name": f["name"]}
        if f["transform"] == "category":
            counts = category_counts(present, len(f["vocabulary"]) + 1)
            ranked = sorted(range(len(counts)), key=lambda c: (-counts[c], c))
            chosen = sorted(c for c in ranked[:MAX_CATEGORIES] if counts[c] / rows >= MIN_CATEGORY_SHARE)
            entry["kind"] = "categorical"
            entry["categories"] = chosen
            entry["shares"] = [float(counts[c] / rows) for c in chosen] + [float((counts.sum() - counts[chosen].sum()) / rows)]
        else:
            entry["kind"] = "numeric"
            edges: list[float] = []
            if len(present):
                quantiles = np.quantile(present, [k / BINS for k in range(1, BINS)], method="inverted_cdf")
                low = present.min()
                edges = sorted({float(np.float32(q)) for q in quantiles if q > low})
                if not edges:  # one dominant value: still tell values above it apart
                    above = present[present > low]
                    edges = [float(above.min()) if len(above) else float(np.nextafter(low, np.float32(np.inf)))]
            entry["edges"] = edges
            entry["shares"] = [float(s) for s in bin_counts(present, edges) / rows]
        entry["missing_share"] = float(missing.sum() / rows)
        features.append(entry)
    return {"source": source, "rows": rows, "bins": BINS, "psi_floor": PSI_FLOOR,
            "untracked": sorted(f["name"] for f in spec["features"] if f["transform"] in CLOCK_TRANSFORMS),
            "features": features}


def bin_counts(values: np.ndarray, edges: list[float]) -> np.ndarray:
    index = np.searchsorted(np.asarray(edges, dtype=np.float32), values.astype(np.float32), side="right")
    return np.bincount(index, minlength=len(edges) + 1).astype(np.float64)


def category_counts(values: np.ndarray, categories: int) -> np.ndarray:
    codes = values.astype(np.float64)
    valid = (codes >= 0) & (codes < categories) & (codes == np.floor(codes))
    index = np.where(valid, codes, categories - 1).astype(np.int64)
    return np.bincount(index, minlength=categories).astype(np.float64)


def category_codes(values: np.ndarray, categories: list[int]) -> np.ndarray:
    """The cell of each category code: its position in `categories`, or len(categories) (the rest)."""
    cell = {c: i for i, c in enumerate(categories)}
    codes = values.astype(np.float64)
    return np.array([cell.get(int(v), len(categories)) if v == np.floor(v) and v >= 0 else len(categories)
                     for v in codes], dtype=np.int64)


def shares(entry: dict, column: np.ndarray) -> list[float]:
    """The cells (bins, then missing) of a featurized column as shares, by the reference's rule."""
    column = np.asarray(column, dtype=np.float32)
    missing = np.isnan(column)
    present = column[~missing]
    if entry["kind"] == "categorical":
        codes = category_codes(present, entry["categories"])
        counts = np.bincount(codes, minlength=len(entry["shares"])).astype(np.float64)
    else:
        counts = bin_counts(present, entry["edges"])
    return [float(c) / len(column) for c in counts] + [float(missing.sum()) / len(column)]


def psi(expected: list[float], actual: list[float], floor: float = PSI_FLOOR) -> float:
    total = 0.0
    for e, a in zip(expected, actual):
        e, a = max(e, floor), max(a, floor)
        total += (a - e) * math.log(a / e)
    return total


def psi_of(entry: dict, column: np.ndarray) -> float:
    return psi(entry["shares"] + [entry["missing_share"]], shares(entry, column))


def training_matrix(spec: dict) -> tuple[np.ndarray, int]:
    """The training rows train.py uses (same generator, seed, size and split)."""
    import generate  # noqa: E402
    import train  # noqa: E402

    df = generate.generate(train.N_EVENTS, seed=train.SEED)
    part = df.iloc[: int(len(df) * 0.8)]
    fz = featurize.Featurizer(spec)
    numbers = {k for k, v in fz.types.items() if v == featurize.NUMBER}
    events = (featurize.csv_row_to_event(train.COLUMNS, ["" if v is None else str(v) for v in r], numbers)
              for r in part[train.COLUMNS].itertuples(index=False, name=None))
    return fz.matrix(events), len(part)


def main() -> int:
    bundles = sys.argv[1:] or [os.path.join(ROOT, "models", n) for n in ("install-v1", "install-v2", "install-biased")]
    cache: dict[str, np.ndarray] = {}
    for bundle in bundles:
        with open(os.path.join(bundle, "features.json"), "rb") as f:
            raw = f.read()
        spec = json.loads(raw)
        key = raw.decode()
        if key not in cache:
            cache[key], _ = training_matrix(spec)
        X = cache[key]
        path = os.path.join(bundle, "card.json")
        with open(path) as f:
            card = json.load(f)
        card["drift_reference"] = reference(spec, X, f"training rows ({len(X)})")
        with open(path, "w") as f:
            json.dump(card, f, indent=1)
            f.write("\n")
        print(f"{os.path.basename(bundle)}: drift_reference of {len(card['drift_reference']['features'])} features "
              f"from {len(X)} training rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
