#!/usr/bin/env python3
"""Checks of the multihost and dashboard tests (tests/multihost/multihost_test.sh).

Subcommands (each prints what it found and exits 0 when it holds, 1 when not):
  results DIR --budget N --batch B   an exported results folder holds exactly N evaluations,
                                     each counted once (status, history, archive rows)
  metric URL NAME                    prints the sum of NAME's samples on a /metrics page
  prometheus URL ...                 Prometheus' HTTP API shows the cluster (see check_prometheus)
  dashboard ARTIFACTS                the `dashboard` test: the console pages captured by headless
                                     Chromium have graphs with data; exits 77 when the multihost
                                     run was skipped
Standard library only (Debian's python3).
"""

import argparse
import ast
import csv
import html.parser
import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request

SKIP = 77
# Graphs with data each console page must show at least (docs/cluster.md §3): the cluster page's
# workers, queue and env steps/s per worker (its rejects graph may have no series when nothing
# was rejected); the experiment page's QD-score %, coverage %, max fitness and evaluations/s
# (MAP-Elites has no model or critic losses to plot).
MIN_GRAPHS = {"cluster": 3, "experiment": 4, "prometheus-overview": 2}


def fail(message):
    print(f"FAIL: {message}")
    return 1


# ------------------------------------------------------------------------------------------------
# results: every evaluation counted once.


def read_status(path):
    """state, progress.evaluations and progress.num_filled of a status.textproto."""
    text = open(path).read()
    state = re.search(r"^state: (\w+)$", text, re.M)
    evaluations = re.search(r"^  evaluations: (\d+)$", text, re.M)
    filled = re.search(r"^  num_filled: (\d+)$", text, re.M)
    return (state.group(1) if state else None,
            int(evaluations.group(1)) if evaluations else None,
            int(filled.group(1)) if filled else 0)


def npy_rows(path):
    """First dimension of a .npy file's shape (format 1.0/2.0 header)."""
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise ValueError(f"{path} is not a .npy file")
        major = f.read(2)[0]
        size = int.from_bytes(f.read(2 if major == 1 else 4), "little")
        header = ast.literal_eval(f.read(size).decode("latin1"))
    return header["shape"][0]


def check_results(args):
    state, evaluations, filled = read_status(os.path.join(args.dir, "status.textproto"))
    if state != "SUCCEEDED":
        return fail(f"state {state}, expected SUCCEEDED")
    if evaluations != args.budget:
        return fail(f"{evaluations} evaluations, expected exactly the budget {args.budget}")
    with open(os.path.join(args.dir, "metrics.csv")) as f:
        history = list(csv.DictReader(f))
    if len(history) != args.budget // args.batch:
        return fail(f"metrics.csv has {len(history)} iterations, expected "
                    f"{args.budget // args.batch} (budget {args.budget} / batch {args.batch})")
    for i, row in enumerate(history, start=1):
        if int(row["iteration"]) != i or int(row["evaluations"]) != i * args.batch:
            return fail(f"metrics.csv row {i}: iteration {row['iteration']}, evaluations "
                        f"{row['evaluations']}; expected {i}, {i * args.batch}: an iteration "
                        "counted a batch other than once")
    with open(os.path.join(args.dir, "archive.csv")) as f:
        elites = list(csv.DictReader(f))
    cells = [row["cell"] for row in elites]
    if len(elites) != filled or len(set(cells)) != len(cells):
        return fail(f"archive.csv has {len(elites)} rows ({len(set(cells))} distinct cells), "
                    f"status says {filled} filled cells")
    params = npy_rows(os.path.join(args.dir, "archive_params.npy"))
    if params != filled:
        return fail(f"archive_params.npy has {params} rows, expected {filled}")
    print(f"results: SUCCEEDED, {evaluations} evaluations in {len(history)} iterations of "
          f"{args.batch}, {filled} elites in distinct cells")
    return 0


# ------------------------------------------------------------------------------------------------
# metric: one value from a Prometheus text-format page.


def scrape(url, name):
    """Sum of the samples of metric `name` (any labels) on the page at `url`; None if absent."""
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    total, found = 0.0, False
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if match and match.group(1) == name:
            total += float(match.group(3))
            found = True
    return total if found else None


def print_metric(args):
    value = scrape(args.url, args.name)
    if value is None:
        print(f"{args.name} not on {args.url}", file=sys.stderr)
        return 1
    print(int(value))
    return 0


# ------------------------------------------------------------------------------------------------
# prometheus: the HTTP API.


def api(base, path, **params):
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    reply = json.load(urllib.request.urlopen(url, timeout=10))
    if reply.get("status") != "success":
        raise RuntimeError(f"{url}: {reply}")
    return reply["data"]


def query(base, expr):
    """{instance (or ''): value} of an instant query."""
    return {s["metric"].get("instance", ""): float(s["value"][1])
            for s in api(base, "/api/v1/query", query=expr)["result"]}


def eventually(what, probe, seconds=15):
    """Retries probe() (returns None when it holds, else a message) for a few scrapes."""
    deadline = time.time() + seconds
    while True:
        problem = probe()
        if problem is None:
            print(f"prometheus: {what}: ok")
            return True
        if time.time() > deadline:
            print(f"FAIL: prometheus: {what}: {problem}")
            return False
        time.sleep(1)


def check_prometheus(args):
    base = args.url
    ok = True
    targets = api(base, "/api/v1/targets")["activeTargets"]
    scraped = sorted(t["labels"]["instance"] for t in targets)
    expected = sorted([args.server] + args.worker)
    if not set(expected) <= set(scraped):
        return fail(f"Prometheus scrapes {scraped}, expected {expected} among them")
    if args.phase == "plain":  # development only: the binaries serve no /metrics yet
        itself = urllib.parse.urlparse(base).netloc
        return 0 if eventually("Prometheus scrapes itself", lambda: None if query(
            base, 'up{job="prometheus"}') == {itself: 1.0} else "not up") else 1

    def all_up():
        up = query(base, 'up{job=~"gdaqd-.*"}')
        return None if up == {i: 1.0 for i in expected} else f"up = {up}"

    def env_steps():
        steps = query(base, "gdaqd_worker_env_steps_total")
        bad = [w for w in args.worker if steps.get(w, 0) <= 0]
        return None if not bad else f"gdaqd_worker_env_steps_total = {steps}"

    def evaluations():
        seen = query(base, 'max_over_time(gdaqd_experiment_evaluations_total'
                     '{experiment="exp-1"}[30m])')
        values = list(seen.values())
        return (None if len(values) == 1 and 0 < values[0] <= args.budget else
                f"max gdaqd_experiment_evaluations_total = {seen}, expected in (0, {args.budget}]")

    def expired():
        seen = query(base, "max_over_time(gdaqd_scheduler_expired_leases_total[30m])")
        return None if sum(seen.values()) >= 1 else f"expired leases {seen}"

    def flap_seen():
        seen = query(base, f'min_over_time(up{{instance="{args.flapped}"}}[30m])')
        return None if seen == {args.flapped: 0.0} else f"min up of {args.flapped} = {seen}"

    ok &= eventually("server and both workers up", all_up)
    ok &= eventually("env steps of both workers > 0", env_steps)
    ok &= eventually("exp-1 evaluations seen, never above the budget", evaluations)
    ok &= eventually("expired leases counted", expired)
    ok &= eventually("flapped worker seen down, then up again", flap_seen)
    return 0 if ok else 1


# ------------------------------------------------------------------------------------------------
# dashboard: the console pages' DOM after their queries ran.


class GraphParser(html.parser.HTMLParser):
    """Collects every PromConsole.Graph (table.prom_graph_table) of a page: its series' plotted
    points (svg path.path), legend labels, and error text; plus loading images left over."""

    def __init__(self):
        super().__init__()
        self.graphs = []
        self.loading = 0
        self.text = []
        self._depth = 0  # tables open inside the current graph table
        self._in_label = False
        self._in_error = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "table" and "prom_graph_table" in classes and self._depth == 0:
            self.graphs.append({"points": 0, "labels": [], "errors": []})
            self._depth = 1
            return
        if tag == "table" and self._depth:
            self._depth += 1
        if tag == "img" and "prom_graph_loading" in classes:
            self.loading += 1
        if not self._depth:
            return
        graph = self.graphs[-1]
        if tag == "path" and "path" in classes:
            graph["points"] += len(re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?,-?\d+(?:\.\d+)?",
                                              attrs.get("d") or ""))
        self._in_label = tag == "span" and "label" in classes
        self._in_error = tag == "div" and "prom_graph_error" in classes

    def handle_endtag(self, tag):
        if tag == "table" and self._depth:
            self._depth -= 1
        if tag in ("span", "div"):
            self._in_label = self._in_error = False

    def handle_data(self, data):
        self.text.append(data)
        if self._depth and self._in_label and data.strip():
            self.graphs[-1]["labels"].append(data.strip())
        if self._depth and self._in_error and data.strip():
            self.graphs[-1]["errors"].append(data.strip())


def check_console_page(path, min_graphs, must_mention=None):
    """A console page: >= min_graphs graphs with >= 2 plotted points and a labelled series, no
    graph whose query failed, no query still loading."""
    parser = GraphParser()
    parser.feed(open(path, errors="replace").read())
    name = os.path.basename(path)
    with_data = 0
    for i, graph in enumerate(parser.graphs, start=1):
        has_data = graph["points"] >= 2 and graph["labels"]
        with_data += bool(has_data)
        print(f"  {name} graph {i}: {graph['points']} points, series {graph['labels'][:4]}"
              f"{', errors ' + str(graph['errors']) if graph['errors'] else ''}")
    problems = []
    if with_data < min_graphs:
        problems.append(f"{with_data} of {len(parser.graphs)} graphs have data, expected "
                        f">= {min_graphs}")
    if any("Error loading data" in e for g in parser.graphs for e in g["errors"]):
        problems.append("a graph's query failed (Error loading data)")
    if parser.loading:
        problems.append(f"{parser.loading} graphs still loading when captured")
    if re.search(r"error executing template", "".join(parser.text), re.I):
        problems.append("the template failed to render")
    if must_mention and must_mention not in "".join(parser.text):
        problems.append(f"the page never mentions {must_mention}")
    for problem in problems:
        print(f"FAIL: {name}: {problem}")
    return not problems


def check_targets_page(path, expected_up):
    text = open(path, errors="replace").read()
    up = len(re.findall(r'state_indicator[^>]*>\s*up\s*<', text, re.I))
    if up < expected_up:
        print(f"FAIL: {os.path.basename(path)}: {up} targets up, expected >= {expected_up}")
        return False
    print(f"  targets page: {up} targets up")
    return True


def check_dashboard(args):
    folder = args.artifacts
    if os.path.exists(os.path.join(folder, "SKIPPED")):
        print("dashboard: SKIPPED: the multihost run it needs was skipped: "
              + open(os.path.join(folder, "SKIPPED")).read().strip())
        return SKIP
    run_env = os.path.join(folder, "run.env")
    if not os.path.exists(run_env):
        return fail(f"no {run_env}: the multihost run (which captures the dashboard) did not "
                    "finish; run `ctest -L multihost` first (ctest's fixture does it for you)")
    run = dict(line.strip().split("=", 1) for line in open(run_env) if "=" in line)
    age = time.time() - int(run["finished_unix"])
    if age > 1800:
        return fail(f"the capture in {folder} is {age / 60:.0f} minutes old; run multihost again")
    with open(os.path.join(folder, "dashboard", "pages.tsv")) as f:
        pages = list(csv.DictReader(f, delimiter="\t"))
    ok = True
    for page in pages:
        base = os.path.join(folder, "dashboard", page["name"])
        print(f"dashboard: {page['url']} -> HTTP {page['http_code']}, screenshot {base}.png")
        if page["http_code"] != "200" or page["dom_rc"] != "0" or page["screenshot_rc"] != "0":
            print(f"FAIL: {page['name']}: HTTP {page['http_code']}, chromium --dump-dom exit "
                  f"{page['dom_rc']}, --screenshot exit {page['screenshot_rc']}")
            ok = False
            continue
        with open(base + ".png", "rb") as png:
            if png.read(8) != b"\x89PNG\r\n\x1a\n" or os.path.getsize(base + ".png") < 10000:
                print(f"FAIL: {base}.png is not a screenshot")
                ok = False
        if page["name"] in MIN_GRAPHS:  # prometheus-overview: plain phase (development only)
            ok &= check_console_page(base + ".html", MIN_GRAPHS[page["name"]],
                                     must_mention="exp-1" if page["name"] == "experiment" else None)
        elif page["name"] == "targets":
            ok &= check_targets_page(base + ".html", 4 if run["phase"] == "full" else 1)
    if run["phase"] != "full":
        print("dashboard: NOTE: GDAQD_MULTIHOST_PHASE=plain (development only): Debian's "
              "example consoles stood in for gdaqd's")
    expected = {"cluster", "experiment", "targets"} if run["phase"] == "full" else {"targets"}
    missing = expected - {page["name"] for page in pages}
    if missing:
        return fail(f"pages not captured: {sorted(missing)}")
    print("dashboard: PASSED" if ok else "dashboard: FAILED")
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    results = sub.add_parser("results")
    results.add_argument("dir")
    results.add_argument("--budget", type=int, required=True)
    results.add_argument("--batch", type=int, required=True)
    metric = sub.add_parser("metric")
    metric.add_argument("url")
    metric.add_argument("name")
    prometheus = sub.add_parser("prometheus")
    prometheus.add_argument("url")
    prometheus.add_argument("--phase", choices=["full", "plain"], default="full")
    prometheus.add_argument("--budget", type=int, required=True)
    prometheus.add_argument("--server", required=True, help="host:port of its /metrics")
    prometheus.add_argument("--worker", action="append", required=True)
    prometheus.add_argument("--flapped", required=True, help="the worker whose link went down")
    dashboard = sub.add_parser("dashboard")
    dashboard.add_argument("artifacts")
    args = parser.parse_args()
    return {"results": check_results, "metric": print_metric, "prometheus": check_prometheus,
            "dashboard": check_dashboard}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
