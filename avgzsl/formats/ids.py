"""Ids that become parts of file paths or command lines, checked where they enter the pipeline.

Clip ids come from manifests (a user's `clip_id` column, a file's name, a YouTube id),
from released feature files (`video_urls`; a YouTube link there stands for its video id)
and from the AudioSetZSL lists; class names come from class lists and released files. A
clip id names the file a download is written to (`<media folder>/<clip_id>.mp4`) and a
class name names an exported file (`<split>/<class>.h5`), so an id such as `../../x`
would write outside the run's folders. Each id is therefore checked once, where it is
read, and refused with a message naming the file and row it came from; nothing
downstream re-checks it.

The rules (also in docs/DATASETS.md, "Your own clips"):

* clip id: 1 to 128 characters from ASCII letters, digits, `_`, `-`, `.`, `+` and
  spaces; it may not start with `.` or a space, end with a space, or contain `..`.
  No path separator (`/`, `\\`) can appear, so it is always one file name inside its
  folder. (YouTube ids may start with `-` or `_`, and so may AudioSetZSL's clip ids made
  from them, so a leading `-` is not refused: a clip id is placed after a folder path, and
  a download template may not start an argument with `{youtube_id}` or `{clip_id}` before
  a `--` argument, `avgzsl.datasets.download.id_argument_problems`.)
* YouTube id: exactly 11 characters from `A-Z a-z 0-9 _ -`, YouTube's own format, so
  nothing else can reach the downloader's argument list through `{youtube_id}`.
* class name: 1 to 200 printable characters, no `/`, `\\` or NUL, not `.` or `..`,
  not starting with `.`, no leading or trailing spaces (VGGSound's class names hold
  spaces, commas and parentheses, which are fine in a file name).
"""

from __future__ import annotations

import re

MAX_CLIP_ID = 128
MAX_CLASS_NAME = 200

_CLIP_ID = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9_.+ -]*")
_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
CLIP_ID_RULE = (
    f"1-{MAX_CLIP_ID} characters from letters, digits, '_', '-', '.', '+' and spaces, "
    "not starting with '.' or a space, without '..'"
)
YOUTUBE_ID_RULE = "YouTube's format: 11 characters from letters, digits, '_' and '-'"
CLASS_NAME_RULE = (
    f"1-{MAX_CLASS_NAME} printable characters without '/', '\\' or NUL, not '.' or '..', "
    "not starting with '.', no leading or trailing spaces"
)


# a YouTube watch, short or embed link: `video_urls` of a feature release may hold these instead of bare ids
_YOUTUBE_URL = re.compile(
    r"(?:https?://)?(?:www\.|m\.)?(?:youtube\.com/(?:watch\?(?:[^#]*&)?v=|embed/|shorts/)|youtu\.be/)"
    r"([A-Za-z0-9_-]{11})(?![A-Za-z0-9_-])"
)


def clip_id_from_video_url(value: str) -> str:
    """The clip id a released feature file's `video_urls` entry stands for: the video id of a YouTube link
    (`https://www.youtube.com/watch?v=<id>&t=30` -> `<id>`), anything else unchanged (then checked as a clip id)."""
    found = _YOUTUBE_URL.match(value)
    return found.group(1) if found else value


class UnsafeIdError(ValueError):
    """An id that could escape its folder or inject into a command; the message names where it came from."""


def clip_id_problem(value: object) -> str:
    """Why `value` is not a safe clip id ('' when it is)."""
    text = str(value)
    if not text:
        return "clip id is empty"
    if len(text) > MAX_CLIP_ID:
        return f"clip id {text[:40]!r}... is {len(text)} characters long (at most {MAX_CLIP_ID})"
    if _CLIP_ID.fullmatch(text) is None or ".." in text or text.endswith(" "):
        return f"clip id {text!r} is not allowed: use {CLIP_ID_RULE}"
    return ""


def youtube_id_problem(value: object) -> str:
    """Why `value` is not a YouTube video id ('' when it is)."""
    text = str(value)
    if _YOUTUBE_ID.fullmatch(text) is None:
        return f"{text[:40]!r} is not a YouTube id ({YOUTUBE_ID_RULE})"
    return ""


def class_name_problem(value: object) -> str:
    """Why `value` cannot name a class file ('' when it can)."""
    text = str(value)
    if not text:
        return "class name is empty"
    if len(text) > MAX_CLASS_NAME:
        return f"class name {text[:40]!r}... is {len(text)} characters long (at most {MAX_CLASS_NAME})"
    if (
        any(c in text for c in "/\\\0")
        or not text.isprintable()
        or text.startswith(".")
        or text != text.strip()
    ):
        return f"class name {text!r} is not allowed: use {CLASS_NAME_RULE}"
    return ""


def _raise(problem: str, where: str) -> None:
    if problem:
        raise UnsafeIdError(f"{where}: {problem}" if where else problem)


def check_clip_id(value: object, where: str = "") -> str:
    """`value` as a str if it is a safe clip id; otherwise UnsafeIdError naming `where` (file, row)."""
    _raise(clip_id_problem(value), where)
    return str(value)


def check_youtube_id(value: object, where: str = "") -> str:
    _raise(youtube_id_problem(value), where)
    return str(value)


def check_class_name(value: object, where: str = "") -> str:
    _raise(class_name_problem(value), where)
    return str(value)
