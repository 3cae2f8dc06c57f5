"""The model's input and output contract, shared by training, every export, the page and the runtime.

Every runtime receives the same tensor, so the scaling to [0, 1] lives inside the model
(a Rescaling layer), and callers pass raw 8-bit intensities as float32.
"""

IMAGE_SIZE = 28

# Input: float32 [batch, 28, 28], values 0..255, a light garment on a dark background
# (0 is background), as in the Fashion-MNIST IDX files.
INPUT_NAME = "image"
INPUT_SHAPE = (None, IMAGE_SIZE, IMAGE_SIZE)
INPUT_DTYPE = "float32"
INPUT_RANGE = (0.0, 255.0)
INPUT_POLARITY = "light-on-dark"

# Output: float32 [batch, 10], softmax probabilities in the order of LABELS.
OUTPUT_NAME = "probabilities"

LABELS = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def describe() -> dict:
    """Return the contract as the JSON object stored under ``input``/``output`` in metadata.json."""
    return {
        "input": {
            "name": INPUT_NAME,
            "shape": list(INPUT_SHAPE),
            "dtype": INPUT_DTYPE,
            "range": list(INPUT_RANGE),
            "polarity": INPUT_POLARITY,
            "layout": "row-major 28x28 grayscale, one channel, no scaling by the caller",
        },
        "output": {
            "name": OUTPUT_NAME,
            "shape": [None, len(LABELS)],
            "dtype": "float32",
            "meaning": "softmax probabilities, one per label",
        },
        "labels": list(LABELS),
    }
