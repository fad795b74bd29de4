"""The `bundle`, `predict`, `search` and `serve` subcommands' arguments, added to the CLI's parser.

Only argparse here: the command bodies (avgzsl.inference.commands) import torch, which `avgzsl --help` must
not wait for, and `serve` (avgzsl.inference.serve) imports Flask, which only the `serve` extra installs.
"""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import logging
import os

log = logging.getLogger("avgzsl.inference")
FLASK_PACKAGES = {"flask", "werkzeug", "jinja2", "itsdangerous", "blinker", "markupsafe", "click"}


def _run(name: str):
    """The command `name` of avgzsl.inference.commands, imported when it runs."""
    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module("avgzsl.inference.commands"), name)(args)

    return run


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine only (127.0.0.0/8, ::1 or localhost): a name is not looked up."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _run_serve(args: argparse.Namespace) -> int:
    """`serve`: the host checked, then Flask imported (one error line naming the extra when it is missing)."""
    if not is_loopback(args.host):
        if not args.allow_remote:
            raise ValueError(f"--host {args.host}: not this machine only; anyone who can reach it could upload "
                             f"files and use the model: add --allow-remote to mean it")
        log.warning("serving on %s: anyone who can reach this machine can upload files and use the model",
                    args.host)
    try:
        serve = importlib.import_module("avgzsl.inference.serve")
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in FLASK_PACKAGES:
            raise
        raise ValueError(f"avgzsl serve needs Flask ({err.name} is not installed): install the serve extra, "
                         f"pip install 'avgzsl[serve]'") from err
    return serve.cmd_serve(args)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _shared_args(p: argparse.ArgumentParser, path) -> None:
    """predict's and search's options: the row, the ranks kept, the output, and how clips are extracted."""
    p.add_argument("--modality", choices=("audio", "video", "both"), default="both",
                   help="the row that scores (default both: a clip lacking audio or video is scored on what it "
                        "has); audio or video extracts only that modality")
    p.add_argument("--top-k", type=_positive, default=None, help="ranks kept per clip or query (default: all)")
    p.add_argument("--out", default=None, help="a .csv or .json file (default: CSV on stdout)")
    _extraction_args(p, path)
    p.add_argument("--verbose", action="store_true",
                   help="progress: clips extracted, clips/s and time left every 30 s, per modality")


def _extraction_args(p: argparse.ArgumentParser, path) -> None:
    """How clips become features, for predict, search and serve."""
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--threads", type=_positive, default=max(1, min(8, os.cpu_count() or 1)),
                   help="decode workers and torch threads")
    p.add_argument("--i3d-weights", type=path, default=None,
                   help="the run's I3D weights file (checked against the bundle's sha256; default: where it "
                        "was when bundled, else Kinetics-400 converted into the user cache)")
    p.add_argument("--word-vectors", type=path, default=None,
                   help="the run's word-vector file, when it is not the packaged GloVe (checksum-checked)")


def add_commands(sub, *, path=str, folder=str, file_or_folder=str) -> None:
    """The four subcommands, on the CLI's subparsers. `path`, `folder`, `file_or_folder`: the CLI's types for
    input files and folders, which it checks before a command runs (avgzsl.commands.options)."""
    p = sub.add_parser("bundle", help="pack a trained run (one seed folder) with what scores raw media")
    p.add_argument("run", type=folder, help="a deep run's seed folder, <results>/runs/<experiment>/seed<k>")
    p.add_argument("--out", required=True, help="the bundle folder to write (new or empty)")
    p.add_argument("--results", type=folder, default=None,
                   help="the dataset's results folder the run was trained from (default: three levels up): "
                        "its classes, audio CNN and feature shards, whose recorded settings the bundle keeps")
    p.add_argument("--word-vectors", type=path, default=None,
                   help="the run's word-vector file, when not the packaged GloVe")
    p.add_argument("--i3d-weights", type=path, default=None,
                   help="the I3D weights file, remembered as predict's default")
    p.set_defaults(func=_run("cmd_bundle"))

    p = sub.add_parser("predict", help="rank class names (any, seen in training or not) for clips, with a bundle")
    p.add_argument("bundle", type=folder, help="a bundle folder (avgzsl bundle)")
    p.add_argument("clips", type=file_or_folder, nargs="+",
                   help="media files or folders of them, or the workflow's feature shards")
    p.add_argument("--classes", required=True, help="a file (one name a line, or a class table) or a comma list")
    p.add_argument("--calibrated", action="store_true",
                   help="add the run's calibration beta to the classes it was trained on as seen")
    _shared_args(p, path)
    p.set_defaults(func=_run("cmd_predict"))

    p = sub.add_parser("search", help="rank clips for class names (text-to-clip retrieval), with a bundle")
    p.add_argument("bundle", type=folder, help="a bundle folder (avgzsl bundle)")
    p.add_argument("inputs", type=file_or_folder, nargs="+",
                   help="media files, folders of them, or feature shards (.h5)")
    p.add_argument("--query", required=True, action="append", help="a class name (repeat for several)")
    _shared_args(p, path)
    p.set_defaults(func=_run("cmd_search"))

    p = sub.add_parser("serve", help="a local web page to rank class names for uploaded clips, with a bundle")
    p.add_argument("bundle", type=folder, help="a bundle folder (avgzsl bundle)")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: this "
                                                       "machine only)")
    p.add_argument("--port", type=int, default=8000, help="the port (default 8000)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a --host that other machines can reach (the page has no login)")
    p.add_argument("--max-upload-mb", type=_positive, default=200,
                   help="the most one request may upload, all clips together (default 200)")
    _extraction_args(p, path)
    p.set_defaults(func=_run_serve)
