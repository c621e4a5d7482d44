#!/usr/bin/env python3
"""Prints the README's endpoint table from openapi/esper.yaml (method, path, summary), so the
table is regenerated rather than edited by hand: python3 scripts/endpoint_table.py"""
import yaml

document = yaml.safe_load(open("openapi/esper.yaml", encoding="utf-8"))
print("| Method | Path | What |")
print("|---|---|---|")
for path, item in document["paths"].items():
    for method in ("get", "put", "post", "delete", "patch"):
        if method in item:
            summary = item[method].get("summary", "").replace("|", "\\|")
            print(f"| {method.upper()} | `{path}` | {summary} |")
