#!/usr/bin/env python3
"""Produces a backlog of impression events for the service-vs-Python benchmark, as fast as it can.

Events are the rows of `simulator/data/test_data.csv.gz` turned into JSON exactly as the simulator and
the Swift CSV reader do it (`models/train/featurize.csv_row_to_event`); key = id; the Kafka message
timestamp is the send time. Past the end of the file it starts over with fresh ids (`<id>-<lap>`), so
every event of the backlog is distinct. Prints the number of events delivered; exits non-zero if any
delivery failed.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import sys
import time

from confluent_kafka import Producer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "models", "train"))
import featurize  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--brokers", required=True, help="bootstrap servers or @FILE")
    p.add_argument("--topic", default="impressions")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--data", default=os.path.join(REPO, "simulator", "data", "test_data.csv.gz"))
    p.add_argument("--model", default=os.path.join(REPO, "models", "install-v1"),
                   help="bundle whose features.json says which CSV columns are JSON numbers")
    p.add_argument("--compression", default="none")
    p.add_argument("--id-suffix", default="", help="appended to every id (e.g. to tell warm-up events apart)")
    args = p.parse_args()
    brokers = args.brokers
    if brokers.startswith("@"):  # a `scorer broker --bootstrap-file` file: first non-comment line
        with open(brokers[1:]) as f:
            brokers = next(l.strip() for l in f if l.strip() and not l.lstrip().startswith("#"))

    with open(os.path.join(args.model, "features.json")) as f:
        types = featurize.field_types(json.load(f))
    numbers = {k for k, v in types.items() if v == featurize.NUMBER}
    with gzip.open(args.data, "rt", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        id_at = header.index("id")
        rows = [cells for cells in reader]
    # Each row's JSON once; later laps only change the id (it appears once, quoted, as the key too).
    base = [featurize.csv_row_to_event(header, cells, numbers) for cells in rows]

    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 20, "batch.num.messages": 10000,
                         "queue.buffering.max.messages": 1000000, "compression.type": args.compression,
                         "enable.idempotence": True})
    failed = []
    delivered = [0]

    def on_delivery(err, _msg):
        if err is not None:
            failed.append(err)
        else:
            delivered[0] += 1

    start = time.monotonic()
    for n in range(args.count):
        lap, i = divmod(n, len(rows))
        value = base[i]
        key = rows[i][id_at]
        if lap or args.id_suffix:
            new_key = f"{key}{'-' + str(lap) if lap else ''}{args.id_suffix}"
            value = value.replace(json.dumps(key).encode(), json.dumps(new_key).encode(), 1)
            key = new_key
        while True:
            try:
                producer.produce(args.topic, value, key.encode(), on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        if n % 1000 == 0:
            producer.poll(0)
    producer.flush(120)
    elapsed = time.monotonic() - start
    print(f"produced {delivered[0]} events to {args.topic} in {elapsed:.1f} s", file=sys.stderr)
    if failed or delivered[0] != args.count:
        print(f"error: {len(failed)} deliveries failed ({failed[:1]})", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
