"""The server under a hostile or careless client: each test is a request that once got a
500, a traceback, unbounded work or a file it should not have. Through Starlette's test
client or the bare ASGI app, runs played by a fake worker (the Ctrl-C and --host cases,
which need a real server, are in test_server.py)."""

import asyncio
import html.parser
import io
import logging
import os
import threading
import tracemalloc

import pytest
from PIL import Image
from starlette.testclient import TestClient

from tf_style import images
from tf_style.testing import synthetic_image
from tf_style.web import app as app_lib
from tf_style.web import bodies, uploads

from test_app import make_run, png_bytes, upload
from web_fakes import FakeLauncher

SETTINGS = {"content": "example/content.png", "style": ["example/style.png"], "size": 64}


class CountingLauncher(FakeLauncher):
    """A fake launcher that also counts the plans it was asked for."""

    def __init__(self):
        super().__init__()
        self.plans = 0

    def __call__(self, request, log_path):
        if request["mode"] == "plan":
            self.plans += 1
        return super().__call__(request, log_path)


@pytest.fixture
def launcher():
    return CountingLauncher()


@pytest.fixture
def workdir(tmp_path):
    workdir = str(tmp_path / "runs")
    make_run(workdir, "finished-run")
    return workdir


@pytest.fixture
def client(workdir, launcher):
    app = app_lib.create_app(workdir, launcher=launcher, max_upload_mb=8)
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def test_a_large_upload_is_decoded_off_the_event_loop_at_the_cost_of_its_pixels(client,
                                                                                 monkeypatch):
    # 3000 x 3000 px, smooth (a small file); as float32 it would be 108 MB.
    smooth = Image.fromarray(synthetic_image(30, 30, 5)).resize((3000, 3000),
                                                                Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    smooth.save(buffer, format="PNG")
    decoded_on = []
    load_image = images.load_image

    def recording_load_image(*args, **kwargs):
        try:
            asyncio.get_running_loop()
            decoded_on.append("the event loop")
        except RuntimeError:
            decoded_on.append("a worker thread")
        return load_image(*args, **kwargs)

    monkeypatch.setattr(images, "load_image", recording_load_image)
    tracemalloc.start()
    try:
        response = upload(client, buffer.getvalue(), name="huge.png")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 201, response.text
    assert (response.json()["width"], response.json()["height"]) == (3000, 3000)
    assert decoded_on == ["a worker thread"]
    # NumPy's arrays are traced: none of the picture's size (Pillow's own buffer, 27 MB of
    # 8-bit pixels, is the decode's cost, and is not).
    assert peak < 16e6, peak


def test_an_upload_over_the_pixel_limit_is_refused_from_its_header(workdir, launcher):
    app = app_lib.create_app(workdir, launcher=launcher, max_upload_mb=8, max_image_megapixels=1)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        response = upload(client, png_bytes(1100, 1000), name="big.png")
    assert response.status_code == 400 and "over the limit of 1 MP" in response.json()["error"]


def test_a_plan_of_a_size_the_machine_cannot_hold_is_refused_before_any_worker(client, launcher):
    response = client.post("/api/plan", json={**SETTINGS, "size": 100000})
    assert response.status_code == 400
    error = response.json()["error"]
    assert "100000x" in error and "GB" in error and "fits" in error
    assert launcher.plans == 0
    assert client.post("/api/plan", json=SETTINGS).status_code == 200 and launcher.plans == 1


@pytest.mark.parametrize("settings, words", [
    ({"size": 100000}, "this machine has free"),
    ({"size": 2**31}, "this machine has free"),
    ({"iters": 10**9}, "at most 100,000"),
    ({"style": ["example/style.png"] * 2000}, "at most 32 paintings"),
    ({"seed": -1}, "0 to 4294967295"),
    ({"seed": 2**64}, "0 to 4294967295"),
    ({"seed": 1.5}, "0 to 4294967295"),
])
def test_a_run_beyond_the_limits_is_refused_and_nothing_is_made(client, launcher, workdir,
                                                                 settings, words):
    before = sorted(os.listdir(workdir))
    response = client.post("/api/runs", json={**SETTINGS, **settings})
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]
    assert sorted(os.listdir(workdir)) == before and launcher.processes == []


@pytest.mark.parametrize("path", ["/api/runs", "/api/plan"])
def test_json_nested_past_the_parser_is_a_400(client, path):
    response = client.post(path, content=b"[" * 60000)
    assert response.status_code == 400 and "nested" in response.json()["error"]


def call_app(app, method, path, query, chunks, headers=()):
    """The app's answer to one request whose body is `chunks`, then a disconnect (or,
    when `chunks` ends with None, nothing more ever): (status, messages sent)."""
    sent = []
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
             "query_string": query.encode(), "headers": [(b"host", b"127.0.0.1"), *headers],
             "http_version": "1.1", "scheme": "http", "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 80), "root_path": ""}
    pending = list(chunks)

    async def receive():
        if pending:
            chunk = pending.pop(0)
            if chunk is None:
                await asyncio.Event().wait()  # a client that stalls
            return {"type": "http.request", "body": chunk, "more_body": True}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(message["status"] for message in sent if message["type"] == "http.response.start")
    return status, sent


def test_a_client_that_leaves_mid_upload_costs_one_line_and_no_file(workdir, launcher, caplog):
    app = app_lib.create_app(workdir, launcher=launcher, max_upload_mb=8)
    caplog.set_level(logging.INFO, logger="absl")  # an earlier test may have quietened it
    for _ in range(3):
        status, _ = call_app(app, "POST", "/api/uploads", "name=photo.png&role=photo",
                             [b"\x89PNG" + b"\0" * 65536] * 4)
        assert status == 400
    assert not [record for record in caplog.records if record.exc_info]
    assert len([record for record in caplog.records if "left" in record.getMessage()]) == 3
    assert os.listdir(os.path.join(workdir, "uploads", ".incoming")) == []


def test_a_request_body_that_stalls_is_dropped(workdir, launcher, monkeypatch):
    monkeypatch.setattr(bodies, "STALLED_BODY_SECONDS", 0.2)
    app = app_lib.create_app(workdir, launcher=launcher, max_upload_mb=8)
    status, sent = call_app(app, "POST", "/api/uploads", "name=photo.png&role=photo",
                            [b"\x89PNG", None])
    assert status == 408 and b"sent nothing" in sent[-1]["body"]
    assert os.listdir(os.path.join(workdir, "uploads", ".incoming")) == []
    status, sent = call_app(app, "POST", "/api/runs", "", [b'{"content": ', None])
    assert status == 408 and os.listdir(workdir) == ["finished-run", "uploads"]


def test_no_other_site_may_frame_the_page_and_it_runs_no_inline_script(client):
    for response in (client.get("/"), client.get("/api/runs"), client.get("/nothing-here"),
                     client.get("/api/runs", headers={"Host": "attacker.example"})):
        assert response.headers["x-frame-options"] == "DENY"
        policy = dict(part.strip().split(" ", 1) for part in
                      response.headers["content-security-policy"].split(";"))
        assert policy["frame-ancestors"] == "'none'"
        assert policy["script-src"] == "'self'" and "unsafe" not in policy["style-src"]

    class InlineFinder(html.parser.HTMLParser):
        found = []

        def handle_starttag(self, tag, attributes):
            names = dict(attributes)
            if tag == "script" and "src" not in names:
                self.found.append("an inline script")
            if tag == "style" or "style" in names:
                self.found.append(f"an inline style on <{tag}>")
            self.found += [f"{name} on <{tag}>" for name in names if name.startswith("on")]

    finder = InlineFinder()
    finder.feed(client.get("/").text)
    assert finder.found == []


def test_a_link_out_of_the_workdir_is_never_served(client, workdir, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes(40, 40))
    output = os.path.join(workdir, "finished-run", "output.png")
    os.remove(output)
    os.symlink(secret, output)
    response = client.get("/api/runs/finished-run/files/output")
    assert response.status_code == 404 and "no output" in response.json()["error"]
    assert client.get("/api/runs/finished-run").json()["downloads"] == ["sheet"]

    linked = os.path.join(workdir, "uploads", "0123456789abcdef", "photo.png")
    os.makedirs(os.path.dirname(linked))
    os.symlink(secret, linked)
    assert client.get("/api/uploads/0123456789abcdef/photo.png").status_code == 404
    listed = client.get("/api/uploads").json()
    assert "0123456789abcdef/photo.png" not in [item["id"] for item in listed["photos"]]
    refused = client.post("/api/runs", json={**SETTINGS, "content": "0123456789abcdef/photo.png"})
    assert refused.status_code == 404


def test_a_finished_run_from_the_page_is_not_resumed(client, workdir, launcher):
    make_run(workdir, "page-finished-run", web={"config": {"content": "x.png"}})
    response = client.post("/api/runs/page-finished-run/resume")
    assert response.status_code == 409 and "finished" in response.json()["error"]
    assert launcher.processes == []
    assert not client.get("/api/runs/page-finished-run").json()["resumable"]


@pytest.mark.parametrize("host", ["127.0.0.2:8080", "127.1.2.3", "[::1]:80", "LOCALHOST:80"])
def test_any_loopback_host_is_answered(client, host):
    assert client.get("/api/runs", headers={"Host": host}).status_code == 200


def test_the_queue_is_bounded(client, launcher, workdir, monkeypatch):
    from tf_style.web import runs as runs_lib
    monkeypatch.setattr(runs_lib, "MAX_QUEUED_RUNS", 2)
    before = set(os.listdir(workdir))
    codes = [client.post("/api/runs", json=SETTINGS).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 503]  # one running, two waiting
    assert len(set(os.listdir(workdir)) - before) == 3  # the refused one made no directory
    launcher.wait_for(1).end(0)


def test_plans_run_one_at_a_time(workdir):
    running, most = [0], [0]
    lock = threading.Lock()
    release = threading.Event()

    class SlowPlans(FakeLauncher):
        def __call__(self, request, log_path):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            release.wait(5)
            with lock:
                running[0] -= 1
            return super().__call__(request, log_path)

    app = app_lib.create_app(workdir, launcher=SlowPlans())
    with TestClient(app, base_url="http://127.0.0.1") as client:
        threads = [threading.Thread(target=client.post, args=("/api/plan",),
                                    kwargs={"json": SETTINGS}) for _ in range(4)]
        for thread in threads:
            thread.start()
        threading.Timer(0.5, release.set).start()
        for thread in threads:
            thread.join(30)
    assert most[0] == 1


def test_upload_ids_are_checked_as_names(client):
    assert uploads.safe_name("../../x.png") == "x.png"
    response = upload(client, png_bytes(40, 40), role="admin")
    assert response.status_code == 400 and "photo or a painting" in response.json()["error"]
