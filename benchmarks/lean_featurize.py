"""A batched, columnar featurizer with the training featurizer's semantics (models/train/featurize.py).

What a competent engineer writes when featurize.py's per-event loop is too slow for a service:

- one pass over the batch: orjson per event, the needed fields pulled into one Python list per field
  (no per-feature dispatch, no closures);
- per column: type checks by the set of Python types present, NumPy arrays of float64 for numbers
  and ratios, vocabularies as one dict lookup per value, `version_major` memoized per distinct
  string, timestamps of the common shape (`YYYY-MM-DDTHH:MM:SS.fff±HH:MM`, 29 bytes) parsed with
  NumPy over a (n, 29) byte matrix, every other shape through featurize.py's own parser;
- float64 throughout, rounded to float32 once, infinities as missing (as featurize.py).

An event the fast path cannot vouch for (wrong field types, a missing or empty id, a number too large
for float64, anything orjson refuses) goes through featurize.py's `row64` itself, which gives the
exact row or the exact dead-letter reason. `benchmarks/parity/lean_featurizer_parity.py` proves
the rows equal featurize.py's bit for bit on the 2,086-event parity fixture.
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np
import orjson

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "models", "train"))
from featurize import (  # noqa: E402  (the training pipeline's code: the truth)
    MS_PER_DAY, MS_PER_HOUR, NUMBER, STRING, FeatureError, Featurizer, _number, _version_major, load_event,
    parse_timestamp_ms)

_NONE = type(None)
_NAN = math.nan


def _days_from_civil(y, m, d):
    """Vectorised featurize._days_from_civil (int64 arrays; floor division as Python's)."""
    y = y - (m <= 2)
    era = y // 400  # numpy floor division == Python's for negatives too
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
# Byte positions of the 29-byte shape 2024-03-28T23:53:39.714+00:00.
_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22, 24, 25, 27, 28]


def timestamps_ms(column: list) -> np.ndarray:
    """Strings (or None) -> float64 ms since epoch, NaN where missing or unparseable.

    The common 29-byte shape is parsed with NumPy; any other string goes to featurize.py's parser."""
    n = len(column)
    out = np.full(n, np.nan)
    fast = [i for i, s in enumerate(column) if s is not None and len(s) == 29 and s.isascii()]
    if fast:
        b = np.frombuffer("".join(column[i] for i in fast).encode("ascii"), dtype=np.uint8).reshape(len(fast), 29)
        dig = b[:, _DIGITS].astype(np.int64) - 48
        ok = ((dig >= 0) & (dig <= 9)).all(axis=1)
        ok &= (b[:, 4] == 45) & (b[:, 7] == 45) & (b[:, 13] == 58) & (b[:, 16] == 58) & (b[:, 19] == 46)
        ok &= (b[:, 10] == 84) | (b[:, 10] == 116) | (b[:, 10] == 32)  # T, t or space
        ok &= ((b[:, 23] == 43) | (b[:, 23] == 45)) & (b[:, 26] == 58)  # +/- and HH:MM
        y = dig[:, 0] * 1000 + dig[:, 1] * 100 + dig[:, 2] * 10 + dig[:, 3]
        mo = dig[:, 4] * 10 + dig[:, 5]
        d = dig[:, 6] * 10 + dig[:, 7]
        h = dig[:, 8] * 10 + dig[:, 9]
        mi = dig[:, 10] * 10 + dig[:, 11]
        se = dig[:, 12] * 10 + dig[:, 13]
        ms = dig[:, 14] * 100 + dig[:, 15] * 10 + dig[:, 16]
        oh = dig[:, 17] * 10 + dig[:, 18]
        om = dig[:, 19] * 10 + dig[:, 20]
        leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
        mdays = _MONTH_DAYS[np.clip(mo, 0, 12)] + ((mo == 2) & leap)
        ok &= (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= mdays) & (h <= 23) & (mi <= 59) & (se <= 59)
        ok &= (oh <= 23) & (om <= 59)
        offset_min = (oh * 60 + om) * np.where(b[:, 23] == 45, -1, 1)
        seconds = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset_min * 60
        value = seconds * 1000 + ms
        idx = np.asarray(fast)
        out[idx[ok]] = value[ok]
        slow = [fast[i] for i in np.flatnonzero(~ok)]  # e.g. a letter where a digit belongs: None
    else:
        slow = []
    slow += [i for i, s in enumerate(column) if s is not None and (len(s) != 29 or not s.isascii())]
    for i in slow:
        v = parse_timestamp_ms(column[i])
        if v is not None:
            out[i] = v
    return out


class LeanFeaturizer:
    """featurize.Featurizer's rows for a batch of raw events, computed per column."""

    def __init__(self, spec: dict):
        self.reference = Featurizer(spec)  # for the events the fast path does not vouch for
        ref = self.reference
        self.id_field = ref.id_field
        self.max_event_bytes = ref.max_event_bytes
        self.width = len(ref.features)
        # Every source field read, in one tuple: the per-event pass pulls exactly these.
        self.fields = [self.id_field] + [f for f in ref.types if f != self.id_field]
        self.column_of = {name: i for i, name in enumerate(self.fields)}
        self.types = ref.types
        self.string_vocab = {}
        for f in ref.features:
            if f["transform"] == "category":
                self.string_vocab[f["name"]] = ref.vocab[f["name"]]
        self._version_cache: dict[str, float] = {}

    # MARK: - the one pass

    def parse(self, raws: list) -> tuple[list, list, list]:
        """Raw values -> (events as dicts, indexes of the parsed ones, (index, raw) of the others)."""
        loads, limit = orjson.loads, self.max_event_bytes
        events, good, odd = [], [], []
        for i, raw in enumerate(raws):
            if raw is not None and len(raw) <= limit:
                try:
                    ev = loads(raw)
                except orjson.JSONDecodeError:
                    odd.append(i)
                    continue
                if type(ev) is dict:
                    events.append(ev)
                    good.append(i)
                    continue
            odd.append(i)
        return events, good, odd

    def featurize(self, raws: list) -> tuple[np.ndarray, list, list, list]:
        """Raw event bytes -> (float32 rows of the scorable events, their indexes into `raws`, their
        ids, [(index, reason)] of the events that go to the dead-letter topic, reasons as
        str(FeatureError))."""
        events, good, odd = self.parse(raws)
        n = len(events)
        fields = self.fields
        # Columns: one list per field (None = absent or null).
        cols = [[ev.get(name) for ev in events] for name in fields]
        bad = np.zeros(n, dtype=bool)  # rows the reference featurizer must decide
        ids = cols[0]
        if set(map(type, ids)) != {str}:
            bad |= np.fromiter((type(v) is not str for v in ids), dtype=bool, count=n)
        if "" in ids:
            bad |= np.fromiter((v == "" for v in ids), dtype=bool, count=n)
        numbers: dict[str, np.ndarray] = {}
        for name, kind in self.types.items():
            if name == self.id_field:
                continue
            col = cols[self.column_of[name]]
            present = set(map(type, col))
            if kind == STRING:
                if not present <= {str, _NONE}:
                    bad |= np.fromiter((v is not None and type(v) is not str for v in col), dtype=bool, count=n)
                    cols[self.column_of[name]] = [v if type(v) is str else None for v in col]
            else:
                if not present <= {int, float, _NONE}:  # bool (a subclass of int) is refused here
                    bad |= np.fromiter((v is not None and type(v) not in (int, float) for v in col),
                                       dtype=bool, count=n)
                    col = [v if type(v) in (int, float) else None for v in col]
                    cols[self.column_of[name]] = col
                try:
                    numbers[name] = np.array([_NAN if v is None else v for v in col], dtype=np.float64)
                except OverflowError:  # an integer beyond float64: featurize.py's rule (±inf) per value
                    numbers[name] = np.array([_NAN if v is None else _number(v) for v in col], dtype=np.float64)
        missing = {name: np.array([v is None for v in cols[self.column_of[name]]], dtype=bool)
                   for name in numbers}
        stamps: dict[str, np.ndarray] = {}

        def ts(name):
            if name not in stamps:
                stamps[name] = timestamps_ms(cols[self.column_of[name]])
            return stamps[name]

        x = np.full((n, self.width), np.nan)
        for j, f in enumerate(self.reference.features):
            t = f["transform"]
            if t == "number":
                x[:, j] = numbers[f["field"]]
            elif t == "ratio":
                a, b = numbers[f["numerator"]], numbers[f["denominator"]]
                keep = ~missing[f["numerator"]] & ~missing[f["denominator"]] & (b != 0)
                with np.errstate(all="ignore"):
                    x[:, j] = np.where(keep, a / np.where(keep, b, 1.0), np.nan)
            elif t == "days_between":
                a, b = ts(f["from"]), ts(f["to"])
                x[:, j] = (b - a) / MS_PER_DAY  # ms are exact integers in float64: b - a as featurize.py
            elif t == "hour_of_day":
                a = ts(f["field"])
                with np.errstate(invalid="ignore"):  # floor division and modulo as Python's, NaN stays NaN
                    x[:, j] = np.floor_divide(np.mod(a, MS_PER_DAY), MS_PER_HOUR)
            elif t == "day_of_week":
                a = ts(f["field"])
                with np.errstate(invalid="ignore"):
                    x[:, j] = np.mod(np.floor_divide(a, MS_PER_DAY) + 3, 7)  # Monday = 0
            elif t == "version_major":
                cache = self._version_cache
                col = cols[self.column_of[f["field"]]]
                out = []
                for v in col:
                    if v is None:
                        out.append(_NAN)
                        continue
                    r = cache.get(v)
                    if r is None:
                        r = _version_major(v)
                        if len(cache) < 100_000:
                            cache[v] = r
                    out.append(r)
                x[:, j] = out
            elif t == "category":
                table = self.string_vocab[f["name"]]
                other = float(len(table))
                if f.get("value_type", STRING) == NUMBER:
                    num = numbers[f["field"]]
                    get = table.get
                    x[:, j] = [_NAN if m else get(v, other) for v, m in zip(num.tolist(), missing[f["field"]].tolist())]
                else:
                    get = table.get
                    col = cols[self.column_of[f["field"]]]
                    x[:, j] = [_NAN if v is None else get(v, other) for v in col]
        rows = Featurizer.to_float32(x)

        # The events the fast path does not vouch for: featurize.py decides each one.
        dead = []
        keep_rows = ~bad
        if bad.any():
            fast = np.flatnonzero(keep_rows).tolist()
            kept = [good[i] for i in fast]
            ids = [ids[i] for i in fast]
            rows = rows[keep_rows]
        else:
            kept = good
        extra_rows, extra_index, extra_ids = [], [], []
        for i in np.flatnonzero(bad).tolist():
            try:
                extra_rows.append(self.reference.row64(events[i]))
                extra_index.append(good[i])
                extra_ids.append(events[i][self.id_field])
            except FeatureError as e:
                dead.append((good[i], str(e)))
        for i in odd:
            raw = raws[i]
            try:
                if raw is None:
                    raise FeatureError("not_json")
                ev = load_event(raw, self.max_event_bytes)
                if not isinstance(ev, dict):
                    raise FeatureError("not_object")
                extra_rows.append(self.reference.row64(ev))
                extra_index.append(i)
                extra_ids.append(ev[self.id_field])
            except FeatureError as e:
                dead.append((i, str(e)))
        if extra_rows:
            rows = np.concatenate([rows, Featurizer.to_float32(np.array(extra_rows, dtype=np.float64))])
            kept = kept + extra_index
            ids = ids + extra_ids
        dead.sort()
        return rows, kept, ids, dead
