"""Export to ONNX / LiteRT / SavedModel with a parity check; the exports run through `ferkit.inference`."""

from ferkit.export.exporter import ExportError, ExportReport, export_model

__all__ = ["ExportError", "ExportReport", "export_model"]
