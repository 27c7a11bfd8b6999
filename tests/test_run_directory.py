"""The run directory: one process at a time, a refused claim changes nothing."""

import os
import subprocess
import sys
import time

import pytest

from tf_style import run_directory
from tf_style.testing import snapshot

RECORD = {"settings": {"size": 48}, "content_sha256": "abc"}


def test_a_second_claim_is_refused_naming_the_owner_and_changes_nothing(tmp_path):
    run_dir = str(tmp_path / "run")
    with run_directory.claim(run_dir, RECORD, overwrite=False):
        before = snapshot(run_dir)
        with pytest.raises(run_directory.RunDirectoryError,
                           match=f"in use by process {os.getpid()}"):
            run_directory.claim(run_dir, RECORD, overwrite=False)
        with pytest.raises(run_directory.RunDirectoryError, match="in use"):
            run_directory.claim(run_dir, {"another": "run"}, overwrite=True)
        assert snapshot(run_dir) == before
    # Released: the same run may be claimed again.
    run_directory.claim(run_dir, RECORD, overwrite=False).release()


def test_the_lock_goes_away_with_a_killed_process(tmp_path):
    run_dir = str(tmp_path / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from tf_style import run_directory; "
         f"run_directory.claim({run_dir!r}, {RECORD!r}, False); print('held', flush=True); "
         "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(run_directory.RunDirectoryError, match=f"process {holder.pid}"):
        run_directory.claim(run_dir, RECORD, overwrite=False)
    holder.kill()
    holder.wait()
    deadline = time.monotonic() + 10
    while True:
        try:
            run_directory.claim(run_dir, RECORD, overwrite=False).release()
            break
        except run_directory.RunDirectoryError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_another_runs_record_is_refused_and_overwrite_clears(tmp_path):
    run_dir = str(tmp_path / "run")
    run_directory.claim(run_dir, RECORD, overwrite=False).release()
    os.makedirs(os.path.join(run_dir, "checkpoints"))
    before = snapshot(run_dir)
    with pytest.raises(run_directory.RunDirectoryError, match="content_sha256.*--overwrite"):
        run_directory.claim(run_dir, {**RECORD, "content_sha256": "def"}, overwrite=False)
    assert snapshot(run_dir) == before
    run_directory.claim(run_dir, {**RECORD, "content_sha256": "def"}, overwrite=True).release()
    assert not os.path.exists(os.path.join(run_dir, "checkpoints"))
