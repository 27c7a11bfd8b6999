"""Neural style transfer (Gatys et al.) from the command line.

    python train.py --content photo.jpg --style painting.jpg --iters 500

Rerun the same command to resume from the last checkpoint; watch it with
`tensorboard --logdir runs/`. Every flag is a field of `tf_style.TransferConfig`.
"""

import dataclasses
import os
import sys
import typing

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out

from absl import app, flags, logging  # noqa: E402

from tf_style import config as config_lib  # noqa: E402


def _flag_type(annotation) -> typing.Tuple[type, bool]:
    """The type of a field's values and whether the flag is a comma-separated list."""
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union:  # Optional[X]
        (annotation,) = arguments
        arguments = list(typing.get_args(annotation))
    if typing.get_origin(annotation) is tuple:
        return arguments[0], True
    return annotation, False


def _define_flags() -> None:
    """One flag per `TransferConfig` field, with the field's default, help and choices."""
    hints = typing.get_type_hints(config_lib.TransferConfig)
    for field in dataclasses.fields(config_lib.TransferConfig):
        value_type, is_list = _flag_type(hints[field.name])
        default = None if field.default is dataclasses.MISSING else field.default
        help_text = field.metadata["help"]
        choices = field.metadata["choices"]
        if is_list:
            flags.DEFINE_list(field.name, None if default is None else [str(v) for v in default],
                              help_text)
        elif choices:
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


def _fail(message: str, exit_code: int = 2) -> None:
    sys.stderr.write(f"train.py: error: {message}\n")
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
    hints = typing.get_type_hints(config_lib.TransferConfig)
    fields = dataclasses.fields(config_lib.TransferConfig)
    required = [f.name for f in fields if f.default is dataclasses.MISSING]
    if not all(flags.FLAGS[name].value for name in required):
        _fail(f"{' and '.join('--' + name for name in required)} are required (image files)")
    settings = {}
    for field in fields:
        value = flags.FLAGS[field.name].value
        value_type, is_list = _flag_type(hints[field.name])
        settings[field.name] = _list_values(field.name, value, value_type) if is_list else value
    try:
        return config_lib.TransferConfig(**settings)
    except ValueError as error:
        _fail(str(error))


def _parse_flags(argv):
    """absl's parser, with its errors (a bad enum, a non-number) in our one-line form."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        _fail(str(error))


def main(argv):
    if len(argv) > 1:
        _fail(f"unexpected arguments: {' '.join(argv[1:])}")
    config = config_from_flags()
    import tf_style  # TensorFlow loads only once the flags are known to be good.

    try:
        tf_style.run(config)
    except tf_style.Interrupted as interrupted:
        _fail(str(interrupted), exit_code=128 + interrupted.signal_number)
    except tf_style.TransferError as error:
        _fail(str(error))


if __name__ == "__main__":
    logging.set_verbosity(logging.INFO)
    app.run(main, flags_parser=_parse_flags)
