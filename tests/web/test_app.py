"""The web app's API through Starlette's test client, runs played by a fake worker."""

import base64
import io
import json
import os
import time

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from tf_style import run_directory
from tf_style.testing import png_declaring, snapshot, synthetic_image
from tf_style.web import app as app_lib
from tf_style.web import events, gallery

from web_fakes import FakeLauncher


def png_bytes(height, width, seed=1):
    buffer = io.BytesIO()
    Image.fromarray(synthetic_image(height, width, seed)).save(buffer, format="PNG")
    return buffer.getvalue()


def make_run(workdir, name, output=True, web=None):
    """A run directory as a run leaves it: run.json, and output and sheet when finished."""
    path = os.path.join(workdir, name)
    os.makedirs(path)
    with open(os.path.join(path, run_directory.RUN_RECORD), "w") as file:
        json.dump({"settings": {"size": 64, "style_loss": "gram"}}, file)
    if output:
        Image.fromarray(synthetic_image(48, 64, 3)).save(os.path.join(path, "output.png"))
        Image.fromarray(synthetic_image(48, 140, 4)).save(os.path.join(path, "sheet.png"))
    if web is not None:
        gallery.write_web_record(path, web)
    return path


@pytest.fixture
def workdir(tmp_path):
    workdir = str(tmp_path / "runs")
    make_run(workdir, "finished-run")
    make_run(workdir, "failed-run", output=False,
             web={"config": {"content": "x.png"}, "error": "image x.png is truncated"})
    make_run(workdir, "stopped-run", output=False, web={"config": {"content": "x.png"}})
    make_run(workdir, "command-line-run", output=False)
    make_run(str(tmp_path / "other"), "elsewhere-run")
    return workdir


@pytest.fixture
def launcher():
    return FakeLauncher()


@pytest.fixture
def client(workdir, launcher):
    app = app_lib.create_app(workdir, launcher=launcher, max_upload_mb=0.25)
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def upload(client, data, name="photo.png", role="photo", **kwargs):
    return client.post("/api/uploads", params={"name": name, "role": role}, content=data, **kwargs)


def wait_for_status(client, run_id, status, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = client.get(f"/api/runs/{run_id}").json()["status"]
        if found == status:
            return
        time.sleep(0.02)
    raise AssertionError(f"{run_id} is {found}, not {status}")


def test_the_gallery_shows_every_run_with_its_status_settings_and_downloads(client, workdir):
    runs = {run["id"]: run for run in client.get("/api/runs").json()["runs"]}
    assert set(runs) == {"finished-run", "failed-run", "stopped-run", "command-line-run"}
    assert runs["finished-run"]["status"] == "finished"
    assert runs["finished-run"]["downloads"] == ["output", "sheet"]
    assert runs["finished-run"]["settings"] == {"size": 64, "style_loss": "gram"}
    assert runs["failed-run"]["status"] == "failed"
    assert runs["failed-run"]["error"] == "image x.png is truncated"
    assert runs["stopped-run"]["status"] == "stopped" and runs["stopped-run"]["resumable"]
    assert not runs["finished-run"]["resumable"]  # made on the command line


def test_a_run_whose_lock_a_process_holds_is_running(client, workdir):
    claim = run_directory.claim(os.path.join(workdir, "stopped-run"), {"settings": {}}, True)
    with claim:
        assert client.get("/api/runs/stopped-run").json()["status"] == "running"
        response = client.post("/api/runs/stopped-run/resume")
        assert response.status_code == 409 and "another process" in response.json()["error"]
    assert client.get("/api/runs/stopped-run").json()["status"] == "stopped"


def test_a_download_is_the_file_byte_for_byte(client, workdir):
    response = client.get("/api/runs/finished-run/files/output")
    assert response.status_code == 200
    with open(os.path.join(workdir, "finished-run", "output.png"), "rb") as file:
        assert response.content == file.read()
    assert 'filename="finished-run-output.png"' in response.headers["content-disposition"]


def test_an_upload_is_kept_once_by_content_and_listed(client, workdir):
    data = png_bytes(40, 50)
    first = upload(client, data, name="../../My Photo.png")
    second = upload(client, data, name="My Photo.png")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    saved = first.json()
    assert saved["name"] == "My_Photo.png" and (saved["width"], saved["height"]) == (50, 40)
    kept = os.path.join(workdir, "uploads", saved["id"])
    with open(kept, "rb") as file:
        assert file.read() == data
    listed = [item["id"] for item in client.get("/api/uploads").json()["photos"]]
    assert listed[0] == saved["id"] and "example/content.png" in listed
    assert client.get(f"/api/uploads/{saved['id']}").content == data
    dashed = upload(client, png_bytes(40, 50, seed=2), name="--help.png").json()
    assert dashed["name"] == "help.png"


def test_a_plan_comes_from_the_worker(client):
    settings = {"content": "example/content.png", "style": ["example/style.png"], "size": 96}
    response = client.post("/api/plan", json=settings)
    assert response.status_code == 200 and response.json()["plan"] == "plan of 96 px"


def test_runs_wait_their_turn_and_a_queued_run_stops_without_starting(client, launcher, workdir):
    settings = {"content": "example/content.png", "style": ["example/style.png"], "size": 64,
                "iters": 5, "seed": 3}
    first = client.post("/api/runs", json=settings).json()["id"]
    second = client.post("/api/runs", json=settings).json()["id"]
    third = client.post("/api/runs", json=settings).json()["id"]
    assert (first, second, third) == ("content-style", "content-style-2", "content-style-3")
    process = launcher.wait_for(1)
    config = process.request["config"]
    assert config["workdir"] == os.path.join(workdir, first) and config["seed"] == 3
    assert config["content"].endswith(os.path.join("examples", "content.png"))
    wait_for_status(client, first, "running")
    assert client.get(f"/api/runs/{second}").json()["status"] == "queued"
    assert client.post(f"/api/runs/{third}/stop").status_code == 202
    assert client.get(f"/api/runs/{third}").json()["status"] == "stopped"
    Image.fromarray(synthetic_image(48, 64, 5)).save(os.path.join(workdir, first, "output.png"))
    process.send(events.Finished("output.png"))
    process.end(0)
    wait_for_status(client, first, "finished")
    launcher.wait_for(2).end(0)
    time.sleep(0.1)
    assert len(launcher.processes) == 2  # the stopped third never started


def test_stop_asks_the_running_process_and_resume_reruns_its_settings(client, launcher, workdir):
    settings = {"content": "example/content.png", "style": ["example/style.png"], "size": 64}
    run_id = client.post("/api/runs", json=settings).json()["id"]
    process = launcher.wait_for(1)
    wait_for_status(client, run_id, "running")
    assert client.post(f"/api/runs/{run_id}/stop").status_code == 202
    assert process.stop_count == 1
    wait_for_status(client, run_id, "stopped")
    assert client.post(f"/api/runs/{run_id}/resume").status_code == 202
    resumed = launcher.wait_for(2)
    assert resumed.request == process.request
    resumed.send(events.Failed("style x.png is not an image"))
    resumed.end(2)
    wait_for_status(client, run_id, "failed")
    assert client.get(f"/api/runs/{run_id}").json()["error"] == "style x.png is not an image"


def test_a_texture_run_has_no_photo_and_is_named_for_its_painting(client, launcher, workdir):
    settings = {"style": ["example/style.png"], "texture_size": "96x64", "seamless": "both",
                "iters": 5}
    run_id = client.post("/api/runs", json=settings).json()["id"]
    assert run_id == "texture-style"
    config = launcher.wait_for(1).request["config"]
    assert (config["content"], config["texture_size"], config["seamless"]) == ("", "96x64", "both")
    assert client.get("/api/options").json()["seamless"] == ["x", "y", "both"]


def test_the_servers_model_and_weights_go_to_every_run_and_the_page_cannot_change_them(workdir):
    from tf_style.web.events import EventHub
    from tf_style.web.runs import Runs
    launcher = FakeLauncher()
    runs = Runs(workdir, EventHub(), launcher, weights="weights/vgg16.onnx", model="vgg16")
    app = app_lib.create_app(workdir, runs=runs, launcher=launcher)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        settings = {"content": "example/content.png", "style": ["example/style.png"], "size": 64}
        client.post("/api/runs", json=settings)
        config = launcher.wait_for(1).request["config"]
        assert (config["model"], config["weights"]) == ("vgg16", "weights/vgg16.onnx")
        refused = client.post("/api/runs", json={**settings, "model": "vgg19"})
        assert refused.status_code == 400


def test_a_process_that_dies_without_a_word_is_a_failed_run_that_resumes(client, launcher):
    settings = {"content": "example/content.png", "style": ["example/style.png"], "size": 64}
    run_id = client.post("/api/runs", json=settings).json()["id"]
    launcher.wait_for(1).end(-9)
    wait_for_status(client, run_id, "failed")
    assert "status -9" in client.get(f"/api/runs/{run_id}").json()["error"]
    assert client.post(f"/api/runs/{run_id}/resume").status_code == 202


BAD_REQUESTS = [
    # (what, method, path, body or upload, expected status, words in the error)
    ("text as a picture", "upload", "x.jpg", b"not a picture", 400, "not an image"),
    ("a truncated picture", "upload", "cut.png", png_bytes(64, 64)[:300], 400, "cut.png"),
    ("a picture too small for VGG19", "upload", "tiny.png", png_bytes(16, 16), 400, "32 px"),
    ("a decompression bomb", "upload", "bomb.png", png_declaring(60000, 60000), 400, "bomb.png"),
    ("a file that is not a picture type", "upload", "run.sh", b"#!/bin/sh\n", 400, "picture file"),
    ("an empty upload", "upload", "empty.png", b"", 400, "empty"),
    ("an upload over the size limit", "upload", "big.png", b"\0" * 300_000, 413, "limit"),
    ("traversal in a run id", "GET", "/api/runs/%2e%2e/%2e%2e/etc", None, 404, "no run"),
    ("an unknown run", "GET", "/api/runs/nobody-here", None, 404, "no run"),
    ("another workdir's run", "POST", "/api/runs/elsewhere-run/resume", None, 404, "no run"),
    ("traversal in a download", "GET", "/api/runs/finished-run/files/..%2f..%2frun.json",
     None, 404, ""),
    ("a download that is no output", "GET", "/api/runs/finished-run/files/checkpoint", None,
     404, "no download"),
    ("traversal in an upload id", "GET", "/api/uploads/..%2f..%2ffinished-run/run.json", None,
     404, "no uploaded picture"),
    ("a photo that was never uploaded", "POST", "/api/runs",
     {"content": "0123456789abcdef/none.png", "style": ["example/style.png"]}, 404, "upload"),
    ("an example outside the examples", "POST", "/api/runs",
     {"content": "example/../../config.py", "style": ["example/style.png"]}, 404, "upload"),
    ("a setting the page may not set", "POST", "/api/runs",
     {"content": "example/content.png", "style": ["example/style.png"], "workdir": "/tmp"},
     400, "workdir"),
    ("a size too small", "POST", "/api/runs",
     {"content": "example/content.png", "style": ["example/style.png"], "size": 8}, 400, "size"),
    ("an unknown optimizer", "POST", "/api/runs",
     {"content": "example/content.png", "style": ["example/style.png"], "optimizer": "sgd"},
     400, "optimizer"),
    ("a body that is not JSON", "POST", "/api/runs", b"{content:", 400, "not JSON"),
    ("a texture with a photo", "POST", "/api/runs",
     {"content": "example/content.png", "style": ["example/style.png"], "texture_size": "64x64"},
     400, "paintings alone"),
    ("a texture size that is no size", "POST", "/api/runs",
     {"style": ["example/style.png"], "texture_size": ["64", "64"]}, 400, "WIDTHxHEIGHT"),
    ("a texture larger than the machine", "POST", "/api/runs",
     {"style": ["example/style.png"], "texture_size": "900000x900000"}, 400, "size"),
    ("an unknown seamless axis", "POST", "/api/runs",
     {"content": "example/content.png", "style": ["example/style.png"], "seamless": "z"},
     400, "seamless"),
    ("no painting", "POST", "/api/plan", {"content": "example/content.png"}, 400, "painting"),
    ("stopping a run that is not running", "POST", "/api/runs/finished-run/stop", None, 409,
     "not running"),
    ("resuming a command-line run", "POST", "/api/runs/command-line-run/resume", None, 409,
     "command"),
    ("resuming a finished run", "POST", "/api/runs/finished-run/resume", None, 409, "finished"),
    ("a static file outside the page", "GET", "/static/..%2fapp.py", None, 404, ""),
    ("a method the API lacks", "PUT", "/api/runs/finished-run", None, 405, "PUT"),
]


def test_bad_requests_each_get_one_clear_line_and_change_no_run(client, workdir):
    before = snapshot(workdir)
    for what, method, path, body, status, words in BAD_REQUESTS:
        if method == "upload":
            response = upload(client, body, name=path)
        elif isinstance(body, bytes):
            response = client.request(method, path, content=body)
        else:
            response = client.request(method, path, json=body)
        assert response.status_code == status, (what, response.status_code, response.text)
        error = response.json()["error"]
        assert error and "\n" not in error and words in error, (what, error)
    after = snapshot(workdir)
    assert {name for name in after if not name.startswith("uploads/")} == set(before)
    assert after == {**before, **{name: after[name] for name in after
                                   if name.startswith("uploads/")}}
    assert not [name for name in after if name.startswith("uploads/")]  # nothing bad kept


def test_a_chunked_upload_is_cut_off_at_the_limit(client, workdir):
    def chunks():
        for _ in range(100):
            yield b"\0" * 65536

    response = upload(client, chunks(), name="endless.png")
    assert response.status_code == 413 and "limit" in response.json()["error"]
    assert os.listdir(os.path.join(workdir, "uploads", ".incoming")) == []


def test_a_token_is_checked_on_every_request(workdir, launcher):
    app = app_lib.create_app(workdir, token="s3cret-token", loopback_only=False, launcher=launcher)
    with TestClient(app, base_url="http://192.0.2.1") as client:
        for path in ("/", "/api/runs", "/api/events", "/api/runs/finished-run/files/output"):
            response = client.get(path)
            assert response.status_code == 401 and "token" in response.json()["error"]
        assert client.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        bearer = {"Authorization": "Bearer s3cret-token"}
        assert client.get("/api/runs", headers=bearer).status_code == 200
        page = client.get("/?token=s3cret-token")
        assert page.status_code == 200 and "tf_style_token" in page.headers["set-cookie"]
        assert client.get("/api/runs").status_code == 200  # the cookie from now on


def test_a_loopback_server_answers_only_to_loopback_names(client):
    response = client.get("/api/runs", headers={"Host": "attacker.example:8080"})
    assert response.status_code == 400 and "attacker.example" in response.json()["error"]
    assert client.get("/api/runs", headers={"Host": "localhost:8080"}).status_code == 200


def test_shutting_the_server_down_stops_its_running_run(workdir, launcher):
    app = app_lib.create_app(workdir, launcher=launcher)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        settings = {"content": "example/content.png", "style": ["example/style.png"]}
        run_id = client.post("/api/runs", json=settings).json()["id"]
        process = launcher.wait_for(1)
        wait_for_status(client, run_id, "running")
    assert process.stop_count == 1  # the SIGINT of Ctrl-C: it checkpoints, then stops


def test_a_workdir_that_cannot_be_written_is_a_clear_error(tmp_path, launcher):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    app = app_lib.create_app(str(blocked), launcher=launcher)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        response = upload(client, png_bytes(40, 40))
        assert response.status_code == 507
        assert "could not write to its workdir" in response.json()["error"]
        settings = {"content": "example/content.png", "style": ["example/style.png"]}
        response = client.post("/api/runs", json=settings)
        assert response.status_code == 507 and "\n" not in response.json()["error"]


def test_another_site_cannot_start_or_stop_runs_through_the_browser(client, workdir):
    settings = {"content": "example/content.png", "style": ["example/style.png"], "size": 64}
    refused = client.post("/api/runs", json=settings,
                          headers={"Origin": "http://attacker.example"})
    assert refused.status_code == 403 and "attacker.example" in refused.json()["error"]
    assert sorted(os.listdir(workdir)) == ["command-line-run", "failed-run", "finished-run",
                                           "stopped-run"]
    same_site = client.post("/api/plan", json=settings, headers={"Origin": "http://127.0.0.1"})
    assert same_site.status_code == 200


def test_the_gallery_shows_a_large_output_small(client, workdir):
    path = os.path.join(workdir, "finished-run", "output.png")
    smooth = Image.fromarray(synthetic_image(18, 32, 7)).resize((1600, 900), Image.Resampling.BICUBIC)
    smooth.save(path)
    response = client.get("/api/runs/finished-run/files/output?inline=1&thumbnail")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    small = Image.open(io.BytesIO(response.content))
    assert small.size == (480, 270)
    reference = np.asarray(Image.open(path).resize((480, 270), Image.Resampling.BOX), np.float32)
    assert np.abs(np.asarray(small, np.float32) - reference).mean() < 3


def test_photos_and_paintings_are_listed_apart_each_with_its_thumbnail(client):
    smooth = Image.fromarray(synthetic_image(30, 20, 1)).resize((200, 300),
                                                                Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    smooth.save(buffer, format="PNG")
    photo = upload(client, buffer.getvalue(), name="photo.png", role="photo").json()
    painting = upload(client, png_bytes(90, 120, seed=2), name="painting.png",
                      role="painting").json()
    listed = client.get("/api/uploads").json()
    photos = [item["id"] for item in listed["photos"]]
    paintings = [item["id"] for item in listed["paintings"]]
    assert photos == [photo["id"], "example/content.png"]
    assert paintings == [painting["id"], "example/style.png", "example/style2.png"]
    both = upload(client, png_bytes(90, 120, seed=2), name="painting.png", role="photo").json()
    assert both["id"] == painting["id"]
    assert painting["id"] in [item["id"] for item in client.get("/api/uploads").json()["photos"]]

    response = client.get(f"/api/uploads/{photo['id']}?thumbnail")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    small = Image.open(io.BytesIO(response.content))
    assert small.size == (107, 160)  # 200 x 300 to 160 px on its longest side
    reference = smooth.resize((107, 160), Image.Resampling.BOX)
    difference = np.abs(np.asarray(small, np.float32) - np.asarray(reference, np.float32))
    assert difference.mean() < 4
    example = Image.open(io.BytesIO(client.get("/api/uploads/example/style.png?thumbnail").content))
    assert max(example.size) <= 160


def test_a_run_is_deleted_with_its_directory_unless_it_is_running(client, launcher, workdir):
    assert client.delete("/api/runs/finished-run").json() == {"deleted": "finished-run"}
    assert not os.path.exists(os.path.join(workdir, "finished-run"))
    assert client.get("/api/runs/finished-run").status_code == 404
    assert client.delete("/api/runs/finished-run").status_code == 404
    assert client.delete("/api/runs/..%2f..%2fetc").status_code == 404
    settings = {"content": "example/content.png", "style": ["example/style.png"], "size": 64}
    run_id = client.post("/api/runs", json=settings).json()["id"]
    wait_for_status(client, run_id, "running")
    refused = client.delete(f"/api/runs/{run_id}")
    assert refused.status_code == 409 and "stop it" in refused.json()["error"]
    assert os.path.isdir(os.path.join(workdir, run_id))
    launcher.wait_for(1).end(0)


def test_the_page_has_a_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.headers["content-type"] == "image/x-icon"
    icon = Image.open(io.BytesIO(response.content))
    assert icon.format == "ICO" and (32, 32) in icon.info["sizes"]


def data_url(picture):
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue(), "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_a_stopped_run_keeps_its_last_image_and_step_for_a_page_opened_later(client, launcher):
    settings = {"content": "example/content.png", "style": ["example/style.png"], "size": 64,
                "iters": 100}
    run_id = client.post("/api/runs", json=settings).json()["id"]
    process = launcher.wait_for(1)
    for step in (6, 7):
        jpeg, url = data_url(synthetic_image(48, 64, step))
        process.send(events.Step(step=step, iters=100, losses={"total": 1.0}, image=url))
    client.post(f"/api/runs/{run_id}/stop")
    wait_for_status(client, run_id, "stopped")
    run = client.get(f"/api/runs/{run_id}").json()
    assert run["last_step"] == {"step": 7, "iters": 100} and run["preview"]
    assert run["downloads"] == []  # the preview is shown, not offered as the output
    assert client.get(f"/api/runs/{run_id}/files/preview?inline=1").content == jpeg
