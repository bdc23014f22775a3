#!/usr/bin/env bash
# Python-driven checks against XGBoost and LightGBM themselves (needs `make setup`): randomized
# evaluator and TreeSHAP parity over freshly trained models (LightGBM: evaluator), and the model card
# recomputed from the committed bundle and data, and the lean Python baseline's featurizer against
# featurize.py on the parity fixture, and scorer monitor's metrics on the test data through a
# development cluster against scikit-learn's.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product scorer
SCORER="$(swift build -c release --show-bin-path)/scorer"
export SCORER
python3 benchmarks/parity/random_parity.py --models 50 --strict-contribs
python3 benchmarks/parity/random_lightgbm_parity.py --models 40
python3 benchmarks/parity/lean_featurizer_parity.py
python3 models/train/check_card.py
# The monitor check produces through the Python Kafka client the benchmarks use.
python3 -c 'import confluent_kafka' 2>/dev/null || python3 -m pip install -q -r benchmarks/requirements.txt 2>/dev/null \
  || python3 -m pip install -q --break-system-packages -r benchmarks/requirements.txt
python3 benchmarks/parity/monitor_parity.py
