"""Take docs/screenshot.png: the page in headless Chromium, classifying a drawn T-shirt.

    python docs/screenshot.py --site build/site

Draws the same strokes a person would with the mouse, on the default backend, and saves the
full page. Needs a built site and Debian's Chromium (/usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout, installed or not

from tests.browser import StaticServer, launch_chromium, new_recorded_page, open_site, result_run, wait_for_result  # noqa: E402

BRUSH_SIZE = 36
# Pad pixels (280×280): the shoulders, two sleeves, then the body filled row by row.
SHOULDERS = [[(50, 60), (230, 60)], [(50, 60), (25, 120)], [(230, 60), (255, 120)]]


def body_stroke() -> list[tuple[int, int]]:
    """Return a zigzag that fills the T-shirt's body with the wide brush."""
    points = []
    for row in range(10):
        y = 70 + 20 * row
        points += [(100, y), (180, y)] if row % 2 == 0 else [(180, y), (100, y)]
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=REPO / "build" / "site", help="built site folder (default: build/site)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot.png", help="PNG file to write")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with StaticServer(args.site) as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = new_recorded_page(browser, viewport={"width": 1100, "height": 900})
        open_site(page, server.url)
        page.fill("#brush-size", str(BRUSH_SIZE))
        page.locator("#brush-size").blur()
        pad = page.locator("#pad").bounding_box()
        for stroke in SHOULDERS + [body_stroke()]:
            run = result_run(page)
            page.mouse.move(pad["x"] + stroke[0][0], pad["y"] + stroke[0][1])
            page.mouse.down()
            for x, y in stroke[1:]:
                page.mouse.move(pad["x"] + x, pad["y"] + y, steps=12)
            page.mouse.up()
            result = wait_for_result(page, run)
        page.screenshot(path=str(args.out), full_page=True)
        browser.close()
    top = max(json.loads(result["probabilities"]))
    print(f"Saved {args.out}: the drawing is classified as {result['label']} ({top:.1%})")


if __name__ == "__main__":
    main()
