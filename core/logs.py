"""Log lines as text or as JSON objects, one per line (``FLEETGRAPH_LOG_FORMAT``).

A JSON line holds ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``,
``message``, ``exc_info`` when there is a traceback, and every ``extra=`` field a
call gave. :func:`logging_config` is a :func:`logging.config.dictConfig` dict used by
the CLI, the server (uvicorn's ``log_config``) and the workers (Faust's
``logging_config``), so every process writes the same lines.
"""

from __future__ import annotations

import json
import logging
import logging.config
import time
from typing import Any, Literal

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"

# the attributes every LogRecord has: anything else on a record came from ``extra=``
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                    + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def logging_config(log_format: LogFormat = "text", level: str | int = "INFO") -> dict[str, Any]:
    """A dictConfig dict: one handler on stderr for the root logger, in ``log_format``;
    uvicorn's loggers hand their records to it (no handlers of their own)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, "
                         f"not {log_format!r}")
    level = level.upper() if isinstance(level, str) else level
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if log_format == "json"
        else {"format": TEXT_FORMAT})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"fleetgraph": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "fleetgraph",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
        # uvicorn's "running on" and access lines are INFO, whatever the root's level
        "loggers": {name: {"handlers": [], "propagate": True, "level": "INFO"}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }


def configure_logging(log_format: LogFormat = "text", level: str | int = "INFO") -> None:
    """Send every log record of this process to stderr in ``log_format``."""
    logging.config.dictConfig(logging_config(log_format, level))
