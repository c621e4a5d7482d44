"""`esper-client`: a small command line on EsperClient (prints JSON)."""
from __future__ import annotations

import argparse
import json
import os
import sys

from .client import EsperAPIError, EsperClient
from .studies import curves_table, summary_table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="esper-client", description="Talk to an Esper server.")
    parser.add_argument("--url", default=os.environ.get("ESPER_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--token", default=os.environ.get("ESPER_API_TOKEN"))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("health", help="GET /healthz (exit 1 when degraded)")
    sub.add_parser("version", help="GET /api/v1/version")
    get = sub.add_parser("get", help="GET any API path")
    get.add_argument("path")
    post = sub.add_parser("post", help="POST JSON to any API path")
    post.add_argument("path")
    post.add_argument("body", nargs="?", default=None, help="JSON body")
    study = sub.add_parser("study", help="studies: create, show, curves, delete")
    study_sub = study.add_subparsers(dest="study_command", required=True)
    create = study_sub.add_parser("create", help="POST /api/v1/studies (JSON text, or @file)")
    create.add_argument("body")
    show = study_sub.add_parser("show", help="the summary as a table (--json for the document)")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    curves = study_sub.add_parser("curves", help="per-epoch mean ± std (n) per group")
    curves.add_argument("id")
    curves.add_argument("--metric", default="validation_accuracy",
                        choices=["validation_accuracy", "validation_loss", "train_loss", "train_accuracy"])
    curves.add_argument("--json", action="store_true")
    delete = study_sub.add_parser("delete", help="delete a study and its runs")
    delete.add_argument("id")
    args = parser.parse_args(argv)

    client = EsperClient(args.url, token=args.token)
    try:
        if args.command == "health":
            document = client.health()
            print(json.dumps(document, indent=2, sort_keys=True))
            return 0 if document.get("status") == "ok" else 1
        if args.command == "study":
            return _study(client, args)
        if args.command == "version":
            result = client.version()
        elif args.command == "get":
            result = client.get(args.path)
        else:
            result = client.post(args.path, json.loads(args.body) if args.body else None)
    except EsperAPIError as error:
        print(f"esper-client: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def _study(client: EsperClient, args) -> int:
    """`study create | show | curves | delete`: tables for people, --json for scripts."""
    if args.study_command == "create":
        text = args.body
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as handle:
                text = handle.read()
        try:
            body = json.loads(text)
        except ValueError as error:
            print(f"esper-client: the study is not valid JSON: {error}", file=sys.stderr)
            return 2
        study = client.create_study(body)
        print(study["id"])
        return 0
    if args.study_command == "show":
        study = client.study(args.id)
        print(json.dumps(study, indent=2, sort_keys=True) if args.json else summary_table(study))
        return 0
    if args.study_command == "curves":
        curves = client.study_curves(args.id, args.metric)
        print(json.dumps(curves, indent=2, sort_keys=True) if args.json else curves_table(curves))
        return 0
    client.delete_study(args.id)
    print(f"deleted {args.id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
