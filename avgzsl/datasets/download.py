"""Download one shard of YouTube segments with an external command (yt-dlp by default).

Each clip ends in one of three states, recorded in an availability table
(`clip_id, status, reason, attempts, path`):

  ok           the clip is on disk (downloaded now, or already there from an earlier run)
  unavailable  the video is gone (private, removed, blocked...): retrying cannot help,
               so it is not retried; AudioSetZSL loses a few percent of clips this way
  failed       anything else, after `attempts` tries with exponential backoff

The command is a template formatted per clip with `{youtube_id}`, `{start}`, `{end}`,
`{out}` and `{clip_id}`. It is split into arguments before formatting and run without
a shell, so ids and paths need no quoting. YouTube ids (and the clip ids made from them)
may start with `-`, so an id must not begin an argument of its own where the downloader
reads options: `{youtube_id}` / `{clip_id}` go inside a URL or an `--option=` argument, or
after a `--` argument (`id_argument_problems`; the workflow's config check says the same). The default asks yt-dlp to fetch only the
segment (`--download-sections`), re-cut on exact frames; yt-dlp itself needs ffmpeg on
PATH to cut and merge, but no separate ffmpeg step is needed here.

A clip is written under a temporary name and renamed when complete, then made
read-only, so raw clips are never half-written or overwritten by accident.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shlex
import shutil
import signal
import string
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from avgzsl.formats.ids import UnsafeIdError, check_clip_id, check_youtube_id, clip_id_problem, youtube_id_problem

log = logging.getLogger(__name__)

DEFAULT_COMMAND = (  # the workflow's default too (avgzsl/pipeline/config.schema.yaml; a test keeps them equal)
    'yt-dlp --quiet --no-warnings --no-playlist -f "bv*[height<=360]+ba/b[height<=360]/b" '
    '--download-sections "*{start}-{end}" --force-keyframes-at-cuts --merge-output-format mp4 -o {out} '
    "https://www.youtube.com/watch?v={youtube_id}"
)
UNAVAILABLE_PATTERNS = (
    r"video unavailable",
    r"private video",
    r"has been removed|removed by the uploader",
    r"(video|content) is (no longer|not) available|not available in your country",
    r"account associated with this video has been terminated",
    r"copyright (claim|grounds)",
    r"confirm your age",
)
AVAILABILITY_COLUMNS = ("clip_id", "status", "reason", "attempts", "path")
STATUSES = ("ok", "unavailable", "failed")


@dataclass
class DownloadConfig:
    command: str = DEFAULT_COMMAND
    attempts: int = 3  # tries per clip for failures that may be transient
    backoff_s: float = 5.0  # wait before the second try; doubles for each further one
    backoff_max_s: float = 120.0
    timeout_s: float = 300.0  # per try
    unavailable_patterns: tuple[str, ...] = UNAVAILABLE_PATTERNS  # regexes, case-insensitive
    suffix: str = ".mp4"
    read_only: bool = True


def _seconds(value: float) -> str:
    if value == float("inf"):
        return "inf"
    return f"{value:.3f}".rstrip("0").rstrip(".")


ID_FIELDS = ("youtube_id", "clip_id")


def id_argument_problems(command: str) -> list[str]:
    """Arguments of a download template that an id starting with `-` (`-o x`, `--exec ...`) would turn into an
    option: those beginning with an id field, before any `--` argument (after it, everything is an operand)."""
    try:
        tokens = shlex.split(command)
    except ValueError as err:  # unbalanced quotes
        return [f"cannot be split into arguments ({err})"]
    problems = []
    for position, token in enumerate(tokens[1:], start=1):
        if token == "--":
            break
        literal, field, _, _ = next(iter(string.Formatter().parse(token)), ("", None, "", None))
        if not literal and field in ID_FIELDS:
            problems.append(f"argument {position} ({token!r}) begins with {{{field}}}: an id starting with '-' "
                            "would be read as an option; put it inside a URL or after a '--' argument")
    return problems


def build_command(cfg: DownloadConfig, *, youtube_id: str, start: float, end: float, out: Path, clip_id: str):
    # the last line of defence: whatever the caller checked, no malformed id reaches an argument list
    check_youtube_id(youtube_id, "download command")
    check_clip_id(clip_id, "download command")
    if problems := id_argument_problems(cfg.command):
        raise ValueError(f"download command {cfg.command!r}: {'; '.join(problems)}")
    values = {
        "youtube_id": youtube_id,
        "start": _seconds(start),
        "end": _seconds(end),
        "out": str(out),
        "clip_id": clip_id,
    }
    try:
        return [token.format(**values) for token in shlex.split(cfg.command)]
    except (KeyError, IndexError) as err:
        raise ValueError(
            f"download command template uses an unknown field {err}; known: {sorted(values)}"
        ) from err


def _run(args: list[str], timeout_s: float) -> tuple[int | None, str]:
    """(exit code or None on timeout, combined output); the child's whole process group dies on timeout."""
    # a new session lets a timeout also stop the helpers the downloader spawned (ffmpeg)
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        return None, (stderr or "") + (stdout or "")
    return proc.returncode, (stderr or "") + (stdout or "")


def _last_line(text: str, limit: int = 300) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:limit]


def _clean_partials(out_dir: Path, stem: str) -> None:
    for leftover in out_dir.glob(f"{glob.escape(stem)}*"):
        leftover.unlink()


def _download_clip(row: dict, out_dir: Path, cfg: DownloadConfig, unavailable: re.Pattern) -> dict:
    clip_id = str(row["clip_id"])
    final = out_dir / f"{clip_id}{cfg.suffix}"
    record = {"clip_id": clip_id, "status": "ok", "reason": "", "attempts": 0, "path": str(final)}
    if final.is_file() and final.stat().st_size > 0:
        record["reason"] = "already present"
        return record
    stem = f".{clip_id}.part"
    tmp = out_dir / f"{stem}{cfg.suffix}"
    args = build_command(
        cfg,
        youtube_id=str(row["youtube_id"]),
        start=float(row["start"]),
        end=float(row["end"]),
        out=tmp,
        clip_id=clip_id,
    )
    reason = ""
    for attempt in range(1, cfg.attempts + 1):
        if attempt > 1:
            time.sleep(min(cfg.backoff_s * 2 ** (attempt - 2), cfg.backoff_max_s))
        _clean_partials(out_dir, stem)  # a downloader may resume from, or trip over, old pieces
        record["attempts"] = attempt
        code, output = _run(args, cfg.timeout_s)
        if code == 0 and tmp.is_file() and tmp.stat().st_size > 0:
            os.replace(tmp, final)
            if cfg.read_only:
                final.chmod(0o444)
            _clean_partials(out_dir, stem)
            return record
        if code is None:
            reason = f"timed out after {cfg.timeout_s:g} s"
        elif code == 0:
            reason = "downloader exited 0 but wrote no file"
        else:
            reason = f"exit {code}: {_last_line(output)}"
            if unavailable.search(output):
                _clean_partials(out_dir, stem)
                return {**record, "status": "unavailable", "reason": _last_line(output), "path": ""}
        log.info("%s: try %d/%d failed (%s)", clip_id, attempt, cfg.attempts, reason)
    _clean_partials(out_dir, stem)
    return {**record, "status": "failed", "reason": reason, "path": ""}


def download_shard(
    rows: pd.DataFrame, out_dir: str | os.PathLike, cfg: DownloadConfig | None = None
) -> pd.DataFrame:
    """Download every row (clip_id, youtube_id, start, end) into out_dir; returns the availability table."""
    cfg = cfg or DownloadConfig()
    if cfg.attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {cfg.attempts}")
    missing = {"clip_id", "youtube_id", "start", "end"} - set(rows.columns)
    if missing:
        raise ValueError(f"download rows lack column(s) {sorted(missing)}")
    start = pd.to_numeric(rows["start"], errors="coerce").to_numpy(dtype=float)
    end = pd.to_numeric(rows["end"], errors="coerce").to_numpy(dtype=float)
    # an end of inf asks for the rest of the video (yt-dlp's --download-sections takes "inf")
    no_window = rows["clip_id"].to_numpy()[~(np.isfinite(start) & (start >= 0) & ~np.isnan(end) & (end > start))]
    if len(no_window):
        raise ValueError(f"download needs 0 <= start < end (seconds) for every clip; not so for {list(no_window[:5])}")
    # ids name the output file and fill the command template: refuse bad ones before any command is built
    unsafe = [
        f"row {i + 1}: {problem}"
        for i, (clip, video) in enumerate(zip(rows["clip_id"].astype(str), rows["youtube_id"].astype(str)))
        for problem in (clip_id_problem(clip), youtube_id_problem(video))
        if problem
    ]
    if unsafe:
        raise UnsafeIdError(f"download refused, {len(unsafe)} unsafe id(s): " + "; ".join(unsafe[:5]))
    if problems := id_argument_problems(cfg.command):  # before any download, not per clip
        raise ValueError(f"download command {cfg.command!r}: {'; '.join(problems)}")
    unavailable = re.compile("|".join(f"(?:{p})" for p in cfg.unavailable_patterns), re.IGNORECASE)
    executable = shlex.split(cfg.command)[0]
    if os.sep not in executable and shutil.which(executable) is None:
        raise FileNotFoundError(f"downloader {executable!r} not found on PATH (command: {cfg.command})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = [_download_clip(row, out_dir, cfg, unavailable) for row in rows.to_dict("records")]
    table = pd.DataFrame(records, columns=list(AVAILABILITY_COLUMNS))
    counts = table["status"].value_counts().to_dict()
    log.info("downloaded shard into %s: %s", out_dir, counts)
    return table
