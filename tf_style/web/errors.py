"""What the web server's runs and uploads refuse, by kind; `tf_style.web.app` gives each
kind its HTTP status. Each carries one line for the page."""

from __future__ import annotations

from tf_style.errors import TransferError


class Refused(TransferError):
    """Settings or a file the server will not take: bad, or beyond a limit."""


class TooLarge(Refused):
    """A body larger than the server takes."""


class Stalled(Refused):
    """A body that stopped coming."""


class Unknown(TransferError, LookupError):
    """A run or an upload that is not there."""


class InUse(TransferError):
    """A run in a state that forbids the request: running, queued, finished, another
    process's."""


class Busy(TransferError):
    """The server cannot take more now (a full queue, another plan, shutting down)."""
