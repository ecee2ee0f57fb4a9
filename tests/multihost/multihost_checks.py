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
# The dashboard's graphs that must have data after the multihost run (docs/cluster.md §3: the
# cluster page's workers, queue, env steps/s per worker; the experiment page's QD-score %,
# coverage %, max fitness and evaluations/s), by their <div> ids in deploy/prometheus/consoles.
# Every other graph must still have been answered without error, but may be empty: nothing may
# have been rejected, and MAP-Elites has no model or critic losses.
REQUIRED_GRAPHS = {
    "cluster": ["graph_workers", "graph_queue", "graph_env_steps", "graph_evaluations"],
    "experiment": ["graph_qd_score", "graph_coverage", "graph_max_fitness", "graph_evaluations"],
}
# Development only (GDAQD_MULTIHOST_PHASE=plain): Debian's example console, which has no
# gdaqd instrumentation; its graphs are judged by what they plotted.
MIN_PLOTTED_GRAPHS = {"prometheus-overview": 2}


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
    """Reads a console page's DOM after its scripts ran.

    graphs: every PromConsole.Graph (table.prom_graph_table): points it plotted (coordinate
      pairs of its svg path.path elements), legend labels, error text.
    gdaqd: every gdaqd_graph <div> (deploy/prometheus/console_libraries/gdaqd.lib), keyed by id:
      the library's record of what the page's own queries returned (data-gdaqd-series,
      -points, -error, -expr), and the index of the PromConsole graph drawn inside it.
    root: attributes of <html> (data-gdaqd-ready, data-gdaqd-missing)."""

    def __init__(self):
        super().__init__()
        self.graphs = []
        self.gdaqd = {}
        self.root = {}
        self.text = []
        self._depth = 0  # tables open inside the current graph table
        self._owner = None  # id of the gdaqd_graph <div> the next graph table belongs to
        self._in_label = False
        self._in_error = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "html":
            self.root = attrs
        if tag == "div" and "gdaqd_graph" in classes:
            self._owner = attrs.get("id", f"graph{len(self.gdaqd) + 1}")
            self.gdaqd[self._owner] = {
                "series": attrs.get("data-gdaqd-series"), "points": attrs.get("data-gdaqd-points"),
                "error": attrs.get("data-gdaqd-error"), "expr": attrs.get("data-gdaqd-expr"),
                "graph": None}
        if tag == "table" and "prom_graph_table" in classes and self._depth == 0:
            self.graphs.append({"points": 0, "labels": [], "errors": []})
            if self._owner is not None:
                self.gdaqd[self._owner]["graph"] = len(self.graphs) - 1
                self._owner = None
            self._depth = 1
            return
        if tag == "table" and self._depth:
            self._depth += 1
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


def plotted(graph):
    """A PromConsole graph drew at least two points of a labelled series."""
    return graph["points"] >= 2 and bool(graph["labels"])


def gdaqd_problems(parser, required):
    """What is wrong with a gdaqd console page (instrumented by gdaqd.lib)."""
    problems = []
    if parser.root.get("data-gdaqd-ready") != "1":
        problems.append("the page's scripts did not load (no data-gdaqd-ready on <html>)")
    if parser.root.get("data-gdaqd-missing"):
        problems.append(f"scripts not found: {parser.root['data-gdaqd-missing']}")
    for name, g in parser.gdaqd.items():
        drawn = parser.graphs[g["graph"]] if g["graph"] is not None else None
        print(f"  {name}: {g['series']} series, {g['points']} points returned; "
              f"{drawn['points'] if drawn else 0} plotted"
              f"{'; error ' + g['error'] if g['error'] else ''}  [{g['expr']}]")
        if g["series"] is None:
            problems.append(f"{name}: its query never returned (still loading when captured)")
        if g["error"]:
            problems.append(f"{name}: query error: {g['error']}")
    for name in required:
        g = parser.gdaqd.get(name)
        if g is None:
            problems.append(f"{name}: no such graph on the page")
        elif not (int(g["series"] or 0) >= 1 and int(g["points"] or 0) >= 2 and
                  g["graph"] is not None and plotted(parser.graphs[g["graph"]])):
            problems.append(f"{name}: no data ({g['series']} series, {g['points']} points)")
    return problems


def check_console_page(path, page, must_mention=None):
    """A captured console page: gdaqd pages by gdaqd.lib's record of their own queries (every
    graph answered without error, the REQUIRED_GRAPHS with data, drawn); Debian's example page
    (plain phase) by what its graphs plotted."""
    parser = GraphParser()
    parser.feed(open(path, errors="replace").read())
    name = os.path.basename(path)
    text = "".join(parser.text)
    if page in REQUIRED_GRAPHS:
        problems = gdaqd_problems(parser, REQUIRED_GRAPHS[page])
    else:
        for i, graph in enumerate(parser.graphs, start=1):
            print(f"  graph {i}: {graph['points']} points plotted, series {graph['labels'][:4]}")
        with_data = sum(plotted(graph) for graph in parser.graphs)
        problems = [] if with_data >= MIN_PLOTTED_GRAPHS[page] else [
            f"{with_data} of {len(parser.graphs)} graphs have data, expected "
            f">= {MIN_PLOTTED_GRAPHS[page]}"]
    if any("Error loading data" in e for g in parser.graphs for e in g["errors"]):
        problems.append("a graph's query failed (Error loading data)")
    if re.search(r"error executing template", text, re.I):
        problems.append("the template failed to render")
    if must_mention and must_mention not in text:
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
        if page["name"] in REQUIRED_GRAPHS or page["name"] in MIN_PLOTTED_GRAPHS:
            ok &= check_console_page(base + ".html", page["name"],
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
