"""The web page's speed: first paint, and how soon each step's image is on the page.

    python benchmarks/web.py                      # 256 px, 60 steps, Tübingen x Starry Night
    python benchmarks/web.py --size 512 --steps 40

Starts `tf-style serve` on a free port, opens the page in Debian's chromium (Playwright),
reads the browser's first-contentful-paint time over three loads, starts a run from the
form, and for every step the page showed, the seconds from the step's end in the run to
its image decoded on the page. Needs the [web] and [test] extras and chromium.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import pictures  # benchmarks/pictures.py, beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--content", default=pictures.picture("tubingen"))
    parser.add_argument("--style", default=pictures.picture("starry_night"))
    arguments = parser.parse_args()
    from playwright.sync_api import sync_playwright

    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    workdir = tempfile.mkdtemp(prefix="tf_style_web_")
    server = subprocess.Popen(
        [sys.executable, "-m", "tf_style.web", "--port", "0", "--weights", "random",
         "--workdir", workdir], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    address = server.stdout.readline().split()[2]
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
            page = browser.new_page()
            paints = []
            for _ in range(3):
                page.goto(address)
                page.wait_for_function("() => performance.getEntriesByName('first-contentful-paint')"
                                       ".length > 0")
                paints.append(page.evaluate(
                    "performance.getEntriesByName('first-contentful-paint')[0].startTime"))
            page.wait_for_selector("#style_loss option[value=w2]", state="attached")
            with page.expect_response("**/api/uploads?role=*"):
                page.set_input_files("#content-file", arguments.content)
            with page.expect_response("**/api/uploads?role=*"):
                page.set_input_files("#style-file", arguments.style)
            page.wait_for_function(
                "() => document.querySelectorAll('#painting-list input:checked').length == 1")
            page.fill("#size", str(arguments.size))
            page.fill("#iters", str(arguments.steps))
            page.click("#start-button")
            page.wait_for_selector("#live-status[data-status=finished]", timeout=1_800_000)
            page.wait_for_timeout(500)
            delays = page.evaluate("window.tfStyle.delays")
            last_step = int(page.get_attribute("#live-image", "data-step"))
            step_seconds = page.evaluate(
                "[...window.tfStyle.lastStep.values()].pop().seconds_per_step")
            browser.close()
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    seconds = [delay["seconds"] for delay in delays]
    print(f"first paint: {', '.join(f'{paint:.0f}' for paint in paints)} ms")
    print(f"steps run: {last_step}; steps whose image the page showed: "
          f"{len({delay['step'] for delay in delays})}")
    print(f"step end to image on the page: median {statistics.median(seconds) * 1000:.0f} ms, "
          f"max {max(seconds) * 1000:.0f} ms; a step took {step_seconds * 1000:.0f} ms "
          f"(the run's average of its last 20)")


if __name__ == "__main__":
    main()
