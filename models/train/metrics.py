"""The model card's numbers, computed the same way by train.py and check_card.py."""
from __future__ import annotations

import csv
import gzip
import io

import numpy as np

import featurize


def read_test_data(path: str, number_columns: set[str]):
    """The csv.gz as (raw JSON events, labels), with the Swift reader's CSV -> JSON rules."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        label_at = header.index("install")
        events, labels = [], []
        for cells in reader:
            events.append(featurize.csv_row_to_event(header, cells, number_columns))
            labels.append(int(cells[label_at]))
    return events, np.array(labels, dtype=np.int64)


def auc(y, p) -> float:
    """ROC AUC with ties counted half (Mann-Whitney), in float64."""
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p), dtype=np.float64)
    sorted_p = p[order]
    i = 0
    while i < len(p):  # average ranks of ties
        j = i
        while j + 1 < len(p) and sorted_p[j + 1] == sorted_p[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def card_metrics(model, dmatrix, y) -> dict:
    p32 = model.predict(dmatrix)
    p = p32.astype(np.float64)
    y = np.asarray(y, dtype=np.float64)
    eps = 1e-15
    pc = np.clip(p, eps, 1 - eps)
    logloss = float(-(y * np.log(pc) + (1 - y) * np.log(1 - pc)).mean())
    order = np.argsort(p, kind="mergesort")
    deciles = []
    for k, idx in enumerate(np.array_split(order, 10)):
        deciles.append({"decile": k + 1, "rows": int(len(idx)), "mean_predicted": float(p[idx].mean()),
                        "actual_rate": float(y[idx].mean()), "min_predicted": float(p[idx].min()),
                        "max_predicted": float(p[idx].max())})
    mean_pred, actual = float(p.mean()), float(y.mean())
    return {
        "rows": int(len(y)),
        "auc": auc(y, p),
        "logloss": logloss,
        "mean_predicted": mean_pred,
        "actual_rate": actual,
        "calibration_ratio": mean_pred / actual,
        "calibration_by_decile": deciles,
    }
