"""Prefect's flow- and task-run log lines, kept off the CLI's console while it runs a flow.

Prefect's engines log a failure with its traceback: the task engine when a task raises
(``prefect/task_engine.py``, "Task run failed with exception ... Retries are exhausted"), and the
flow engine when the flow raises (``prefect/flow_engine.py``, "Encountered exception during
execution"). For a rotation with one failed account that is two tracebacks and a hundred lines
around the one row that matters. These records go to the Prefect API by the handler on their own
loggers (``prefect.flow_runs``, ``prefect.task_runs``) and reach the console only by propagating
to the root logger's handlers, so a filter on those handlers keeps them off the console and
leaves the run's logs on the server whole.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


class _RunLogFilter(logging.Filter):
    """Drops run log records from a console handler; with ``verbose`` only those that carry a
    traceback."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(RUN_LOGGERS):
            return True
        return self.verbose and record.exc_info is None and not record.stack_info


@contextlib.contextmanager
def run_logs_off_console(verbose: bool = False) -> Iterator[None]:
    """While a flow runs from the CLI: its run log lines stay off the console (``verbose``:
    those without a traceback are shown), and still reach the Prefect API."""
    handlers = [h for h in logging.getLogger().handlers if not _is_api_handler(h)]
    run_filter = _RunLogFilter(verbose)
    for handler in handlers:
        handler.addFilter(run_filter)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(run_filter)


def _is_api_handler(handler: logging.Handler) -> bool:
    from prefect.logging.handlers import APILogHandler

    return isinstance(handler, APILogHandler)
