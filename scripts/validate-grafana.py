#!/usr/bin/env python3
"""Checks the Grafana dashboards in deploy/grafana without a Grafana server.

- The JSON parses and has what Grafana needs to import it: title, uid, schemaVersion, time,
  templating, and panels with unique ids, a type, a title and a gridPos inside the 24-column grid;
  every query panel names the dashboard's datasource variable and each target has a refId and an expr.
- Every variable an expression uses ($window, ...) is defined (Grafana's own $__rate_interval aside).
- Every metric an expression reads is one the services export: a `"scorer_..."` name in the Swift
  sources (histograms also as _bucket/_sum/_count).
- Every expression parses as PromQL: they are written as recording rules into a temporary file
  and checked with `promtool check rules` (promtool 2.42 has no offline query parser of its own).
"""
import glob, json, os, re, subprocess, sys, tempfile

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
os.chdir(root)
errors = []

exported = set()
for path in glob.glob("Sources/**/*.swift", recursive=True):
    exported |= set(re.findall(r'"(scorer_[a-z0-9_]+)', open(path).read()))
if not exported:
    sys.exit("validate-grafana: found no exported metric names in Sources/")

def known(metric):
    if metric in exported:
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        if metric.endswith(suffix) and metric[: -len(suffix)] in exported:
            return True
    return False

exprs = []
for path in sorted(glob.glob("deploy/grafana/*.json")):
    try:
        dash = json.load(open(path))
    except json.JSONDecodeError as error:
        errors.append(f"{path}: not JSON: {error}")
        continue
    for field, kind in (("title", str), ("uid", str), ("schemaVersion", int), ("panels", list), ("time", dict), ("templating", dict)):
        if not isinstance(dash.get(field), kind):
            errors.append(f"{path}: missing or wrong type: {field} ({kind.__name__})")
    variables = {v.get("name") for v in dash.get("templating", {}).get("list", [])}
    datasources = {v.get("name") for v in dash.get("templating", {}).get("list", []) if v.get("type") == "datasource"}
    ids = set()
    for panel in dash.get("panels", []):
        where = f"{path}: panel {panel.get('id')} '{panel.get('title')}'"
        if not isinstance(panel.get("id"), int) or panel["id"] in ids:
            errors.append(f"{where}: id missing or not unique")
        ids.add(panel.get("id"))
        if not panel.get("type") or not panel.get("title"):
            errors.append(f"{where}: needs a type and a title")
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in "hwxy") or grid["x"] + grid["w"] > 24 or grid["w"] < 1 or grid["h"] < 1:
            errors.append(f"{where}: gridPos must hold integers h, w, x, y within 24 columns")
        if panel.get("type") == "row":
            continue
        uid = panel.get("datasource", {}).get("uid", "")
        if uid.strip("${}") not in datasources:
            errors.append(f"{where}: datasource uid {uid!r} is not the dashboard's datasource variable")
        targets = panel.get("targets", [])
        if not targets:
            errors.append(f"{where}: no targets")
        for target in targets:
            expr = target.get("expr", "")
            if not target.get("refId") or not expr.strip():
                errors.append(f"{where}: a target needs a refId and an expr")
                continue
            for name in re.findall(r"\$\{?(\w+)", expr):
                if not name.startswith("__") and name not in variables:
                    errors.append(f"{where}: ${name} is not a dashboard variable")
            # Label values and legend text aside, every identifier that names a scorer metric must exist.
            for metric in re.findall(r"\b(scorer_[a-z0-9_]+)\b", re.sub(r'"[^"]*"', '""', expr)):
                if not known(metric):
                    errors.append(f"{where}: {metric} is not exported by the services (Sources/)")
            exprs.append((where, expr))

# PromQL syntax: Grafana's variables replaced by values Prometheus accepts.
def concrete(expr):
    expr = re.sub(r"\$__rate_interval|\$__interval|\$\{__rate_interval\}", "1m", expr)
    return re.sub(r"\$\{?(\w+)\}?", "1h", expr)

with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as rules:
    rules.write("groups:\n  - name: grafana-expressions\n    rules:\n")
    for index, (_, expr) in enumerate(exprs):
        rules.write(f"      - record: grafana:expr_{index}\n        expr: {json.dumps(concrete(expr))}\n")
try:
    check = subprocess.run(["promtool", "check", "rules", rules.name], capture_output=True, text=True)
    if check.returncode != 0:
        errors.append("promtool check rules on the dashboard expressions failed:\n" + check.stdout + check.stderr)
finally:
    os.unlink(rules.name)

if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print(f"validate: Grafana dashboards ok ({len(exprs)} expressions: schema fields, exported metric names, promtool-parsed PromQL)")
