"""ferkit: facial emotion recognition on Keras 3 — train, evaluate, predict, serve and export."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """Import the heavy recogniser lazily, so `import ferkit` stays cheap."""
    if name == "EmotionRecognizer":
        from ferkit.inference import EmotionRecognizer

        return EmotionRecognizer
    raise AttributeError(f"module 'ferkit' has no attribute {name!r}")


__all__ = ["EmotionRecognizer", "__version__"]
