"""`avgzsl serve`: a local web page to try a bundle on clips and class names of one's own.

The page (templates/serve.html) posts the chosen clips, the class names and the modality; the answer is the
same page with `predict`'s rows for each clip. The bundle, its model and its word vectors are loaded once, at
start; each request goes through `predict_labels` (avgzsl.inference.commands), the path `predict` takes.

Uploads are untrusted: the request is refused over `--max-upload-mb` (Flask's MAX_CONTENT_LENGTH, a 413
page naming the limit) before anything is saved; an upload's name is never a path: it is saved as
`clip<n><suffix>` in a fresh temporary folder, keeping only a suffix from the media whitelist, and shown back
as text only; the folder and everything in it is deleted when the request ends, scored or failed. Class names
typed on the page are names, never file names (class_names_from_text).

Flask is imported here, and this module only when `serve` runs (avgzsl.inference.arguments): the rest of the
command line works without the `serve` extra.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from flask import Flask, render_template, request
from werkzeug.exceptions import InternalServerError, RequestEntityTooLarge

from avgzsl.inference.bundle import Bundle, open_bundle
from avgzsl.inference.clip_features import MEDIA_SUFFIXES, i3d_weights_file
from avgzsl.inference.commands import predict_labels
from avgzsl.inference.ranking import bundle_word_vectors, class_names_from_text, vectors_of
from avgzsl.runtime.errors import error_message

log = logging.getLogger("avgzsl.inference")

MB = 1 << 20
MODALITY_CHOICES = ("both", "audio", "video")
DEFAULT_TOP_K = 5
UPLOAD_PREFIX = "avgzsl-serve-"


@dataclass
class Predictor:
    """A bundle with its model and word vectors loaded, and the options every request is scored with."""

    bundle: Bundle
    model: object
    cfg: object
    word_vectors: object  # gensim KeyedVectors
    device: str = "cpu"
    threads: int = 1
    i3d_weights: str | None = None

    def rank(self, clips: list[str], names: list[str], *, modality: str, top_k: int | None,
             calibrated: bool) -> list[dict]:
        text = vectors_of(self.bundle, self.word_vectors, names)
        return predict_labels(self.bundle, self.model, self.cfg, clips, names, text, modality=modality,
                              top_k=top_k, calibrated=calibrated, device=self.device, threads=self.threads,
                              i3d_weights=self.i3d_weights)


def load_predictor(args: argparse.Namespace) -> Predictor:
    """Everything a request needs, loaded once; a missing I3D weights file is an error now, not per clip."""
    bundle = open_bundle(args.bundle)
    word_vectors = bundle_word_vectors(bundle, args.word_vectors)
    model, cfg = bundle.load_model(args.device)
    weights = None
    if bundle.settings["extraction"].get("video") is not None:
        weights = str(i3d_weights_file(bundle, args.i3d_weights))
    return Predictor(bundle, model, cfg, word_vectors, device=args.device, threads=args.threads,
                     i3d_weights=weights)


def upload_suffix(filename: str) -> str:
    """The media suffix an upload is saved with (lower case), or a ValueError naming the upload."""
    suffix = PurePosixPath(display_name(filename)).suffix.lower()
    if suffix not in MEDIA_SUFFIXES:
        raise ValueError(f"{display_name(filename)}: not a media file name (the page takes "
                         f"{', '.join(sorted(MEDIA_SUFFIXES))})")
    return suffix


def display_name(filename: str) -> str:
    """The last part of the name a browser sent, for showing only (any folders in it are dropped)."""
    return PurePosixPath(filename.replace("\\", "/")).name or "(no name)"


def _form_choice(value: str | None, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise ValueError(f"{what}: {value!r} is not one of {', '.join(choices)}")
    return value


def _form_top_k(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(f"top-k: {value!r} is not a whole number of at least 1")
    return int(value)


def score_uploads(predictor: Predictor, uploads: list, form: dict, *, upload_root: str | None = None,
                  lock: threading.Lock | None = None) -> tuple[list[str], list[dict]]:
    """The display names of the uploads and `predict`'s rows for them (clips by display name); the uploads
    live in a temporary folder under `upload_root` (the system's by default) for this call only."""
    names = class_names_from_text(form.get("classes", ""))
    modality = _form_choice(form.get("modality", "both"), MODALITY_CHOICES, "modality")
    top_k = _form_top_k(form.get("top_k"))
    if not uploads:
        raise ValueError("no clips: choose or drop at least one media file")
    suffixes = [upload_suffix(u.filename) for u in uploads]  # every name checked before any byte is saved
    shown = _unique_display_names([u.filename for u in uploads])
    with tempfile.TemporaryDirectory(prefix=UPLOAD_PREFIX, dir=upload_root) as tmp:
        saved = {}
        for number, (upload, suffix, name) in enumerate(zip(uploads, suffixes, shown), start=1):
            path = Path(tmp) / f"clip{number:03d}{suffix}"
            upload.save(path)
            saved[str(path)] = name
        with lock or threading.Lock():  # one request at a time on the model and the cores
            rows = predictor.rank(list(saved), names, modality=modality, top_k=top_k,
                                  calibrated=form.get("calibrated") == "on")
    return shown, [{**row, "clip": saved.get(row["clip"], row["clip"])} for row in rows]


def _unique_display_names(filenames: list[str]) -> list[str]:
    shown: list[str] = []
    for number, filename in enumerate(filenames, start=1):
        name = display_name(filename)
        shown.append(name if name not in shown else f"{name} (#{number})")
    return shown


def group_rows(shown: list[str], rows: list[dict]) -> list[dict]:
    """The rows by clip, in upload order: [{"clip", "note", "rows"}], a clip's note once above its ranks."""
    groups = {name: {"clip": name, "note": "", "rows": []} for name in shown}
    for row in rows:
        group = groups[row["clip"]]
        group["note"] = row["note"]
        if row["rank"] != "":
            group["rows"].append({**row, "score": f"{row['score']:.4f}"})
    return list(groups.values())


def create_app(predictor: Predictor, *, max_upload_mb: int, upload_root: str | None = None) -> Flask:
    """The page's Flask application (templates/serve.html), scoring with `predictor`."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_upload_mb * MB
    lock = threading.Lock()
    bundle = predictor.bundle
    page = dict(experiment=bundle.run.get("experiment", ""), trained=bundle.classes.names,
                max_upload_mb=max_upload_mb, modalities=MODALITY_CHOICES, suffixes=sorted(MEDIA_SUFFIXES),
                default_top_k=DEFAULT_TOP_K, has_beta=bool(bundle.settings.get("calibration_beta")))

    def render(status: int = 200, **answer):
        form = {"classes": "\n".join(bundle.classes.names), "modality": "both", "top_k": str(DEFAULT_TOP_K),
                **answer.pop("form", {})}
        return render_template("serve.html", form=form, **page, **answer), status

    @app.get("/")
    def empty_page():
        return render()

    @app.post("/")
    def scored_page():
        form = request.form.to_dict()
        uploads = [u for u in request.files.getlist("clips") if u.filename]
        try:
            shown, rows = score_uploads(predictor, uploads, form, upload_root=upload_root, lock=lock)
        except (ValueError, OSError) as err:  # bad input, a file that does not decode: said on the page
            log.warning("a request was refused: %s", error_message(err))
            return render(400, form=form, error=error_message(err))
        return render(form=form, results=group_rows(shown, rows))

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_err):
        return render(413, error=f"the upload is larger than this page's limit of {max_upload_mb} MB "
                                 f"(avgzsl serve --max-upload-mb): nothing was saved")

    @app.errorhandler(InternalServerError)
    def failed(err):  # our bug or a library's surprise: Flask has logged the traceback; the page gets one line
        cause = err.original_exception or err
        return render(500, error=f"scoring failed: {error_message(cause)} (the server's log has the details)")

    return app


def cmd_serve(args: argparse.Namespace) -> int:
    """Load the bundle once, then serve the page until Ctrl-C."""
    predictor = load_predictor(args)
    app = create_app(predictor, max_upload_mb=args.max_upload_mb)
    print(f"serving {args.bundle} at http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
    app.run(host=args.host, port=args.port, debug=False, use_reloader=False, threaded=True)
    return 0
