"""Write smaller variants of the exported float32 models into the site's models/variants/ folder.

    from exporter.export.quantize import export_variants
    export_variants(site_dir)  # after the float32 ONNX and TF.js graph models are written

Variants, each keeping the input contract (float32 ``image`` in, float32 ``probabilities`` out):

- ``onnx-int8``: ``onnxruntime.quantization.quantize_dynamic`` with int8 weights; activations
  are quantized to uint8 at run time (DynamicQuantizeLinear → MatMulInteger).
- ``onnx-float16``: float16 weights and arithmetic (``onnxruntime.transformers.float16``),
  with float32 input and output kept by Cast nodes.
- ``tfjs-graph-uint8`` and ``tfjs-graph-float16``: the graph model's weights rewritten with the
  TF.js converter's own quantization (``tensorflowjs.write_weights``), which stores uint8 with a
  per-tensor min and scale, or float16. TF.js dequantizes them to float32 when it loads the
  model, so only the download shrinks.

How much accuracy each one costs is measured by ``exporter.report``, not here.
"""

from __future__ import annotations

import gzip
import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from exporter import site

# A folder of their own, so that no variant's path starts with a float32 model's path.
VARIANTS_DIR = f"{site.MODELS_DIR}/variants"
ONNX_INT8_PATH = f"{VARIANTS_DIR}/model.int8.onnx"
ONNX_FLOAT16_PATH = f"{VARIANTS_DIR}/model.float16.onnx"
TFJS_GRAPH_UINT8_DIR = f"{VARIANTS_DIR}/tfjs-graph-uint8"
TFJS_GRAPH_FLOAT16_DIR = f"{VARIANTS_DIR}/tfjs-graph-float16"
GZIP_LEVEL = 9  # maximum compression, as for files compressed once when the site is deployed


@dataclass(frozen=True)
class Variant:
    """One model file set in the site: its name, the page backend that runs it, and its path."""

    name: str
    backend: str  # a key of BACKENDS in web/runtimes.js: "ort", "tfjs-graph" or "tfjs-layers"
    path: str  # the model file, relative to the site folder
    weights: str  # "float32", "int8", "float16" or "uint8"
    float32: str  # name of the float32 variant it was made from; its own name for a float32 one

    def as_dict(self) -> dict:
        """Return the variant as a JSON-ready dict."""
        return asdict(self)


FLOAT32_VARIANTS = (
    Variant("onnx-float32", "ort", site.ONNX_PATH, "float32", "onnx-float32"),
    Variant("tfjs-graph-float32", "tfjs-graph", f"{site.TFJS_GRAPH_DIR}/model.json", "float32", "tfjs-graph-float32"),
    Variant("tfjs-layers-float32", "tfjs-layers", f"{site.TFJS_LAYERS_DIR}/model.json", "float32", "tfjs-layers-float32"),
)
QUANTIZED_VARIANTS = (
    Variant("onnx-int8", "ort", ONNX_INT8_PATH, "int8", "onnx-float32"),
    Variant("onnx-float16", "ort", ONNX_FLOAT16_PATH, "float16", "onnx-float32"),
    Variant("tfjs-graph-uint8", "tfjs-graph", f"{TFJS_GRAPH_UINT8_DIR}/model.json", "uint8", "tfjs-graph-float32"),
    Variant("tfjs-graph-float16", "tfjs-graph", f"{TFJS_GRAPH_FLOAT16_DIR}/model.json", "float16", "tfjs-graph-float32"),
)


def export_variants(site_dir: Path) -> list[Variant]:
    """Write every quantized variant of the float32 models in ``site_dir``; return them."""
    site_dir = Path(site_dir)
    (site_dir / VARIANTS_DIR).mkdir(parents=True, exist_ok=True)
    quantize_onnx_int8(site_dir / site.ONNX_PATH, site_dir / ONNX_INT8_PATH)
    convert_onnx_float16(site_dir / site.ONNX_PATH, site_dir / ONNX_FLOAT16_PATH)
    quantize_tfjs_weights(site_dir / site.TFJS_GRAPH_DIR, site_dir / TFJS_GRAPH_UINT8_DIR, "uint8")
    quantize_tfjs_weights(site_dir / site.TFJS_GRAPH_DIR, site_dir / TFJS_GRAPH_FLOAT16_DIR, "float16")
    return list(QUANTIZED_VARIANTS)


def quantize_onnx_int8(source: Path, target: Path) -> Path:
    """Write ``source`` with int8 weights and dynamically quantized activations to ``target``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer warns on the root logger that the model could be pre-processed first, with
    # shape inference and graph optimisation. An MLP of Gemm nodes gains nothing from that.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    return target


def convert_onnx_float16(source: Path, target: Path) -> Path:
    """Write ``source`` with float16 weights and arithmetic, but float32 input and output, to ``target``."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    _sort_nodes(model.graph)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(target))
    return target


def _sort_nodes(graph) -> None:
    """Put ``graph``'s nodes in topological order, which ONNX requires and the float16 converter breaks.

    The converter appends the input's Cast node after the nodes that read its output.
    """
    available = {value.name for value in graph.input} | {tensor.name for tensor in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        ready = [node for node in pending if all(name in available for name in node.input)]
        assert ready, "the ONNX graph has a cycle or an input that nothing produces"
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        pending = [node for node in pending if node not in ready]
    del graph.node[:]
    graph.node.extend(ordered)


def quantize_tfjs_weights(source: Path, target: Path, dtype: str) -> Path:
    """Copy the TF.js model folder ``source`` to ``target`` with its float32 weights stored as ``dtype``.

    ``dtype`` is ``"uint8"`` or ``"float16"``; integer weights stay as they are. Returns the
    path of the new ``model.json``.
    """
    from tensorflowjs.read_weights import read_weights
    from tensorflowjs.write_weights import write_weights

    if dtype not in ("uint8", "float16"):
        raise ValueError(f"TF.js weight quantization dtype must be uint8 or float16, got {dtype!r}")
    document = json.loads((source / "model.json").read_text())
    groups = read_weights(document["weightsManifest"], str(source))
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    # A fallthrough entry (True) applies the dtype to every weight whose name no pattern matches.
    document["weightsManifest"] = write_weights(
        groups, str(target), write_manifest=False, quantization_dtype_map={dtype: True}
    )
    (target / "model.json").write_text(json.dumps(document, sort_keys=True))
    return target / "model.json"


def variant_files(site_dir: Path, variant: Variant) -> list[Path]:
    """Return the files a browser downloads for ``variant``: the ONNX file, or model.json and its shards."""
    model_file = Path(site_dir) / variant.path
    if model_file.suffix != ".json":
        return [model_file]
    manifest = json.loads(model_file.read_text())["weightsManifest"]
    return [model_file] + [model_file.parent / path for group in manifest for path in group["paths"]]


def variant_size(site_dir: Path, variant: Variant) -> tuple[int, int]:
    """Return ``(bytes, gzip bytes)`` of the files a browser downloads for ``variant``."""
    files = variant_files(site_dir, variant)
    raw = sum(path.stat().st_size for path in files)
    compressed = sum(len(gzip.compress(path.read_bytes(), compresslevel=GZIP_LEVEL, mtime=0)) for path in files)
    return raw, compressed
