"""`tf-style serve` as a user starts it: its address, its token, its one-line errors."""

import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start_server(*args, cwd):
    """`python -m tf_style.web ARGS` on a free port; returns the process and its address line."""
    process = subprocess.Popen([sys.executable, "-m", "tf_style.web", "--port", "0", *args],
                               cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line.startswith("tf_style: serving http://"), process.stderr.read()
    return process, line.split()[2]


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_bound_beyond_the_loopback_it_makes_up_a_token_and_requires_it(tmp_path):
    process, address = start_server("--host", "0.0.0.0", "--workdir", str(tmp_path), cwd=tmp_path)
    try:
        assert "?token=" in address
        page, token = address.split("?token=")
        assert len(token) >= 24
        assert status_of(page + "api/runs") == 401
        wrong = token[:-1] + ("y" if token.endswith("x") else "x")
        assert status_of(page + "api/runs?token=" + wrong) == 401
        assert status_of(address) == 200
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


def test_on_the_loopback_no_token_is_needed(tmp_path):
    process, address = start_server("--workdir", str(tmp_path), cwd=tmp_path)
    try:
        assert address.startswith("http://127.0.0.1:") and "token" not in address
        assert status_of(address + "api/runs") == 200
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("args, words", [
    (["--port", "70000"], "--port must be 0-65535"),
    (["--port", "eighty"], "invalid int value"),
    (["--token", "short"], "at least 8"),
    (["--max_upload_mb", "0"], "--max_upload_mb must be positive"),
    (["--executor", "slurm"], "invalid choice"),
    (["--host", "203.0.113.9"], "cannot listen on 203.0.113.9"),
])
def test_bad_flags_are_one_line_and_exit_2(tmp_path, args, words):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), "serve", *args],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
    assert result.stderr.startswith("tf-style serve: error:")
