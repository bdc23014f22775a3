/*
 * The client-side limit for `scorer run`: consume -> produce -> commit after delivery, no scoring.
 *
 * A librdkafka consumer in a group reads batches (rd_kafka_consume_batch_queue, up to 1,000
 * messages), produces every message's key and value unchanged to the output topic (no headers,
 * no parsing, no copy beyond librdkafka's own), and commits a batch's offsets asynchronously once
 * every message of it and of all earlier batches is acknowledged (idempotent producer, acks=all,
 * delivery reports served on this thread with rd_kafka_poll(producer, 0)): the same at-least-once
 * bookkeeping as the services, with nothing else. Commits are sent at most every 100 ms (as
 * `scorer run`'s commit interval) and at shutdown (SIGTERM/SIGINT: flush, then a synchronous commit).
 *
 * Built by benchmarks/service_vs_python.sh:
 *   gcc -O2 -o passthrough benchmarks/passthrough/passthrough.c -lrdkafka
 *   ./passthrough --brokers @FILE --group G --input-topic T --output-topic T.out [-X key=value]...
 */
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BATCH 1000
#define MAX_PARTITIONS 4096

typedef struct batch {
    long pending;                    /* produced messages not yet acknowledged */
    int failed;
    int count;                       /* partitions touched */
    int32_t partition[MAX_BATCH];    /* next offset to read, per partition touched */
    int64_t next_offset[MAX_BATCH];
    struct batch *next;
} batch_t;

static volatile sig_atomic_t running = 1;
static batch_t *head, *tail;         /* batches in consumption order */
static int64_t committable[MAX_PARTITIONS]; /* -1: nothing new to commit for the partition */
static int dirty;
static const char *input_topic = "impressions";

static void stop(int sig) { (void)sig; running = 0; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk; (void)opaque;
    batch_t *b = m->_private;
    b->pending--;
    if (m->err) {
        fprintf(stderr, "passthrough: delivery failed: %s\n", rd_kafka_err2str(m->err));
        b->failed = 1;
    }
}

/* Moves the leading acknowledged batches' offsets into `committable`. */
static void retire(void) {
    while (head && head->pending == 0) {
        batch_t *b = head;
        if (b->failed) { fprintf(stderr, "passthrough: a delivery failed; exiting\n"); exit(1); }
        for (int i = 0; i < b->count; i++) {
            if (b->next_offset[i] > committable[b->partition[i]]) committable[b->partition[i]] = b->next_offset[i];
            dirty = 1;
        }
        head = b->next;
        if (!head) tail = NULL;
        free(b);
    }
}

static void commit(rd_kafka_t *consumer, int async) {
    if (!dirty) return;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(64);
    for (int p = 0; p < MAX_PARTITIONS; p++)
        if (committable[p] >= 0) rd_kafka_topic_partition_list_add(list, input_topic, p)->offset = committable[p];
    rd_kafka_resp_err_t err = rd_kafka_commit(consumer, list, async);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) fprintf(stderr, "passthrough: commit: %s\n", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(list);
    dirty = 0;
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value) {
    char err[512];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "passthrough: %s=%s: %s\n", key, value, err);
        exit(2);
    }
}

static char *bootstrap(const char *arg) {
    static char line[4096];
    if (arg[0] != '@') return (char *)arg;
    FILE *f = fopen(arg + 1, "r");
    if (!f) { perror(arg + 1); exit(2); }
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] && line[0] != '#') { fclose(f); return line; }
    }
    fprintf(stderr, "passthrough: no address in %s\n", arg + 1);
    exit(2);
}

int main(int argc, char **argv) {
    const char *brokers = "localhost:9092", *group = "passthrough", *output_topic = "predictions";
    const char *props[64];
    int nprops = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--brokers")) brokers = argv[i + 1];
        else if (!strcmp(argv[i], "--group")) group = argv[i + 1];
        else if (!strcmp(argv[i], "--input-topic")) input_topic = argv[i + 1];
        else if (!strcmp(argv[i], "--output-topic")) output_topic = argv[i + 1];
        else if (!strcmp(argv[i], "-X") && nprops < 64) props[nprops++] = argv[i + 1];
        else { fprintf(stderr, "passthrough: unknown option %s\n", argv[i]); return 2; }
    }
    const char *servers = bootstrap(brokers);
    char err[512];

    rd_kafka_conf_t *cc = rd_kafka_conf_new(), *pc = rd_kafka_conf_new();
    set(cc, "bootstrap.servers", servers);
    set(cc, "group.id", group);
    set(cc, "enable.auto.commit", "false");
    set(cc, "auto.offset.reset", "earliest");
    set(cc, "fetch.wait.max.ms", "1");
    set(cc, "queued.min.messages", "1000000"); /* librdkafka < 2.2 restarts a paused fetcher late (#2879) */
    set(pc, "bootstrap.servers", servers);
    set(pc, "enable.idempotence", "true");
    set(pc, "acks", "all");
    set(pc, "linger.ms", "1");
    set(pc, "batch.num.messages", "10000");
    set(pc, "queue.buffering.max.messages", "500000");
    for (int i = 0; i < nprops; i++) {
        char kv[1024];
        snprintf(kv, sizeof kv, "%s", props[i]);
        char *eq = strchr(kv, '=');
        if (!eq) { fprintf(stderr, "passthrough: -X %s: want key=value\n", props[i]); return 2; }
        *eq = 0;
        set(cc, kv, eq + 1);
        set(pc, kv, eq + 1);
    }
    rd_kafka_conf_set_dr_msg_cb(pc, on_delivery);
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
    if (!producer) { fprintf(stderr, "passthrough: producer: %s\n", err); return 1; }
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
    if (!consumer) { fprintf(stderr, "passthrough: consumer: %s\n", err); return 1; }
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, input_topic, RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(consumer, sub)) { fprintf(stderr, "passthrough: subscribe failed\n"); return 1; }
    rd_kafka_topic_partition_list_destroy(sub);
    rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(consumer);
    rd_kafka_topic_t *out = rd_kafka_topic_new(producer, output_topic, NULL);

    for (int p = 0; p < MAX_PARTITIONS; p++) committable[p] = -1;
    signal(SIGTERM, stop);
    signal(SIGINT, stop);
    rd_kafka_message_t *msgs[MAX_BATCH];
    long moved = 0;
    double last_commit = now_s();
    while (running) {
        ssize_t n = rd_kafka_consume_batch_queue(queue, head ? 0 : 100, msgs, MAX_BATCH);
        if (n > 0) {
            batch_t *b = calloc(1, sizeof *b);
            for (ssize_t i = 0; i < n; i++) {
                rd_kafka_message_t *m = msgs[i];
                if (m->err) {
                    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        fprintf(stderr, "passthrough: consume: %s\n", rd_kafka_message_errstr(m));
                    rd_kafka_message_destroy(m);
                    continue;
                }
                if (m->partition >= MAX_PARTITIONS) { fprintf(stderr, "passthrough: partition too high\n"); return 1; }
                int j = 0;
                while (j < b->count && b->partition[j] != m->partition) j++;
                if (j == b->count) b->partition[b->count++] = m->partition;
                b->next_offset[j] = m->offset + 1;
                b->pending++;
                while (rd_kafka_produce(out, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, m->payload, m->len,
                                        m->key, m->key_len, b) == -1) {
                    if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        fprintf(stderr, "passthrough: produce: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
                        return 1;
                    }
                    rd_kafka_poll(producer, 10); /* local queue full: serve delivery reports */
                }
                rd_kafka_message_destroy(m);
                moved++;
            }
            if (tail) tail->next = b; else head = b;
            tail = b;
        }
        /* Deliveries: wait briefly only when nothing new came in and batches are outstanding. */
        rd_kafka_poll(producer, n > 0 || !head ? 0 : 1);
        retire();
        double t = now_s();
        if (t - last_commit >= 0.1) { commit(consumer, 1); last_commit = t; }
    }
    rd_kafka_flush(producer, 30000);
    retire();
    commit(consumer, 0);
    fprintf(stderr, "passthrough: moved=%ld\n", moved);
    rd_kafka_queue_destroy(queue);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    rd_kafka_topic_destroy(out);
    rd_kafka_destroy(producer);
    return 0;
}
