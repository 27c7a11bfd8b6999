"""The one exception type for problems a user can fix: bad input, files, run directories."""


class TransferError(Exception):
    """A problem with the user's input or environment, reported as one line without a traceback."""
