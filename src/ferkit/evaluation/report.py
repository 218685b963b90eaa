"""Evaluation reports: metrics.json, predictions.npz, three figures (`ferkit.evaluation.figures`, with
`ferkit[plots]`) and a printable table.

Every file is written to a temporary name in the output folder and renamed into place, so an interrupted run
never leaves a half-written report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ferkit.evaluation.runner import EvaluationResult
from ferkit.evaluation.tta import SINGLE_CROP_PROTOCOL
from ferkit.extras import installed, warn_missing
from ferkit.files import atomic_path

DATA_FILES = ("metrics.json", "predictions.npz")
FIGURE_FILES = ("confusion_matrix.png", "reliability.png", "wrong_examples.png")
REPORT_FILES = DATA_FILES + FIGURE_FILES


def write_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Call `write(temporary path)` beside `path`, then rename it over `path`: never a half-written file."""
    with atomic_path(path) as tmp:
        write(tmp)
    return path


def confusion_title(metrics: dict) -> str:
    """Which model, on which split, with what accuracy: what a confusion matrix shown on its own must say."""
    protocol = metrics["protocol"]
    model = Path(protocol["model_file"])
    views = "single crop" if protocol["views"] == SINGLE_CROP_PROTOCOL else "TTA"
    return (f"{model.parent.name}/{model.name} on {Path(protocol['data']).name} {protocol['split']} "
            f"({metrics['n']} faces, {views}): accuracy {metrics['accuracy']:.2%}")


def write_report(result: EvaluationResult, out_dir: str | Path) -> list[Path]:
    """Write the report files into `out_dir` (created if needed) and return their paths: the figures only
    when matplotlib is installed (`ferkit[plots]`), else a `MissingExtraWarning` says they were skipped."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = result.metrics
    class_names = metrics["class_names"]
    write_atomically(out_dir / "metrics.json",
                      lambda tmp: tmp.write_text(json.dumps(metrics, indent=2) + "\n"))
    write_atomically(out_dir / "predictions.npz", lambda tmp: np.savez_compressed(
        tmp, probabilities=result.probabilities, labels=result.labels, indices=result.indices,
        face_found=result.face_found, class_names=np.array(class_names)))
    if not installed("matplotlib"):
        warn_missing(f"{', '.join(FIGURE_FILES)} skipped", "PNG figures", "plots")
        return [out_dir / name for name in DATA_FILES]
    from ferkit.evaluation.figures import plot_confusion_matrix, plot_reliability, plot_wrong_examples

    plot_confusion_matrix(np.array(metrics["confusion_matrix"]), class_names,
                          out_dir / "confusion_matrix.png", title=confusion_title(metrics))
    found = result.face_found
    plot_reliability(result.probabilities[found], result.labels[found], metrics["ece"],
                     out_dir / "reliability.png")
    plot_wrong_examples(result, class_names, out_dir / "wrong_examples.png")
    return [out_dir / name for name in REPORT_FILES]


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f} %"


def format_table(metrics: dict) -> str:
    """Per-class precision / recall / F1 / support and the headline numbers, as fixed-width text."""
    names = metrics["class_names"]
    width = max(10, *(len(name) for name in names))
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for name in names:
        row = metrics["per_class"][name]
        lines.append(f"{name:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:5.3f}  "
                     f"{row['support']:7d}")
    protocol = metrics["protocol"]
    lines += [
        "",
        f"data: {protocol['data']}  split: {protocol['split']}  detector: {protocol['detector']}  "
        f"n: {metrics['n']}",
        f"views: {protocol['views']}",
        f"accuracy:          {_percent(metrics['accuracy'])}",
        f"top-3 accuracy:    {_percent(metrics['top3_accuracy'])}",
        f"macro F1:          {metrics['macro_f1']:.4f}",
        f"balanced accuracy: {_percent(metrics['balanced_accuracy'])}",
    ]
    if metrics["ece"] is not None:
        lines.append(f"ECE (15 bins):     {metrics['ece']:.4f}  NLL: {metrics['nll']:.4f}  "
                     f"(temperature {protocol['temperature']:.3f})")
    if metrics["n_without_prediction"]:
        lines.append(f"no face found:     {metrics['n_without_prediction']} rows (counted as wrong)")
    ferplus = metrics.get("ferplus_majority")
    if ferplus:
        excluded = ", ".join(f"{count} {reason}" for reason, count in ferplus["excluded"].items() if count)
        lines.append(f"FER+ majority:     {_percent(ferplus['accuracy'])} on {ferplus['n']} rows "
                     f"(left out: {excluded or 'none'})")
    unique = metrics.get("non_duplicate")
    if unique:
        lines.append(f"non-duplicates:    {_percent(unique['accuracy'])} on {unique['n']} rows "
                     f"({unique['excluded_duplicates']} rows duplicate training images)")
    return "\n".join(lines)
