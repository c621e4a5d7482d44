"""`esper-client`: a small command line on EsperClient (prints JSON)."""
from __future__ import annotations

import argparse
import json
import os
import sys

from .client import EsperAPIError, EsperClient


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
    args = parser.parse_args(argv)

    client = EsperClient(args.url, token=args.token)
    try:
        if args.command == "health":
            document = client.health()
            print(json.dumps(document, indent=2, sort_keys=True))
            return 0 if document.get("status") == "ok" else 1
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


if __name__ == "__main__":
    sys.exit(main())
