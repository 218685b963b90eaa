"""Sizes ferkit refuses beyond, shared by the configuration and model files (a bottom-layer module, like
`ferkit.errors`, so both can import it without importing each other or any data code)."""

# The largest face side a model may take (configuration key ImageSize, a model file's image_size). Larger
# faces gain nothing (FER-2013 is 48 px, the spec's model 256 px) and a batch of them would exhaust memory:
# 32 images of 100,000² pixels are 1.3 TB as float32.
MAX_IMAGE_SIDE = 1024
