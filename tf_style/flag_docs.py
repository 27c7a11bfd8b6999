"""docs/usage.md's table of every flag, made from the settings' own fields (their help,
defaults and shown defaults). To print it:

    python -c "from tf_style import flag_docs; print(flag_docs.flag_table())"
"""

from __future__ import annotations

import dataclasses

from tf_style.batch_config import BatchConfig
from tf_style.config import TransferConfig


def flag_table() -> str:
    """docs/usage.md's table of flags, made from the fields: flag, default, meaning."""
    rows = ["| flag | default | meaning |", "|---|---|---|"]
    for field in (*dataclasses.fields(TransferConfig), *dataclasses.fields(BatchConfig)):
        if field.default is dataclasses.MISSING:
            shown = "(required)"
        else:
            shown = field.metadata["shown_default"] or format_default(field.default)
        cells = (f"`--{field.name}`", shown, field.metadata["help"])
        rows.append("| " + " | ".join(_markdown_cell(cell) for cell in cells) + " |")
    return "\n".join(rows) + "\n"


def format_default(value) -> str:
    """A default as a user would type it on the command line."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value) if value else "none"
    return str(value)


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
