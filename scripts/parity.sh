#!/usr/bin/env bash
# Python-driven checks against XGBoost and LightGBM themselves (needs `make setup`): randomized
# evaluator and TreeSHAP parity over freshly trained models (LightGBM: evaluator), and the model card
# recomputed from the committed bundle and data, and the lean Python baseline's featurizer against
# featurize.py on the parity fixture.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product scorer
SCORER="$(swift build -c release --show-bin-path)/scorer"
export SCORER
python3 benchmarks/parity/random_parity.py --models 50 --strict-contribs
python3 benchmarks/parity/random_lightgbm_parity.py --models 40
python3 benchmarks/parity/lean_featurizer_parity.py
python3 models/train/check_card.py
