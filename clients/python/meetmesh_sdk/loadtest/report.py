"""The load test's files: ``report.json`` (every number) and ``report.html`` (the table and plots,
rendered with matplotlib's Agg backend and embedded as PNG, so the page is one file)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from .runner import Report


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def plots(report: Report) -> list[tuple[str, str]]:
    """(title, base64 PNG) for each plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    t = [row["t"] for row in report.timeline]
    out: list[tuple[str, str]] = []
    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    series = (
        ("fps", "video frames/s received (all subscribers)", "tab:blue"),
        ("kbps", "kbit/s received (all subscribers)", "tab:green"),
        ("cpu_percent", "platform CPU (% of one core)", "tab:red"),
    )
    for ax, (key, label, colour) in zip(axes, series, strict=True):
        ax.plot(t, [max(row[key], 0) for row in report.timeline], color=colour)
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("seconds since the first bot started")
    out.append(("Over time", _png(fig)))
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    joins = [b.join_s * 1000 for b in report.bots if b.join_s is not None]
    firsts = [b.first_frame_s * 1000 for b in report.bots if b.first_frame_s is not None]
    for ax, values, label in ((axes[0], joins, "join latency (ms)"), (axes[1], firsts, "first frame (ms)")):
        if values:
            ax.hist(values, bins=min(20, max(3, len(values))), color="tab:purple")
        ax.set_xlabel(label)
        ax.set_ylabel("bots")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # bots are counted in whole numbers
        ax.grid(alpha=0.3)
    out.append(("Join latency and time to first frame", _png(fig)))
    plt.close(fig)
    return out


def write(report: Report, folder: Path) -> tuple[Path, Path]:
    """Write report.json and report.html into ``folder``; returns both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    data = report.to_json()
    json_path = folder / "report.json"
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    figures = "".join(
        f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>"
        for title, png in plots(report)
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                b.name,
                b.role,
                f"{b.join_s * 1000:.0f}" if b.join_s is not None else "-",
                f"{b.first_frame_s * 1000:.0f}" if b.first_frame_s is not None else "-",
                b.frames,
                b.packets_received,
                b.packets_lost,
                b.error or "",
            )
        )
        + "</tr>"
        for b in report.bots
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>meetmesh load test</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;font-size:13px}}
pre{{background:#f6f6f6;padding:1em}}</style></head><body>
<h1>meetmesh load test</h1>
<pre>{html.escape(report.table())}</pre>
{figures}
<h2>Bots</h2>
<table><tr><th>bot</th><th>role</th><th>join ms</th><th>first frame ms</th><th>frames</th>
<th>packets</th><th>lost</th><th>error</th></tr>{rows}</table>
</body></html>
"""
    html_path = folder / "report.html"
    html_path.write_text(page)
    return json_path, html_path
