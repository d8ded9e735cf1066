class CronError(ValueError):
    """A cron expression that cannot be parsed, or a schedule that never fires."""
