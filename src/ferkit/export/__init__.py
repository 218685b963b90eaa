"""Export to ONNX / LiteRT / TF SavedModel with a parity check, and runtimes that run the exports."""

from ferkit.export.exporter import ExportError, ExportReport, export_model
from ferkit.export.runtimes import is_exported_model, load_runtime, read_export_metadata

__all__ = ["ExportError", "ExportReport", "export_model", "is_exported_model", "load_runtime",
           "read_export_metadata"]
