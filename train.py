"""Neural style transfer (Gatys et al.) from the command line.

    python train.py --content photo.jpg --style painting.jpg --iters 500
    tf-style --content photo.jpg --style painting.jpg --iters 500      # the same, once installed

Rerun the same command to resume from the last checkpoint; watch it with
`tensorboard --logdir runs/`. Every flag is a field of `tf_style.TransferConfig`.
"""

import dataclasses
import functools
import logging as python_logging
import os
import signal
import sys
import typing

from absl import app, flags, logging

from tf_style import batch_config as batch_config_lib
from tf_style import config as config_lib
from tf_style import batch, executors, run_identity, signals, stderr
from tf_style.errors import TransferError

# Our own modules: at default verbosity only their log lines reach the terminal.
_OUR_DIRECTORIES = (os.path.dirname(os.path.abspath(config_lib.__file__)),)
_OUR_FILES = (os.path.abspath(__file__),)
_HELP_FLAGS = {"--help": False, "-help": False, "-h": False, "-?": False, "--helpshort": False,
               "--helpfull": True}


def _flag_type(annotation) -> typing.Tuple[type, bool]:
    """The type of a field's values and whether the flag is a comma-separated list."""
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union:  # Optional[X]
        (annotation,) = arguments
        arguments = list(typing.get_args(annotation))
    if typing.get_origin(annotation) is tuple:
        return arguments[0], True
    return annotation, False


# The dataclasses whose fields are the flags: one run's settings, and a batch's.
_SETTINGS = (config_lib.TransferConfig, batch_config_lib.BatchConfig)


def _define_flags() -> None:
    """One flag per settings field, with the field's default, help and choices."""
    for settings_class in _SETTINGS:
        _define_flags_of(settings_class)


def _define_flags_of(settings_class) -> None:
    hints = typing.get_type_hints(settings_class)
    for field in dataclasses.fields(settings_class):
        value_type, is_list = _flag_type(hints[field.name])
        default = None if field.default is dataclasses.MISSING else field.default
        help_text = field.metadata["help"]
        choices = field.metadata["choices"]
        if is_list:
            flags.DEFINE_list(field.name, None if default is None else [str(v) for v in default],
                              help_text)
        elif choices and value_type is str:
            flags.DEFINE_enum(field.name, default, list(choices), help_text)
        elif value_type is bool:
            flags.DEFINE_bool(field.name, default, help_text)
        elif value_type is int:
            flags.DEFINE_integer(field.name, default, help_text)
        elif value_type is float:
            flags.DEFINE_float(field.name, default, help_text)
        else:
            flags.DEFINE_string(field.name, default, help_text)


_define_flags()


def _program_name() -> str:
    return os.path.basename(sys.argv[0]) or "train.py"


def _fail(message: str, exit_code: int = 2) -> None:
    sys.stderr.write(f"{_program_name()}: error: {message}\n")
    sys.exit(exit_code)


def _list_values(name: str, values, value_type: type):
    """A list flag's values as `value_type`, or None when the flag was not given."""
    if values is None:
        return None
    try:
        return tuple(value_type(value) for value in values)
    except ValueError:
        what = {int: "whole numbers", float: "numbers"}.get(value_type, "values")
        _fail(f"--{name} must be {what}; got {','.join(values)}")


def config_from_flags() -> config_lib.TransferConfig:
    """The parsed flags as a `TransferConfig`; a bad value exits with one line."""
    if not flags.FLAGS["style"].value or not (flags.FLAGS["content"].value
                                              or flags.FLAGS["texture_size"].value):
        _fail("--content and --style are required (pictures, videos or folders); a texture "
              "takes --style and --texture_size WIDTHxHEIGHT instead")
    return _settings_from_flags(config_lib.TransferConfig)


def batch_config_from_flags() -> batch_config_lib.BatchConfig:
    """The batch flags as a `BatchConfig`; a bad value exits with one line."""
    return _settings_from_flags(batch_config_lib.BatchConfig)


def _settings_from_flags(settings_class):
    hints = typing.get_type_hints(settings_class)
    fields = dataclasses.fields(settings_class)
    settings = {}
    for field in fields:
        value = flags.FLAGS[field.name].value
        value_type, is_list = _flag_type(hints[field.name])
        settings[field.name] = _list_values(field.name, value, value_type) if is_list else value
    try:
        return settings_class(**settings)
    except ValueError as error:
        _fail(str(error))


def _print_help(full: bool) -> None:
    """Our docstring and flags (--helpfull: absl's too) on stdout; exits 0, as help should."""
    flag_values = flags.FLAGS
    text = flag_values.get_help() if full else flag_values.module_help(
        flag_values.find_module_defining_flag("content"))
    sys.stdout.write(f"{__doc__.strip()}\n\nflags:\n{text}\n")
    if not full:
        sys.stdout.write("\nTry --helpfull for absl's flags too (-v/--verbosity shows "
                         "TensorFlow's own log lines).\n")
    sys.exit(0)


def _parse_flags(argv):
    """absl's parser, with its errors (a bad enum, a non-number) in our one-line form."""
    for argument in argv[1:]:
        if argument == "--":
            break
        if argument in _HELP_FLAGS:
            _print_help(full=_HELP_FLAGS[argument])
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        _fail(str(error))


class _OurLinesOnly(python_logging.Filter):
    """Drops other libraries' log records below ERROR (TensorFlow's checkpoint INFO lines)."""

    def filter(self, record: python_logging.LogRecord) -> bool:
        path = os.path.abspath(record.pathname)
        ours = path in _OUR_FILES or any(path.startswith(d + os.sep) for d in _OUR_DIRECTORIES)
        return ours or record.levelno >= python_logging.ERROR


def _import_tf_style(quiet: bool):
    """Imports TensorFlow and tf_style's runner, keeping their start-up chatter off the
    terminal unless -v/--verbosity was given."""
    if not quiet:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        import tf_style.runner  # noqa: PLC0415 - TensorFlow after the flags are checked
        return tf_style
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.get_absl_handler().addFilter(_OurLinesOnly())
    # Held-back lines are written out if the import fails (not for a Ctrl-C: one line then).
    with stderr.held_back(replay_on_error=True, unless=(signals.Interrupted,)):
        import tensorflow as tf  # noqa: PLC0415 - after the flags are checked, its chatter held
        import tf_style.runner  # noqa: PLC0415 - as TensorFlow
        tf.config.list_physical_devices()  # CUDA's probe logs here, on machines without a GPU too
    return tf_style


def main(argv, startup: typing.Optional[signals.StartupStop] = None):
    if len(argv) > 1:
        _fail(f"unexpected arguments: {' '.join(argv[1:])}")
    config = config_from_flags()
    batch_config = batch_config_from_flags()
    try:
        # TensorFlow loads only once the flags are known to be good.
        tf_style = _import_tf_style(quiet=not flags.FLAGS["verbosity"].present)
        if startup is not None:
            startup.raise_if_received()
        if batch.is_batch(config) or batch_config.executor != "local":
            _run_batch(tf_style, config, batch_config)
            return
        if config.dry_run:
            sys.stdout.write(tf_style.plan(config).describe(config))
            if config.is_video:
                sys.stdout.write(f"(the plan of a video's first frame; each later frame runs "
                                 f"until converged or {config.later_frame_iters} steps)\n")
            return
        tf_style.run(config)
    except signals.Interrupted as interrupted:
        _fail(str(interrupted), exit_code=128 + interrupted.signal_number)
    except TransferError as error:
        _fail(str(error))


def _run_batch(tf_style, config: config_lib.TransferConfig,
               batch_config: batch_config_lib.BatchConfig) -> None:
    """Every (content, style) pair; exits 2 with one line when some failed."""
    if config.dry_run:
        for pair in batch.pair_configs(config):
            sys.stdout.write(f"{run_identity.run_dir(pair)}:\n{tf_style.plan(pair).describe(pair)}")
        return
    results = batch.run_batch(config, executors.make_executor(batch_config))
    failed = [result for result in results if result.status == "failed"]
    if failed:
        summary = os.path.join(batch.batch_dir(config), batch.SUMMARY_FILE)
        _fail(f"{len(failed)} of {len(results)} pairs failed (one line each above; see {summary})")


def console_main() -> None:
    """The `tf-style` command, the same as `python train.py`; `tf-style serve` starts the
    web page (tf_style.web.server)."""
    if sys.argv[1:2] == ["serve"]:
        from tf_style.web import server  # noqa: PLC0415 - the web page, not the runner

        server.main(sys.argv[2:])
        return
    # Until the run takes over (it checkpoints, then stops), a signal stops start-up where
    # it is, with one line and the conventional status.
    startup = signals.StartupStop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, startup)
    logging.set_verbosity(logging.INFO)
    app.run(functools.partial(main, startup=startup), flags_parser=_parse_flags)


if __name__ == "__main__":
    console_main()
