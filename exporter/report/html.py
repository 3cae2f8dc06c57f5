"""Render ``report.json``'s content as ``site/report.html``: plain HTML and CSS, no scripts.

Every value from the report is escaped, including labels, versions and paths, so nothing in a
build folder can inject markup. The page's Content-Security-Policy allows no scripts at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem 1.5rem; color: #1d1d1f; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #146c2e; font-weight: 600; } .fail { color: #b3261e; font-weight: 600; }
code, .hash { font-family: ui-monospace, monospace; font-size: 0.85em; word-break: break-all; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
.verdict { font-size: 1.1rem; }
"""
CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def render(report: dict) -> str:
    """Return the whole report page for ``report``, the document written to ``report.json``."""
    sections = [
        _verdict(report),
        _runtimes(report["runtimes"], report["tolerances"]),
        _variants(report["variants"], report.get("default_variant"), report["tolerances"]),
        _plots(report["plots"]),
        _classes(report["per_class_accuracy"], report["most_confused"]),
        _limits(report["known_limits"]),
        _card(report["model_card"]),
    ]
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
        "<title>Verification report: Fashion-MNIST classifier</title>\n"
        "<link rel=\"icon\" href=\"favicon.svg\" type=\"image/svg+xml\">\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n"
        "<h1>Verification report</h1>\n"
        "<p><a href=\"index.html\">Back to the classifier</a></p>\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )


def _verdict(report: dict) -> str:
    failures = report["failures"]
    if failures:
        head = f"<p class=\"verdict fail\">✗ {len(failures)} check{'s' if len(failures) != 1 else ''} failed:</p>"
        body = _list(failures)
    else:
        head = "<p class=\"verdict pass\">✓ Every runtime and variant passed.</p>"
        body = ""
    skipped = f"<p>Not run: {escape('; '.join(report['skipped']))}.</p>" if report["skipped"] else ""
    return f"{head}\n{body}\n<p>Evaluated on all {report['images']:,} Fashion-MNIST test images.</p>\n{skipped}"


def _runtimes(rows: list[dict], tolerances: dict) -> str:
    table = _table(
        ["Runtime", "Where", "Accuracy", "Keras accuracy", "Argmax agreement", "Max |Δ|", "Mean |Δ|", "Disagreeing images", "Result"],
        [
            [
                escape(row["runtime"]),
                escape(row["where"]),
                _number(f"{row['runtime_accuracy']:.4f}"),
                _number(f"{row['reference_accuracy']:.4f}"),
                _number(f"{row['argmax_agreement']:.2%}"),
                _number(f"{row['max_abs_diff']:.2e}"),
                _number(f"{row['mean_abs_diff']:.2e}"),
                escape(", ".join(str(index) for index in row["disagreeing_indices"]) or "none"),
                _result(row["passed"]),
            ]
            for row in rows
        ],
    )
    return (
        "<h2>Float32 runtimes against Keras</h2>\n"
        f"<p>Each runtime must stay within max |Δ| ≤ {tolerances['max_abs_diff']:.0e} of Keras's probabilities "
        f"and predict the same class on {tolerances['argmax_agreement']:.0%} of the images.</p>\n{table}"
    )


def _variants(rows: list[dict], default: str | None, tolerances: dict) -> str:
    if not rows:
        return "<h2>Quantized variants</h2>\n<p>This build has no quantized variants.</p>"
    table = _table(
        ["Variant", "Runtime", "Weights", "Size", "Gzipped", "Accuracy", "Change from float32", "Argmax agreement with float32", "Result"],
        [
            [
                escape(row["variant"]) + (" (default)" if row["variant"] == default else ""),
                escape(row["runtime"]),
                escape(row["weights"]),
                _number(f"{row['bytes'] / 1024:,.1f} KiB"),
                _number(f"{row['gzip_bytes'] / 1024:,.1f} KiB"),
                _number(f"{row['accuracy']:.4f}"),
                _number(f"{row['accuracy_change'] * 100:+.2f} points"),
                _number(f"{row['argmax_agreement']:.2%}"),
                _result(row["passed"]),
            ]
            for row in rows
        ],
    )
    floor = tolerances["max_accuracy_drop"] * 100
    default_line = f"<p>Default for the page: <strong>{escape(default)}</strong>, the smallest gzipped download whose accuracy passed.</p>" if default else ""
    return (
        "<h2>Quantized variants</h2>\n"
        f"<p>Each variant runs in the same runtime as its float32 model and may lose at most {floor:.1f} "
        f"percentage points of accuracy.</p>\n{table}\n{default_line}"
    )


def _plots(plots: dict) -> str:
    return (
        "<h2>Training</h2>\n"
        f"<img src=\"{escape(plots['history'])}\" alt=\"Training and validation loss and accuracy per epoch\">\n"
        "<h2>Confusion matrix (Keras)</h2>\n"
        f"<img src=\"{escape(plots['confusion'])}\" alt=\"Test-set confusion matrix, true class by row\">"
    )


def _classes(classes: list[dict], pairs: list[dict]) -> str:
    class_table = _table(
        ["Class", "Test images", "Accuracy"],
        [[escape(row["label"]), _number(f"{row['images']:,}"), _number(f"{row['accuracy']:.2%}")] for row in classes],
    )
    pair_table = _table(
        ["True class", "Predicted as", "Images", "Share of the true class"],
        [
            [escape(pair["true"]), escape(pair["predicted"]), _number(f"{pair['images']:,}"), _number(f"{pair['share_of_true']:.1%}")]
            for pair in pairs
        ],
    )
    return f"<h2>Accuracy per class</h2>\n{class_table}\n<h2>Most confused classes</h2>\n{pair_table}"


def _limits(limits: list[str]) -> str:
    return f"<h2>Known limits</h2>\n{_list(limits)}"


def _card(card: dict) -> str:
    layers = _table(
        ["Layer", "Type", "Output shape", "Activation", "Parameters"],
        [
            [
                escape(row["name"]),
                escape(row["type"]),
                escape(str(row["output_shape"])),
                escape(row["activation"] or ""),
                _number(f"{row['parameters']:,}"),
            ]
            for row in card["architecture"]
        ],
    )
    dataset = card.get("dataset", {})
    checksums = _key_values((name, f"<span class=\"hash\">{escape(md5)}</span>") for name, md5 in dataset.get("md5_uncompressed", {}).items())
    files = _table(
        ["File", "Bytes", "SHA-256"],
        [[escape(path), _number(f"{entry['bytes']:,}"), f"<span class=\"hash\">{escape(entry['sha256'])}</span>"] for path, entry in card["files"].items()],
    )
    return (
        "<h2>Model card</h2>\n"
        f"<p>{escape(card['name'])}: {card['parameters']:,} parameters.</p>\n{layers}\n"
        f"<h3>Hyperparameters</h3>\n{_key_values((key, escape(str(value))) for key, value in card['training'].items())}\n"
        f"<h3>Data set</h3>\n<p>{escape(str(dataset.get('name', '')))}: {dataset.get('train_images', 0):,} training and "
        f"{dataset.get('test_images', 0):,} test images. MD5 of the uncompressed IDX files:</p>\n{checksums}\n"
        f"<h3>Versions</h3>\n{_key_values((name, escape(str(version))) for name, version in card['versions'].items())}\n"
        f"<h3>Files</h3>\n{files}"
    )


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Return a table; ``rows`` must already be escaped HTML (cells from ``_number`` start with <td)."""
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    body = "\n".join("<tr>" + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _key_values(pairs: Iterable[tuple[str, str]]) -> str:
    return _table(["Name", "Value"], [[escape(name), value] for name, value in pairs])


def _number(text: str) -> str:
    return f"<td class=\"number\">{escape(text)}</td>"


def _result(passed: bool) -> str:
    return "<span class=\"pass\">✓ pass</span>" if passed else "<span class=\"fail\">✗ fail</span>"


def _list(items: Iterable[str]) -> str:
    return "<ul>\n" + "\n".join(f"<li>{escape(item)}</li>" for item in items) + "\n</ul>"
