"""The verification report: every runtime and quantized variant on the whole test set, plots, a
model card, and ``report.json`` and ``site/report.html``. ``run.verify_build`` is the entry point;
``python -m exporter verify`` calls it.
"""
