"""Write a prequential run's report: ``metrics.csv``, ``metrics.json`` and ``metrics.png``.

``metrics.csv`` has one row per history snapshot: column ``records`` first, then every
cumulative metric under its name and the sliding window's as ``window_<name>``.
``metrics.json`` holds the same rows plus the summary and the drift events.
``metrics.png`` plots the windowed metrics against the record count, the no-change
baseline dashed, drift events as vertical lines coloured by level (global solid red,
label structure dashed purple, the learner's own local events dotted orange).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

__all__ = ["write_report", "PLOTTED"]

PLOTTED = ("window_example_f1", "window_micro_f1", "window_macro_f1",
           "window_tail_macro_f1", "window_macro_auc", "window_subset_accuracy",
           "window_hamming_loss")


def _clean(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def write_report(directory, history: list, summary: dict, events: list = (),
                 title: str = "", window_size: int | None = None) -> dict:
    """Write the three report files into ``directory`` (created if needed).

    Returns the paths written, by kind.

    Examples
    --------
    >>> import tempfile, os
    >>> rows = [{"records": 100, "example_f1": 0.5, "window_example_f1": 0.5},
    ...         {"records": 200, "example_f1": 0.6, "window_example_f1": 0.7}]
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = write_report(d, rows, {"example_f1": 0.6})
    ...     sorted(os.listdir(d))
    ['metrics.csv', 'metrics.json', 'metrics.png']
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    columns = ["records"]
    for row in history:
        columns.extend(k for k in row if k not in columns)
    csv_path = out / "metrics.csv"
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="")
        writer.writeheader()
        for row in history:
            writer.writerow({k: ("" if _clean(v) is None else v) for k, v in row.items()})
    json_path = out / "metrics.json"
    doc = {
        "summary": {k: _clean(v) for k, v in summary.items()},
        "history": [{k: _clean(v) for k, v in row.items()} for row in history],
        "events": list(events),
    }
    json_path.write_text(json.dumps(doc, indent=1, default=str))
    png_path = out / "metrics.png"
    _plot(png_path, history, events, title, window_size or summary.get("window"))
    return {"csv": str(csv_path), "json": str(json_path), "png": str(png_path)}


def _plot(path, history, events, title, window_size=None):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5.2), dpi=110)
    xs = [row["records"] for row in history]
    for name in PLOTTED:
        ys = [row.get(name) for row in history]
        if any(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in ys):
            ax.plot(xs, [math.nan if v is None else v for v in ys],
                    label=name.replace("window_", "").replace("_", " "), linewidth=1.4)
    base = [row.get("window_no_change_example_f1") for row in history]
    if any(v is not None for v in base):
        ax.plot(xs, [math.nan if v is None else v for v in base], linestyle="--",
                color="grey", label="example f1, no-change baseline", linewidth=1.2)
    styles = {"global": ("crimson", "-"), "label_structure": ("purple", "--"),
              "local": ("darkorange", ":")}
    seen_levels = set()
    for event in events:
        get = event.get if isinstance(event, dict) else (lambda k, e=event: getattr(e, k, None))
        level = get("level") or "global"
        color, style = styles.get(level, ("crimson", "-"))
        ax.axvline(get("position"), color=color, linestyle=style, alpha=0.55, linewidth=1,
                   label=None if level in seen_levels else f"drift event: {level}")
        seen_levels.add(level)
    window = window_size
    ax.set_xlabel("records")
    ax.set_ylabel("sliding-window metric" + (f" (window {window})" if window else ""))
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title or "prequential metrics over the sliding window")
    ax.legend(loc="lower right", fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
