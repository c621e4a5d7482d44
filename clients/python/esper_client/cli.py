"""`esper-client`: a small command line on EsperClient (prints JSON).

Errors are printed once, as one line (`esper-client: <status> <title>: <detail> [field: why]`),
never as a traceback: exit 2 for an error answer or an unreachable server, 1 for a degraded
health check."""
from __future__ import annotations

import argparse
import json
import os
import sys

import requests

from .client import EsperAPIError, EsperClient
from .studies import curves_table, summary_table


class UsageError(Exception):
    """Bad input on the command line (a file that cannot be read, JSON that does not parse)."""


def _json_argument(text: str):
    """A JSON value from the command line: inline JSON, `@file`, or `-` for standard input."""
    try:
        if text == "-":
            text = sys.stdin.read()
        elif text.startswith("@"):
            with open(text[1:], encoding="utf-8") as handle:
                text = handle.read()
        return json.loads(text)
    except OSError as error:
        raise UsageError(f"cannot read {text[1:]}: {error.strerror}") from None
    except ValueError as error:
        raise UsageError(f"not valid JSON: {error}") from None


def _parser() -> argparse.ArgumentParser:
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
    post.add_argument("body", nargs="?", default=None, help="JSON body (inline, @file or -)")
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

    runs = sub.add_parser("runs", help="training runs: list, show, start, pause, resume, stop")
    run_actions = runs.add_subparsers(dest="action")
    listing = run_actions.add_parser("list", help="list runs (newest first; the default action)")
    listing.add_argument("--status", help="queued, running, paused, succeeded, failed or cancelled")
    listing.add_argument("--limit", type=int, default=50)
    show = run_actions.add_parser("show", help="one run")
    show.add_argument("id")
    start = run_actions.add_parser("start", help="start a run from a JSON config (inline, @file or -)")
    start.add_argument("config")
    for name, what in (("pause", "pause a run (the answer's stop_point says where it stops)"), ("resume", "resume a paused run"),
                       ("stop", "stop a run (the answer's stop_point says where it stops)")):
        action = run_actions.add_parser(name, help=what)
        action.add_argument("id")

    alerts = sub.add_parser("alerts", help="Nissa alerts: list, show, ack")
    alert_actions = alerts.add_subparsers(dest="action")
    listing = alert_actions.add_parser("list", help="list alerts (the default action)")
    listing.add_argument("--state", help="pending, firing or resolved")
    listing.add_argument("--rule")
    listing.add_argument("--limit", type=int, default=50)
    show = alert_actions.add_parser("show", help="one alert")
    show.add_argument("id")
    ack = alert_actions.add_parser("ack", help="acknowledge an alert")
    ack.add_argument("id")
    ack.add_argument("--by", required=True, help="who acknowledges it")

    seeds = sub.add_parser("seeds", help="a run's seeds: list, cull")
    seed_actions = seeds.add_subparsers(dest="action")
    listing = seed_actions.add_parser("list", help="the run's seeds")
    listing.add_argument("run")
    cull = seed_actions.add_parser("cull", help="cull a live seed")
    cull.add_argument("run")
    cull.add_argument("seed")
    return parser


def _run(client: EsperClient, args: argparse.Namespace):
    if args.command == "version":
        return client.version()
    if args.command == "get":
        return client.get(args.path)
    if args.command == "post":
        return client.post(args.path, _json_argument(args.body) if args.body else None)
    if args.command == "runs":
        action = args.action or "list"
        if action == "list":
            return client.get("/api/v1/runs", status=getattr(args, "status", None), limit=getattr(args, "limit", 50))
        if action == "show":
            return client.get(f"/api/v1/runs/{args.id}")
        if action == "start":
            return client.post("/api/v1/runs", _json_argument(args.config), create=True)
        return client.post(f"/api/v1/runs/{args.id}/{action}")
    if args.command == "alerts":
        action = args.action or "list"
        if action == "list":
            return client.get("/api/v1/nissa/alerts", state=getattr(args, "state", None), rule=getattr(args, "rule", None),
                              limit=getattr(args, "limit", 50))
        if action == "show":
            return client.get(f"/api/v1/nissa/alerts/{args.id}")
        return client.post(f"/api/v1/nissa/alerts/{args.id}/ack", {"by": args.by})
    if args.command == "seeds":
        if args.action == "cull":
            return client.post(f"/api/v1/runs/{args.run}/seeds/{args.seed}/cull")
        if args.action == "list":
            return client.get(f"/api/v1/runs/{args.run}/seeds")
        raise UsageError("seeds needs an action: list RUN or cull RUN SEED")
    raise UsageError(f"unknown command {args.command}")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    client = EsperClient(args.url, token=args.token)
    try:
        if args.command == "health":
            document = client.health()
            print(json.dumps(document, indent=2, sort_keys=True))
            return 0 if document.get("status") == "ok" else 1
        if args.command == "study":
            return _study(client, args)
        result = _run(client, args)
    except EsperAPIError as error:
        print(f"esper-client: {error}", file=sys.stderr)
        return 2
    except UsageError as error:
        print(f"esper-client: {error}", file=sys.stderr)
        return 2
    except requests.RequestException as error:
        print(f"esper-client: no answer from {args.url}: {type(error).__name__}", file=sys.stderr)
        return 2
    except ValueError:
        print(f"esper-client: {args.url} did not answer JSON", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
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
