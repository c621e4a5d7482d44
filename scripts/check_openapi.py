#!/usr/bin/env python3
"""Validates openapi/esper.yaml against the OpenAPI 3.1 schema (openapi-spec-validator)."""
import sys

import yaml
from openapi_spec_validator import validate

path = sys.argv[1] if len(sys.argv) > 1 else "openapi/esper.yaml"
with open(path, encoding="utf-8") as handle:
    document = yaml.safe_load(handle)
try:
    validate(document)
except Exception as error:  # the validator raises several error types; all mean "invalid"
    print(f"openapi: {path} is not a valid OpenAPI 3.1 document: {error}", file=sys.stderr)
    sys.exit(1)

def null_keys(node, path):
    """Keys whose value is null: a description with an unquoted ': ' split into bogus keys."""
    if isinstance(node, dict):
        for key, value in node.items():
            if value is None and key not in {"default", "example", "const"}:
                yield "/".join(path + [str(key)])
            yield from null_keys(value, path + [str(key)])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from null_keys(value, path + [str(index)])


broken = list(null_keys(document, []))
if broken:
    print(f"openapi: {path} has keys with no value (an unquoted ': ' in a description?): {broken}", file=sys.stderr)
    sys.exit(1)
operations = sum(1 for item in document["paths"].values() for key in item if key in {"get", "put", "post", "delete", "patch"})
print(f"openapi: {path} valid ({len(document['paths'])} paths, {operations} operations)")
