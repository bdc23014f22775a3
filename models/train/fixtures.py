"""Parity fixtures for the Swift Features tests, written from the committed bundle and test data.

    python3 models/train/fixtures.py        (train.py also calls it)

parity.jsonl: one object per raw event: `raw` (base64 of the exact bytes), then either `row` (the
float32 feature bit patterns from featurize.py), `p` (XGBoost's float32 probability bit pattern),
`id` and `event_ts`, or `error` (kind) and `field`.
csv_sample.csv.gz + csv_sample.jsonl: CSV rows (test-data rows plus quoting edge cases) and the exact
JSON event bytes and labels the reader must produce from them.
"""
from __future__ import annotations

import base64
import csv
import gzip
import io
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
import metrics  # noqa: E402

ODD_TIMESTAMPS = [
    "2024-03-05T10:11:12Z", "2024-03-05T10:11:12.5-05:00", "2024-03-05 10:11:12", "2024-03-05t23:59:59.999999999+0530",
    "2024-03-05T10:11:12.123456+14:00", "2024-02-29T00:00:00.000-12:00", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
    "2024-03-05T24:00:00Z", "2024-03-05T10:60:00Z", "2024-03-05T10:11:12+25:00", "2024-03-05", "yesterday", "",
    "1969-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999+00:00", "2024-03-05T10:11:12.+00:00",
    "2024-03-05T10:11:12.1234567890Z", " 2024-03-05T10:11:12Z", "2024-03-05T10:11:12Z ", "2024-03-05T10:11:12+05",
    "2024-03-05T10:11:12.000+00:00", "1970-01-01T00:00:00Z", "2024-03-01T00:00:18.167+00:00", "2000-02-29T12:00:00-00:00",
    "1900-02-29T00:00:00Z", "2024-03-05T10:11:12\\u002B01:00", "\\u0032024-03-05T10:11:12Z",
]
ODD_NUMBERS = ["0", "-0", "-0.0", "0.0", "25.0", "2.5e1", "2.5E+1", "1e2", "0.1", "1e-320", "1e400", "-1e400",
               "12345678901234567890123", "-12345678901234567890123", "9007199254740993", "3.4028235677973366e38",
               "3.4028234663852886e38", "1.0000000596046448", "16777217", "1.5e300", "-7", "123456789.987654321",
               "0.30000000000000004", "1" + "0" * 30, "4.9e-324", "2.2250738585072011e-308"]
ODD_VERSIONS = ["", "v11", "12beta", "0000000012.1", "1234567890.1", "123456789", " 11", "11", "١٢", "7.", ".7",
                "10.3.3", "14", "999999999.0"]
UNKNOWN = {"campaignId": ["zzz", "", "59687f0d896a6b0e5ce6ea15"], "country": ["XX", "us", "", "U\\u0053"],
           "platform": ["windows", "IOS", "i\\u006fs"], "connectionType": ["satellite", "wifi\\u0000"],
           "deviceType": ["Nokia 3310", "Galaxy\u00e9 \U0001F600", "iPhone8,1"], "sourceGameId": ["42", "-1", "0.5", "1e300"]}
COUNTERS = ["startCount", "viewCount", "clickCount", "installCount", "startCount1d", "startCount7d"]


def _pairs(raw: bytes) -> list[list[str]]:
    """A flat event's (key, raw JSON value text) pairs, in order."""
    obj = json.loads(raw)
    return [[k, json.dumps(v, ensure_ascii=False)] for k, v in obj.items()]


def _join(pairs, sep=",", colon=":") -> bytes:
    return ("{" + sep.join(json.dumps(k, ensure_ascii=False) + colon + v for k, v in pairs) + "}").encode("utf-8")


def _set(pairs, key, value_text):
    out = [p[:] for p in pairs]
    for p in out:
        if p[0] == key:
            p[1] = value_text
            return out
    out.append([key, value_text])
    return out


def valid_variants(base: list[bytes], rng: random.Random) -> list[bytes]:
    out = []
    pick = lambda: _pairs(rng.choice(base))  # noqa: E731
    for ts in ODD_TIMESTAMPS:
        out.append(_join(_set(pick(), "timestamp", f'"{ts}"')))
        out.append(_join(_set(pick(), "lastStart", f'"{ts}"')))
    for n in ODD_NUMBERS:
        for key in rng.sample(COUNTERS, 3):
            out.append(_join(_set(pick(), key, n)))
    for v in ODD_VERSIONS:
        out.append(_join(_set(pick(), "softwareVersion", json.dumps(v, ensure_ascii=False))))
    for key, values in UNKNOWN.items():
        for v in values:
            text = v if key == "sourceGameId" else f'"{v}"'
            out.append(_join(_set(pick(), key, text)))
    for _ in range(120):  # nulls and absent fields
        pairs = pick()
        victims = rng.sample(range(1, len(pairs)), rng.randint(1, 4))
        if rng.random() < 0.5:
            pairs = [p for i, p in enumerate(pairs) if i not in victims]
        else:
            for i in victims:
                pairs[i][1] = "null"
        out.append(_join(pairs))
    for _ in range(120):  # zero divisors (and zero numerators)
        pairs = pick()
        for key in rng.sample(["viewCount", "startCount", "clickCount"], rng.randint(1, 3)):
            pairs = _set(pairs, key, "0")
        if rng.random() < 0.3:
            pairs = _set(pairs, rng.choice(["clickCount", "viewCount", "installCount"]), "0")
        out.append(_join(pairs))
    for _ in range(40):  # formatting, extra fields, duplicates, escapes
        pairs = pick()
        pairs.insert(rng.randrange(len(pairs)), ["extra", '{"a":[1,2,{"b":null}],"c":"\\"x\\\\","d":-1.5e-3,"e":true}'])
        pairs.insert(rng.randrange(len(pairs)), ["note\\u00e9", '"caf\u00e9 \\ud83d\\ude00 \\/ \\b\\f\\n\\r\\t"'])
        out.append(_join(pairs, sep=" ,\n\t", colon=" : "))
        dup = pick()
        out.append(_join([["country", '"XX"'], ["viewCount", '"not a number"']] + dup))
        esc = _set(pick(), "id", '"\\u0061bc\\"def"')
        out.append(b" \r\n\t" + _join(esc) + b"\n ")
    return out


def error_events(base: list[bytes], max_bytes: int) -> list[bytes]:
    good = base[0]
    pairs = _pairs(good)
    e = [b"", b" ", b"{", b"}", b"{\"id\":\"a\",}", b"{\"id\":\"a\"", good[:-1], good[: len(good) // 2], good + b"x",
         good + b"{}", b"{'id':'a'}", b"{\"id\":\"a\",\"viewCount\":NaN}", b"{\"id\":\"a\",\"viewCount\":Infinity}",
         b"{\"id\":\"a\",\"viewCount\":01}", b"{\"id\":\"a\",\"viewCount\":1.}", b"{\"id\":\"a\",\"viewCount\":.5}",
         b"{\"id\":\"a\",\"viewCount\":+1}", b"{\"id\":\"a\",\"viewCount\":1e}", b"{\"id\":\"a\" \"x\":1}",
         b"{\"id\":\"\xff\"}", b"{\"id\":\"a\xc0\xaf\"}", b"{\"id\":\"\xed\xa0\x80\"}", b"{\"id\":\"a\",\"x\":\"\x01\"}",
         b"\xef\xbb\xbf" + good, b"{\"id\":\"a\\x\"}", b"{\"id\":\"a\\u12\"}", b"{\"id\":tru}", b"{\"id\":\"a\"}}",
         b"{\"id\":\"a\",\"x\":[1,2}", b"{\"id\":\"a\",\"x\":" + b"[" * 100 + b"]" * 99 + b"}", b"nul", b"{\"a\":1,}"]
    errors = [x for x in e]
    errors += [b"[]", b"[" + good + b"]", b"\"text\"", b"42", b"null", b"true", b" [1,2,3] "]  # not objects
    errors += [_join([p for p in pairs if p[0] != "id"]), _join(_set(pairs, "id", "null")), _join(_set(pairs, "id", '""'))]
    for key, text in [("id", "123"), ("id", "[\"a\"]"), ("viewCount", '"5"'), ("viewCount", "true"), ("timestamp", "123"),
                      ("country", "5"), ("sourceGameId", '"1373094"'), ("lastStart", "false"), ("viewCount", "[1]"),
                      ("softwareVersion", "{}"), ("campaignId", "{\"a\":1}"), ("startCount7d", "\"\"")]:
        errors.append(_join(_set(pairs, key, text)))
    errors.append(_join(_set(pairs, "padding", json.dumps("x" * max_bytes))))
    errors.append(_join(_set(pairs, "padding", json.dumps("x" * (max_bytes - len(good) - 10)))))  # just fits: valid
    errors.append(b"{\"id\":\"a\",\"x\":\"" + "\u00e9".encode() * (max_bytes // 2) + b"\"}")
    return errors


def bits(x: np.float32) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def write_all(spec: dict, model: xgb.Booster, held_events: list[bytes], out_dir: str, test_data: str) -> None:
    fz = featurize.Featurizer(spec)
    rng = random.Random(11)
    step = max(1, len(held_events) // 1500)
    base = held_events[::step][:1500]
    events = base + valid_variants(base, rng) + error_events(base, fz.max_event_bytes)
    records, rows, at = [], [], []
    for raw in events:
        rec = {"raw": base64.b64encode(raw).decode()}
        try:
            ev = featurize.load_event(raw, fz.max_event_bytes)
            row = fz.row(ev)
            rec["row"] = [bits(v) for v in row]
            rec["id"] = ev["id"]
            ts = ev.get(fz.timestamp_field)
            rec["event_ts"] = None if ts is None else featurize.parse_timestamp_ms(ts)
            rows.append(row)
            at.append(len(records))
        except featurize.FeatureError as err:
            rec["error"], rec["field"] = err.kind, err.field
        records.append(rec)
    X = np.vstack(rows).astype(np.float32)
    d = xgb.DMatrix(X, missing=np.nan, feature_names=fz.names, nthread=1,
                    feature_types=["c" if c else "q" for c in fz.categorical], enable_categorical=True)
    p = model.predict(d)
    for i, k in enumerate(at):
        records[k]["p"] = bits(p[i])
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "parity.jsonl"), "w") as f:
        for rec in records:
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    n_err = sum(1 for r in records if "error" in r)
    print(f"fixtures: {len(records)} events ({len(records) - n_err} valid, {n_err} errors)")
    write_csv_sample(test_data, out_dir, {k for k, v in fz.types.items() if v == featurize.NUMBER})


def write_csv_sample(test_data: str, out_dir: str, numbers: set[str]) -> None:
    with gzip.open(test_data, "rt", encoding="utf-8", newline="") as f:
        lines = [next(f) for _ in range(301)]
    header = next(csv.reader([lines[0]]))
    text = io.StringIO()
    text.write("".join(lines))
    w = csv.writer(text, lineterminator="\r\n")
    odd = [
        ["q,1", "2024-03-05T10:11:12Z", 'has "quotes", commas', "ios", "1.2", "1e5", "US", "-3", "", "7.5", "x1", "", "0", "0", "multi\nline", "tab\there \u00e9\U0001F600", "1"],
        ["q2", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", ""],
        ["q3", "2024-03-05T10:11:12Z", "\\back\\slash", "android", "", "00", "GB", "1.", "-0", "1E-3", "1e+2", "2024-03-04", "", "", "\x01\x1f", "", "0"],
    ]
    for row in odd:
        w.writerow(row)
    text.write("q4,2024-03-05T10:11:12Z,c,ios,1,2,US,3,4,5,6,,7,8,wifi,d,0\n")  # back to LF endings
    data = text.getvalue()
    with open(os.path.join(out_dir, "csv_sample.csv.gz"), "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(data.encode("utf-8"))
    label_at = header.index("install")
    with open(os.path.join(out_dir, "csv_sample.jsonl"), "w") as f:
        for cells in csv.reader(io.StringIO(data, newline="")):
            if cells == header:
                continue
            event = featurize.csv_row_to_event(header, cells, numbers)
            label = cells[label_at]
            f.write(json.dumps({"event": base64.b64encode(event).decode(),
                                "label": int(label) if label.isdigit() else None}) + "\n")


def main() -> None:
    root = os.path.abspath(os.path.join(HERE, "..", ".."))
    bundle = os.path.join(root, "models", "install-v1")
    with open(os.path.join(bundle, "features.json")) as f:
        spec = json.load(f)
    model = xgb.Booster(model_file=os.path.join(bundle, "model.json"))
    test_data = os.path.join(root, "simulator", "data", "test_data.csv.gz")
    fz = featurize.Featurizer(spec)
    held, _ = metrics.read_test_data(test_data, {k for k, v in fz.types.items() if v == featurize.NUMBER})
    write_all(spec, model, held, os.path.join(root, "Tests", "FeaturesTests", "Fixtures"), test_data)


if __name__ == "__main__":
    main()
