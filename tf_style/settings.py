"""How a setting is declared and checked: `setting` (a dataclass field with its help,
choices and check), the checks themselves, and the limits on what one run may ask for.
No TensorFlow and no other tf_style module: the configs are built from these."""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional, Sequence

from tf_style.architecture import MIN_IMAGE_SIDE

# Limits on what one run may ask for, checked before anything is allocated (the web page's
# requests too). Steps: far more than any picture needs (the paper's L-BFGS settles within
# ~1,000; Adam at 512 px within ~2,000), but a request cannot hold the machine for weeks.
MAX_ITERS = 100_000
# Paintings blended in one run: each is loaded, kept and matched at every scale.
MAX_STYLES = 32
# Seeds every seeded generator we use accepts (keras.utils.set_random_seed: 0 to 2**32 - 1).
MAX_SEED = 2**32 - 1


def require_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def require_positive_float(name: str, value) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")


def require_non_negative_float(name: str, value) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ValueError(f"`{name}` must be zero or positive. Received: {name}={value!r}")


def require_fraction(name: str, value) -> None:
    if not (isinstance(value, (int, float)) and 0 <= value <= 1):
        raise ValueError(f"`{name}` must be between 0 and 1. Received: {name}={value!r}")


def require_steps(name: str, value) -> None:
    require_positive_int(name, value)
    if value > MAX_ITERS:
        raise ValueError(f"`{name}` must be at most {MAX_ITERS:,} steps. Received: {name}={value}")


def require_seed(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ValueError(f"`{name}` must be an integer from 0 to {MAX_SEED} (2**32 - 1). "
                         f"Received: {name}={value!r}")


def require_image_side(name: str, value) -> None:
    require_positive_int(name, value)
    if value < MIN_IMAGE_SIDE:
        raise ValueError(
            f"`{name}` must be at least {MIN_IMAGE_SIDE} px for VGG19. Received: {name}={value}")


def parse_picture_size(text: str):
    """(width, height) from "WxH" (1024x768); raises ValueError saying what was received."""
    parts = str(text).lower().replace(" ", "").split("x")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise ValueError(f"a size must be WIDTHxHEIGHT in px, e.g. 1024x1024. Received: {text!r}")
    return int(parts[0]), int(parts[1])


def require_picture_size(name: str, value) -> None:
    """A "WxH" size whose sides VGG19 can see."""
    try:
        width, height = parse_picture_size(value)
    except ValueError as error:
        raise ValueError(f"`{name}` {error}") from None
    for side in (width, height):
        if side < MIN_IMAGE_SIDE:
            raise ValueError(f"`{name}` needs sides of at least {MIN_IMAGE_SIDE} px for VGG19. "
                             f"Received: {name}={value!r}")


def require_layers(name: str, layer_names) -> None:
    """Layers named at all and once each; `TransferConfig` checks them against its model."""
    if not layer_names:
        raise ValueError(f"`{name}` needs at least one layer. Received: {name}=()")
    if len(set(layer_names)) != len(layer_names):
        raise ValueError(f"`{name}` repeats a layer. Received: {name}={','.join(layer_names)}")


def require_each(check: Callable[[str, object], None]) -> Callable[[str, object], None]:
    """A check of every value in an optional tuple."""
    def check_each(name: str, values) -> None:
        for value in values or ():
            check(name, value)
    return check_each


def unless_none(check: Callable[[str, object], None]) -> Callable[[str, object], None]:
    """A check of an optional value, when it is given."""
    def check_given(name: str, value) -> None:
        if value is not None:
            check(name, value)
    return check_given


def require_tile_size(name: str, value) -> None:
    require_positive_int(name, value)
    if value % 16:
        raise ValueError(f"`{name}` must be a multiple of 16 (VGG19 pools four times). "
                         f"Received: {name}={value}")


def require_nonempty(name: str, value) -> None:
    if not value:
        raise ValueError(f"`{name}` must not be empty. Received: {name}={value!r}")


def setting(default=dataclasses.MISSING, *, help: str, result: bool = True,  # noqa: A002
            choices: Optional[Sequence[str]] = None,
            check: Optional[Callable[[str, object], None]] = None,
            shown_default: Optional[str] = None) -> dataclasses.Field:
    """A `TransferConfig` field and everything said about it in one place.

    The field's name is the flag's name. `help` is its --help and docs/usage.md text; `result`
    says whether it changes the picture (such settings are compared when a run resumes);
    `choices` and `check` validate it; `shown_default` replaces the default in docs.
    """
    metadata = {"help": help, "result": result, "choices": tuple(choices) if choices else None,
                "check": check, "shown_default": shown_default}
    return dataclasses.field(default=default, metadata=metadata)


def check_fields(settings) -> None:
    """Each field's choices and check, as `setting` declared them."""
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        choices = field.metadata["choices"]
        if choices and value is not None and value not in choices:
            raise ValueError(f"`{field.name}` must be one of {choices}. "
                             f"Received: {field.name}={value!r}")
        if field.metadata["check"] is not None:
            field.metadata["check"](field.name, value)
