"""Train a Fashion-MNIST MLP, export it for the browser, verify the exports, and build a static site.

The pipeline, one module per stage: ``data`` → ``model`` → ``export`` → ``verify`` → ``site``,
run in order by ``exporter.build.build``. ``exporter.runtime`` classifies images with an exported
model and needs only onnxruntime, NumPy and Pillow.
"""

__version__ = "0.1.0"
