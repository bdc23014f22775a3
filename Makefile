# The two commands of the README: `make demo` and `make test`. Everything else is for developers.
SWIFT ?= swift
CONFIG ?= release
RATE ?= 5000
DURATION ?= 30s

.PHONY: setup build demo test swift-test parity model bench clean

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

bench: build
	bash benchmarks/run_all.sh

clean:
	rm -rf .build
