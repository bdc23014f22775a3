#!/usr/bin/env python3
"""The per-event Python baseline for `scorer run` (the training featurizer called once per event; see
benchmarks/python_lean_baseline.py for the batched, columnar version that is the faster baseline).

A confluent-kafka consumer in a group reads impression events, micro-batches them
(`consume(num_messages=..., timeout=...)`), featurizes each event with the training pipeline's own
featurizer (`models/train/featurize.py`, the very code the model was trained with), scores the whole
batch with one `xgboost.Booster.inplace_predict` call, and produces one prediction per event (the
contract of /work/shared/DESIGN.md: key = input key, headers `source.topic`/`source.partition`/
`source.offset`) or a dead letter (original bytes, `error` header) for an event that cannot be scored.

Delivery is at-least-once: auto-commit is off, and a batch's input offsets are committed (async) only
once every prediction and dead letter of that batch *and of all earlier batches* has been acknowledged
by the broker (idempotent producer, acks=all). The producer is pipelined: scoring of the next batch
overlaps delivery of the previous ones (`poll(0)` to serve delivery reports, never a flush per batch).
On partition revocation and at shutdown (SIGTERM/SIGINT) it waits for outstanding deliveries and
commits synchronously before letting go.

Events are parsed with orjson (fast); an event orjson rejects is re-parsed by the pipeline's strict
`load_event`, so the dead-letter reason (and the rare valid JSON orjson cannot read, such as integers
beyond 64 bits) is exactly what the training pipeline says.

Usage (from the repository root):
  python3 benchmarks/python_baseline.py --brokers @/tmp/bootstrap --group py-scorer \
      --model models/install-v1
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import sys
import time

import numpy as np
import orjson
import xgboost
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "models", "train"))
from featurize import FeatureError, Featurizer, load_event  # noqa: E402  (the training pipeline's code)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Python baseline scorer: confluent-kafka + xgboost inplace_predict, at-least-once.")
    p.add_argument("--brokers", default=os.environ.get("SCORER_BROKERS", "localhost:9092"),
                   help="bootstrap servers, or @FILE written by `scorer broker --bootstrap-file FILE`")
    p.add_argument("--group", default="scorer-python", help="consumer group id")
    p.add_argument("--model", default=os.path.join(REPO, "models", "install-v1"), help="model bundle folder")
    p.add_argument("--input-topic", default="impressions")
    p.add_argument("--output-topic", default="predictions")
    p.add_argument("--dlq-topic", default="impressions.dlq")
    p.add_argument("--max-batch", type=int, default=1000, help="events per micro-batch at most")
    p.add_argument("--max-wait", type=float, default=0.0,
                   help="ms to wait for a batch to fill after its first event (as scorer run; 0 = take what has "
                        "arrived, no added latency)")
    p.add_argument("--fetch-wait-max-ms", type=int, default=1,
                   help="fetch.wait.max.ms (the mock cluster holds an empty fetch this long; "
                        "1 as in the Kafka library's development-cluster preset)")
    p.add_argument("--linger-ms", type=float, default=1.0, help="producer linger.ms")
    p.add_argument("--stats", type=float, default=0.0, help="print a stats line every N seconds to stderr")
    p.add_argument("-X", dest="props", action="append", default=[], metavar="KEY=VALUE",
                   help="extra librdkafka property for both clients")
    return p.parse_args(argv)


def bootstrap(brokers: str) -> str:
    """`host:port,...` as is; `@FILE`: the first line of the file that is not empty or a `#` comment."""
    if not brokers.startswith("@"):
        return brokers
    with open(brokers[1:]) as f:
        return next(line.strip() for line in f if line.strip() and not line.lstrip().startswith("#"))


class Batch:
    """One consumed batch: how many of its produced messages await an ack, and its next offsets."""

    __slots__ = ("pending", "offsets", "failed")

    def __init__(self, offsets: dict):
        self.pending = 0
        self.offsets = offsets  # (topic, partition) -> next offset to read
        self.failed = None

    def on_delivery(self, err, _msg):
        self.pending -= 1
        if err is not None and self.failed is None:
            self.failed = err


class BaselineScorer:
    def __init__(self, args):
        self.args = args
        with open(os.path.join(args.model, "features.json")) as f:
            self.featurizer = Featurizer(json.load(f))
        self.model_name = os.path.basename(os.path.normpath(args.model))
        try:
            with open(os.path.join(args.model, "card.json")) as f:
                self.model_name = json.load(f).get("name", self.model_name)
        except FileNotFoundError:
            pass
        self.booster = xgboost.Booster(model_file=os.path.join(args.model, "model.json"))
        self.booster.set_param({"nthread": 1})
        self.num_features = len(self.featurizer.features)
        self.max_event_bytes = self.featurizer.max_event_bytes

        extra = dict(kv.split("=", 1) for kv in args.props)
        servers = bootstrap(args.brokers)
        self.consumer = Consumer({
            "bootstrap.servers": servers,
            "group.id": args.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": args.fetch_wait_max_ms,
            "queued.max.messages.kbytes": 262144,
            "queued.min.messages": 200000,
            "on_commit": self._on_commit,
            **extra,
        })
        self.producer = Producer({
            "bootstrap.servers": servers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": args.linger_ms,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 500000,
            **extra,
        })
        self.in_flight: collections.deque[Batch] = collections.deque()
        self.running = True
        self.consumed = self.predicted = self.dead = 0
        self.commit_error = None

    # MARK: - offsets

    def _on_commit(self, err, _partitions):
        if err is not None and err.code() != KafkaError._NO_OFFSET:
            self.commit_error = err

    def commit_acknowledged(self, asynchronous=True):
        """Commits the offsets of the leading batches whose every message the broker acknowledged."""
        done = {}
        while self.in_flight and self.in_flight[0].pending == 0:
            batch = self.in_flight.popleft()
            if batch.failed is not None:
                raise KafkaException(batch.failed)
            done.update(batch.offsets)
        if done:
            self.consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in done.items()],
                                 asynchronous=asynchronous)

    def drain_and_commit(self, timeout=30.0):
        """Waits for every outstanding delivery, then commits everything synchronously."""
        deadline = time.monotonic() + timeout
        while self.in_flight and self.in_flight[-1].pending > 0 and time.monotonic() < deadline:
            self.producer.poll(0.05)
        self.commit_acknowledged(asynchronous=False)

    def on_revoke(self, _consumer, _partitions):
        self.drain_and_commit()

    # MARK: - the loop

    def produce(self, topic, value, key, headers, batch):
        while True:
            try:
                self.producer.produce(topic, value, key, headers=headers, on_delivery=batch.on_delivery)
                batch.pending += 1
                return
            except BufferError:  # local queue full: serve delivery reports (backpressure), retry
                self.producer.poll(0.01)

    def score_batch(self, msgs):
        offsets = {}
        good_msgs, good_ids, rows = [], [], []
        dead = []
        load = orjson.loads
        row64 = self.featurizer.row64
        max_bytes = self.max_event_bytes
        for m in msgs:
            offsets[(m.topic(), m.partition())] = m.offset() + 1
            raw = m.value()
            try:
                if raw is None:
                    raise FeatureError("not_json")
                if len(raw) > max_bytes:
                    raise FeatureError("too_large")
                try:
                    ev = load(raw)
                except orjson.JSONDecodeError:
                    ev = load_event(raw, max_bytes)  # strict pipeline parser: the exact reason
                if not isinstance(ev, dict):
                    raise FeatureError("not_object")
                rows.append(row64(ev))
                good_msgs.append(m)
                good_ids.append(ev["id"])
            except FeatureError as e:
                dead.append((m, str(e)))

        batch = Batch(offsets)
        self.in_flight.append(batch)
        if rows:
            x = Featurizer.to_float32(np.array(rows, dtype=np.float64).reshape(len(rows), self.num_features))
            p = self.booster.inplace_predict(x)
            scored_at = int(time.time() * 1000)
            dumps = orjson.dumps
            for m, ident, prob in zip(good_msgs, good_ids, p.tolist()):
                value = dumps({"id": ident, "p": prob, "model": self.model_name,
                               "scored_at": scored_at, "event_ts": m.timestamp()[1]})
                headers = [("source.topic", m.topic().encode()),
                           ("source.partition", str(m.partition()).encode()),
                           ("source.offset", str(m.offset()).encode())]
                self.produce(self.args.output_topic, value, m.key(), headers, batch)
        for m, reason in dead:
            headers = [("error", reason.encode()),
                       ("source.topic", m.topic().encode()),
                       ("source.partition", str(m.partition()).encode()),
                       ("source.offset", str(m.offset()).encode())]
            self.produce(self.args.dlq_topic, m.value(), m.key(), headers, batch)
        self.predicted += len(good_msgs)
        self.dead += len(dead)

    def run(self):
        self.consumer.subscribe([self.args.input_topic], on_revoke=self.on_revoke)
        max_batch, max_wait = self.args.max_batch, self.args.max_wait / 1000.0
        last_stats, last_count = time.monotonic(), 0
        while self.running:
            if max_wait > 0:
                msgs = self.consumer.consume(num_messages=max_batch, timeout=max_wait)
            else:
                # Lowest latency (as scorer run --max-wait 0): wait for the first event only, then
                # take whatever else has already arrived; under load batches still fill up.
                msgs = self.consumer.consume(num_messages=1, timeout=0.1)
                if msgs:
                    msgs += self.consumer.consume(num_messages=max_batch - 1, timeout=0)
            self.producer.poll(0)
            if msgs:
                usable = []
                for m in msgs:
                    err = m.error()
                    if err is None:
                        usable.append(m)
                    elif err.code() != KafkaError._PARTITION_EOF:
                        raise KafkaException(err)
                if usable:
                    self.consumed += len(usable)
                    self.score_batch(usable)
                    self.producer.poll(0)
            self.commit_acknowledged()
            if self.commit_error is not None:
                raise KafkaException(self.commit_error)
            if self.args.stats and time.monotonic() - last_stats >= self.args.stats:
                now = time.monotonic()
                rate = (self.consumed - last_count) / (now - last_stats)
                print(f"consumed={self.consumed} predicted={self.predicted} dead={self.dead} "
                      f"rate={rate:.0f}/s in_flight_batches={len(self.in_flight)}", file=sys.stderr, flush=True)
                last_stats, last_count = now, self.consumed
        self.drain_and_commit()
        self.consumer.close()
        self.producer.flush(10)


def run_until_signalled(scorer, label):
    """Runs a baseline until SIGTERM/SIGINT (a second signal exits at once), then prints its counts."""
    def stop(_sig, _frame):
        if not scorer.running:
            os._exit(1)
        scorer.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scorer.run()
    print(f"{label}: consumed={scorer.consumed} predicted={scorer.predicted} "
          f"dead_lettered={scorer.dead}", file=sys.stderr)


def main():
    run_until_signalled(BaselineScorer(parse_args()), "python baseline")


if __name__ == "__main__":
    main()
