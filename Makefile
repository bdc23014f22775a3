# The two commands of the README: `make demo` and `make test`. Everything else is for developers.
SWIFT ?= swift
CONFIG ?= release
RATE ?= 5000
DURATION ?= 30s
# The modern librdkafka (scripts/librdkafka.sh): the Docker image's version, the one CI tests.
LIBRDKAFKA_VERSION ?= 2.3.0

.PHONY: setup build demo test swift-test parity model bench clean modern-librdkafka test-brokers

setup:
	@bash scripts/setup.sh

build: setup
	$(SWIFT) build -c $(CONFIG)

## Embedded Kafka cluster + load simulator at $(RATE)/s + scorer + live stats.
demo:
	@WITH_PYTHON=0 bash scripts/setup.sh
	$(SWIFT) build -c release --product scorer
	$$($(SWIFT) build -c release --show-bin-path)/scorer demo --rate $(RATE) --duration $(DURATION)

## Unit + integration tests (Swift), then the Python-driven parity checks against XGBoost.
test: setup
	$(SWIFT) test
	bash scripts/parity.sh

swift-test:
	$(SWIFT) test

parity:
	bash scripts/parity.sh

## Regenerate the data set, retrain the model bundle and the test data (committed outputs).
model: setup
	python3 models/train/train.py

## librdkafka >= 2.2 for systems that ship an older one (Debian 12: 2.0.2, which cannot talk to
## KRaft-mode Kafka): Confluent's build from the confluent-kafka wheel, loaded at run time.
modern-librdkafka:
	@WITH_PYTHON=0 WITH_PIP=1 bash scripts/setup.sh
	bash scripts/librdkafka.sh install $(LIBRDKAFKA_VERSION) >/dev/null
	$(SWIFT) build -c release --product scorer
	$(SWIFT) build -c release --product simulator
	@bash scripts/librdkafka.sh exec $(LIBRDKAFKA_VERSION) -- $$($(SWIFT) build -c release --show-bin-path)/scorer --version
	@echo "Run with it: scripts/librdkafka.sh exec $(LIBRDKAFKA_VERSION) -- .build/release/scorer run --brokers HOST:PORT"

## The integration tests against Tansu, an independent broker, with that librdkafka (CI's second tier).
test-brokers: setup
	bash scripts/test-brokers.sh

bench: build
	bash benchmarks/run_all.sh

clean:
	rm -rf .build
