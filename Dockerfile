# Multi-stage image with the `scorer` and `simulator` binaries, the model bundle and the test data.
#
# The build stage is the official Swift 6 image on Ubuntu 24.04 (noble): its librdkafka-dev is 2.3,
# which talks to KRaft-mode Kafka brokers (librdkafka < 2.2, e.g. Debian 12's 2.0.2, cannot).
# Build: docker build -t install-scorer .
#
# librdkafka is pinned to 2.3.0, the version CI runs the broker tests with (scripts/test-brokers.sh,
# LIBRDKAFKA_VERSION): both stages refuse to build with any other, so the image never ships a client
# version no test has run. Change it together with LIBRDKAFKA_VERSION in the Makefile and scripts.
ARG LIBRDKAFKA_VERSION=2.3.0
FROM swift:6.1-noble AS build
ARG LIBRDKAFKA_VERSION
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends librdkafka-dev zlib1g-dev libjemalloc-dev pkg-config \
 && rm -rf /var/lib/apt/lists/* \
 && { test "$(pkg-config --modversion rdkafka)" = "$LIBRDKAFKA_VERSION" \
      || { echo "librdkafka-dev is $(pkg-config --modversion rdkafka), not the tested $LIBRDKAFKA_VERSION" >&2; exit 1; }; }
WORKDIR /src
# Resolve dependencies first so source edits reuse the cached layer.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY simulator/Sources ./simulator/Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product scorer \
 && swift build -c release --static-swift-stdlib --product simulator \
 && mkdir -p /out \
 && cp "$(swift build -c release --show-bin-path)/scorer" "$(swift build -c release --show-bin-path)/simulator" /out/

FROM ubuntu:24.04 AS runtime
ARG LIBRDKAFKA_VERSION
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends librdkafka1 zlib1g libjemalloc2 ca-certificates curl tini \
 && rm -rf /var/lib/apt/lists/* \
 && case "$(dpkg-query -W -f='${Version}' librdkafka1)" in "$LIBRDKAFKA_VERSION"-*) ;; \
      *) echo "librdkafka1 is $(dpkg-query -W -f='${Version}' librdkafka1), not the tested $LIBRDKAFKA_VERSION" >&2; exit 1 ;; esac \
 && useradd --system --uid 10001 --home /app scorer
WORKDIR /app
COPY --from=build /out/scorer /out/simulator /usr/local/bin/
COPY models/install-v1 ./models/install-v1
COPY simulator/data ./simulator/data
USER 10001
EXPOSE 9100
# /healthz answers 200 while the process is alive and its loops run; /readyz once partitions are assigned.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${SCORER_METRICS_PORT:-9100}/healthz" || exit 1
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["scorer", "run", "--metrics-port", "9100"]
