#!/usr/bin/env python3
"""Asserts what every rendered Kubernetes overlay must keep (issue 7, docs/architecture.md §8).

    security.py OVERLAY=RENDERED.yaml...   check each overlay's `kustomize build` output
    security.py --self-test RENDERED.yaml  break one setting at a time in a copy of a
                                           rendering and fail unless the check notices each

Every container and initContainer of every workload (Deployment, Job, ...): runAsNonRoot
true and runAsUser 1000 (its own or its pod's), readOnlyRootFilesystem true,
allowPrivilegeEscalation false, not privileged, capabilities drop ALL and add nothing,
cpu and memory requests and limits, an emptyDir on /tmp, an image with a tag or digest.
Every Deployment: RollingUpdate with maxSurge 1 and maxUnavailable 0, readiness probe on
/health/ready and liveness probe on /health/live at port 8080, Prometheus scrape
annotations on the management port 9464, which the container declares. Each overlay renders every role's Deployment and the migration Job, and its
autoscalers, disruption budgets, Services and ConfigMap references point at what it renders,
and a NetworkPolicy denies ingress to every Causeway pod by default.
A failure names the overlay, kind, name, container and setting.
"""

import copy
import json
import sys

import yaml

HTTP_PORT = 8080
# /metrics and the detailed readiness answer here only (ADR 0020).
MANAGEMENT_PORT = 9464
USER = 1000
# Partitions of each event topic (k8s/README.md): a consumer replica beyond it sits idle.
PARTITIONS = 6
ROLES = ("relay", "projections", "sagas", "command-api", "read-api")
CONSUMER_ROLES = ("projections", "sagas")
AUTOSCALED_ROLES = ("command-api", "read-api", "projections", "sagas")
EXPECTED_JOBS = ("causeway-migrate",)
CONTAINER_LISTS = ("initContainers", "containers")
MISSING = object()


def pod_template(doc):
    """The pod template of a workload, or None for other kinds."""
    kind, spec = doc.get("kind"), doc.get("spec") or {}
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return spec.get("template") or {}
    if kind == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    if kind == "Pod":
        return {"metadata": doc.get("metadata") or {}, "spec": spec}
    return None


def get(obj, dotted, default=MISSING):
    for key in dotted.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    return obj


def show(value):
    return "missing" if value is MISSING else json.dumps(value)


class Report:
    def __init__(self, overlay):
        self.overlay, self.failures = overlay, []

    def fail(self, doc, container, setting, problem):
        where = f"{doc.get('kind')}/{get(doc, 'metadata.name', '?')}"
        if container:
            where += f" container {container}"
        self.failures.append(f"{self.overlay}: {where}: {setting}: {problem}")

    def expect(self, doc, container, setting, actual, wanted):
        if actual is MISSING or actual != wanted:
            self.fail(doc, container, setting, f"{show(actual)}, want {json.dumps(wanted)}")


def check_container(report, doc, pod_spec, kind_of_list, container):
    name = f"{container.get('name', '?')}" + (" (initContainer)" if kind_of_list == "initContainers" else "")
    pod_sc = pod_spec.get("securityContext") or {}
    sc = container.get("securityContext") or {}
    for key, wanted in (("runAsNonRoot", True), ("runAsUser", USER)):
        actual = sc.get(key, pod_sc.get(key, MISSING))
        report.expect(doc, name, f"securityContext.{key}", actual, wanted)
    report.expect(doc, name, "securityContext.readOnlyRootFilesystem", sc.get("readOnlyRootFilesystem", MISSING), True)
    report.expect(doc, name, "securityContext.allowPrivilegeEscalation", sc.get("allowPrivilegeEscalation", MISSING), False)
    if sc.get("privileged") is True:
        report.fail(doc, name, "securityContext.privileged", "true, want false or unset")
    caps = sc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        report.fail(doc, name, "securityContext.capabilities.drop", f"{show(caps.get('drop', MISSING))}, want ['ALL']")
    if caps.get("add"):
        report.fail(doc, name, "securityContext.capabilities.add", f"{caps['add']!r}, want none")
    for section in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            setting = f"resources.{section}.{resource}"
            if get(container, setting) in (MISSING, None, ""):
                report.fail(doc, name, setting, "missing")
    volumes = {v.get("name"): v for v in pod_spec.get("volumes") or []}
    tmp = [m for m in container.get("volumeMounts") or [] if m.get("mountPath") == "/tmp"]
    if not tmp or "emptyDir" not in volumes.get(tmp[0].get("name"), {}):
        report.fail(doc, name, "volumeMounts[/tmp]", "no emptyDir mounted on /tmp (the root filesystem is read-only)")
    image = container.get("image") or ""
    last = image.rsplit("/", 1)[-1]
    if "@sha256:" not in image and (":" not in last or last.endswith(":latest")):
        report.fail(doc, name, "image", f"{image!r} has no tag or digest (or is :latest)")


def port_number(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p.get("containerPort")
    return None


def check_probe(report, doc, container, probe, path):
    name = container.get("name", "?")
    got_path = get(container, f"{probe}.httpGet.path")
    report.expect(doc, name, f"{probe}.httpGet.path", got_path, path)
    if got_path != MISSING:
        port = get(container, f"{probe}.httpGet.port")
        if port_number(container, port) != HTTP_PORT:
            report.fail(doc, name, f"{probe}.httpGet.port", f"{show(port)}, want {HTTP_PORT} or a port named for it")


def check_deployment(report, doc, template):
    report.expect(doc, None, "spec.strategy.type", get(doc, "spec.strategy.type"), "RollingUpdate")
    report.expect(doc, None, "spec.strategy.rollingUpdate.maxSurge", get(doc, "spec.strategy.rollingUpdate.maxSurge"), 1)
    report.expect(doc, None, "spec.strategy.rollingUpdate.maxUnavailable", get(doc, "spec.strategy.rollingUpdate.maxUnavailable"), 0)
    annotations = get(template, "metadata.annotations", {}) or {}
    report.expect(doc, None, "prometheus.io/scrape annotation", annotations.get("prometheus.io/scrape", MISSING), "true")
    report.expect(doc, None, "prometheus.io/port annotation", annotations.get("prometheus.io/port", MISSING), str(MANAGEMENT_PORT))
    for container in get(template, "spec.containers", []) or []:
        declared = [p.get("containerPort") for p in container.get("ports") or []]
        if MANAGEMENT_PORT not in declared:
            report.fail(doc, container.get("name", "?"), "ports", f"the management port {MANAGEMENT_PORT} is not declared")
        check_probe(report, doc, container, "readinessProbe", "/health/ready")
        check_probe(report, doc, container, "livenessProbe", "/health/live")


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_references(report, docs):
    """Autoscalers, budgets, Services and ConfigMap references point at rendered objects."""
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc.get("kind"), {})[get(doc, "metadata.name", "?")] = doc
    deployments = by_kind.get("Deployment", {})
    workloads = [d for d in docs if pod_template(d) is not None]
    for role in ROLES:
        if f"causeway-{role}" not in deployments:
            report.failures.append(f"{report.overlay}: Deployment/causeway-{role}: missing from the rendering")
    for job in EXPECTED_JOBS:
        if job not in by_kind.get("Job", {}):
            report.failures.append(f"{report.overlay}: Job/{job}: missing from the rendering")
    hpas = by_kind.get("HorizontalPodAutoscaler", {})
    for role in AUTOSCALED_ROLES:
        if f"causeway-{role}" not in hpas:
            report.failures.append(f"{report.overlay}: HorizontalPodAutoscaler/causeway-{role}: missing from the rendering")
    for name, hpa in hpas.items():
        target = get(hpa, "spec.scaleTargetRef.name")
        if get(hpa, "spec.scaleTargetRef.kind") != "Deployment" or target not in deployments:
            report.fail(hpa, None, "spec.scaleTargetRef", f"{show(target)} is no rendered Deployment")
        if any(name == f"causeway-{r}" for r in CONSUMER_ROLES) and get(hpa, "spec.maxReplicas", 0) > PARTITIONS:
            report.fail(hpa, None, "spec.maxReplicas", f"{get(hpa, 'spec.maxReplicas')}, more than the {PARTITIONS} partitions")
    for pdb in by_kind.get("PodDisruptionBudget", {}).values():
        selector = get(pdb, "spec.selector.matchLabels", {})
        if not any(labels_match(selector, get(w, "spec.template.metadata.labels", {}) or {}) for w in workloads):
            report.fail(pdb, None, "spec.selector", f"{selector!r} selects no rendered pod")
    for svc in by_kind.get("Service", {}).values():
        selector = get(svc, "spec.selector", {})
        pods = [pod_template(d) for d in deployments.values()
                if labels_match(selector, get(pod_template(d), "metadata.labels", {}) or {})]
        if not pods:
            report.fail(svc, None, "spec.selector", f"{selector!r} selects no rendered Deployment's pods")
        for port in get(svc, "spec.ports", []) or []:
            target = port.get("targetPort", port.get("port"))
            for pod in pods:
                if not any(port_number(c, target) for c in get(pod, "spec.containers", []) or []):
                    report.fail(svc, None, "spec.ports.targetPort", f"{target!r} is no port of the selected pods")
    config_maps = by_kind.get("ConfigMap", {})
    for workload in workloads:
        for list_name in CONTAINER_LISTS:
            for container in get(pod_template(workload), f"spec.{list_name}", []) or []:
                refs = [get(e, "configMapRef.name") for e in container.get("envFrom") or []]
                refs += [get(e, "valueFrom.configMapKeyRef.name") for e in container.get("env") or []]
                for ref in refs:
                    if ref is not MISSING and ref not in config_maps:
                        report.fail(workload, container.get("name"), "ConfigMap reference", f"{ref!r} is not rendered")


def check(overlay, docs):
    report = Report(overlay)
    for doc in docs:
        template = pod_template(doc)
        if template is None:
            continue
        pod_spec = template.get("spec") or {}
        containers = [(k, c) for k in CONTAINER_LISTS for c in pod_spec.get(k) or []]
        if not containers:
            report.fail(doc, None, "spec.template.spec.containers", "none")
        for kind_of_list, container in containers:
            check_container(report, doc, pod_spec, kind_of_list, container)
        if doc.get("kind") == "Deployment":
            check_deployment(report, doc, template)
    check_references(report, docs)
    check_network_policies(report, docs)
    return report.failures


def check_network_policies(report, docs):
    """Ingress to Causeway's pods is denied by default: a policy selecting them all with
    policyTypes Ingress and no rule (the others then admit the API and metrics ports)."""
    policies = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    deny = [
        p for p in policies
        if get(p, "spec.podSelector.matchLabels", {}) == {"app.kubernetes.io/name": "causeway"}
        and "Ingress" in (get(p, "spec.policyTypes", []) or [])
        and not get(p, "spec.ingress", [])
    ]
    if not deny:
        doc = {"kind": "NetworkPolicy", "metadata": {"name": "(default deny)"}}
        report.fail(doc, None, "NetworkPolicy default deny", "no policy denies ingress to every Causeway pod")


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


# --- self-test: each mutation must be caught, naming the setting it broke -----------------

def first(docs, kind):
    return next(d for d in docs if d.get("kind") == kind)


def container0(docs, kind):
    return pod_template(first(docs, kind))["spec"]["containers"][0]


def mutations():
    def sc(kind, key, value=MISSING):
        def mutate(docs):
            target = container0(docs, kind).setdefault("securityContext", {})
            if value is MISSING:
                target.pop(key, None)
            else:
                target[key] = value
        return mutate

    def run_as_non_root_nowhere(docs):
        template = pod_template(first(docs, "Deployment"))
        template["spec"].get("securityContext", {}).pop("runAsNonRoot", None)
        template["spec"]["containers"][0].get("securityContext", {}).pop("runAsNonRoot", None)

    def bare_init_container(docs):
        spec = pod_template(first(docs, "Deployment"))["spec"]
        spec.setdefault("initContainers", []).append({"name": "setup", "image": "busybox:1.36"})

    def deployment(path, value):
        def mutate(docs):
            obj = first(docs, "Deployment")
            *parents, leaf = path.split(".")
            for key in parents:
                obj = obj.setdefault(key, {})
            if value is MISSING:
                obj.pop(leaf, None)
            else:
                obj[leaf] = value
        return mutate

    def container(kind, path, value=MISSING):
        def mutate(docs):
            obj = container0(docs, kind)
            *parents, leaf = path.split(".")
            for key in parents:
                obj = obj.setdefault(key, {})
            if value is MISSING:
                obj.pop(leaf, None)
            else:
                obj[leaf] = value
        return mutate

    def drop_deployment(docs):
        docs.remove(first(docs, "Deployment"))

    def drop_network_policies(docs):
        docs[:] = [d for d in docs if d.get("kind") != "NetworkPolicy"]

    return [
        ("readOnlyRootFilesystem dropped from a Deployment", sc("Deployment", "readOnlyRootFilesystem"), "readOnlyRootFilesystem"),
        ("allowPrivilegeEscalation true in a Job", sc("Job", "allowPrivilegeEscalation", True), "allowPrivilegeEscalation"),
        ("capabilities no longer dropped", sc("Deployment", "capabilities"), "capabilities.drop"),
        ("a capability added", sc("Job", "capabilities", {"drop": ["ALL"], "add": ["NET_ADMIN"]}), "capabilities.add"),
        ("runAsUser 0 on a container", sc("Deployment", "runAsUser", 0), "runAsUser"),
        ("runAsNonRoot neither on pod nor container", run_as_non_root_nowhere, "runAsNonRoot"),
        ("an initContainer without hardening", bare_init_container, "setup (initContainer)"),
        ("maxUnavailable 1", deployment("spec.strategy.rollingUpdate.maxUnavailable", 1), "maxUnavailable"),
        ("maxSurge 2", deployment("spec.strategy.rollingUpdate.maxSurge", 2), "maxSurge"),
        ("Recreate strategy", deployment("spec.strategy", {"type": "Recreate"}), "strategy.type"),
        ("no liveness probe", container("Deployment", "livenessProbe"), "livenessProbe"),
        ("readiness probe on /health/live", container("Deployment", "readinessProbe.httpGet.path", "/health/live"), "readinessProbe"),
        ("no memory limit", container("Deployment", "resources.limits.memory"), "resources.limits.memory"),
        ("no cpu request in a Job", container("Job", "resources.requests.cpu"), "resources.requests.cpu"),
        ("no /tmp mount", container("Deployment", "volumeMounts", []), "/tmp"),
        ("the management port undeclared", container("Deployment", "ports", [{"name": "http", "containerPort": 8080}]), "management port"),
        ("an untagged image", container("Job", "image", "causeway"), "image"),
        ("a role's Deployment gone", drop_deployment, "missing from the rendering"),
        ("the default-deny NetworkPolicy gone", drop_network_policies, "default deny"),
    ]


def self_test(path):
    docs = load(path)
    baseline = check("self-test", docs)
    if baseline:
        sys.exit("security self-test: the unmodified rendering already fails:\n  " + "\n  ".join(baseline))
    missed = []
    for description, mutate, expected in mutations():
        broken = copy.deepcopy(docs)
        mutate(broken)
        failures = check("self-test", broken)
        if not any(expected in f for f in failures):
            missed.append(f"{description}: no failure mentions {expected!r} (got {failures})")
    if missed:
        sys.exit("security self-test: the check missed:\n  " + "\n  ".join(missed))
    print(f"security self-test: all {len(mutations())} broken settings were caught")


def main(args):
    if len(args) == 2 and args[0] == "--self-test":
        return self_test(args[1])
    if not args or any("=" not in a for a in args):
        sys.exit(__doc__)
    failures = []
    for arg in args:
        overlay, path = arg.split("=", 1)
        docs = load(path)
        found = check(overlay, docs)
        failures += found
        workloads = [d for d in docs if pod_template(d) is not None]
        if not found:
            print(f"security: {overlay}: {len(workloads)} workloads: ok")
    if failures:
        print(f"security: {len(failures)} problem(s):", file=sys.stderr)
        for failure in failures:
            print(f"  FAIL {failure}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
