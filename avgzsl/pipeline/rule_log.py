"""A workflow script's logging: stdout, stderr and `logging` into its rule's log file, and its failure as one
`error: ...` line.

A failing script ends as the command line does (avgzsl/runtime/errors.py): one line naming the file or setting
and what is wrong, written last in the rule's log and on standard error (Snakemake's output), exit status 1,
no traceback unless AVGZSL_DEBUG=1 asks for it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

from avgzsl.runtime.errors import error_message, report_error


@contextlib.contextmanager
def rule_log(path: str):
    """Send stdout, stderr and `logging` of a script to its rule's log file; a failure ends the script (exit 1)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    failure = None
    with open(path, "w") as handle:
        with contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
            logging.basicConfig(stream=handle, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                                force=True)
            try:
                yield handle
            except Exception as err:  # any failure, ours or the environment's: one line, see the module docstring
                failure = err
        if failure is not None:
            report_error(failure, handle)
    if failure is not None:
        print(f"error: {error_message(failure)} (log: {path})", file=sys.stderr)
        raise SystemExit(1)
