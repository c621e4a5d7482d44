"""Study summaries and curves as plain-text tables for the command line."""
from __future__ import annotations

from typing import Any, Dict, List, Optional


def _spread(stats: Optional[Dict[str, Any]], scale: float = 1.0, digits: int = 2) -> str:
    """`mean ± std` (or the mean alone for n = 1, `-` for n = 0)."""
    if not stats or not stats.get("n"):
        return "-"
    mean = stats["mean"] * scale
    if stats.get("std") is None:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {stats['std'] * scale:.{digits}f}"


def _table(header: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    line = lambda row: "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(row) for row in rows])


def summary_table(study: Dict[str, Any]) -> str:
    """The study's groups (accuracy in %, held-out test accuracy in % when the runs have a
    fixed test split, training GFLOPs, n, failures) and the verdicts of each arm."""
    progress = study.get("progress", {})
    lines = [
        f"study {study['id']}  {study['name']}  {study['status']}  "
        f"({progress.get('succeeded', 0)}/{progress.get('planned', 0)} runs succeeded, "
        f"{progress.get('failed', 0)} failed, {progress.get('pending', 0)} pending)",
        "",
    ]
    rows = []
    for group in study.get("groups", []):
        stats = group.get("statistics", {})
        rows.append([
            group["name"], group["kind"], f"{stats.get('final_validation_accuracy', {}).get('n', 0)}/{group['planned']}",
            _spread(stats.get("final_validation_accuracy"), 100), _spread(stats.get("best_validation_accuracy"), 100),
            _spread(stats.get("final_validation_loss"), 1, 4), _spread(stats.get("final_test_accuracy"), 100),
            _spread(stats.get("training_flops"), 1e-9, 3), _spread(stats.get("parameters"), 1, 0),
            _spread(stats.get("germinations"), 1, 1), str(len(group.get("failed", []))),
        ])
    lines.append(_table(["group", "kind", "n", "final acc %", "best acc %", "final loss", "test acc %", "GFLOPs", "parameters", "germinations", "failed"], rows))
    verdicts = []
    for verdict in study.get("verdicts", []):
        for comparison in verdict.get("comparisons", []):
            interval = "-"
            if comparison.get("ci_low") is not None:
                interval = f"[{comparison['ci_low']:+.4f}, {comparison['ci_high']:+.4f}]"
            difference = comparison.get("difference")
            verdicts.append([
                verdict["arm"], verdict["control"], comparison["metric"],
                "-" if difference is None else f"{difference:+.4f}", interval, comparison["verdict"],
                comparison.get("reason") or "",
            ])
    if verdicts:
        lines += ["", _table(["arm", "control", "metric", "difference", "95% CI (Welch)", "verdict", "why"], verdicts)]
    return "\n".join(lines)


def curves_table(curves: Dict[str, Any]) -> str:
    """One row per epoch, `mean ± std (n)` per group."""
    groups = curves.get("groups", [])
    epochs = sorted({point["epoch"] for group in groups for point in group["points"]})
    by_group = [{point["epoch"]: point for point in group["points"]} for group in groups]
    rows = []
    for epoch in epochs:
        row = [str(epoch)]
        for points in by_group:
            point = points.get(epoch)
            if point is None:
                row.append("-")
            else:
                std = "" if point.get("std") is None else f" ± {point['std']:.4f}"
                row.append(f"{point['mean']:.4f}{std} ({point['n']})")
        rows.append(row)
    return f"{curves.get('metric', '')}\n" + _table(["epoch"] + [group["name"] for group in groups], rows)
