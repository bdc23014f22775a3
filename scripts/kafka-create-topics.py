#!/usr/bin/env python3
"""Creates topics on a Kafka-protocol broker through the admin API, with the standard library only.

    python3 scripts/kafka-create-topics.py HOST:PORT NAME:PARTITIONS...

One CreateTopics request (version 2: replication factor 1, default configs) for all topics; a
topic that already exists counts as created. Version 2 because noida-db 0.2.3 closes the
connection on versions 0 and 1, and Apache Kafka 4 no longer accepts them either. Exits 1 with one line per failed topic otherwise.
For brokers without a topic-creation command of their own (noida-db, scripts/noida.sh); the
Swift code creates topics with `KafkaAdmin.createTopic`.
"""

import socket
import struct
import sys

CREATE_TOPICS = 19
TOPIC_ALREADY_EXISTS = 36


def string(text):
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def request(topics, timeout_ms):
    body = struct.pack(">i", len(topics))
    for name, partitions in topics:
        # name, num_partitions, replication_factor, no replica assignments, no configs
        body += string(name) + struct.pack(">ihii", partitions, 1, 0, 0)
    body += struct.pack(">i?", timeout_ms, False)  # timeout, validate_only
    header = struct.pack(">hhi", CREATE_TOPICS, 2, 1) + string("kafka-create-topics")
    return struct.pack(">i", len(header) + len(body)) + header + body


def read_string(data, position):
    """A nullable string at `position` (None when null) and the position after it."""
    (length,) = struct.unpack_from(">h", data, position)
    if length < 0:
        return None, position + 2
    return data[position + 2:position + 2 + length].decode(), position + 2 + length


def read_exactly(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection before answering CreateTopics")
        data += chunk
    return data


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    host, _, port = sys.argv[1].rpartition(":")
    topics = []
    for spec in sys.argv[2:]:
        name, _, partitions = spec.rpartition(":")
        if not name or not partitions.isdigit() or int(partitions) < 1:
            print(f"kafka-create-topics: expected NAME:PARTITIONS, got '{spec}'", file=sys.stderr)
            return 2
        topics.append((name, int(partitions)))
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request(topics, 10_000))
        (size,) = struct.unpack(">i", read_exactly(sock, 4))
        response = read_exactly(sock, size)
    # correlation id, throttle time, then [name, error code, error message]
    (count,) = struct.unpack_from(">i", response, 8)
    position, failed = 12, 0
    for _ in range(count):
        name, position = read_string(response, position)
        (error,) = struct.unpack_from(">h", response, position)
        message, position = read_string(response, position + 2)
        if error not in (0, TOPIC_ALREADY_EXISTS):
            print(f"kafka-create-topics: cannot create topic '{name}' on {sys.argv[1]}: Kafka error code {error}"
                  + (f" ({message})" if message else ""), file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
