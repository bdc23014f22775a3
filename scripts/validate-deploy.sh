#!/usr/bin/env bash
# Validates the deployment files without a Docker engine or a cluster:
# - docker-compose.yml with Debian's docker-compose (`config` parses and resolves it fully),
# - Kubernetes manifests against the Kubernetes OpenAPI schemas (kubernetes-validate, strict),
# - the Prometheus alerting rules with promtool (Debian's prometheus package): `check rules`, and
#   `test rules` on deploy/prometheus/alerts_test.yml (each alert fires on its series, not on healthy ones),
# - the Grafana dashboards in deploy/grafana (scripts/validate-grafana.py: import fields, metric
#   names the services export, every expression parsed by promtool),
# - the KEDA ScaledObject against the schema in deploy/kubernetes/schemas (KEDA's CRD is not
#   shipped by any Debian or PyPI package), plus the rule that max replicas <= input partitions.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker-compose >/dev/null 2>&1; then
  apt-get install -y -qq docker-compose >/dev/null
fi
if ! command -v promtool >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
python3 -c 'import kubernetes_validate' 2>/dev/null || python3 -m pip install -q kubernetes-validate==1.37.0

promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml
echo "validate: Prometheus alerting rules ok (promtool check + test rules)"

python3 scripts/validate-grafana.py

docker-compose -f docker-compose.yml config -q
echo "validate: docker-compose.yml ok"

kubernetes-validate --strict --quiet \
  deploy/kubernetes/configmap.yaml deploy/kubernetes/deployment.yaml \
  deploy/kubernetes/service.yaml deploy/kubernetes/pdb.yaml
echo "validate: Kubernetes manifests ok"

python3 - <<'PY'
import json, sys, yaml, jsonschema
schema = json.load(open("deploy/kubernetes/schemas/keda-scaledobject-kafka.schema.json"))
so = yaml.safe_load(open("deploy/kubernetes/keda.yaml"))
jsonschema.validate(so, schema)
deployment = yaml.safe_load(open("deploy/kubernetes/deployment.yaml"))
assert so["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"], "ScaledObject targets another Deployment"
compose = yaml.safe_load(open("docker-compose.yml"))
partitions = 12  # default PARTITIONS of docker-compose.yml's topic creation
assert so["spec"]["maxReplicaCount"] <= partitions, "more replicas than partitions would sit idle"
grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
args = deployment["spec"]["template"]["spec"]["containers"][0]["args"][0]
drain = int(args.split("--shutdown-timeout")[1].split()[0])
assert grace > drain, "terminationGracePeriodSeconds must exceed the scorer's drain time"
print("validate: KEDA ScaledObject ok")
PY
