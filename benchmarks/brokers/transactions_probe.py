#!/usr/bin/env python3
"""Does a broker give Kafka transactions the semantics exactly-once processing needs?

    python3 benchmarks/brokers/transactions_probe.py --brokers HOST:PORT [--topic EMPTY_TOPIC]

One partition of a topic created for the run (or of --topic, which must be empty: the mock
cluster does not create topics through the admin API; `scorer broker --topic NAME` does), a producer with a transactional.id, and fresh
consumers. Each check prints PASS or FAIL with what was seen; the exit code is 0 only when every
check passes. `scorer run --guarantee exactly-once` (issue #17 item 4) needs all of them from the
broker it is tested against:

  init           InitProducerId with a transactional.id (init_transactions)
  open-hidden    records of an open transaction are not returned to a read_committed consumer
                 (the last stable offset stops before them)
  abort-hidden   records of an aborted transaction are never returned to a read_committed
                 consumer (Fetch lists the aborted transactions, or the broker drops them)
  offsets        offsets sent to a committed transaction (AddOffsetsToTxn, TxnOffsetCommit) are
                 the group's committed offsets afterwards
  abort-offsets  offsets sent to an aborted transaction are not committed
  fencing        once a second producer with the same transactional.id has initialised, the first
                 one's produce/commit fails with PRODUCER_FENCED (or a fatal fencing error)

The client is confluent-kafka (benchmarks/requirements.txt) with its own librdkafka; the broker
is whatever --brokers names (Tansu from scripts/tansu.sh, the mock cluster of `scorer broker`).
BENCHMARKS.md ("Transactions on the brokers here") has the results.
"""

import argparse
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def read_all(brokers, topic, isolation, seconds):
    """Every value a fresh consumer with `isolation` reads from partition 0 within `seconds`."""
    consumer = Consumer({
        "bootstrap.servers": brokers, "group.id": "txn-probe-reader-" + uuid.uuid4().hex[:8],
        "isolation.level": isolation, "enable.auto.commit": False, "fetch.wait.max.ms": 100,
    })
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is not None and not message.error():
            values.append(message.value().decode())
    consumer.close()
    return values


def committed_offset(brokers, group, topic):
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False})
    try:
        return consumer.committed([TopicPartition(topic, 0)], 10)[0].offset
    finally:
        consumer.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--brokers", required=True, help="bootstrap address, HOST:PORT")
    parser.add_argument("--topic", help="an existing, empty topic to use instead of creating one")
    parser.add_argument("--read-seconds", type=float, default=6.0, help="how long each reader polls")
    args = parser.parse_args()
    brokers = args.brokers
    run = uuid.uuid4().hex[:8]
    topic = args.topic
    if topic is None:
        topic = "txn-probe-" + run
        admin = AdminClient({"bootstrap.servers": brokers})
        for future in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]).values():
            future.result(30)
        time.sleep(1)  # metadata of the new topic
    import confluent_kafka
    print(f"broker {brokers}; client librdkafka {confluent_kafka.libversion()[0]}; topic {topic}")

    results = []

    def check(name, passed, seen):
        results.append(passed)
        print(f"{'PASS' if passed else 'FAIL'} {name}: {seen}", flush=True)

    transactional_id = "txn-probe-" + run
    first = Producer({"bootstrap.servers": brokers, "transactional.id": transactional_id, "linger.ms": 5})
    try:
        first.init_transactions(30)
        check("init", True, "init_transactions succeeded")
    except KafkaException as error:
        check("init", False, error)
        return 1
    group = "txn-probe-group-" + run
    aborted_group = "txn-probe-aborted-group-" + run
    group_member = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False})
    aborted_member = Consumer({"bootstrap.servers": brokers, "group.id": aborted_group, "enable.auto.commit": False})

    # An aborted transaction, with offsets for aborted_group.
    first.begin_transaction()
    for i in range(3):
        first.produce(topic, value=f"aborted-{i}".encode())
    first.flush(10)
    first.send_offsets_to_transaction([TopicPartition(topic, 0, 7)], aborted_member.consumer_group_metadata(), 30)
    first.abort_transaction(30)

    # A committed transaction, with offsets for group.
    first.begin_transaction()
    for i in range(2):
        first.produce(topic, value=f"committed-{i}".encode())
    first.flush(10)
    first.send_offsets_to_transaction([TopicPartition(topic, 0, 42)], group_member.consumer_group_metadata(), 30)
    first.commit_transaction(30)

    # An open transaction.
    first.begin_transaction()
    for i in range(2):
        first.produce(topic, value=f"open-{i}".encode())
    first.flush(10)

    committed_view = read_all(brokers, topic, "read_committed", args.read_seconds)
    uncommitted_view = read_all(brokers, topic, "read_uncommitted", args.read_seconds)
    print(f"     read_uncommitted sees {uncommitted_view}")
    check("open-hidden", not any(v.startswith("open-") for v in committed_view) and "open-0" in uncommitted_view,
          f"read_committed sees {committed_view}")
    check("abort-hidden", not any(v.startswith("aborted-") for v in committed_view)
          and {"committed-0", "committed-1"} <= set(committed_view), f"read_committed sees {committed_view}")
    offset = committed_offset(brokers, group, topic)
    check("offsets", offset == 42, f"group offset {offset} (sent 42 in the committed transaction)")
    offset = committed_offset(brokers, aborted_group, topic)
    check("abort-offsets", offset < 0, f"group offset {offset} (sent 7 in the aborted transaction)")

    # A second producer with the same transactional.id fences the first (a restarted instance).
    second = Producer({"bootstrap.servers": brokers, "transactional.id": transactional_id})
    second.init_transactions(60)
    try:
        first.produce(topic, value=b"zombie")
        first.flush(10)
        first.commit_transaction(30)
        check("fencing", False, "the first producer's commit succeeded after the second one's init")
    except KafkaException as error:
        code = error.args[0]
        check("fencing", code.name() in ("PRODUCER_FENCED", "_FENCED", "INVALID_PRODUCER_EPOCH"),
              f"{code.name()} (fatal={code.fatal()}): {code.str()}")
    second.begin_transaction()
    second.produce(topic, value=b"second-0")
    second.commit_transaction(30)
    after = read_all(brokers, topic, "read_committed", args.read_seconds)
    print(f"     after the second producer's commit, read_committed sees {after}")
    group_member.close()
    aborted_member.close()
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
