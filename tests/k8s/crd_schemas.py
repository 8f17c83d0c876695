"""Strict JSON schemas of the prometheus-operator resources we ship.

kubernetes-validate has no schema for ServiceMonitor or PrometheusRule. The
PyPI package cloudcoil-models-prometheus-operator holds models generated from
prometheus-operator's own CRDs (required fields, enums, patterns, the real
field names); their JSON schema, made strict (no unknown field anywhere, as
`kubernetes-validate --strict` does), validates ours offline.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
from cloudcoil.models.prometheus_operator import v1 as monitoring_v1

MODELS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): monitoring_v1.ServiceMonitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): monitoring_v1.PrometheusRule,
}


def _forbid_unknown_fields(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _forbid_unknown_fields(value)
    elif isinstance(node, list):
        for value in node:
            _forbid_unknown_fields(value)


@functools.cache
def validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    schema = MODELS[(api_version, kind)].model_json_schema(by_alias=True)
    _forbid_unknown_fields(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(obj: dict[str, Any]) -> list[str]:
    """Every violation, as 'path: message'; empty when the object is valid."""
    found = validator(obj["apiVersion"], obj["kind"]).iter_errors(obj)
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in found]
