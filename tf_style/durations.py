"""Durations as the progress bars, the batch log and --dry_run write them."""


def format_duration(seconds: float) -> str:
    """h:mm:ss, or m:ss under an hour."""
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
