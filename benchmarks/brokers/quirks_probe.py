#!/usr/bin/env python3
"""How does a Kafka-compatible broker behave where client settings depend on it?

    python3 benchmarks/brokers/quirks_probe.py --brokers HOST:PORT [--session-timeouts 45000,6000]

Each line is one measurement, named; nothing passes or fails. BENCHMARKS.md ("Brokers") records
the results per broker; TestBroker's settings for each broker follow from them.

  create-topics      CreateTopics through the admin API: the partition count metadata reports
  auto-create        whether a metadata request naming an unknown topic creates it, and with how
                     many partitions (the admin KafkaAdmin.topicMetadata avoids such requests)
  fetch-wake         a consumer waiting at the end of a partition with fetch.wait.max.ms = 2000:
                     how long after a record is acknowledged it is consumed. Well under the wait:
                     the broker answers a held fetch when data arrives (or never holds one, see
                     idle-fetch); about the wait (or half): it holds empty fetches, and consumers
                     need a small fetch.wait.max.ms
  idle-fetch         the same consumer with nothing to read for 5 s: Fetch requests per second
                     (about 2 at a 500 ms wait on a broker that holds empty fetches) and the CPU
                     this client process used
  first-join         a new group's first member: seconds from subscribe to the first assignment,
                     per session.timeout.ms (some brokers hold a JoinGroup for part of it)
  second-join        a second member of that group: seconds until both hold partitions
  cooperative        the same with partition.assignment.strategy=cooperative-sticky, --rounds
                     groups: in how many both members held partitions within 30 s, and how long
                     it took
  dead-member        a two-member group (the last session timeout) whose second member, a child
                     process, is killed with SIGKILL: seconds until the survivor holds every
                     partition (a broker expires the dead member's session after the timeout)
  abort-then-commit  a read_committed consumer waiting at the end of a partition while one
                     transactional producer aborts a transaction there and then commits one, three
                     times: which records it gets (a broker should hand it the committed ones)
  watermarks         the high watermark after N records in batches (N is correct)
  offsets-for-times  ListOffsets by timestamp: the offset of the first record at or after a time
                     in the middle of the partition, and past its end (-1 means the end)

The client is confluent-kafka (benchmarks/requirements.txt) with its own librdkafka.
"""

import argparse
import json
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid

from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def report(name, text):
    print(f"{name:18} {text}", flush=True)


def create_topic(admin, topic, partitions):
    for future in admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)]).values():
        future.result(30)


def partition_count(admin, topic, timeout=10):
    """Partitions of `topic` as listed in a metadata request for all topics (none if absent)."""
    topics = admin.list_topics(timeout=timeout).topics
    return len(topics[topic].partitions) if topic in topics and topics[topic].error is None else None


def wait_for_topic(admin, topic, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if partition_count(admin, topic):
            return
        time.sleep(0.1)
    raise RuntimeError(f"topic {topic} did not appear within {seconds} s")


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fetch_wake(brokers, topic, rounds):
    """Delays from acknowledgement to consumption, then idle Fetch requests/s and client cores."""
    stats = []
    consumer = Consumer({
        "bootstrap.servers": brokers, "group.id": "quirks-" + uuid.uuid4().hex[:8],
        "fetch.wait.max.ms": 2000, "enable.auto.commit": False, "statistics.interval.ms": 1000,
        "stats_cb": lambda text: stats.append(json.loads(text)),
    })
    consumer.assign([TopicPartition(topic, 0, OFFSET_END)])
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 0})
    delays = []
    for i in range(rounds):
        deadline = time.monotonic() + 2.5  # a fetch is held at the end of the partition
        while time.monotonic() < deadline:
            consumer.poll(0.1)
        acked = []
        producer.produce(topic, value=f"wake-{i}".encode(), partition=0,
                         on_delivery=lambda err, msg: acked.append(time.monotonic()))
        producer.flush(10)
        while True:
            message = consumer.poll(5)
            if message is None:
                delays.append(float("inf"))
                break
            if not message.error() and message.value() == f"wake-{i}".encode():
                delays.append(time.monotonic() - acked[0])
                break

    def fetches():
        return sum(broker["req"].get("Fetch", 0) for broker in stats[-1]["brokers"].values())

    consumer.poll(1.5)
    before, cpu, start = fetches(), cpu_seconds(), time.monotonic()
    while time.monotonic() - start < 5:
        consumer.poll(0.1)
    consumer.poll(1.1)
    elapsed = time.monotonic() - start
    idle = ((fetches() - before) / elapsed, (cpu_seconds() - cpu) / elapsed)
    consumer.close()
    return delays, idle


def group_member(brokers, group, topic, session_timeout_ms, strategy, assigned=None):
    def on_assign(consumer, partitions):
        if partitions and assigned is not None:
            assigned.set()

    consumer = Consumer({
        "bootstrap.servers": brokers, "group.id": group, "session.timeout.ms": session_timeout_ms,
        "partition.assignment.strategy": strategy, "enable.auto.commit": False,
    })
    consumer.subscribe([topic], on_assign=on_assign)
    return consumer


def join_times(brokers, topic, session_timeout_ms, strategy, limit=120):
    """Seconds to the first member's assignment, then to both members holding partitions."""
    group = "quirks-" + uuid.uuid4().hex[:8]
    assigned = [threading.Event(), threading.Event()]
    members = [group_member(brokers, group, topic, session_timeout_ms, strategy, assigned[0])]
    start = time.monotonic()
    first = None
    while time.monotonic() - start < limit and first is None:
        members[0].poll(0.1)
        if assigned[0].is_set():
            first = time.monotonic() - start
    members.append(group_member(brokers, group, topic, session_timeout_ms, strategy, assigned[1]))
    start = time.monotonic()
    second = None
    while time.monotonic() - start < limit and second is None:
        for consumer in members:
            consumer.poll(0.05)
        if len(members[1].assignment()) > 0 and len(members[0].assignment()) > 0:
            second = time.monotonic() - start
    for consumer in members:
        consumer.close()
    return first, second


def member_process(brokers, group, topic, session_timeout_ms):
    """Runs as the child of `dead_member`: a member that prints how many partitions it holds."""
    consumer = group_member(brokers, group, topic, session_timeout_ms, "range,roundrobin")
    held = -1
    while True:
        consumer.poll(0.1)
        if len(consumer.assignment()) != held:
            held = len(consumer.assignment())
            print(held, flush=True)


def dead_member(brokers, topic, partitions, session_timeout_ms, limit=60):
    group = "quirks-" + uuid.uuid4().hex[:8]
    survivor = group_member(brokers, group, topic, session_timeout_ms, "range,roundrobin")
    start = time.monotonic()
    while not survivor.assignment() and time.monotonic() - start < limit:
        survivor.poll(0.1)
    child = subprocess.Popen(
        [sys.executable, __file__, "--member", brokers, group, topic, str(session_timeout_ms)],
        stdout=subprocess.PIPE, text=True)
    held = [0]
    threading.Thread(target=lambda: [held.__setitem__(0, int(line)) for line in child.stdout], daemon=True).start()
    start = time.monotonic()
    while not (held[0] > 0 and survivor.assignment()) and time.monotonic() - start < limit:
        survivor.poll(0.1)
    for _ in range(20):
        survivor.poll(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait()
    start = time.monotonic()
    recovered = None
    while time.monotonic() - start < limit:
        survivor.poll(0.1)
        if len(survivor.assignment()) == partitions:
            recovered = time.monotonic() - start
            break
    survivor.close()
    return recovered


def abort_then_commit(brokers, topic, rounds=3):
    consumer = Consumer({
        "bootstrap.servers": brokers, "group.id": "quirks-" + uuid.uuid4().hex[:8],
        "isolation.level": "read_committed", "enable.auto.commit": False,
    })
    consumer.assign([TopicPartition(topic, 0, OFFSET_END)])
    for _ in range(20):
        consumer.poll(0.1)
    producer = Producer({"bootstrap.servers": brokers, "transactional.id": "quirks-" + uuid.uuid4().hex[:8], "linger.ms": 1})
    producer.init_transactions(30)
    seen = []

    def read(seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = consumer.poll(0.1)
            if message is not None and not message.error():
                seen.append(message.value().decode())

    for i in range(rounds):
        producer.begin_transaction()
        producer.produce(topic, value=f"aborted-{i}".encode(), partition=0)
        producer.flush(10)
        producer.abort_transaction(10)
        read(0.5)
        producer.begin_transaction()
        producer.produce(topic, value=f"committed-{i}".encode(), partition=0)
        producer.flush(10)
        producer.commit_transaction(10)
        read(1)
    consumer.close()
    return seen


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--member":
        brokers, group, topic, session = sys.argv[2:6]
        return member_process(brokers, group, topic, int(session))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--brokers", required=True, help="bootstrap address, HOST:PORT")
    parser.add_argument("--session-timeouts", default="45000,6000",
                        help="session.timeout.ms values for the join measurements, comma-separated")
    parser.add_argument("--rounds", type=int, default=5, help="fetch-wake rounds and cooperative groups")
    args = parser.parse_args()
    brokers = args.brokers
    run = uuid.uuid4().hex[:8]
    import confluent_kafka
    print(f"broker {brokers}; client librdkafka {confluent_kafka.libversion()[0]}", flush=True)
    admin = AdminClient({"bootstrap.servers": brokers})

    topic = "quirks-" + run
    create_topic(admin, topic, 4)
    wait_for_topic(admin, topic)
    report("create-topics", f"asked for 4 partitions, metadata lists {partition_count(admin, topic)}")

    unknown = "quirks-auto-" + run
    admin.list_topics(topic=unknown, timeout=10)
    time.sleep(1)
    count = partition_count(admin, unknown)
    report("auto-create", "metadata naming an unknown topic left it absent" if count is None
           else f"metadata naming an unknown topic created it with {count} partition(s)")

    delays, (fetch_rate, client_cores) = fetch_wake(brokers, topic, args.rounds)
    report("fetch-wake", f"fetch.wait.max.ms 2000: consumed {statistics.median(delays) * 1000:.0f} ms "
           f"(median; {', '.join(f'{d * 1000:.0f}' for d in delays)}) after the acknowledgement")
    report("idle-fetch", f"fetch.wait.max.ms 2000, nothing to read: {fetch_rate:.0f} Fetch requests/s, "
           f"client process {client_cores:.2f} cores")

    sessions = [int(value) for value in args.session_timeouts.split(",")]
    for session in sessions:
        first, second = join_times(brokers, topic, session, "range,roundrobin")
        report("first-join", f"session.timeout.ms {session}: {first:.1f} s" if first is not None else
               f"session.timeout.ms {session}: no assignment within 120 s")
        report("second-join", f"session.timeout.ms {session}: {second:.1f} s" if second is not None else
               f"session.timeout.ms {session}: not both assigned within 120 s")
    times = [join_times(brokers, topic, sessions[-1], "cooperative-sticky", limit=30)[1] for _ in range(args.rounds)]
    done = [t for t in times if t is not None]
    report("cooperative", f"session.timeout.ms {sessions[-1]}: both members held partitions within 30 s in "
           f"{len(done)} of {len(times)} groups ({', '.join('-' if t is None else f'{t:.1f} s' for t in times)})")

    recovered = dead_member(brokers, topic, 4, sessions[-1])
    report("dead-member", f"session.timeout.ms {sessions[-1]}: " + (
        f"the survivor held every partition {recovered:.1f} s after the kill" if recovered is not None
        else "the survivor did not get the dead member's partitions within 60 s"))

    live_topic = "quirks-live-" + run
    create_topic(admin, live_topic, 1)
    wait_for_topic(admin, live_topic)
    seen = abort_then_commit(brokers, live_topic)
    report("abort-then-commit", f"a live read_committed consumer got {seen} (committed-0..2 were committed)")

    marks_topic = "quirks-marks-" + run
    create_topic(admin, marks_topic, 1)
    wait_for_topic(admin, marks_topic)
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 5})
    base = int(time.time() * 1000) - 100_000
    count = 1000
    for i in range(count):
        producer.produce(marks_topic, value=b"x" * 100, partition=0, timestamp=base + i * 100)
    producer.flush(30)
    reader = Consumer({"bootstrap.servers": brokers, "group.id": "quirks-" + run})
    low, high = reader.get_watermark_offsets(TopicPartition(marks_topic, 0), timeout=10)
    report("watermarks", f"after {count} records in batches: low {low}, high {high}")
    middle = reader.offsets_for_times([TopicPartition(marks_topic, 0, base + 500 * 100)], timeout=10)[0]
    end = reader.offsets_for_times([TopicPartition(marks_topic, 0, base + count * 100 + 1)], timeout=10)[0]
    report("offsets-for-times", f"time of record 500 -> offset {middle.offset}; after the last record -> {end.offset}")
    reader.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
