"""`ferkit compare`: several models on the same images, each tested against the first (exact McNemar)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ferkit.cli.evaluate import DataOption, Detector, DetectorOption, Labels, LabelsOption, SplitOption
from ferkit.cli.options import TrustModelOption


def compare(
    model: Annotated[list[Path], typer.Option(
        help="Model file; give it two or more times. The first is the baseline the others are tested against.")],
    data: DataOption,
    split: SplitOption = None,
    detector: DetectorOption = Detector.none,
    tta: Annotated[bool, typer.Option("--tta", help="Compare with flipped and shifted views averaged.")] = False,
    labels: LabelsOption = Labels.dataset,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the comparison to this JSON file.")
                        ] = None,
    trust_model: TrustModelOption = False,
) -> None:
    """Compare models on one split: accuracy, difference to the baseline, and whether it is significant."""
    from ferkit.evaluation.compare import compare_models, format_comparison
    from ferkit.evaluation.report import write_atomically

    comparison = compare_models(model, data, split=split, tta=tta, detector=detector.value,
                                labels=labels.value, trust_model=trust_model)
    typer.echo(format_comparison(comparison))
    if json_out is not None:
        write_atomically(json_out, lambda path: path.write_text(json.dumps(comparison.to_dict(), indent=2)))
