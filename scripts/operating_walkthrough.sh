#!/usr/bin/env bash
# The "Operating it: the second day" sequence of docs/operations.md, end to end, on a throwaway
# ZenML store (your own store and stacks are untouched): day one, new data, a bad version,
# rollback, a crash, drift.
# Run from the project folder after `make install`:  bash scripts/operating_walkthrough.sh
# Full logs go to $OUT (default /tmp/operating-walkthrough); the key lines are printed.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/operating-walkthrough}
rm -rf "$OUT" && mkdir -p "$OUT"
export ZENML_CONFIG_PATH="$OUT/zenml-store" ZENML_REPOSITORY_PATH="$OUT/repo"
export ZENML_ANALYTICS_OPT_IN=false ZENML_ENABLE_RICH_TRACEBACK=false AUTO_OPEN_DASHBOARD=false
mkdir -p "$ZENML_REPOSITORY_PATH"
PY=.venv/bin/python
zenml_py() {  # a Python snippet against the throwaway store (ZenML needs a file to find its source root)
  printf '%s\n' "$1" > "$OUT/snippet.py"; PYTHONPATH=$PWD $PY "$OUT/snippet.py"
}
PORT=${PORT:-8000}
NEW_DATA=data/processed/telco_churn_2027.csv
KEY='Promotion|Serving churn|production again|Split by|deleted model version|Monitoring of|^  - |Retrained|on_drift|^error'

run() {  # run LOGNAME ARGS...: run.py with the key lines of its output and its exit code
  local name=$1; shift
  echo "\$ python run.py $*"
  $PY run.py "$@" > "$OUT/$name.log" 2>&1; local code=$?
  sed 's/\x1b\[[0-9;]*m//g' "$OUT/$name.log" | grep -E "$KEY" | cut -c1-300
  echo "(exit $code)"; echo
}

TREE='parameters.search.algorithms=[{name: tree, estimator: sklearn.tree.DecisionTreeClassifier, params: {class_weight: balanced}, search_space: {max_depth: [2, 3]}}]'
PRIOR='parameters.search.algorithms=[{name: prior, estimator: sklearn.dummy.DummyClassifier, params: {strategy: prior}}]'

$PY run.py stack local > "$OUT/stack.log" 2>&1 || { echo "stack registration failed: $OUT/stack.log"; exit 1; }
echo "== day one: a baseline, promoted and served"
run train-1 --config configs/training.yaml "$TREE" "parameters.evaluation.gates.min={roc_auc: 0.75}"
run deploy-1 --config configs/deployment.yaml "parameters.serving.port=$PORT" "parameters.promotion.gates.min={roc_auc: 0.75}"

echo "== new data arrives: retrain, deploy under traffic"
$PY -m scripts.simulate_drift --input data/raw/telco_churn.csv --out-dir "$OUT/new" --seed 3 --rows 1500 \
  --numeric-shift monthly_charges=x1.05 > "$OUT/simulate.log" 2>&1
$PY -c "import pandas as pd; pd.concat([pd.read_csv('data/raw/telco_churn.csv'), pd.read_csv('$OUT/new/drifted.csv')]).to_csv('$NEW_DATA', index=False)"
run train-2 --config configs/training.yaml "parameters.source.path=$NEW_DATA"
BODY=$($PY -c "import json, pandas as pd; print(json.dumps({'jsonData': json.loads(pd.read_csv('data/raw/telco_churn.csv', nrows=1).drop(columns='churn').to_json(orient='records'))}))")
(for _ in $(seq 1 5000); do curl -s -m 10 -o /dev/null -w "%{http_code}\n" -X POST "http://127.0.0.1:$PORT/api/v1.0/predictions" -H 'Content-Type: application/json' -d "$BODY"; done > "$OUT/codes.txt") &
LOOP=$!
run deploy-2 --config configs/deployment.yaml "parameters.serving.port=$PORT"
kill $LOOP 2>/dev/null; wait $LOOP 2>/dev/null
echo "HTTP answers during that deployment:"; sort "$OUT/codes.txt" | uniq -c; echo
run deploy-3 --config configs/deployment.yaml "parameters.serving.port=$PORT"

echo "== a bad version"
run train-bad --config configs/training.yaml "parameters.source.path=$NEW_DATA" "$PRIOR"
run train-bad-ungated --config configs/training.yaml "parameters.source.path=$NEW_DATA" "$PRIOR" "parameters.evaluation.gates.min={}"
run deploy-bad --config configs/deployment.yaml "parameters.serving.port=$PORT"

echo "== rollback, and it sticks"
run rollback rollback "parameters.serving.port=$PORT"
run deploy-after-rollback --config configs/deployment.yaml "parameters.serving.port=$PORT"
run rollback-0 rollback --to-version 0
run rollback-99 rollback --to-version 99
echo "\$ python run.py models"; $PY run.py models; echo

echo "== a crash and the recovery"
DAEMON=$(zenml_py "from zenml.client import Client; print([s for s in Client().active_stack.model_deployer.find_model_server() if s.is_running][0].status.pid)")
echo "\$ kill -9 $DAEMON   # the model server's ZenML daemon"; kill -9 "$DAEMON"; sleep 3
curl -s -m 3 -o /dev/null -w "health after kill -9: %{http_code}\n" "http://127.0.0.1:$PORT/health/status"
.venv/bin/zenml model-deployer models list 2>&1 | grep -E "seldon" | sed 's/\x1b\[[0-9;]*m//g'
run serve serve "parameters.serving.port=$PORT"
curl -s -m 3 -o /dev/null -w "health after serve: %{http_code}\n\n" "http://127.0.0.1:$PORT/health/status"

echo "== drift, the alert and the loop"
$PY -m scripts.simulate_drift --input data/raw/telco_churn.csv --out-dir "$OUT/drift" --seed 7 > "$OUT/drift.log" 2>&1
run monitor-clean --config configs/monitoring.yaml "parameters.current.path=$OUT/drift/holdout_clean.csv"
run monitor-drift --config configs/monitoring.yaml "parameters.current.path=$OUT/drift/drifted.csv"
run monitor-retrain --config configs/monitoring.yaml "parameters.current.path=$OUT/drift/drifted.csv" \
  parameters.on_drift=retrain "parameters.retrain.overrides=[parameters.source.path=$NEW_DATA]" \
  "parameters.retrain.deployment_overrides=[parameters.serving.port=$PORT]"
echo "\$ python run.py models"; $PY run.py models; echo

zenml_py "
from zenml.client import Client
deployer = Client().active_stack.model_deployer
for service in deployer.find_model_server():
    deployer.delete_model_server(service.uuid, timeout=60)" > "$OUT/cleanup.log" 2>&1
rm -f "$NEW_DATA"
echo "logs: $OUT"
