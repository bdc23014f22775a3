#!/usr/bin/env python3
"""The lean Python baseline for `scorer run`: the competent version of benchmarks/python_baseline.py.

Same Kafka side as python_baseline.py (its class, options and settings: a confluent-kafka consumer in
a group, micro-batches taken as they arrive, one prediction or dead letter per event with the
`source.*` headers, idempotent producer with acks=all, pipelined delivery, a batch's offsets
committed asynchronously once it and every earlier batch are acknowledged), same model bundle, but
the featurizer is benchmarks/lean_featurize.py: orjson per event, one pass into columns, NumPy per
column, vocabularies as dict lookups, one `inplace_predict` per batch. Its rows equal
models/train/featurize.py's bit for bit on the parity fixture
(benchmarks/parity/lean_featurizer_parity.py, run by scripts/parity.sh).

Usage (from the repository root; the options of python_baseline.py):
  python3 benchmarks/python_lean_baseline.py --brokers @/tmp/bootstrap --group py-lean --model models/install-v1
"""
from __future__ import annotations

import json
import os
import sys
import time

import orjson

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lean_featurize import LeanFeaturizer  # noqa: E402
from python_baseline import Batch, BaselineScorer, parse_args, run_until_signalled  # noqa: E402


class LeanScorer(BaselineScorer):
    def __init__(self, args):
        super().__init__(args)
        with open(os.path.join(args.model, "features.json")) as f:
            self.lean = LeanFeaturizer(json.load(f))
        self.topic_bytes: dict[str, bytes] = {}  # header values, encoded once
        self.partition_bytes: dict[int, bytes] = {}

    def score_batch(self, msgs):
        offsets = {}
        raws = []
        for m in msgs:
            offsets[(m.topic(), m.partition())] = m.offset() + 1
            raws.append(m.value())
        rows, kept, ids, dead = self.lean.featurize(raws)

        batch = Batch(offsets)
        self.in_flight.append(batch)
        on_delivery = batch.on_delivery
        topic_bytes, partition_bytes = self.topic_bytes, self.partition_bytes
        if kept:
            p = self.booster.inplace_predict(rows).tolist()
            scored_at = int(time.time() * 1000)
            dumps, model, topic = orjson.dumps, self.model_name, self.args.output_topic
            produce = self.producer.produce
            for i, ident, prob in zip(kept, ids, p):
                m = msgs[i]
                t, part = m.topic(), m.partition()
                tb = topic_bytes.get(t) or topic_bytes.setdefault(t, t.encode())
                pb = partition_bytes.get(part) or partition_bytes.setdefault(part, str(part).encode())
                value = dumps({"id": ident, "p": prob, "model": model, "scored_at": scored_at,
                               "event_ts": m.timestamp()[1]})
                headers = [("source.topic", tb), ("source.partition", pb), ("source.offset", b"%d" % m.offset())]
                try:
                    produce(topic, value, m.key(), headers=headers, on_delivery=on_delivery)
                    batch.pending += 1
                except BufferError:  # local queue full: python_baseline's path serves reports and retries
                    self.produce(topic, value, m.key(), headers, batch)
        for i, reason in dead:
            m = msgs[i]
            headers = [("error", reason.encode()),
                       ("source.topic", m.topic().encode()),
                       ("source.partition", str(m.partition()).encode()),
                       ("source.offset", str(m.offset()).encode())]
            self.produce(self.args.dlq_topic, m.value(), m.key(), headers, batch)
        self.predicted += len(kept)
        self.dead += len(dead)


def main():
    run_until_signalled(LeanScorer(parse_args()), "python lean baseline")


if __name__ == "__main__":
    main()
