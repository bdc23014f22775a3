#!/usr/bin/env python3
"""Preloads COUNT predictions and their outcomes into a Kafka cluster, for benchmarks/monitor_kafka.sh.

Predictions look like the scorer's (two models, a primary and a 20 % canary); every prediction gets
one outcome (installed with probability p), keyed by the same id with the same partitioner, so
partition N of `installs` holds the outcomes of partition N of `predictions`.
Usage: monitor_preload.py BOOTSTRAP COUNT
"""
import random, sys, time
from confluent_kafka import Producer

bootstrap, count = sys.argv[1], int(sys.argv[2])
producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 20,
                     "queue.buffering.max.messages": 1_000_000, "enable.idempotence": False})
rng = random.Random(16)
now = int(time.time() * 1000)
def send(topic, key, value, ts):
    while True:
        try:
            producer.produce(topic, key=key, value=value, timestamp=ts)
            return
        except BufferError:
            producer.poll(0.05)
labels = []
for index in range(count):
    key = f"{index:024x}"
    canary = index % 5 == 0
    p = min(0.999, rng.lognormvariate(-4.5, 1.0) * (8 if canary else 1))
    model = '"install-biased@e3317948","variant":"canary"' if canary else '"install-v1@9276a478","variant":"primary"'
    send("predictions", key, f'{{"id":"{key}","p":{p:.8g},"model":{model},"scored_at":{now},"event_ts":{now}}}', now)
    labels.append((key, rng.random() < p / (8 if canary else 1)))
for key, installed in labels:
    send("installs", key, f'{{"id":"{key}","installed":{"true" if installed else "false"},"ts":{now + 1}}}', now + 1)
remaining = producer.flush(120)
if remaining:
    sys.exit(f"monitor_preload: {remaining} messages not delivered")
print(f"preloaded {count} predictions and {count} outcomes", file=sys.stderr)
