#!/usr/bin/env python3
"""Validates the deployment files of docs/cluster.md §3 without a Docker engine or a cluster.

Checks (each prints PASS/FAIL/SKIP; any FAIL makes the exit status 1):
  compose     docker-compose config -q; services, build targets, secrets and the state volume
  yamllint    yamllint -s with the repository's .yamllint on deploy/ and docker-compose.yml
  k8s         a schema check of every manifest of deploy/k8s (required keys per kind, containers
              with image/resources, probes and Services naming ports that exist, mounts naming
              volumes, Secrets named by the kustomization's secretGenerator, file flags pointing
              at mounted keys, no Secret values in env or args)
  dockerfile  every package apt-get installs has a candidate (apt-cache policy); the build stage
              installs scripts/setup.sh's PACKAGES; each runtime target's packages own the
              libraries its binary NEEDs (when the binaries are built)
  promtool    check config (both configs), check rules, test rules
  consoles    a real prometheus serves both console pages: HTTP 200, no template error, every
              graph's PromQL accepted by /api/v1/query; with chromium, the page's scripts load
              and every graph gets an answer without error

Usage: validate_deploy.py --root REPO [--build-dir BUILD] [--only NAME[,NAME...]]
Needs python3-yaml, docker-compose, yamllint, promtool, prometheus, apt-cache; chromium optional.
"""

import argparse
import contextlib
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

ROOT = ""
BUILD_DIR = ""


def run(cmd, cwd=None, timeout=30):
    """Runs cmd; returns (exit status, stdout+stderr)."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return 127, f"{cmd[0]}: not found"
    except subprocess.TimeoutExpired:
        return 124, f"{' '.join(cmd)}: timed out after {timeout} s"
    return proc.returncode, proc.stdout


def path(*parts):
    return os.path.join(ROOT, *parts)


def load_all(file_name):
    with open(file_name, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


# ---------------------------------------------------------------------------------------------
# compose


def check_compose():
    errors = []
    status, out = run(["docker-compose", "-f", path("docker-compose.yml"), "--project-directory",
                       ROOT, "config", "-q"], cwd=ROOT)
    if status != 0:
        errors.append(f"docker-compose config -q failed:\n{out}")
    doc = load_all(path("docker-compose.yml"))[0]
    services = doc.get("services", {})
    for name in ("coordinator", "worker", "prometheus"):
        if name not in services:
            errors.append(f"docker-compose.yml: no service '{name}'")
    targets = dockerfile_targets()
    for name, service in services.items():
        build = service.get("build")
        if isinstance(build, dict):
            dockerfile = os.path.join(ROOT, build.get("context", "."),
                                      build.get("dockerfile", "Dockerfile"))
            if os.path.normpath(dockerfile) != os.path.normpath(path("deploy/docker/Dockerfile")):
                errors.append(f"service {name}: builds {dockerfile}, not deploy/docker/Dockerfile")
            if build.get("target") not in targets:
                errors.append(f"service {name}: build target {build.get('target')!r} is not a "
                              f"stage of deploy/docker/Dockerfile ({sorted(targets)})")
        for secret in service.get("secrets", []):
            secret_name = secret if isinstance(secret, str) else secret.get("source")
            if secret_name not in doc.get("secrets", {}):
                errors.append(f"service {name}: secret {secret_name!r} is not defined")
        if "container_name" in service:
            errors.append(f"service {name}: container_name prevents --scale")
    if "worker" in services and "ports" in services["worker"]:
        errors.append("service worker publishes ports: --scale worker=N would clash")
    coordinator = services.get("coordinator", {})
    args = flag_values(coordinator.get("command", []))
    state_dir = args.get("state_dir")
    mounts = [v.split(":")[1] for v in coordinator.get("volumes", []) if isinstance(v, str)]
    if state_dir is None or state_dir not in mounts:
        errors.append(f"coordinator: --state_dir {state_dir!r} is not on a volume ({mounts})")
    for flag in ("tls_cert", "tls_key", "tokens_file"):
        if flag not in args and "allow_insecure" not in args:
            errors.append(f"coordinator: listens beyond loopback without --{flag}")
    for service_name in ("coordinator", "worker"):
        service = services.get(service_name, {})
        secret_names = [s if isinstance(s, str) else s.get("source")
                        for s in service.get("secrets", [])]
        for flag, value in flag_values(service.get("command", [])).items():
            if value.startswith("/run/secrets/") and value[len("/run/secrets/"):] not in secret_names:
                errors.append(f"{service_name}: --{flag}={value} is not a secret it mounts")
    prometheus = services.get("prometheus", {})
    if not any(str(v).startswith("./deploy/prometheus:") for v in prometheus.get("volumes", [])):
        errors.append("prometheus: deploy/prometheus is not mounted")
    return errors


def flag_values(args):
    """--name=value / --name value / --flag -> {name: value or ''}."""
    values = {}
    args = list(args)
    i = 0
    while i < len(args):
        arg = str(args[i])
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if not eq and i + 1 < len(args) and not str(args[i + 1]).startswith("--"):
                value = str(args[i + 1])
                i += 1
            values[name] = value
        i += 1
    return values


# ---------------------------------------------------------------------------------------------
# yamllint


def check_yamllint():
    files = [path("docker-compose.yml"), path(".yamllint")]
    files += sorted(glob.glob(path("deploy", "**", "*.yml"), recursive=True))
    files += sorted(glob.glob(path("deploy", "**", "*.yaml"), recursive=True))
    status, out = run(["yamllint", "-s", "-c", path(".yamllint")] + files)
    return [] if status == 0 else [f"yamllint:\n{out}"]


# ---------------------------------------------------------------------------------------------
# Kubernetes manifests

REQUIRED_SPEC = {
    "Namespace": [],
    "Service": ["spec.ports"],
    "StatefulSet": ["spec.selector.matchLabels", "spec.serviceName", "spec.template.spec.containers"],
    "Deployment": ["spec.selector.matchLabels", "spec.template.spec.containers"],
    "HorizontalPodAutoscaler": ["spec.scaleTargetRef.name", "spec.maxReplicas", "spec.metrics"],
}
API_VERSIONS = {
    "Namespace": "v1", "Service": "v1", "StatefulSet": "apps/v1", "Deployment": "apps/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
}


def dig(obj, dotted):
    for key in dotted.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def check_k8s():
    errors = []
    k8s = path("deploy", "k8s")
    kustomization = load_all(os.path.join(k8s, "kustomization.yaml"))[0]
    resources = kustomization.get("resources", [])
    on_disk = sorted(os.path.basename(f) for f in glob.glob(os.path.join(k8s, "*.yaml"))
                     if os.path.basename(f) != "kustomization.yaml")
    for f in on_disk:
        if f not in resources:
            errors.append(f"deploy/k8s/{f} is not listed in kustomization.yaml resources")
    generated = {}  # secret name -> keys
    for gen in kustomization.get("secretGenerator", []):
        keys = set()
        for entry in gen.get("files", []):
            key, _, source = entry.partition("=")
            keys.add(key if source else os.path.basename(key))
            if not (source or key).startswith("secrets/"):
                errors.append(f"secretGenerator {gen.get('name')}: {entry} is outside secrets/")
        generated[gen.get("name")] = keys
    docs = []
    for resource in resources:
        file_name = os.path.join(k8s, resource)
        if not os.path.exists(file_name):
            errors.append(f"kustomization.yaml: resource {resource} does not exist")
            continue
        docs += [(resource, d) for d in load_all(file_name)]
    by_kind = {}
    for resource, doc in docs:
        kind = doc.get("kind")
        name = dig(doc, "metadata.name")
        where = f"{resource}: {kind}/{name}"
        if not doc.get("apiVersion") or not kind or not name:
            errors.append(f"{where}: needs apiVersion, kind and metadata.name")
            continue
        if kind not in REQUIRED_SPEC:
            errors.append(f"{where}: kind {kind} is not one this check knows")
            continue
        if doc["apiVersion"] != API_VERSIONS[kind]:
            errors.append(f"{where}: apiVersion {doc['apiVersion']}, expected {API_VERSIONS[kind]}")
        for key in REQUIRED_SPEC[kind]:
            if dig(doc, key) in (None, [], {}):
                errors.append(f"{where}: missing {key}")
        by_kind.setdefault(kind, {})[name] = doc
    workloads = {**by_kind.get("StatefulSet", {}), **by_kind.get("Deployment", {})}
    for name, doc in workloads.items():
        errors += check_workload(doc, generated, by_kind.get("Service", {}))
    for name, svc in by_kind.get("Service", {}).items():
        errors += check_service(name, svc, workloads)
    for name, hpa in by_kind.get("HorizontalPodAutoscaler", {}).items():
        ref = hpa["spec"]["scaleTargetRef"]
        target = by_kind.get(ref.get("kind"), {}).get(ref.get("name"))
        if target is None:
            errors.append(f"HorizontalPodAutoscaler/{name}: scaleTargetRef {ref} does not exist")
        for metric in hpa["spec"].get("metrics", []):
            metric_name = dig(metric, "external.metric.name") or dig(metric, "pods.metric.name")
            if metric_name and not metric_name.startswith("gdaqd_"):
                errors.append(f"HorizontalPodAutoscaler/{name}: metric {metric_name} is not gdaqd's")
    return errors


def check_workload(doc, generated, services):
    errors = []
    kind, name = doc["kind"], doc["metadata"]["name"]
    where = f"{kind}/{name}"
    template = doc["spec"].get("template", {})
    labels = dig(template, "metadata.labels") or {}
    for key, value in (dig(doc, "spec.selector.matchLabels") or {}).items():
        if labels.get(key) != value:
            errors.append(f"{where}: selector {key}={value} does not match the pod labels")
    if kind == "StatefulSet" and doc["spec"].get("serviceName") not in services:
        errors.append(f"{where}: serviceName {doc['spec'].get('serviceName')} is not a Service")
    pod = template.get("spec", {})
    if "terminationGracePeriodSeconds" not in pod:
        errors.append(f"{where}: no terminationGracePeriodSeconds")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for claim in doc["spec"].get("volumeClaimTemplates", []):
        volumes[claim["metadata"]["name"]] = {"claim": claim}
    for volume in volumes.values():
        secret = dig(volume, "secret.secretName")
        if secret is not None and secret not in generated:
            errors.append(f"{where}: Secret {secret} is not generated by kustomization.yaml")
    for container in pod.get("containers", []):
        cwhere = f"{where} container {container.get('name')}"
        if not container.get("image"):
            errors.append(f"{cwhere}: no image")
        for section in ("requests", "limits"):
            if not dig(container, f"resources.{section}"):
                errors.append(f"{cwhere}: no resources.{section}")
        ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
        for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = container.get(probe_name)
            if probe is None:
                continue
            for handler in ("grpc", "tcpSocket", "httpGet"):
                if handler in probe:
                    port = probe[handler].get("port")
                    if port not in ports and port not in ports.values():
                        errors.append(f"{cwhere}: {probe_name} uses port {port!r}, not one of "
                                      f"its ports {ports}")
            if probe is not None and "grpc" in probe:
                # Kubernetes' grpc probe is plaintext: only --health_listen answers it when the
                # server has TLS on.
                health = [a for a in container.get("args", [])
                          if a.startswith("--health_listen=")]
                port = probe["grpc"].get("port")
                if not isinstance(port, int):
                    errors.append(f"{cwhere}: {probe_name} grpc port must be a number, got "
                                  f"{port!r}")
                elif not any(a.endswith(f":{port}") for a in health):
                    errors.append(f"{cwhere}: {probe_name} probes grpc port {port}, which is not "
                                  f"the plaintext --health_listen port ({health or 'none'})")
        mounts = {}
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in volumes:
                errors.append(f"{cwhere}: mounts volume {mount['name']} that is not defined")
            mounts[mount["mountPath"].rstrip("/")] = volumes.get(mount["name"], {})
        for env in container.get("env", []):
            if dig(env, "valueFrom.secretKeyRef"):
                errors.append(f"{cwhere}: env {env.get('name')} takes a Secret value (use files)")
        args = flag_values(container.get("args", []) + container.get("command", []))
        for flag, value in args.items():
            if flag in ("token", "tokens") or re.fullmatch(r"[0-9a-f]{32,}", value):
                errors.append(f"{cwhere}: a token value on the command line (--{flag})")
            if not value.startswith("/"):
                continue
            directory, key = os.path.split(value)
            volume = mounts.get(directory)
            if flag == "state_dir":
                if value.rstrip("/") not in mounts or "claim" not in mounts[value.rstrip("/")]:
                    errors.append(f"{cwhere}: --state_dir {value} is not a PersistentVolumeClaim")
            elif volume is None:
                errors.append(f"{cwhere}: --{flag}={value} is in no mounted volume")
            elif dig(volume, "secret.secretName") is not None:
                secret = volume["secret"]["secretName"]
                if key not in generated.get(secret, set()):
                    errors.append(f"{cwhere}: --{flag}={value}: Secret {secret} has no key {key} "
                                  f"({sorted(generated.get(secret, []))})")
    return errors


def check_service(name, svc, workloads):
    errors = []
    selector = svc["spec"].get("selector") or {}
    matches = [w for w in workloads.values()
               if all((dig(w, "spec.template.metadata.labels") or {}).get(k) == v
                      for k, v in selector.items())]
    if not matches:
        return [f"Service/{name}: selector {selector} matches no workload"]
    ports = set()
    for workload in matches:
        for container in dig(workload, "spec.template.spec.containers") or []:
            for port in container.get("ports", []):
                ports.update({port.get("name"), port.get("containerPort")})
    for port in svc["spec"].get("ports", []):
        target = port.get("targetPort", port.get("port"))
        if target not in ports:
            errors.append(f"Service/{name}: targetPort {target!r} is no container port ({ports})")
    return errors


# ---------------------------------------------------------------------------------------------
# Dockerfile


def dockerfile_text():
    with open(path("deploy", "docker", "Dockerfile"), encoding="utf-8") as f:
        return f.read()


def dockerfile_targets():
    return set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile_text(), re.M | re.I))


def dockerfile_stages():
    """{stage: (parent, [packages apt-get installs], [COPY --from=build sources])}"""
    text = dockerfile_text().replace("\\\n", " ")
    stages = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^FROM\s+(\S+)\s+AS\s+(\S+)", line, re.I)
        if match:
            current = match.group(2)
            stages[current] = (match.group(1), [], [])
            continue
        if current is None:
            continue
        for install in re.findall(r"apt-get install ([^&]*)", line):
            stages[current][1].extend(w for w in install.split() if not w.startswith("-"))
        copy = re.match(r"^COPY\s+--from=\S+\s+(\S+)", line)
        if copy:
            stages[current][2].append(copy.group(1))
    return stages


def setup_packages():
    with open(path("scripts", "setup.sh"), encoding="utf-8") as f:
        # Up to the line that closes the array (comments inside it may hold parentheses).
        match = re.search(r"^PACKAGES=\((.*?)^\)", f.read(), re.M | re.S)
    if not match:
        return []
    lines = (line.split("#", 1)[0] for line in match.group(1).splitlines())
    return " ".join(lines).split()


def check_dockerfile():
    errors = []
    stages = dockerfile_stages()
    for target in ("build", "runtime", "server", "worker", "client"):
        if target not in stages:
            errors.append(f"Dockerfile: no stage {target}")
    if errors:
        return errors
    for base, _, _ in stages.values():
        if base not in stages and base not in ("${DEBIAN_IMAGE}", "debian:12", "debian:bookworm"):
            errors.append(f"Dockerfile: base image {base} is not Debian 12")
    if "ARG DEBIAN_IMAGE=debian:12" not in dockerfile_text():
        errors.append("Dockerfile: DEBIAN_IMAGE is not debian:12")
    wanted = setup_packages() + ["prometheus-cpp-dev", "libssl-dev"]
    missing = [p for p in wanted if p not in stages["build"][1]]
    if missing:
        errors.append(f"Dockerfile build stage lacks packages of scripts/setup.sh: {missing}")
    every = sorted({p for _, packages, _ in stages.values() for p in packages})
    status, out = run(["apt-cache", "policy"] + every, timeout=60)
    if status != 0:
        return errors + [f"apt-cache policy failed:\n{out}"]
    candidates = dict(re.findall(r"^(\S+):\n(?:.*\n)*?\s+Candidate: (\S+)", out, re.M))
    for package in every:
        if candidates.get(package, "(none)") == "(none)":
            errors.append(f"Dockerfile installs {package}, which has no candidate in apt-cache policy")
    binaries = {"server": "server/gdaqd-server", "worker": "worker/gdaqd-worker",
                "client": "client/gdaqd"}
    for target, relative in binaries.items():
        if f"/src/build/{relative}" not in stages[target][2]:
            errors.append(f"Dockerfile target {target} does not copy /src/build/{relative}")
        errors += check_needed(target, relative, stages)
    return errors


def check_needed(target, relative, stages):
    """The packages of the target (and its parents) must own every library its binary NEEDs."""
    binary = os.path.join(BUILD_DIR, relative) if BUILD_DIR else ""
    if not binary or not os.path.exists(binary):
        print(f"  note: {relative} not built in {BUILD_DIR or '(no --build-dir)'}: its NEEDED "
              "libraries are not checked")
        return []
    packages = set()
    stage = target
    while stage in stages:
        packages.update(stages[stage][1])
        stage = stages[stage][0]
    status, out = run(["readelf", "-d", binary])
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]", out)
    _, cache = run(["ldconfig", "-p"])
    errors = []
    files = {}
    for library in needed:
        match = re.search(rf"^\s+{re.escape(library)} \(.*\) => (\S+)$", cache, re.M)
        if not match:
            errors.append(f"{relative}: NEEDED {library} is not in the linker cache")
            continue
        files[library] = os.path.realpath(match.group(1))
    owners = dpkg_owners(files.values())
    for library, file_name in files.items():
        owned_by = owners.get(file_name, set())
        if not owned_by:
            errors.append(f"{relative}: {library} ({file_name}) belongs to no Debian package")
        elif not owned_by & (packages | ESSENTIAL):
            errors.append(f"Dockerfile target {target}: {relative} needs {library} from "
                          f"{sorted(owned_by)}, which the target does not install")
    return errors


ESSENTIAL = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}  # in every Debian image


def dpkg_owners(file_names):
    """{file: {packages}} from one dpkg -S call (merged-/usr: also asks without /usr)."""
    queries = {}
    for file_name in file_names:
        queries[file_name] = file_name
        queries[re.sub(r"^/usr", "", file_name)] = file_name
    _, out = run(["dpkg", "-S"] + sorted(queries), timeout=60)
    owners = {}
    for line in out.splitlines():
        packages, sep, file_name = line.partition(": ")
        if sep and file_name in queries:
            owners.setdefault(queries[file_name], set()).update(
                p.split(":")[0] for p in packages.split(", "))
    return owners


# ---------------------------------------------------------------------------------------------
# promtool


def check_promtool():
    errors = []
    prom = path("deploy", "prometheus")
    status, out = run(["promtool", "check", "config", "prometheus.yml"], cwd=prom)
    if status != 0:
        errors.append(f"promtool check config prometheus.yml:\n{out}")
    errors += check_k8s_prometheus_config(prom)
    status, out = run(["promtool", "check", "rules", "rules/gdaqd.rules.yml"], cwd=prom)
    if status != 0:
        errors.append(f"promtool check rules:\n{out}")
    status, out = run(["promtool", "test", "rules", "gdaqd.rules.test.yml"],
                      cwd=os.path.join(prom, "rules"), timeout=60)
    if status != 0:
        errors.append(f"promtool test rules:\n{out}")
    return errors


def check_k8s_prometheus_config(prom):
    """promtool check config prometheus-k8s.yml. Debian's promtool is built without Kubernetes
    service discovery; there the kubernetes_sd_configs are checked here and replaced by a static
    target so that promtool still checks everything else (relabelling, rules, globals)."""
    errors = []
    status, out = run(["promtool", "check", "config", "prometheus-k8s.yml"], cwd=prom)
    if status == 0:
        return errors
    if "field kubernetes_sd_configs not found" not in out:
        return [f"promtool check config prometheus-k8s.yml:\n{out}"]
    config = load_all(os.path.join(prom, "prometheus-k8s.yml"))[0]
    kustomization = load_all(path("deploy", "k8s", "kustomization.yaml"))[0]
    components = set()
    for resource in kustomization.get("resources", []):
        for doc in load_all(path("deploy", "k8s", resource)):
            component = dig(doc, "spec.template.metadata.labels")
            if component:
                components.add(component.get("app.kubernetes.io/component"))
    jobs = set()
    for job in config.get("scrape_configs", []):
        jobs.add(job.get("job_name"))
        for sd in job.pop("kubernetes_sd_configs", []) or []:
            if sd.get("role") not in ("pod", "endpoints", "service", "node", "endpointslice",
                                      "ingress"):
                errors.append(f"prometheus-k8s.yml {job['job_name']}: bad role {sd.get('role')}")
            names = dig(sd, "namespaces.names") or []
            if kustomization.get("namespace") not in names:
                errors.append(f"prometheus-k8s.yml {job['job_name']}: namespaces {names} miss "
                              f"{kustomization.get('namespace')}")
            job.setdefault("static_configs", [{"targets": ["localhost:9464"]}])
        for relabel in job.get("relabel_configs", []):
            sources = relabel.get("source_labels", [])
            if ("__meta_kubernetes_pod_label_app_kubernetes_io_component" in sources
                    and relabel.get("action") == "keep"
                    and relabel.get("regex") not in components):
                errors.append(f"prometheus-k8s.yml {job['job_name']}: keeps component "
                              f"{relabel.get('regex')}, not a pod label of deploy/k8s "
                              f"({sorted(c for c in components if c)})")
    for job in ("gdaqd-server", "gdaqd-worker"):
        if job not in jobs:
            errors.append(f"prometheus-k8s.yml: no job {job}")
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(os.path.join(prom, "rules"), os.path.join(tmp, "rules"))
        with open(os.path.join(tmp, "prometheus-k8s.yml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(config, f)
        status, out = run(["promtool", "check", "config", "prometheus-k8s.yml"], cwd=tmp)
        if status != 0:
            errors.append(f"promtool check config prometheus-k8s.yml (Kubernetes SD replaced):\n{out}")
    return errors


# ---------------------------------------------------------------------------------------------
# console pages through a real prometheus

PAGES = ["gdaqd-cluster.html", "gdaqd-experiment.html?experiment=exp-1", "gdaqd-experiment.html"]


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


@contextlib.contextmanager
def prometheus_server(tmp):
    """Starts Debian's prometheus on a free 127.0.0.1 port with our config and consoles."""
    prom = path("deploy", "prometheus")
    for _ in range(3):  # the free port may be taken between the probe and prometheus' bind
        port = free_port()
        log = open(os.path.join(tmp, "prometheus.log"), "w", encoding="utf-8")
        proc = subprocess.Popen(
            ["prometheus", f"--config.file={os.path.join(prom, 'prometheus.yml')}",
             f"--web.console.templates={os.path.join(prom, 'consoles')}",
             f"--web.console.libraries={os.path.join(prom, 'console_libraries')}",
             f"--web.listen-address=127.0.0.1:{port}",
             f"--storage.tsdb.path={os.path.join(tmp, 'data')}"],
            stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            if http_get(base + "/-/ready", timeout=1)[0] == 200:
                break
            time.sleep(0.2)
        if proc.poll() is None and http_get(base + "/-/ready", timeout=1)[0] == 200:
            try:
                yield base
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                log.close()
            return
        proc.kill()
        proc.wait()
        log.close()
    with open(os.path.join(tmp, "prometheus.log"), encoding="utf-8") as f:
        raise RuntimeError(f"prometheus did not become ready:\n{f.read()[-2000:]}")


def check_consoles():
    errors = []
    tmp = tempfile.mkdtemp(prefix="gdaqd-deploy-")
    try:
        with prometheus_server(tmp) as base:
            for page in PAGES:
                errors += check_page(base, page, tmp)
    except RuntimeError as e:
        errors.append(str(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return errors


def check_page(base, page, tmp):
    errors = []
    status, body = http_get(f"{base}/consoles/{page}")
    if status != 200:
        return [f"{page}: HTTP {status}: {body[:500]}"]
    for marker in ("error executing template", "template: ", "<no value>"):
        if marker in body:
            at = body.index(marker)
            errors.append(f"{page}: {marker!r} in the page: {body[max(0, at - 200):at + 300]}")
    exprs = [html_unescape(e) for e in re.findall(r'data-gdaqd-expr="([^"]*)"', body)]
    if page.startswith("gdaqd-cluster") or "experiment=" in page:
        if len(exprs) < 5:
            errors.append(f"{page}: only {len(exprs)} graphs")
    for expr in exprs:
        url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, answer = http_get(url)
        if status != 200 or json.loads(answer).get("status") != "success":
            errors.append(f"{page}: prometheus refuses the graph query {expr!r}: {answer[:300]}")
    chromium = shutil.which("chromium")
    if chromium is None:
        print(f"  note: no chromium: {page}'s scripts not run")
        return errors
    status, dom = run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                       f"--user-data-dir={os.path.join(tmp, 'chromium')}",
                       "--virtual-time-budget=10000", "--dump-dom", f"{base}/consoles/{page}"],
                      timeout=45)
    if status != 0 or "<html" not in dom:
        return errors + [f"{page}: chromium failed ({status}): {dom[-500:]}"]
    if 'data-gdaqd-ready="1"' not in dom:
        errors.append(f"{page}: the page's scripts did not load (no data-gdaqd-ready)")
    missing = re.findall(r'data-gdaqd-missing="([^"]*)"', dom)
    if missing:
        errors.append(f"{page}: scripts or styles not found on this prometheus: {missing}")
    graph_errors = re.findall(r'data-gdaqd-error="([^"]*)"', dom)
    if graph_errors:
        errors.append(f"{page}: graph queries failed in the browser: {graph_errors}")
    answered = len(re.findall(r"data-gdaqd-series=", dom))
    if answered != len(exprs):
        errors.append(f"{page}: {answered} of {len(exprs)} graphs got an answer in the browser")
    return errors


def html_unescape(text):
    import html
    return html.unescape(text)


# ---------------------------------------------------------------------------------------------

CHECKS = {
    "compose": check_compose,
    "yamllint": check_yamllint,
    "k8s": check_k8s,
    "dockerfile": check_dockerfile,
    "promtool": check_promtool,
    "consoles": check_consoles,
}


def main():
    global ROOT, BUILD_DIR
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="repository root")
    parser.add_argument("--build-dir", default="", help="CMake build dir with the binaries")
    parser.add_argument("--only", default="", help="comma-separated checks: " + ",".join(CHECKS))
    args = parser.parse_args()
    ROOT = os.path.abspath(args.root)
    BUILD_DIR = os.path.abspath(args.build_dir) if args.build_dir else ""
    selected = args.only.split(",") if args.only else list(CHECKS)
    failed = []
    for name in selected:
        start = time.monotonic()
        errors = CHECKS[name]()
        took = time.monotonic() - start
        print(f"{'PASS' if not errors else 'FAIL'} {name} ({took:.1f} s)")
        for error in errors:
            print("  " + error.replace("\n", "\n    "))
        if errors:
            failed.append(name)
        sys.stdout.flush()
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    print("all deploy checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
