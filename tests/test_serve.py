"""`avgzsl serve`'s page through Flask's test client: upload limits, names, deletion, messages. The model is
stood in for (the real one, in a real browser: tests/test_serve_browser.py); the bundle, its word vectors and
the class-name parsing are the real code."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from gensim.models import KeyedVectors
from test_bundle import _fake_bundle

from avgzsl.cli import main
from avgzsl.inference.arguments import is_loopback
from avgzsl.inference.bundle import open_bundle, sha256_file
from avgzsl.inference.ranking import class_names_from_text

serve = pytest.importorskip("avgzsl.inference.serve", reason="Flask (the serve extra) is not installed")

MAX_MB = 1


class Scorer:
    """Stands in for `predict_labels`: records what it was given and what was on disk then."""

    def __init__(self, fail: Exception | None = None):
        self.fail, self.calls = fail, []

    def __call__(self, bundle, model, cfg, clips, names, text, **options):
        self.calls.append({"clips": clips, "bytes": [open(c, "rb").read() for c in clips], "names": names,
                           **options})
        if self.fail is not None:
            raise self.fail
        return [{"clip": c, "modality": options["modality"], "rank": r + 1, "class": n, "score": 0.1 * r,
                 "note": ""} for c in clips for r, n in enumerate(names)]


@pytest.fixture
def uploads(tmp_path):
    """The folder the page keeps uploads under (each request's own temporary folder inside it)."""
    root = tmp_path / "uploads"
    root.mkdir()
    return root


def _client(tmp_path, uploads, monkeypatch, scorer: Scorer):
    words = tmp_path / "words.txt"
    words.write_text("3 3\ndog 1 0 0\ncat 0 1 0\nbell 0 0 1\n")
    text = {"source": words.name, "normalize": True, "binary": False, "limit": None, "sha256": sha256_file(words)}
    bundle = open_bundle(_fake_bundle(tmp_path / "bundle", text))
    kv = KeyedVectors.load_word2vec_format(str(words))
    monkeypatch.setattr(serve, "predict_labels", scorer)
    predictor = serve.Predictor(bundle, model=None, cfg=None, word_vectors=kv)
    return serve.create_app(predictor, max_upload_mb=MAX_MB, upload_root=str(uploads)).test_client()


def _post(client, files: list[tuple[bytes, str]], classes: str = "dog, cat", **fields):
    data = {"classes": classes, "modality": "both", "top_k": "5", **fields,
            "clips": [(io.BytesIO(content), name) for content, name in files]}
    return client.post("/", data=data, content_type="multipart/form-data")


def test_the_page_offers_the_form_with_the_trained_classes(tmp_path, uploads, monkeypatch):
    page = _client(tmp_path, uploads, monkeypatch, Scorer()).get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'type="file"' in html and "multiple" in html
    assert "dog\ncat</textarea>" in html and f"{MAX_MB} MB" in html


def test_an_upload_over_the_limit_is_refused_before_anything_is_saved(tmp_path, uploads, monkeypatch):
    scorer = Scorer()
    client = _client(tmp_path, uploads, monkeypatch, scorer)
    answer = _post(client, [(b"\0" * (MAX_MB * serve.MB + 1), "big.mp4")])
    assert answer.status_code == 413
    assert f"limit of {MAX_MB} MB" in answer.get_data(as_text=True)
    assert scorer.calls == [] and list(uploads.iterdir()) == []


def test_uploads_are_scored_from_a_fresh_folder_and_deleted_after(tmp_path, uploads, monkeypatch):
    scorer = Scorer()
    client = _client(tmp_path, uploads, monkeypatch, scorer)
    answer = _post(client, [(b"first clip", "street.MP4"), (b"second", "radio.wav")], modality="audio")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200, html
    (call,) = scorer.calls
    assert call["bytes"] == [b"first clip", b"second"] and call["modality"] == "audio" and call["top_k"] == 5
    assert [c.rsplit("/", 1)[1] for c in call["clips"]] == ["clip001.mp4", "clip002.wav"]
    assert all(c.startswith(str(uploads / serve.UPLOAD_PREFIX)) for c in call["clips"])
    assert list(uploads.iterdir()) == []  # the request's folder is gone with the clips in it
    assert html.index("street.MP4") < html.index("radio.wav") and 'class="rank-1"' in html


def test_an_upload_name_is_never_a_path(tmp_path, uploads, monkeypatch):
    scorer = Scorer()
    client = _client(tmp_path, uploads, monkeypatch, scorer)
    answer = _post(client, [(b"a", "../../x.mp4"), (b"b", "..\\..\\y.mkv"), (b"c", "<i>z.mp4")])
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200, html
    clips = scorer.calls[0]["clips"]
    assert [c.rsplit("/", 1)[1] for c in clips] == ["clip001.mp4", "clip002.mkv", "clip003.mp4"]
    assert not list(tmp_path.rglob("x.mp4")) and not list(tmp_path.rglob("y.mkv"))
    assert ">x.mp4<" in html and "../" not in html and ">&lt;i&gt;z.mp4<" in html  # shown as text only


def test_a_file_that_is_not_media_is_a_message_on_the_page(tmp_path, uploads, monkeypatch):
    scorer = Scorer()
    client = _client(tmp_path, uploads, monkeypatch, scorer)
    answer = _post(client, [(b"a", "clip.mp4"), (b"#!/bin/sh", "run.sh")])
    assert answer.status_code == 400 and 'id="error"' in answer.get_data(as_text=True)
    assert "run.sh: not a media file name" in answer.get_data(as_text=True)
    assert scorer.calls == [] and list(uploads.iterdir()) == []


def test_a_failed_scoring_is_a_message_and_still_deletes_the_uploads(tmp_path, uploads, monkeypatch):
    scorer = Scorer(fail=OSError("clip001.mp4: the decoder gave up"))
    client = _client(tmp_path, uploads, monkeypatch, scorer)
    answer = _post(client, [(b"not really", "clip.mp4")])
    assert answer.status_code == 400 and "the decoder gave up" in answer.get_data(as_text=True)
    assert len(scorer.calls) == 1 and list(uploads.iterdir()) == []


def test_an_unexpected_failure_is_one_line_on_the_page_not_a_traceback(tmp_path, uploads, monkeypatch):
    scorer = Scorer(fail=RuntimeError("a library gave up\nwith a second line"))
    answer = _post(_client(tmp_path, uploads, monkeypatch, scorer), [(b"x", "clip.mp4")])
    html = answer.get_data(as_text=True)
    assert answer.status_code == 500 and "RuntimeError: a library gave up" in html and "Traceback" not in html
    assert list(uploads.iterdir()) == []


@pytest.mark.parametrize(("classes", "fields", "message"), [
    ("dog, qzxqzxv", {}, "qzxqzxv"),  # a name without a vector, found before anything is saved
    (" , \n", {}, "no class names"),
    ("dog", {"modality": "smell"}, "modality: &#39;smell&#39; is not one of both, audio, video"),
    ("dog", {"top_k": "-2"}, "top-k"),
])
def test_bad_form_fields_are_messages_on_the_page(tmp_path, uploads, monkeypatch, classes, fields, message):
    scorer = Scorer()
    client = _client(tmp_path, uploads, monkeypatch, scorer)
    answer = _post(client, [(b"a", "clip.mp4")], classes=classes, **fields)
    assert answer.status_code == 400 and message in answer.get_data(as_text=True)
    assert scorer.calls == [] and list(uploads.iterdir()) == []


def test_no_clip_chosen_is_a_message(tmp_path, uploads, monkeypatch):
    answer = _post(_client(tmp_path, uploads, monkeypatch, Scorer()), [])
    assert answer.status_code == 400 and "no clips" in answer.get_data(as_text=True)


def test_typed_class_names_are_never_read_as_files(tmp_path):
    listed = tmp_path / "names.txt"
    listed.write_text("dog\ncat\n")
    assert class_names_from_text(str(listed)) == [str(listed)]
    assert class_names_from_text("church bell, dog\ncat\n\n") == ["church bell", "dog", "cat"]


def test_only_loopback_hosts_are_served_without_the_flag(tmp_path, capsys):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example")
    assert main(["serve", str(tmp_path), "--host", "0.0.0.0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --host 0.0.0.0") and "--allow-remote" in err[0]


def test_without_flask_serve_is_one_line_naming_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "flask", None)  # `import flask` now fails as if it were not installed
    monkeypatch.delitem(sys.modules, "avgzsl.inference.serve")
    assert main(["serve", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "serve extra" in err[0] and "avgzsl[serve]" in err[0]


def test_the_command_line_does_not_import_flask():
    loaded = subprocess.run([sys.executable, "-c", "import sys, avgzsl.cli; avgzsl.cli.build_parser(); "
                             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug')))"],
                            capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
