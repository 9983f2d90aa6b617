"""Small pieces every tab uses: number and time formatting, status badges, headline cards, CSV files.

Pure functions returning strings (HTML snippets) or paths, so they are testable without a server.
"""

from __future__ import annotations

import html
import math
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from studio.plots import fmt_pgr


@dataclass(frozen=True)
class Handler:
    """An event function with the components it reads and writes, so studio.app can attach it to any trigger by
    name (`tab.refresh.on(demo.load)`) instead of passing positional lists around."""

    fn: Callable[..., Any]
    inputs: list[Any]
    outputs: list[Any]

    def on(self, trigger: Callable[..., Any], **options: Any) -> Any:
        """Attach to `trigger` (an event listener such as `demo.load`, `tab.select` or a dependency's `.then`)."""
        options.setdefault("api_visibility", "private")
        return trigger(self.fn, self.inputs, self.outputs, **options)


STATUS_ICONS = {"queued": "◷", "running": "▶", "done": "✓", "failed": "✗", "cancelled": "■", "interrupted": "⚠"}


def is_num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and not math.isnan(x)


def num(x: Any, digits: int = 3) -> str:
    return f"{float(x):.{digits}f}" if is_num(x) else "–"


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def duration(seconds: Any) -> str:
    """12 s, 3 min 04 s, 1 h 02 min."""
    if not is_num(seconds) or seconds < 0:
        return "–"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def parse_time(value: Any) -> datetime | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    try:
        return pd.Timestamp(value).to_pydatetime().replace(tzinfo=None)
    except (ValueError, TypeError):
        return None


def when(value: Any) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM' (engine times are UTC)."""
    t = parse_time(value)
    return t.strftime("%Y-%m-%d %H:%M") if t else "–"


def run_seconds(run: dict[str, Any]) -> float | None:
    """Seconds a run has taken (so far, when still running)."""
    start = parse_time(run.get("started"))
    if start is None:
        return None
    end = parse_time(run.get("finished")) or datetime.now(UTC).replace(tzinfo=None)
    return max(0.0, (end - start).total_seconds())


def badge(status: str | None) -> str:
    status = status or "unknown"
    return f'<span class="w2s-badge w2s-{esc(status)}">{STATUS_ICONS.get(status, "·")} {esc(status)}</span>'


def notice(text: str | None, kind: str = "error") -> str:
    """An alert box (error / warn / ok / info); empty string when there is nothing to say."""
    if not text:
        return ""
    return f'<div class="w2s-notice w2s-notice-{kind}">{esc(text)}</div>'


def card(label: str, value: str, sub: str = "", muted: bool = False, title: str = "") -> str:
    cls = "w2s-card w2s-muted" if muted else "w2s-card"
    return (f'<div class="{cls}" title="{esc(title)}"><div class="w2s-card-label">{esc(label)}</div>'
            f'<div class="w2s-card-value">{esc(value)}</div><div class="w2s-card-sub">{esc(sub)}</div></div>')


def headline(metrics: dict[str, Any], notes: list[Any] | None = None) -> str:
    """The numbers a researcher looks for first: PGR (with its interval), weak / student / ceiling accuracy,
    agreement and how often the student fixed a weak error. `notes` (studio.trust.run_warnings) say when they mean
    little: the PGR card is then greyed out and every reason is listed under the cards."""
    if not metrics:
        return '<div class="w2s-cards w2s-empty">No metrics yet: they appear when the run finishes.</div>'
    notes = list(notes or [])
    grey = [n.text for n in notes if n.greys_pgr]
    pgr_value = fmt_pgr(metrics.get("pgr"))
    ci = ""
    if is_num(metrics.get("pgr_ci_low")) and is_num(metrics.get("pgr_ci_high")):
        ci = f"95% CI [{metrics['pgr_ci_low']:.2f}, {metrics['pgr_ci_high']:.2f}]"
    if not is_num(metrics.get("pgr")) and metrics.get("pgr_reason"):
        ci = str(metrics["pgr_reason"])
    cards = [card("PGR", pgr_value, ci or ("see below" if grey else ""), muted=bool(grey),
                  title="; ".join(grey) or "performance gap recovered")]
    for role, label in (("weak", "weak"), ("student", "student"), ("ceiling", "ceiling")):
        cards.append(card(f"{label} acc", num(metrics.get(f"{role}_acc")),
                          f"AUROC {num(metrics.get(f'{role}_auroc'))}" if is_num(metrics.get(f"{role}_auroc")) else ""))
    cards.append(card("agreement", num(metrics.get("agreement")), "student = weak label"))
    cards.append(card("fixed weak errors", num(metrics.get("student_acc_where_weak_wrong")),
                      "student acc where weak wrong"))
    if is_num(metrics.get("n_test")):
        cards.append(card("test examples", f"{int(metrics['n_test']):,}",
                          f"A {int(metrics.get('n_train_a') or 0):,} · B {int(metrics.get('n_train_b') or 0):,}"))
    out = '<div class="w2s-cards">' + "".join(cards) + "</div>"
    for n in notes:
        prefix = "PGR shown in grey: " if n.greys_pgr else ""
        out += notice(f"{prefix}{n.text}.", n.level)
    return out


def metrics_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """All run-level metrics as a two-column table (name, value) for display and export."""
    rows = [{"metric": k, "value": (round(v, 6) if is_num(v) else ("" if v is None else str(v)))}
            for k, v in sorted(metrics.items())]
    return pd.DataFrame(rows, columns=["metric", "value"])


def progress_html(run: dict[str, Any] | None) -> str:
    """Stages of a run with their state, and the live bar (step / total, ETA) of the stage in progress."""
    if not run:
        return '<div class="w2s-empty">Select a run in the table.</div>'
    parts = []
    for s in run.get("stages") or []:
        state = "cached" if s.get("cached") else (s.get("status") or "?")
        secs = duration(s.get("seconds")) if is_num(s.get("seconds")) else ""
        parts.append(f'<div class="w2s-stage"><span class="w2s-stage-role">{esc(s.get("role"))}</span>'
                     f'<span class="w2s-stage-model">{esc(s.get("model"))}</span>{badge(state)}'
                     f'<span class="w2s-stage-time">{secs}</span></div>')
    p = run.get("progress")
    if p and run.get("status") == "running":
        total = max(int(p.get("total") or 0), 1)
        step = min(int(p.get("step") or 0), total)
        pct = 100.0 * step / total
        eta = f" · ETA {duration(p.get('eta'))}" if is_num(p.get("eta")) else ""
        parts.append(f'<div class="w2s-progress"><div class="w2s-progress-label">{esc(p.get("stage"))}: '
                     f'{step}/{total} {esc(p.get("unit") or "step")}s{eta}</div>'
                     f'<div class="w2s-bar"><div class="w2s-bar-fill" style="width:{pct:.1f}%"></div></div></div>')
    elif run.get("status") == "queued":
        parts.append('<div class="w2s-empty">Waiting for a worker…</div>')
    if not parts:
        parts.append('<div class="w2s-empty">No stage started yet.</div>')
    return '<div class="w2s-stages">' + "".join(parts) + "</div>"


def run_title(run: dict[str, Any] | None) -> str:
    if not run:
        return ""
    secs = run_seconds(run)
    bits = [f"<b>{esc(run.get('id'))}</b>", badge(run.get("status")), esc(run.get("task")),
            f"{esc(run.get('weak'))} → {esc(run.get('strong'))}", esc(run.get("method")), f"seed {esc(run.get('seed'))}"]
    if secs is not None:
        bits.append(duration(secs))
    out = '<div class="w2s-run-title">' + " · ".join(bits) + "</div>"
    if run.get("error"):
        out += notice(run["error"], "error")
    return out


def run_label(row: dict[str, Any]) -> str:
    """How a run appears in pickers: id · method · task weak→strong · seed."""
    return (f"{row.get('id')} · {row.get('method')} · {row.get('task')} {row.get('weak')}→{row.get('strong')} "
            f"· seed {row.get('seed')}")


def run_id_of(choice: Any) -> str:
    """The run id at the front of a picker label (or the id itself)."""
    return str(choice or "").split(" ", 1)[0].strip()


EXPORT_HOURS = 24.0  # how long a download file is kept; the app sets the engine's export_hours (W2S_EXPORT_HOURS)


def export_dir() -> Path:
    """A fresh folder for one download (one per call, so two visitors who export the same name never share a
    file); folders older than EXPORT_HOURS are removed first."""
    import shutil

    root = Path(tempfile.gettempdir()) / "w2s-studio-exports"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    cutoff = time.time() - EXPORT_HOURS * 3600
    for old in root.iterdir():
        try:
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old) if old.is_dir() else old.unlink()
        except OSError:
            pass  # another studio process removed it first
    return Path(tempfile.mkdtemp(dir=root))


def csv_file(df: pd.DataFrame, name: str) -> str:
    """Write `df` to a CSV named after `name` in the export folder and return its path."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "table"
    path = export_dir() / f"{safe}.csv"
    df.to_csv(path, index=False)
    return str(path)


def ago(ts: float | None) -> str:
    if not ts:
        return ""
    return duration(time.time() - ts) + " ago"
