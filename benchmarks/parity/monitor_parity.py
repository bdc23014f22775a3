#!/usr/bin/env python3
"""scorer monitor's metrics against scikit-learn on the real test data, through Kafka.

The 210,000 events of simulator/data/test_data.csv.gz are scored offline (`scorer score --events`,
the service's own prediction lines): every fifth by models/install-biased as a "canary", the rest
by models/install-v1 as the "primary". The predictions and one outcome per event (its `install`
label) go to a development cluster (`scorer broker`); `scorer monitor --drain N --json` joins them
and prints its final metrics. Per model and variant they must equal scikit-learn's on the same
(p, label) pairs: counts and installs exactly, mean p, observed rate, log loss and Brier score
within 1e-9, the streaming AUC within 0.005 of roc_auc_score.
Needs SCORER (a release scorer), confluent-kafka and scikit-learn (make setup).
"""
import csv, gzip, json, os, subprocess, sys, tempfile, time
from confluent_kafka import Producer
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
os.chdir(root)
scorer = os.environ["SCORER"]
data = "simulator/data/test_data.csv.gz"

def score(bundle):
    out = subprocess.run([scorer, "score", "--model", bundle, "--events", data], check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]

primary, canary = score("models/install-v1"), score("models/install-biased")
with gzip.open(data, "rt") as f:
    labels = {row["id"]: row["install"] == "1" for row in csv.DictReader(f)}
assert len(primary) == len(canary) == len(labels), "every event must be scored"

work = tempfile.mkdtemp()
brokers_file = os.path.join(work, "brokers")
broker = subprocess.Popen([scorer, "broker", "--partitions", "32", "--topic", "installs", "--bootstrap-file", brokers_file],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(100):
        if os.path.exists(brokers_file) and os.path.getsize(brokers_file):
            break
        time.sleep(0.1)
    bootstrap = open(brokers_file).read().strip()
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 20,
                         "queue.buffering.max.messages": 1_000_000})
    now = int(time.time() * 1000)
    pairs = {}
    def send(topic, key, value, ts):
        while True:
            try:
                producer.produce(topic, key=key, value=value, timestamp=ts)
                return
            except BufferError:
                producer.poll(0.05)
    for index, (first, second) in enumerate(zip(primary, canary)):
        assert first["id"] == second["id"]
        prediction, variant = (second, "canary") if index % 5 == 0 else (first, "primary")
        prediction = dict(prediction, variant=variant)
        send("predictions", prediction["id"], json.dumps(prediction, separators=(",", ":")), now)
        pairs.setdefault((prediction["model"], variant), []).append((prediction["p"], labels[prediction["id"]]))
    for event_id, installed in labels.items():
        send("installs", event_id, json.dumps({"id": event_id, "installed": installed, "ts": now + 1}), now + 1)
    if producer.flush(120):
        sys.exit("monitor_parity: not every message was delivered")
    del producer  # before the broker stops, or it logs its reconnection attempts
    run = subprocess.run([scorer, "monitor", "--brokers", "@" + brokers_file, "--group", "parity", "--drain", str(len(labels)),
                          "--json", "--windows", "1h", "--join-window", "1h", "--duration", "300s"],
                         check=True, capture_output=True, text=True)
finally:
    broker.terminate()
    broker.wait()

reported = {(line["model"], line["variant"]): line for line in map(json.loads, run.stdout.splitlines()) if line.get("type") == "window"}
failures = []
for key, values in sorted(pairs.items()):
    p = [value[0] for value in values]
    y = [1 if value[1] else 0 for value in values]
    line = reported.get(key)
    if line is None:
        failures.append(f"{key}: not reported")
        continue
    expected = {"mean_p": sum(p) / len(p), "rate": sum(y) / len(y), "logloss": log_loss(y, p, labels=[0, 1]),
                "brier": brier_score_loss(y, p)}
    auc = roc_auc_score(y, p)
    if line["count"] != len(values) or line["installs"] != sum(y):
        failures.append(f"{key}: count {line['count']} installs {line['installs']}, expected {len(values)} and {sum(y)}")
    for name, value in expected.items():
        if abs(line[name] - value) > 1e-9:
            failures.append(f"{key}: {name} {line[name]!r} vs scikit-learn {value!r}")
    if abs(line["auc"] - auc) > 0.005:
        failures.append(f"{key}: AUC {line['auc']} vs roc_auc_score {auc}")
    print(f"monitor parity {key[0]} {key[1]}: {len(values)} labelled, mean p {line['mean_p']:.6f}, log loss {line['logloss']:.6f} "
          f"(scikit-learn {expected['logloss']:.6f}), Brier {line['brier']:.6f}, AUC {line['auc']:.4f} vs exact {auc:.4f}")
if failures:
    sys.exit("monitor parity failed:\n" + "\n".join(failures))
print(f"monitor parity: {len(reported)} models, every metric within tolerance of scikit-learn ({len(labels)} test events)")
