"""`tf-style serve` under a hostile client: every answer, the server's memory and latency.

    python benchmarks/web_hostile.py              # all of it (about a minute)
    python benchmarks/web_hostile.py --side 13400 --alpha  # 180 MP with alpha: the worst

Starts the server on a free port over a fresh workdir and, from loopback:
- sends a suite of hostile requests (oversized settings, nested JSON, bad ids, traversal,
  links out of the workdir, cross-site and rebinding headers, bad methods, uploads that
  stop, stall or disconnect) and counts the answers by status: none may be 500 or more;
- uploads a <side>² PNG (a small file of many pixels) while another thread asks for the
  page every 20 ms: the decode's time, the page's worst and median latency meanwhile,
  and the server's peak resident memory (VmHWM) before and after;
- starts a 64 px run, opens the event stream as a page does, and sends the server SIGINT
  once the run steps: seconds to exit, the lines it printed, and the step the run's
  checkpoint holds against the step it was at;
- reads the server's log for tracebacks.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tf_style.testing import png_declaring, synthetic_image, write_image_pair

SETTINGS = {"content": "example/content.png", "style": ["example/style.png"], "size": 64}


class Server:
    """`python -m tf_style.web` on a free port; its stderr collected."""

    def __init__(self, workdir: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tf_style.web", "--port", "0", "--weights", "random",
             "--workdir", workdir], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        line = self.process.stdout.readline()
        self.port = int(re.search(r":(\d+)/", line).group(1))
        self.stderr_lines: list = []
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            self.stderr_lines.append((time.monotonic(), line))

    def memory_kb(self, field: str) -> int:
        with open(f"/proc/{self.process.pid}/status") as status:
            return int(next(line for line in status if line.startswith(field)).split()[1])

    def request(self, method: str, path: str, body=None, headers=None, timeout=60):
        """(status, JSON or text) of one request."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            connection.request(method, path, body=body, headers={
                "Host": f"127.0.0.1:{self.port}", **(headers or {})})
            response = connection.getresponse()
            data = response.read()
            try:
                return response.status, json.loads(data)
            except ValueError:
                return response.status, data[:80]
        finally:
            connection.close()

    def raw(self, data: bytes, close_after: float = 0.0) -> None:
        """Sends `data` on a socket, waits `close_after` s, and hangs up without reading."""
        with socket.create_connection(("127.0.0.1", self.port)) as connection:
            connection.sendall(data)
            time.sleep(close_after)


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def large_png(side: int, alpha: bool = False) -> bytes:
    """A `side`² picture of flat blocks: many pixels in a small file, as the issue's 136 KB
    one; with an alpha channel (RGBA) when `alpha`."""
    pixels = synthetic_image(64, 64, 3)
    if alpha:
        pixels = np.dstack([pixels, np.full((64, 64), 200, np.uint8)])
    small = Image.fromarray(pixels).resize((side, side), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def hostile_suite(server: Server, workdir: str) -> list:
    """(what, status) for each hostile request."""
    good = png(synthetic_image(48, 64, 1))
    photo = server.request("POST", "/api/uploads?name=photo.png&role=photo", good)[1]["id"]
    outside = os.path.join(tempfile.mkdtemp(), "secret.png")
    with open(outside, "wb") as file:
        file.write(good)
    os.makedirs(os.path.join(workdir, "uploads", "0123456789abcdef"))
    os.symlink(outside, os.path.join(workdir, "uploads", "0123456789abcdef", "link.png"))
    os.makedirs(os.path.join(workdir, "linked-run"))
    with open(os.path.join(workdir, "linked-run", "run.json"), "w") as file:
        file.write("{}")
    os.symlink(outside, os.path.join(workdir, "linked-run", "output.png"))
    with_photo = {**SETTINGS, "content": photo}
    cases = [
        ("plan at 100000 px", "POST", "/api/plan", {**with_photo, "size": 100000}),
        ("plan at 2**31 px", "POST", "/api/plan", {**with_photo, "size": 2**31}),
        ("run at 100000 px", "POST", "/api/runs", {**with_photo, "size": 100000}),
        ("run at 2**31 px", "POST", "/api/runs", {**with_photo, "size": 2**31}),
        ("run of 10**9 steps", "POST", "/api/runs", {**with_photo, "iters": 10**9}),
        ("2000 paintings", "POST", "/api/runs", {**with_photo, "style": ["example/style.png"] * 2000}),
        ("seed -1", "POST", "/api/runs", {**with_photo, "seed": -1}),
        ("seed 2**64", "POST", "/api/runs", {**with_photo, "seed": 2**64}),
        ("seed as text", "POST", "/api/runs", {**with_photo, "seed": "zero"}),
        ("size as a list", "POST", "/api/runs", {**with_photo, "size": [512]}),
        ("size NaN", "POST", "/api/runs", b'{"content": "example/content.png", "style": '
                                          b'["example/style.png"], "size": NaN}'),
        ("style weight 1e309", "POST", "/api/runs", b'{"content": "example/content.png", '
                                                    b'"style": ["example/style.png"], '
                                                    b'"style_weight": 1e309}'),
        ("60000 [", "POST", "/api/runs", b"[" * 60000),
        ("60000 [ to plan", "POST", "/api/plan", b"[" * 60000),
        ("60000 {\"a\":", "POST", "/api/runs", b'{"a":' * 12000),
        ("a list, not an object", "POST", "/api/runs", [1, 2]),
        ("settings of 100 KB", "POST", "/api/runs", b'{"x": "' + b"a" * 100_000 + b'"}'),
        ("not JSON", "POST", "/api/runs", b"{content:"),
        ("a setting the page may not set", "POST", "/api/runs", {**with_photo, "workdir": "/"}),
        ("content an absolute path", "POST", "/api/runs", {**with_photo, "content": "/etc/passwd"}),
        ("content traversal", "POST", "/api/runs", {**with_photo, "content": "../../etc/passwd"}),
        ("content a link out", "POST", "/api/runs",
         {**with_photo, "content": "0123456789abcdef/link.png"}),
        ("upload a link out", "GET", "/api/uploads/0123456789abcdef/link.png", None),
        ("thumbnail of a link out", "GET", "/api/uploads/0123456789abcdef/link.png?thumbnail", None),
        ("output a link out", "GET", "/api/runs/linked-run/files/output", None),
        ("run id traversal", "GET", "/api/runs/%2e%2e/%2e%2e/etc", None),
        ("download traversal", "GET", "/api/runs/linked-run/files/..%2f..%2frun.json", None),
        ("download kind unknown", "GET", "/api/runs/linked-run/files/checkpoint", None),
        ("a 60,000-character run id", "GET", "/api/runs/" + "a" * 60000, None),
        ("an upload id with NUL", "GET", "/api/uploads/0123456789abcdef/a%00.png", None),
        ("a static file outside", "GET", "/static/..%2fapp.py", None),
        ("resume a command-line run", "POST", "/api/runs/linked-run/resume", None),
        ("stop a run not running", "POST", "/api/runs/linked-run/stop", None),
        ("delete an unknown run", "DELETE", "/api/runs/nobody", None),
        ("PUT on runs", "PUT", "/api/runs", None),
        ("PATCH on a run", "PATCH", "/api/runs/linked-run", None),
        ("cross-site start", "POST", "/api/runs", with_photo, {"Origin": "http://evil.example"}),
        ("cross-site delete", "DELETE", "/api/runs/linked-run", None, {"Origin": "http://evil.example"}),
        ("DNS rebinding Host", "GET", "/api/runs", None, {"Host": "evil.example"}),
        ("upload with no name", "POST", "/api/uploads?role=photo", good),
        ("upload of a script", "POST", "/api/uploads?name=x.sh&role=photo", b"#!/bin/sh"),
        ("upload with no role", "POST", "/api/uploads?name=x.png", good),
        ("upload of text as PNG", "POST", "/api/uploads?name=x.png&role=photo", b"hello"),
        ("upload of a truncated PNG", "POST", "/api/uploads?name=x.png&role=photo", good[:200]),
        ("upload of a 60000² bomb", "POST", "/api/uploads?name=b.png&role=photo",
         png_declaring(60000, 60000)),
        ("upload of 16 px", "POST", "/api/uploads?name=t.png&role=photo",
         png(synthetic_image(16, 16, 1))),
        ("upload over 50 MB (declared)", "POST", "/api/uploads?name=x.png&role=photo", None,
         {"Content-Length": str(60 * 2**20)}),
        ("empty upload", "POST", "/api/uploads?name=x.png&role=photo", b""),
        ("unknown page", "GET", "/wp-admin", None),
    ]
    answers = []
    for case in cases:
        what, method, path, body = case[:4]
        headers = case[4] if len(case) > 4 else None
        try:
            status, _ = server.request(method, path, body, headers)
        except (ConnectionError, http.client.HTTPException) as error:
            status = f"no answer ({type(error).__name__})"
        answers.append((what, status))
    # Clients that hang up: mid-upload (a 10 MB upload, 1 MB sent), mid-JSON, and on the
    # event stream.
    for index in range(20):
        server.raw(b"POST /api/uploads?name=x.png&role=photo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"Content-Length: 10000000\r\n\r\n" + b"\0" * 2**20)
        answers.append((f"upload disconnected #{index + 1}", "hung up"))
    for index in range(5):
        server.raw(b"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n\r\n{")
        server.raw(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", close_after=0.05)
        answers.append((f"JSON and event stream disconnected #{index + 1}", "hung up"))
    return answers


def large_upload(server: Server, side: int, alpha: bool = False) -> dict:
    """Uploads a side² PNG while asking for the page every 20 ms."""
    data = large_png(side, alpha)
    latencies, done = [], threading.Event()

    def poll() -> None:
        while not done.is_set():
            started = time.monotonic()
            server.request("GET", "/")
            latencies.append(time.monotonic() - started)
            time.sleep(0.02)

    before = server.memory_kb("VmHWM")
    poller = threading.Thread(target=poll)
    poller.start()
    started = time.monotonic()
    status, answer = server.request("POST", "/api/uploads?name=large.png&role=photo", data,
                                    timeout=600)
    seconds = time.monotonic() - started
    done.set()
    poller.join()
    return {"side": side, "file_kb": len(data) / 1024, "status": status, "answer": answer,
            "seconds": seconds, "page_max_ms": 1000 * max(latencies),
            "page_median_ms": 1000 * statistics.median(latencies), "pages": len(latencies),
            "peak_rss_before_mb": before / 1024, "peak_rss_after_mb": server.memory_kb("VmHWM") / 1024,
            "rss_now_mb": server.memory_kb("VmRSS") / 1024}


def ctrl_c(workdir: str) -> dict:
    """A run stepping, a page's event stream open, then SIGINT."""
    server = Server(workdir)
    content, style = write_image_pair(tempfile.mkdtemp())
    ids = []
    for path, role in ((content, "photo"), (style, "painting")):
        with open(path, "rb") as file:
            ids.append(server.request("POST", f"/api/uploads?name={os.path.basename(path)}"
                                              f"&role={role}", file.read())[1]["id"])
    run_id = server.request("POST", "/api/runs", {"content": ids[0], "style": [ids[1]],
                                                  "size": 64, "iters": 100000})[1]["id"]
    stream = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    stream.request("GET", "/api/events", headers={"Host": f"127.0.0.1:{server.port}"})
    events = stream.getresponse()
    step = 0
    while step < 3:
        line = events.fp.readline()
        if line.startswith(b"data:"):
            event = json.loads(line[5:])
            step = event.get("step", 0) if event.get("type") == "step" else step
    server.process.send_signal(signal.SIGINT)
    signalled = time.monotonic()
    server.process.wait(timeout=60)
    seconds = time.monotonic() - signalled
    time.sleep(0.2)
    printed = [line for moment, line in server.stderr_lines if moment >= signalled]
    run_dir = os.path.join(workdir, urllib.parse.unquote(run_id))
    log_path = os.path.join(run_dir, "web.log")
    stopped_at = None
    for _ in range(600):
        found = re.search(r"stopped by SIGINT at step (\d+)", open(log_path).read())
        if found:
            stopped_at = int(found.group(1))
            break
        time.sleep(0.1)
    return {"seconds_to_exit": seconds, "exit_status": server.process.returncode,
            "lines_printed": printed, "step_at_signal": step, "checkpointed_step": stopped_at}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=12000, help="the large upload's side, px")
    parser.add_argument("--alpha", action="store_true", help="the large upload with alpha (RGBA)")
    parser.add_argument("--verbose", action="store_true", help="each request's answer")
    arguments = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="tf_style_hostile_")
    server = Server(workdir)
    print(f"server RSS at start: {server.memory_kb('VmRSS') / 1024:.0f} MB")
    answers = hostile_suite(server, workdir)
    statuses = {}
    for what, status in answers:
        statuses.setdefault(str(status), []).append(what)
    if arguments.verbose:
        for what, status in answers:
            print(f"  {status}  {what}")
    print(f"\n{len(answers)} hostile requests; answers by status:")
    for status, whats in sorted(statuses.items()):
        print(f"  {status}: {len(whats)}  ({'; '.join(whats[:6])}{' ...' if len(whats) > 6 else ''})")
    errors = [what for what, status in answers if isinstance(status, int) and status >= 500
              and status != 503]
    print(f"  >= 500 (not 503, busy): {len(errors)} {errors}")
    print(f"  after them, server RSS {server.memory_kb('VmRSS') / 1024:.0f} MB, "
          f"peak {server.memory_kb('VmHWM') / 1024:.0f} MB")

    upload = large_upload(server, arguments.side, arguments.alpha)
    kind = "RGBA" if arguments.alpha else "RGB"
    print(f"\n{upload['side']}² {kind} PNG ({upload['file_kb']:.0f} KB): status {upload['status']} in "
          f"{upload['seconds']:.1f} s; GET / during it: max {upload['page_max_ms']:.0f} ms, "
          f"median {upload['page_median_ms']:.0f} ms over {upload['pages']} requests; server "
          f"peak RSS {upload['peak_rss_before_mb']:.0f} MB before, "
          f"{upload['peak_rss_after_mb']:.0f} MB after (now {upload['rss_now_mb']:.0f} MB)")
    server.process.send_signal(signal.SIGINT)
    server.process.wait(timeout=60)
    time.sleep(0.2)

    stopped = ctrl_c(tempfile.mkdtemp(prefix="tf_style_ctrl_c_"))
    print(f"\nCtrl-C with a page open and a run at step {stopped['step_at_signal']}: exit "
          f"{stopped['exit_status']} in {stopped['seconds_to_exit']:.2f} s, "
          f"{len(stopped['lines_printed'])} line(s) printed "
          f"{[line.strip()[:100] for line in stopped['lines_printed']]}; "
          f"the run checkpointed at step {stopped['checkpointed_step']}")
    tracebacks = sum("Traceback" in line for _, line in server.stderr_lines)
    kinds = sorted({re.sub(r"\d+", "N", line.strip())[:90] for _, line in server.stderr_lines})
    print(f"\nthe server's log: {len(server.stderr_lines)} lines, {tracebacks} tracebacks; "
          f"its kinds of line:")
    for kind in kinds:
        print(f"  {kind}")


if __name__ == "__main__":
    main()
