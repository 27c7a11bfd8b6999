"""The hardening soak: hostile input and a hostile machine at full scale, as a table of counts.

    python benchmarks/soak.py             # about 15 minutes on 2 cores
    python benchmarks/soak.py --quick     # a few minutes, smaller counts

Not in CI (tests/ covers each case once). Everything runs in a temporary folder:
- fuzzed files: damaged copies of 15 kinds of image file through `load_image` in this
  process (each must end in ImageError or a finite picture, within a deadline), and some
  through the command line (one line on stderr, exit status 2);
- SIGKILL at random moments (mid-step, mid-checkpoint), in chains on one run directory:
  each rerun must resume from the last complete checkpoint, and each chain's output must
  be byte-identical to an uninterrupted run's;
- SIGINT/SIGTERM at random moments, start-up included: status 130/143, one line;
- two identical commands started together on one run directory;
- a full disk (a small tmpfs, where this machine lets us mount one);
- peak memory of a 64 px run with a 12000x12000 content against a small one.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "train.py")
RUN_FLAGS = ["--weights", "random", "--size", "48", "--deterministic", "--progress=false",
             "--summary_every", "5", "--save_every", "1000"]
ONE_LINE = re.compile(r"^train\.py: error: [^\n]+$")


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, TRAIN, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, TRAIN, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _latest_step(workdir: str) -> int:
    """The step of the run's last complete checkpoint, from the manager's own state file."""
    path = os.path.join(workdir, "checkpoints", "checkpoint")
    if not os.path.exists(path):
        return 0
    with open(path) as file:
        match = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', file.read(), re.M)
    return int(match.group(1)) if match else 0


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def fuzz_in_process(folder: str, count: int, counts: collections.Counter) -> None:
    from tf_style import images, testing
    intact = testing.image_file_corpus(os.path.join(folder, "intact"))
    damaged = testing.damaged_copies(intact, os.path.join(folder, "damaged"), count, seed=1)
    giant = os.path.join(folder, "giant.png")
    with open(giant, "wb") as file:
        file.write(testing.png_declaring(100_000, 100_000))
    fifo = os.path.join(folder, "fifo.png")
    os.mkfifo(fifo)

    def expire(signal_number, frame):
        raise TimeoutError

    signal.signal(signal.SIGALRM, expire)
    for path in [*damaged, giant, fifo, "/dev/zero", folder]:
        signal.alarm(10)
        try:
            picture = images.load_image(path)
            finite = bool((picture == picture).all()) and 0 <= picture.min() <= picture.max() <= 255
            counts["files: loaded as a finite picture" if finite else "files: non-finite picture"] += 1
        except images.ImageError:
            counts["files: refused with one line (ImageError)"] += 1
        except TimeoutError:
            counts["files: hangs (over 10 s)"] += 1
        except Exception as error:  # noqa: BLE001 - this is what the soak counts
            counts["files: tracebacks (any other exception)"] += 1
            print(f"  traceback on {path}: {type(error).__name__}: {error}")
        finally:
            signal.alarm(0)
    counts["files: tried in-process"] += len(damaged) + 4


def fuzz_command_line(folder: str, count: int, style: str, counts: collections.Counter) -> None:
    from tf_style import images
    candidates = sorted(os.listdir(os.path.join(folder, "damaged")))
    refused = []
    for name in candidates:  # the ones load_image refuses: each must be one line through train.py
        try:
            images.load_image(os.path.join(folder, "damaged", name))
        except images.ImageError:
            refused.append(name)
    for name in random.Random(0).sample(refused, min(count, len(refused))):
        result = _finish("--content", os.path.join(folder, "damaged", name), "--style", style,
                         "--workdir", os.path.join(folder, "cli_run"), *RUN_FLAGS, "--iters", "1")
        lines = result.stderr.strip().splitlines()
        good = result.returncode == 2 and len(lines) == 1 and ONE_LINE.match(lines[0])
        counts["command line: bad files tried"] += 1
        counts["command line: one line, exit 2" if good else "command line: anything else"] += 1
        if "Traceback" in result.stderr:
            counts["command line: tracebacks"] += 1


def kill_chains(folder: str, content: str, style: str, chains: int, kills: int,
                counts: collections.Counter) -> None:
    iters = "400"
    straight = os.path.join(folder, "straight")
    result = _finish("--content", content, "--style", style, "--workdir", straight, *RUN_FLAGS,
                     "--iters", iters, "--checkpoint_every", "1")
    assert result.returncode == 0, result.stderr
    expected = _read(os.path.join(straight, "output.png"))
    rng = random.Random(1)
    for chain in range(chains):
        workdir = os.path.join(folder, f"killed_{chain}")
        args = ["--content", content, "--style", style, "--workdir", workdir, *RUN_FLAGS,
                "--iters", iters, "--checkpoint_every", "1"]
        for kill in range(kills):
            last_complete = _latest_step(workdir)
            process = _start(*args)
            if kill % 4 == 3:  # a quarter during start-up: import, build, trace
                time.sleep(rng.uniform(0.3, 2.5))
            else:  # the rest once training is under way: inside a step or a checkpoint write
                deadline = time.monotonic() + 120
                while _latest_step(workdir) <= last_complete and process.poll() is None:
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                time.sleep(rng.uniform(0.0, 0.3))
            process.kill()
            _, stderr = process.communicate()
            counts["SIGKILL: sent"] += 1
            resumed = re.search(r"Resumed from \S+ at step (\d+)", stderr)
            if last_complete == 0 and resumed is None and _latest_step(workdir) > 0:
                counts["SIGKILL: next start began the run (nothing to resume yet)"] += 1
            elif resumed is None:
                counts["SIGKILL: killed while starting, before resuming"] += 1
            elif int(resumed.group(1)) == last_complete:
                counts["SIGKILL: next start resumed from the last complete checkpoint"] += 1
            else:
                counts["SIGKILL: next start resumed from another step"] += 1
        final = _finish(*args)
        same = final.returncode == 0 and _read(os.path.join(workdir, "output.png")) == expected
        counts["SIGKILL chains: output byte-identical to the uninterrupted run" if same
               else "SIGKILL chains: output differs or failed"] += 1


def stop_signals(folder: str, content: str, style: str, trials: int,
                 counts: collections.Counter) -> None:
    rng = random.Random(2)
    for trial in range(trials):
        number = (signal.SIGINT, signal.SIGTERM)[trial % 2]
        workdir = os.path.join(folder, f"stopped_{trial}")
        args = ["--content", content, "--style", style, "--workdir", workdir, *RUN_FLAGS,
                "--iters", "100000", "--checkpoint_every", "5"]
        process = _start(*args)
        time.sleep(rng.uniform(0.3, 6.0))  # start-up (import, build, trace) or training
        process.send_signal(number)
        _, stderr = process.communicate(timeout=300)
        lines = stderr.strip().splitlines()
        good = (process.returncode == 128 + number and "Traceback" not in stderr
                and lines and ONE_LINE.match(lines[-1]) and "stopped by" in lines[-1])
        counts[f"{signal.Signals(number).name}: status {128 + number}, one line, no traceback"
               if good else f"{signal.Signals(number).name}: anything else"] += 1
        if good and "while starting" in lines[-1] and os.path.exists(workdir):
            counts["signals while starting: left files behind"] += 1


def concurrent_starts(folder: str, content: str, style: str, trials: int,
                      counts: collections.Counter) -> None:
    for trial in range(trials):
        workdir = os.path.join(folder, f"concurrent_{trial}")
        args = ["--content", content, "--style", style, "--workdir", workdir, *RUN_FLAGS,
                "--iters", "30", "--checkpoint_every", "2"]
        first, second = _start(*args), _start(*args)
        stderrs = [process.communicate(timeout=600)[1] for process in (first, second)]
        results = list(zip((first.returncode, second.returncode), stderrs))
        finished = sum(code == 0 for code, _ in results)
        refused = sum(code == 2 and "is in use by process" in stderr for code, stderr in results)
        tracebacks = sum("Traceback" in stderr for _, stderr in results)
        counts["concurrent starts: tried (two processes each)"] += 1
        if tracebacks:
            counts["concurrent starts: tracebacks"] += tracebacks
        # Either one ran and the other was refused, or (if the first had already
        # finished) both completed; the run must end complete either way.
        complete = _finish(*args).returncode == 0 and finished + refused == 2
        counts["concurrent starts: one run, the other refused or resumed, none mixed"
               if complete else "concurrent starts: anything else"] += 1


def full_disks(folder: str, content: str, style: str, trials: int,
               counts: collections.Counter) -> None:
    mount_point = os.path.join(folder, "disk")
    os.makedirs(mount_point)
    for trial in range(trials):
        size = 600 + 200 * trial  # KiB: full at a different moment each time
        if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}k", "tmpfs", mount_point],
                          capture_output=True).returncode != 0:
            counts["full disk: cannot mount a tmpfs here (skipped)"] += 1
            return
        try:
            workdir = os.path.join(mount_point, "run")
            args = ["--content", content, "--style", style, "--workdir", workdir, *RUN_FLAGS,
                    "--iters", "60", "--checkpoint_every", "1", "--summary_every", "1"]
            result = _finish(*args)
            lines = result.stderr.strip().splitlines()
            good = (result.returncode == 2 and "Traceback" not in result.stderr
                    and ONE_LINE.match(lines[-1]) and "No space left" in lines[-1])
            counts["full disk: one line naming the cause" if good
                   else "full disk: anything else"] += 1
            before = _latest_step(workdir)
            subprocess.run(["mount", "-o", "remount,size=64m", mount_point], check=True)
            resumed = _finish(*args)
            ok = resumed.returncode == 0 and (before == 0 or f"at step {before}" in resumed.stderr)
            counts["full disk: rerun after freeing space resumed and finished" if ok
                   else "full disk: rerun failed"] += 1
        finally:
            subprocess.run(["umount", mount_point], capture_output=True)


def huge_content_memory(folder: str, style: str, table: list) -> None:
    """Peak RSS (/usr/bin/time) of a 64 px run with a small content and a 12000x12000 one."""
    import numpy as np
    from PIL import Image
    y, x = np.mgrid[0:12000, 0:12000]
    pixels = np.stack([(x // 47) % 256, (y // 31) % 256, ((x + y) // 97) % 256], -1).astype(np.uint8)
    huge = os.path.join(folder, "huge.png")
    Image.fromarray(pixels).save(huge)
    small = os.path.join(folder, "small.png")
    Image.fromarray(pixels[:640, :640]).save(small)
    del pixels, x, y
    for name, content in (("64 px run, 640x640 content", small),
                          ("64 px run, 12000x12000 content", huge)):
        result = subprocess.run(
            ["/usr/bin/time", "-f", "peak_kb=%M", sys.executable, TRAIN, "--content", content,
             "--style", style, "--workdir", os.path.join(folder, f"memory_{len(table)}"),
             *RUN_FLAGS, "--size", "64", "--iters", "2"],
            cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        table.append((name, int(re.search(r"peak_kb=(\d+)", result.stderr).group(1)) / 1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts (a few minutes)")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    from tf_style.testing import write_image_pair
    counts: collections.Counter = collections.Counter()
    memory: list = []
    with tempfile.TemporaryDirectory(prefix="tf_style_soak_") as folder:
        content, style = write_image_pair(folder)
        steps = [
            ("fuzzed files in-process", lambda: fuzz_in_process(folder, int(1000 * scale) + 20, counts)),
            ("fuzzed files through train.py",
             lambda: fuzz_command_line(folder, max(3, int(30 * scale)), style, counts)),
            ("SIGKILL chains",
             lambda: kill_chains(folder, content, style, max(1, int(10 * scale)), 10, counts)),
            ("SIGINT/SIGTERM",
             lambda: stop_signals(folder, content, style, max(4, int(40 * scale)), counts)),
            ("concurrent starts",
             lambda: concurrent_starts(folder, content, style, max(2, int(10 * scale)), counts)),
            ("full disks", lambda: full_disks(folder, content, style, max(2, int(5 * scale)), counts)),
            ("memory", lambda: huge_content_memory(folder, style, memory)),
        ]
        for name, step in steps:
            started = time.perf_counter()
            step()
            print(f"[{name}: {time.perf_counter() - started:.0f} s]", flush=True)
    for failure in ("files: tracebacks (any other exception)", "files: hangs (over 10 s)",
                    "command line: tracebacks", "command line: anything else",
                    "SIGKILL: next start resumed from another step",
                    "SIGKILL chains: output differs or failed", "concurrent starts: tracebacks",
                    "concurrent starts: anything else", "full disk: anything else"):
        counts.setdefault(failure, 0)  # printed as 0 rather than left out
    print("\n| what | count |\n|---|---|")
    for key in sorted(counts):
        print(f"| {key} | {counts[key]} |")
    print("\n| run | peak RSS |\n|---|---|")
    for name, megabytes in memory:
        print(f"| {name} | {megabytes:.0f} MB |")


if __name__ == "__main__":
    main()
