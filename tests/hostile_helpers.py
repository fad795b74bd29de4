"""Shared by the hostile-file tests: a file outside the input folder, and what every refusal must look like."""

from __future__ import annotations

SECRET = b"SECRET-CONTENT-THAT-MUST-NOT-LEAK\n" * 64


def outside_file(tmp_path, name="secret.bin", data=SECRET):
    """A file outside the input folder, standing for /etc/passwd or a device."""
    folder = tmp_path / "outside"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def refused(message: str, path) -> None:
    assert str(path) in message, message
    assert "SECRET" not in message and "Traceback" not in message and len(message) < 600, message
