"""A workflow script's logging: stdout, stderr and `logging` into its rule's log file.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path


@contextlib.contextmanager
def rule_log(path: str):
    """Send stdout, stderr and `logging` of a script to its rule's log file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle, contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
        logging.basicConfig(stream=handle, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", force=True)
        try:
            yield handle
        except BaseException:
            logging.getLogger("avgzsl").exception("rule failed")
            raise
