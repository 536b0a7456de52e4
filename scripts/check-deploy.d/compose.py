#!/usr/bin/env python3
"""Validates compose.yaml against the Compose Specification's JSON schema, then checks what a
schema cannot: start order, health checks, hardening, and the Prometheus scrape targets.

    compose.py COMPOSE_YAML COMPOSE_SPEC_JSON PROMETHEUS_YML

- The schema (from the compose-go module, as Docker Compose itself validates) accepts the
  file, and rejects a copy with an unknown service key (so the validator is really on).
- Every depends_on names a service; `service_healthy` ones have a healthcheck;
  `service_completed_successfully` ones do not restart.
- Ports are published on 127.0.0.1 only.
- Every Causeway service (built from the Dockerfile) runs as 1000:1000 with a read-only
  root filesystem, no capabilities and no-new-privileges; each long-running role has a
  healthcheck and is scraped by deploy/prometheus.yml, which scrapes nothing else unknown.
"""

import copy
import json
import sys

import jsonschema
import yaml

PROBLEMS = []


def problem(message):
    PROBLEMS.append(message)


def schema_errors(validator, doc):
    return sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))


def deepest(error):
    """Inside a oneOf/anyOf failure, the errors that got furthest into the document: the
    alternative that was meant, and what is wrong in it."""
    if not error.context:
        return [error]
    depth = max(len(e.absolute_path) for e in error.context)
    return [d for e in error.context if len(e.absolute_path) == depth for d in deepest(e)]


def root_causes(errors):
    """The most specific errors of each failure, without the 'unevaluated properties' echo
    that a failing sibling leaves on its parent."""
    causes, seen = [], set()
    for error in errors:
        for cause in deepest(error):
            key = (tuple(cause.absolute_path), cause.message)
            if key not in seen:
                seen.add(key)
                causes.append(cause)
    paths = [tuple(e.absolute_path) for e in causes]

    def echo(error):
        here = tuple(error.absolute_path)
        return error.validator == "unevaluatedProperties" and any(
            p[: len(here)] == here and p != here for p in paths)

    return [e for e in causes if not echo(e)]


def validate_schema(compose, schema):
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)
    for error in root_causes(schema_errors(validator, compose)):
        path = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        message = error.message if len(error.message) <= 300 else error.message[:300] + "..."
        problem(f"schema: {path}: {message}")
    canary = copy.deepcopy(compose)
    first = next(iter(canary.get("services") or {"x": {}}))
    canary.setdefault("services", {}).setdefault(first, {})["depends_onn"] = ["postgres"]
    if not schema_errors(validator, canary):
        problem("schema: a service with an unknown key ('depends_onn') was accepted: the schema checks nothing")


def service_names_of(deps):
    return list(deps) if isinstance(deps, (dict, list)) else []


def check_start_order(services):
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        for dep in service_names_of(deps):
            if dep not in services:
                problem(f"{name}: depends_on {dep!r}, which is no service")
                continue
            condition = deps[dep].get("condition") if isinstance(deps, dict) else "service_started"
            target = services[dep]
            if condition == "service_healthy":
                test = (target.get("healthcheck") or {}).get("test")
                if not test or (target.get("healthcheck") or {}).get("disable") or test == ["NONE"]:
                    problem(f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck")
            if condition == "service_completed_successfully" and target.get("restart", "no") not in ("no", "on-failure"):
                problem(f"{name}: waits for {dep} to complete, but {dep} restarts ({target.get('restart')})")


def check_ports(services):
    for name, svc in services.items():
        for port in svc.get("ports") or []:
            text = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port.get('published', '')}"
            if not text.startswith("127.0.0.1:"):
                problem(f"{name}: port {port!r} is not published on 127.0.0.1 only")


def causeway_services(services):
    """Services running the image built from the Dockerfile."""
    return {n: s for n, s in services.items() if s.get("build") is not None}


def check_hardening(name, svc):
    if str(svc.get("user")) != "1000:1000":
        problem(f"{name}: user {svc.get('user')!r}, want '1000:1000'")
    if svc.get("read_only") is not True:
        problem(f"{name}: read_only {svc.get('read_only')!r}, want true")
    if "ALL" not in (svc.get("cap_drop") or []):
        problem(f"{name}: cap_drop {svc.get('cap_drop')!r}, want ['ALL']")
    if svc.get("cap_add"):
        problem(f"{name}: cap_add {svc.get('cap_add')!r}, want none")
    if not any(str(o).replace("=", ":") in ("no-new-privileges:true", "no-new-privileges") for o in svc.get("security_opt") or []):
        problem(f"{name}: security_opt lacks no-new-privileges:true")


def role_of(svc):
    """The role a `serve --roles X` service runs, or None for one-shots."""
    command = svc.get("command") or []
    if isinstance(command, str):
        command = command.split()
    if command[:2] == ["serve", "--roles"] and len(command) == 3:
        return command[2]
    return None


def scrape_targets(prometheus):
    targets = set()
    for job in prometheus.get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                targets.add(target)
    return targets


def check_causeway(services, prometheus):
    ours = causeway_services(services)
    if not ours:
        problem("no service builds the Causeway image (build: .)")
    roles = {}
    for name, svc in ours.items():
        check_hardening(name, svc)
        role = role_of(svc)
        if role:
            roles[name] = role
            if not (svc.get("healthcheck") or {}).get("test"):
                problem(f"{name}: a long-running role without a healthcheck")
    expected = {"relay", "projections", "sagas", "command-api", "read-api"}
    if set(roles.values()) != expected:
        problem(f"roles served: {sorted(set(roles.values()))}, want {sorted(expected)}")
    targets = scrape_targets(prometheus)
    for name in roles:
        if f"{name}:9464" not in targets:
            problem(f"deploy/prometheus.yml does not scrape {name}:9464 (the management port)")
    for target in targets:
        host = target.rsplit(":", 1)[0]
        if host not in services and host not in ("localhost", "127.0.0.1"):
            problem(f"deploy/prometheus.yml scrapes {target}, but {host} is no compose service")


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def main(args):
    if len(args) != 3:
        sys.exit(__doc__)
    compose_path, schema_path, prometheus_path = args
    compose = load_yaml(compose_path)
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    validate_schema(compose, schema)
    services = compose.get("services") or {}
    check_start_order(services)
    check_ports(services)
    check_causeway(services, load_yaml(prometheus_path) or {})
    if PROBLEMS:
        print(f"compose: {len(PROBLEMS)} problem(s) in {compose_path}:", file=sys.stderr)
        for p in PROBLEMS:
            print(f"  FAIL {p}", file=sys.stderr)
        sys.exit(1)
    print(f"compose: {compose_path}: {len(services)} services, valid against the Compose Specification; ok")


if __name__ == "__main__":
    main(sys.argv[1:])
