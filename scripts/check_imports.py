#!/usr/bin/env python3
"""Checks that every Swift target imports exactly the modules Package.swift declares for it.

A module imported but not declared builds only because another dependency brings it in (and
breaks when that one changes); a module declared but imported nowhere is a dependency the
target does not use (it slows the build and blurs the module map in docs/architecture.md).
Run by `make lint`. Usage: scripts/check_imports.py [package root]
"""
import glob
import json
import os
import re
import subprocess
import sys

# Modules of the toolchain and the C library: never declared in Package.swift.
TOOLCHAIN = {"Foundation", "FoundationEssentials", "Glibc", "Musl", "Dispatch", "Synchronization", "Testing", "XCTest"}
# A top-level import: attributes and an access level may stand before it, a kind after it.
IMPORT = re.compile(
    r"^(?:@\w+(?:\([^)]*\))?\s+)*(?:public |package |internal |fileprivate |private )?import "
    r"(?:(?:enum|struct|class|protocol|func|var|let|typealias) )?(\w+)"
)


def declared_dependencies(root):
    """Target name -> (kind, folder, names of the modules it depends on) from Package.swift."""
    package = json.loads(subprocess.check_output(["swift", "package", "dump-package"], cwd=root, text=True))
    targets = {}
    for target in package["targets"]:
        names = set()
        for dependency in target.get("dependencies", []):
            for value in dependency.values():  # byName / target / product: the name comes first
                names.add(value[0])
        kind = target["type"]
        folder = target.get("path") or os.path.join("Tests" if kind == "test" else "Sources", target["name"])
        targets[target["name"]] = (kind, folder, names)
    return targets


def imported_modules(folder):
    modules = set()
    for path in glob.glob(os.path.join(folder, "**", "*.swift"), recursive=True):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                match = IMPORT.match(line)
                if match:
                    modules.add(match.group(1))
    return modules - TOOLCHAIN


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    problems = []
    for name, (kind, folder, declared) in sorted(declared_dependencies(root).items()):
        if kind in ("system", "plugin"):
            continue
        imported = imported_modules(os.path.join(root, folder))
        if not imported and not declared:
            continue
        for module in sorted(imported - declared):
            problems.append(f"{name}: imports {module}, which Package.swift does not declare for it")
        for module in sorted(declared - imported):
            problems.append(f"{name}: declares {module} in Package.swift but no file imports it")
    for problem in problems:
        print(f"imports: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
