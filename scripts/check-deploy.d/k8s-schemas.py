#!/usr/bin/env python3
"""Turns Kubernetes' OpenAPI v2 document (api/openapi-spec/swagger.json of the k8s.io/kubernetes
module) into the JSON schemas kubeconform reads from a local -schema-location:

    OUT/v<version>-standalone-strict/<kind>-<group>-<version>.json   (all lower case)

one file per group/version/kind, e.g. deployment-apps-v1.json, service-v1.json,
horizontalpodautoscaler-autoscaling-v2.json. Each file is standalone: it carries the
definitions it reaches under "definitions" and refers to them with local "#/definitions/..."
references, so kubeconform needs no other file. Strict: every object schema that lists its
properties rejects unknown ones (a misspelt or misplaced field fails), as kubeconform -strict
expects. Two Kubernetes types are not what the OpenAPI document says they are: IntOrString
(an integer or a string) and Quantity (a string or a number). Descriptions are dropped.

Usage: k8s-schemas.py SWAGGER_JSON KUBERNETES_VERSION OUT_DIR
Standard library only: it runs before the tools' virtualenv exists.
"""

import json
import os
import sys

REF_PREFIX = "#/definitions/"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
REPLACED = {
    INT_OR_STRING: {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    QUANTITY: {"oneOf": [{"type": "string"}, {"type": "number"}]},
}
# Keys that describe rather than constrain, and Kubernetes' own extensions (x-...).
DROPPED = {"description", "example", "externalDocs"}


def convert(schema):
    """A copy of one OpenAPI schema as a strict JSON schema (draft 4, as kubeconform reads it)."""
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        # draft 4 ignores keys beside $ref; keep only the reference.
        return {"$ref": schema["$ref"]}
    out = {}
    for key, value in schema.items():
        if key in DROPPED or key.startswith("x-"):
            continue
        if key == "properties":
            out[key] = {name: convert(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = convert(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [convert(sub) for sub in value]
        elif key == "format" and value == "int-or-string":
            continue
        else:
            out[key] = value
    if schema.get("format") == "int-or-string" or schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.update(REPLACED[INT_OR_STRING])
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def refs(schema, found):
    """Adds the definition names `schema` refers to, directly, to `found`."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            found.add(ref[len(REF_PREFIX):])
        for value in schema.values():
            refs(value, found)
    elif isinstance(schema, list):
        for value in schema:
            refs(value, found)


def direct_refs(schema):
    found = set()
    refs(schema, found)
    return found


def reachable(name, definitions):
    """Every definition reachable from `name`, itself included."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        if current not in definitions:
            sys.exit(f"k8s-schemas: {name} refers to {current}, which swagger.json does not define")
        seen.add(current)
        todo.extend(direct_refs(definitions[current]) - seen)
    return seen


def file_name(group, version, kind):
    """kubeconform's naming: <kind>[-<first label of the group>]-<version>.json, lower case."""
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{kind}{suffix}.json".lower()


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    swagger_path, k8s_version, out_dir = sys.argv[1:]
    with open(swagger_path, encoding="utf-8") as f:
        swagger = json.load(f)
    raw = swagger.get("definitions")
    if not isinstance(raw, dict) or not raw:
        sys.exit(f"k8s-schemas: {swagger_path} has no definitions: not Kubernetes' OpenAPI v2 document")
    definitions = {name: REPLACED.get(name) or convert(s) for name, s in raw.items()}

    target = os.path.join(out_dir, f"v{k8s_version.lstrip('v')}-standalone-strict")
    os.makedirs(target, exist_ok=True)
    written = 0
    for name, source in sorted(raw.items()):
        for gvk in source.get("x-kubernetes-group-version-kind", []):
            group, version, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
            api_version = f"{group}/{version}" if group else version
            schema = json.loads(json.dumps(definitions[name]))
            props = schema.setdefault("properties", {})
            # A document is for exactly this kind and apiVersion.
            props["apiVersion"] = {"type": "string", "enum": [api_version]}
            props["kind"] = {"type": "string", "enum": [kind]}
            used = reachable(name, raw)
            if not any(name in direct_refs(raw[n]) for n in used):
                used.discard(name)  # the kind itself is the root, unless it is recursive
            if used:
                schema["definitions"] = {n: definitions[n] for n in sorted(used)}
            with open(os.path.join(target, file_name(group, version, kind)), "w", encoding="utf-8") as f:
                json.dump(schema, f, separators=(",", ":"), sort_keys=True)
            written += 1
    if written < 100:
        sys.exit(f"k8s-schemas: only {written} kinds in {swagger_path}; expected Kubernetes' full API")
    print(f"k8s-schemas: {written} schemas for Kubernetes {k8s_version} in {target}")


if __name__ == "__main__":
    main()
