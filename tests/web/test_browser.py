"""The page in a real browser (Debian's chromium, driven by Playwright's Python client):
upload, start, watch the image change, stop, resume, finish, find it in the gallery and
download it; the result equals the command line's to the bit.

Skips, with the reason, when Playwright or chromium is missing; `.ci/run` installs both.
Set TF_STYLE_WEB_SCREENSHOT=<file.png> to keep a screenshot of the page (README's), and
TF_STYLE_WEB_PICTURES=<photo>,<painting> to run it on real pictures at 256 px.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tf_style.testing import synthetic_image, write_image_pair

from test_app import make_run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed "
                                 "(pip install -e '.[test]')")
BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(BROWSER is None, reason="chromium is not installed "
                                 "(apt-get install chromium; .ci/run does)")]
STEPS = 40


@pytest.fixture
def server(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "tf_style.web", "--port", "0", "--weights", "random",
         "--workdir", str(tmp_path / "runs")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line.startswith("tf_style: serving"), process.stderr.read()
    yield line.split()[2]
    process.terminate()
    process.wait(timeout=60)


@pytest.fixture
def gallery_server(tmp_path, server):
    """The server with a gallery as a user's looks: a finished run, a failed one with a
    long name and error, a stopped one with its last image, and one with no picture."""
    workdir = str(tmp_path / "runs")
    make_run(workdir, "finished-run")
    make_run(workdir, "failed-run-with-a-very-long-name-that-goes-on-and-on_and_on_and_on",
             output=False, web={"config": {"content": "x.png"}, "error": "image /a/very/long/"
                                "path/to/a/file/that/is/truncated_and_goes_on_and_on.png is "
                                "truncated"})
    stopped = make_run(workdir, "stopped-run", output=False, web={
        "config": {"content": "x.png"}, "last_step": {"step": 7, "iters": 100}})
    Image.fromarray(synthetic_image(48, 64, 7)).save(os.path.join(stopped, "preview.jpg"))
    make_run(workdir, "no-picture-run", output=False, web={"config": {"content": "x.png"}})
    return server


@pytest.fixture
def browser():
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=BROWSER, args=["--no-sandbox"])
        yield launched
        launched.close()


def live_step(page) -> int:
    return int(page.get_attribute("#live-image", "data-step") or 0)


def test_a_run_from_the_page_is_watched_stopped_resumed_and_downloaded(server, browser, tmp_path):
    pictures = os.environ.get("TF_STYLE_WEB_PICTURES")
    content, style = pictures.split(",") if pictures else write_image_pair(str(tmp_path))
    size = 256 if pictures else 64
    # The same settings on the command line, uninterrupted, beside the page's run: its
    # picture must be the page's to the bit.
    command_line = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "train.py"), "--content", content, "--style", style,
         "--size", str(size), "--iters", str(STEPS), "--deterministic", "--weights", "random",
         "--seed", "0", "--workdir", str(tmp_path / "command-line")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_dir = run_from_the_page(browser.new_page(viewport={"width": 1280, "height": 1000}),
                                    server, content, style, size, tmp_path)
        _, errors = command_line.communicate(timeout=300)
    finally:
        command_line.kill()
    assert command_line.returncode == 0, errors
    from_page = np.asarray(Image.open(run_dir / "output.png"))
    from_command_line = np.asarray(Image.open(tmp_path / "command-line" / "output.png"))
    assert np.array_equal(from_page, from_command_line)


def run_from_the_page(page, server, content, style, size, tmp_path):
    """Everything a person does on the page, checked as they would see it; the run's
    directory."""
    page.goto(server)
    page.wait_for_selector("#style_loss option[value=w2]", state="attached")
    not_a_picture = tmp_path / "notes.jpg"
    not_a_picture.write_text("a shopping list")
    page.set_input_files("#content-file", str(not_a_picture))
    page.wait_for_function("() => document.querySelector('#form-error').textContent"
                           ".includes('notes.jpg')")
    assert "not an image" in page.inner_text("#form-error")
    with page.expect_response("**/api/uploads?role=*"):
        page.set_input_files("#content-file", content)
    with page.expect_response("**/api/uploads?role=*"):
        page.set_input_files("#style-file", style)
    photo, painting = (os.path.splitext(os.path.basename(path))[0] for path in (content, style))
    # The photo just sent is the one chosen, the painting just sent is ticked, each in its
    # own list.
    page.wait_for_function(f"() => document.querySelectorAll('#painting-list input:checked').length == 1"
                           f" && document.querySelector('#photo-list input:checked').value"
                           f".endsWith('/{os.path.basename(content)}')")
    assert page.eval_on_selector("#painting-list input:checked", "e => e.value").endswith(
        "/" + os.path.basename(style))
    page.fill("#size", str(size))
    page.fill("#iters", str(STEPS))
    page.check("#deterministic")
    if os.environ.get("TF_STYLE_WEB_SCREENSHOT"):  # README's picture shows the plan too
        page.click("#plan-button")
        page.wait_for_function("() => document.querySelector('#plan').textContent.includes('peak')")
    page.click("#start-button")
    run_id = f"{photo}-{painting}"
    page.wait_for_function(f"() => document.querySelector('#live-run').textContent == '{run_id}'")

    # The live image changes as the run steps.
    seen = set()
    for _ in range(3):
        page.wait_for_function(f"() => Number(document.querySelector('#live-image').dataset.step || 0)"
                               f" > {max(seen, default=0)}", timeout=120_000)
        seen.add(live_step(page))
    assert len(seen) == 3
    page.click("#stop-button")
    page.wait_for_selector("#live-status[data-status=stopped]", timeout=120_000)
    stopped_at = live_step(page)
    assert stopped_at < STEPS
    if os.environ.get("TF_STYLE_WEB_SCREENSHOT"):
        page.wait_for_selector(f"[data-run='{run_id}'] .status[data-status=stopped]")
    page.click("#resume-button")
    page.wait_for_selector("#live-status[data-status=finished]", timeout=300_000)
    assert live_step(page) > stopped_at

    card = page.locator(f"[data-run='{run_id}']")
    card.locator(".status[data-status=finished]").wait_for()
    with page.expect_download() as download:
        card.locator("a.download-output").click()
    run_dir = tmp_path / "runs" / run_id
    with open(download.value.path(), "rb") as downloaded, open(run_dir / "output.png", "rb") as kept:
        assert downloaded.read() == kept.read()
    if os.environ.get("TF_STYLE_WEB_SCREENSHOT"):
        page.screenshot(path=os.environ["TF_STYLE_WEB_SCREENSHOT"], full_page=True)

    return run_dir


PAGE_PROBLEMS = """() => {
  const shown = (e) => e.offsetParent !== null;
  const problems = [];
  for (const image of document.images) {
    if (shown(image) && !(image.complete && image.naturalWidth > 0)) {
      problems.push(`broken ${image.src || image.alt}`);
    }
  }
  for (const status of document.querySelectorAll(".status")) {
    if (shown(status) && !status.textContent.trim()) problems.push("an empty status");
  }
  if (document.documentElement.scrollWidth > window.innerWidth) {
    problems.push(`the page is ${document.documentElement.scrollWidth} px wide in ` +
                  `${window.innerWidth}`);
  }
  for (const element of document.querySelectorAll(".card, section, .card *")) {
    if (shown(element) && element.scrollWidth > element.clientWidth + 1
        && getComputedStyle(element).overflowX !== "auto") {
      problems.push(`${element.tagName}.${element.className} overflows ` +
                    `(${element.scrollWidth} > ${element.clientWidth})`);
    }
  }
  return problems;
}"""


@pytest.mark.parametrize("width, height", [(390, 844), (1280, 900)])
def test_a_fresh_page_fits_the_screen_with_no_broken_picture(gallery_server, browser, width,
                                                             height):
    page = browser.new_page(viewport={"width": width, "height": height})
    complaints = []  # the console's errors: a script or style the policy blocked, a 404
    page.on("console", lambda message: complaints.append(message.text)
            if message.type == "error" else None)
    page.goto(gallery_server)
    page.wait_for_selector("[data-run='stopped-run']")
    page.wait_for_selector("#photo-list input:checked", state="attached")
    for details in page.query_selector_all(".card details"):
        details.evaluate("e => e.open = true")
    # The gallery's pictures load lazily, as a person scrolls down to them.
    for card in page.query_selector_all(".card"):
        card.scroll_into_view_if_needed()
    page.wait_for_function("() => [...document.images].every((image) => image.complete)")
    assert page.evaluate(PAGE_PROBLEMS) == []
    assert page.eval_on_selector("#photo-list input:checked", "e => e.value") == \
        "example/content.png"
    assert not page.query_selector_all("#painting-list input:checked")

    # Watch on the last card scrolls to the live view, which shows where the run stopped.
    page.locator("[data-run='stopped-run'] button.watch").click()
    page.wait_for_function("() => { const top = document.querySelector('#live')"
                           ".getBoundingClientRect().top; return top >= -1 && top < 50; }")
    page.wait_for_function("() => document.querySelector('#live-image').naturalWidth == 64")
    step = page.inner_text("#live-step")
    assert "stopped at step 7/100" in step and "ETA" not in step
    assert page.get_attribute("#live-status", "data-status") == "stopped"
    assert page.evaluate(PAGE_PROBLEMS) == []
    assert complaints == []


def test_a_run_is_deleted_from_the_page_only_once_confirmed(gallery_server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(gallery_server)
    card = page.locator("[data-run='no-picture-run']")
    page.once("dialog", lambda dialog: dialog.dismiss())
    card.locator("button.delete").click()
    page.wait_for_timeout(300)
    assert card.count() == 1 and (tmp_path / "runs" / "no-picture-run").is_dir()
    page.once("dialog", lambda dialog: dialog.accept())
    card.locator("button.delete").click()
    card.wait_for(state="detached")
    assert not (tmp_path / "runs" / "no-picture-run").exists()


def test_a_seamless_texture_from_the_page_is_shown_repeated(server, browser, tmp_path):
    """The texture choice hides the photo; the finished texture's picture in the live view
    and on its card is the output tiled 2x2, and its edges meet (they are the same file)."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    complaints = []
    page.on("console", lambda message: complaints.append(message.text)
            if message.type == "error" else None)
    page.goto(server)
    page.wait_for_selector("#seamless option[value=both]", state="attached")
    page.check("#kind-texture")
    assert page.is_hidden("#photo-fieldset") and page.is_hidden("#size")
    page.check("#painting-list input[value='example/style.png']")
    page.fill("#texture_width", "64")
    page.fill("#texture_height", "48")
    page.fill("#iters", "6")
    page.select_option("#seamless", "both")
    page.click("#start-button")
    page.wait_for_function("() => document.querySelector('#live-run').textContent == 'texture-style'")
    page.wait_for_selector("#live-status[data-status=finished]", timeout=300_000)
    page.wait_for_selector("#live-repeat[data-repeat=both]", timeout=60_000)
    box = page.eval_on_selector("#live-repeat", "e => [e.offsetWidth, e.offsetHeight]")
    assert abs(box[0] / box[1] - 64 / 48) < 0.02  # 2x2 copies keep the picture's shape
    assert "50% 50%" in page.eval_on_selector("#live-repeat", "e => e.style.backgroundSize")
    card = page.locator("[data-run='texture-style']")
    card.locator(".status[data-status=finished]").wait_for()
    assert card.locator(".repeat").get_attribute("title").endswith("it is seamless")
    with Image.open(tmp_path / "runs" / "texture-style" / "output.png") as output:
        assert output.size == (64, 48)
    assert page.evaluate(PAGE_PROBLEMS) == [] and complaints == []
