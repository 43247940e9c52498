"""Logging filters (settings.LOGGING)."""

import logging


class ClientErrorsOnOneLine(logging.Filter):
    """A 4xx answer (a 403 for the wrong role, a 400 for bad input) is the client's mistake,
    not a bug: log it as one line, without the traceback Django attaches."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True
