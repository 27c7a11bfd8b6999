"""README and docs/: every link resolves, and every command they show runs here on tiny
inputs, or is a benchmark whose measured time its line gives."""

import glob
import os
import re
import shlex
import shutil

import pytest
from absl import flags
from PIL import Image

import train
from conftest import ROOT
from tf_style.testing import synthetic_image

DOCUMENTS = [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]
# docs/artistic-controls.md writes its commands as `T ...` with $S for the pictures.
ABBREVIATIONS = {
    "T": "python train.py --content tf_style/examples/content.png --weights random --size 256 "
         "--iters 200 --optimizer adam",
    "$S": "tf_style/examples",
}
# What every command here is run with, after its own flags (absl keeps the last value).
TINY = ["--size", "64", "--iters", "1", "--weights", "random", "--progress=false",
        "--convergence_tolerance", "0"]


def _code_lines():
    """(document, line) for each line of each ```sh block, continuations joined."""
    for path in DOCUMENTS:
        with open(path, encoding="utf8") as file:
            text = file.read()
        for block in re.findall(r"```(?:sh)?\n(.*?)```", text, flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                yield os.path.relpath(path, ROOT), line.strip()


def _train_commands():
    commands = []
    for document, whole in _code_lines():
        for line in whole.split(" && "):  # the quick start installs, then runs
            line = re.sub(r"\s+#.*$", "", line.strip().removeprefix("$ "))
            words = line.split()
            if not words or words[0] not in ("python", "tf-style", "T"):
                continue
            if words[0] == "python" and words[1:2] != ["train.py"]:
                continue
            if words[1:2] == ["serve"]:  # the web page: tests/web/test_server.py starts it
                continue
            line = re.sub(r"^T ", ABBREVIATIONS["T"] + " ", line)
            line = line.replace("$S", ABBREVIATIONS["$S"])
            arguments = shlex.split(line)
            arguments = arguments[2:] if arguments[0] == "python" else arguments[1:]
            commands.append(pytest.param(arguments, id=f"{document}: {' '.join(arguments)}"))
    return commands


def test_every_link_resolves():
    for path in DOCUMENTS:
        with open(path, encoding="utf8") as file:
            text = file.read()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if target.startswith(("http://", "https://")):
                continue
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), target))
            assert os.path.exists(resolved), f"{os.path.relpath(path, ROOT)}: {target}"


def test_every_benchmark_command_says_how_long_it_takes():
    for document, line in _code_lines():
        match = re.match(r"(?:pip install -e \S+ && )?python (benchmarks/\w+\.py)", line)
        if match:
            assert os.path.isfile(os.path.join(ROOT, match.group(1))), (document, line)
            assert re.search(r"#.*\d+\s*(s|min|minutes)\b", line), (document, line)


def test_the_docs_show_commands():
    assert len(_train_commands()) >= 20  # the reader above found them


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A fresh clone's view from `work/`: the repository's own examples, and tiny
    stand-ins for the files a user names as their own (photo.jpg, photos/, ...). Nothing
    beside it: no ../shared."""
    work = tmp_path_factory.mktemp("docs") / "work"

    def picture(path, height=64, width=64, seed=1):  # square: --style_scale 0.5 keeps 32 px
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(synthetic_image(height, width, seed)).save(path)

    shutil.copytree(os.path.join(ROOT, "tf_style", "examples"), work / "tf_style" / "examples")
    for index, name in enumerate(["photo.jpg", "painting.jpg", "starry_night.jpg",
                                  "photos/a.jpg", "photos/b.png", "paintings/x.jpg",
                                  "styles/y.png", "holiday/one.jpg", "holiday/two.jpg",
                                  "frames/f1.png", "frames/f2.png"]):
        picture(str(work / name), seed=index)
    picture(str(work / "content_16x9.png"), 36, 64)  # the crop large-pictures.md makes
    return work


def test_no_command_needs_pictures_beside_the_repository():
    for document, line in _code_lines():
        assert "../shared" not in line, (document, line)


@pytest.mark.slow
@pytest.mark.parametrize("arguments", _train_commands())
def test_every_command_runs_on_tiny_inputs(arguments, sandbox, monkeypatch, capsys):
    if "--ray_address" in arguments:
        pytest.skip("joins a Ray cluster; tests/test_executors.py runs the same batch on Ray")
    if any(argument.endswith(".mp4") for argument in arguments):
        pytest.importorskip("av", reason="the [video] extra")
        from tf_style.testing import write_clip
        write_clip(str(sandbox / "clip.mp4"), [synthetic_image(64, 64, seed) for seed in range(3)])
    monkeypatch.chdir(sandbox)
    workdir = f"runs/{abs(hash(tuple(arguments)))}"
    tiny = TINY + (["--texture_size", "64x64"] if "--texture_size" in arguments else [])
    flags.FLAGS.unparse_flags()
    try:
        train._parse_flags(["train.py", *arguments, *tiny, "--workdir", workdir])
        train.main(["train.py"])
    except SystemExit as exit:
        pytest.fail(f"exit status {exit.code}: {capsys.readouterr().err.strip()[-500:]}")
    finally:
        flags.FLAGS.unparse_flags()
    if "--dry_run" in arguments:
        assert "est. peak memory" in capsys.readouterr().out
    else:
        outputs = glob.glob(os.path.join(workdir, "**", "output.*"), recursive=True)
        assert outputs
        for output in outputs:  # a picture at the size asked (the tiny 64 px), not a stand-in
            if output.endswith((".png", ".jpg", ".tif", ".tiff", ".webp")):
                with Image.open(output) as picture:
                    assert max(picture.size) == 64, (output, picture.size)
