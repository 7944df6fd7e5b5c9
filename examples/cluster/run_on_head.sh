#!/usr/bin/env bash
# Runs on the head node of examples/cluster/cluster.yaml (`ray submit cluster.yaml run_on_head.sh`):
# makes the example data, then runs the tuning job with its trials spread over the cluster.
set -euo pipefail
cd "$HOME/tuner"
python3 examples/make_datasets.py
tuner run examples/xgboost-diabetes.yaml --executor ray --ray-address auto --db "$HOME/tuner.db"
tuner describe xgb-diabetes --db "$HOME/tuner.db"
