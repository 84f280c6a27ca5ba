"""tapelog: structured logging for Python services whose logs are data."""
