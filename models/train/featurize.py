"""Reference featurizer: one raw impression event (bytes) -> one float32 row, exactly as the Swift
`Features` library computes it. Training, the model card check and the parity fixture all use this
module, so the service and the model see the same numbers (see models/README.md, "Feature rules").

Every feature is computed in float64 (Python floats, IEEE-754 like Swift's Double) and rounded to
float32 once at the end; NaN means missing, and so does a value that is infinite after rounding to
float32 (XGBoost cannot train on or predict infinities).
"""
from __future__ import annotations

import json
import math
import re
import sys

import numpy as np

sys.set_int_max_str_digits(0)  # json.loads must not reject long integers (Swift reads them as Double)

DEFAULT_MAX_EVENT_BYTES = 65536
MS_PER_DAY = 86_400_000
MS_PER_HOUR = 3_600_000


class FeatureError(Exception):
    """A malformed event: `kind` is one of not_json, not_object, missing_id, wrong_type, too_large."""

    def __init__(self, kind: str, field: str | None = None):
        super().__init__(f"{kind}{'' if field is None else ' ' + field}")
        self.kind = kind
        self.field = field


# MARK: - field types of the transforms

NUMBER, STRING = "number", "string"


def field_types(spec: dict) -> dict[str, str]:
    """The JSON type each source field must have (null or absent is always allowed: missing)."""
    types: dict[str, str] = {spec.get("timestamp_field", "timestamp"): STRING}
    for f in spec["features"]:
        t = f["transform"]
        if t == "number":
            pairs = [(f["field"], NUMBER)]
        elif t == "ratio":
            pairs = [(f["numerator"], NUMBER), (f["denominator"], NUMBER)]
        elif t == "days_between":
            pairs = [(f["from"], STRING), (f["to"], STRING)]
        elif t in ("hour_of_day", "day_of_week", "version_major"):
            pairs = [(f["field"], STRING)]
        elif t == "category":
            pairs = [(f["field"], f.get("value_type", STRING))]
        else:
            raise ValueError(f"feature {f['name']!r}: unknown transform {t!r}")
        for name, kind in pairs:
            if types.setdefault(name, kind) != kind:
                raise ValueError(f"field {name!r} is used both as {types[name]} and {kind}")
    return types


# MARK: - timestamps

_TS = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?(Z|z|[+-][0-9]{2}:?[0-9]{2})?"
)


def _days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _days_in_month(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    return 30 if m in (4, 6, 9, 11) else 31


def parse_timestamp_ms(s: str) -> int | None:
    """ISO-8601 `YYYY-MM-DD[T ]HH:MM:SS[.f{1,9}][Z|±HH:MM|±HHMM]` -> ms since epoch (fraction
    truncated to ms; no offset = UTC). Anything else (or out-of-range parts) -> None (missing)."""
    m = _TS.fullmatch(s)
    if m is None:
        return None
    y, mo, d, h, mi, se = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= mo <= 12 and 1 <= d <= _days_in_month(y, mo) and h <= 23 and mi <= 59 and se <= 59):
        return None
    frac = m.group(7) or ""
    ms = int((frac + "00")[:3]) if frac else 0
    offset_min = 0
    tz = m.group(8)
    if tz and tz not in ("Z", "z"):
        digits = tz[1:].replace(":", "")
        oh, om = int(digits[:2]), int(digits[2:])
        if oh > 23 or om > 59:
            return None
        offset_min = (oh * 60 + om) * (-1 if tz[0] == "-" else 1)
    seconds = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset_min * 60
    return seconds * 1000 + ms


# MARK: - values

def _number(v) -> float:
    """A JSON number as float64, correctly rounded (like Swift's reading), overflow -> ±inf."""
    if isinstance(v, float):
        return v
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def _version_major(s: str) -> float:
    m = re.match(r"[0-9]{1,9}(?![0-9])", s)
    return float(int(m.group(0))) if m else math.nan


def load_event(raw: bytes, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> dict:
    """Strictly parses raw bytes to a dict: RFC 8259 JSON in strict UTF-8, object at the top."""
    if len(raw) > max_event_bytes:
        raise FeatureError("too_large")
    try:
        text = raw.decode("utf-8")
        obj = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FeatureError("not_json") from None
    if not isinstance(obj, dict):
        raise FeatureError("not_object")
    return obj


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


class Featurizer:
    """Compiled features.json; `row(event_dict)` returns a float32 numpy row (NaN = missing)."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.features = spec["features"]
        self.types = field_types(spec)
        self.id_field = spec.get("id_field", "id")
        self.timestamp_field = spec.get("timestamp_field", "timestamp")
        self.max_event_bytes = spec.get("max_event_bytes", DEFAULT_MAX_EVENT_BYTES)
        self.vocab = {}
        for f in self.features:
            if f["transform"] == "category":
                if f.get("value_type", STRING) == NUMBER:
                    self.vocab[f["name"]] = {float(v): i for i, v in enumerate(f["vocabulary"])}
                else:
                    self.vocab[f["name"]] = {str(v): i for i, v in enumerate(f["vocabulary"])}
        self.names = [f["name"] for f in self.features]
        self.categorical = [f["transform"] == "category" for f in self.features]

    def check(self, ev: dict) -> None:
        """Raises FeatureError for a missing/empty id or a field of the wrong JSON type."""
        ident = ev.get(self.id_field)
        if ident is None or ident == "":
            raise FeatureError("missing_id", self.id_field)
        if not isinstance(ident, str):
            raise FeatureError("wrong_type", self.id_field)
        for name, kind in self.types.items():
            v = ev.get(name)
            if v is None:
                continue
            ok = isinstance(v, str) if kind == STRING else (
                isinstance(v, (int, float)) and not isinstance(v, bool))
            if not ok:
                raise FeatureError("wrong_type", name)

    def row(self, ev: dict) -> np.ndarray:
        """The float32 row of one parsed event."""
        return self.to_float32(self.row64(ev))

    def row64(self, ev: dict) -> list[float]:
        """The row before the final float64 -> float32 rounding (a list, for speed in bulk)."""
        self.check(ev)
        out = [math.nan] * len(self.features)
        ts_cache: dict[str, int | None] = {}

        def ts(name):
            if name not in ts_cache:
                v = ev.get(name)
                ts_cache[name] = None if v is None else parse_timestamp_ms(v)
            return ts_cache[name]

        def num(name):
            v = ev.get(name)
            return None if v is None else _number(v)

        for i, f in enumerate(self.features):
            t = f["transform"]
            x = math.nan
            if t == "number":
                v = num(f["field"])
                if v is not None:
                    x = v
            elif t == "ratio":
                a, b = num(f["numerator"]), num(f["denominator"])
                if a is not None and b is not None and b != 0:
                    x = a / b
            elif t == "days_between":
                a, b = ts(f["from"]), ts(f["to"])
                if a is not None and b is not None:
                    x = float(b - a) / MS_PER_DAY
            elif t == "hour_of_day":
                a = ts(f["field"])
                if a is not None:
                    x = float((a % MS_PER_DAY) // MS_PER_HOUR)
            elif t == "day_of_week":
                a = ts(f["field"])
                if a is not None:
                    x = float((a // MS_PER_DAY + 3) % 7)  # Monday = 0
            elif t == "version_major":
                v = ev.get(f["field"])
                if v is not None:
                    x = _version_major(v)
            elif t == "category":
                v = ev.get(f["field"])
                if v is not None:
                    table = self.vocab[f["name"]]
                    key = _number(v) if f.get("value_type", STRING) == NUMBER else v
                    x = float(table.get(key, len(table)))  # unknown -> the "other" code
            out[i] = x
        return out

    @staticmethod
    def to_float32(rows64) -> np.ndarray:
        """float64 rows -> float32, with values that overflow float32 (or were infinite) as missing."""
        with np.errstate(over="ignore"):
            x = np.asarray(rows64, dtype=np.float64).astype(np.float32)
        x[np.isinf(x)] = np.nan
        return x

    def featurize_raw(self, raw: bytes) -> np.ndarray:
        return self.row(load_event(raw, self.max_event_bytes))

    def matrix(self, raws) -> np.ndarray:
        """Many raw events -> a float32 matrix (raises FeatureError on the first bad event)."""
        rows = [self.row64(load_event(r, self.max_event_bytes)) for r in raws]
        return self.to_float32(np.array(rows, dtype=np.float64).reshape(len(rows), len(self.features)))


# MARK: - the test-data CSV <-> JSON events

def csv_cell_to_json(column: str, cell: str, number_columns: set[str]) -> str:
    """How a CSV cell becomes a JSON value (mirrored by the Swift reader): empty -> null; a numeric
    column whose cell is a JSON number -> that number verbatim; anything else -> a JSON string."""
    if cell == "":
        return "null"
    if column in number_columns and re.fullmatch(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", cell):
        return cell
    return json.dumps(cell, ensure_ascii=False)


def csv_row_to_event(header: list[str], cells: list[str], number_columns: set[str],
                     label_column: str = "install") -> bytes:
    parts = []
    for column, cell in zip(header, cells):
        if column == label_column:
            continue
        parts.append(json.dumps(column, ensure_ascii=False) + ":" + csv_cell_to_json(column, cell, number_columns))
    return ("{" + ",".join(parts) + "}").encode("utf-8")
