"""The one exception type for problems a user can fix: bad input, files, run directories."""


class TransferError(Exception):
    """A problem with the user's input or environment, reported as one line without a traceback."""


class WeightsError(TransferError):
    """A weight file that is missing, unreadable, corrupt, of the wrong shape or model."""
