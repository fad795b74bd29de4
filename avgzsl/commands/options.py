"""What the command line gives, checked before any work: input paths, seeds, `--config` and `--set`.

Every refusal names the option (`--manifest x.csv: a folder, not a file`, `--set train.epochs: ...`), so the
one error line says what to change.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from avgzsl.runtime.errors import input_file_problem

SECTIONS = ("model", "loss", "train")
MAX_SET_VALUE = 1000  # characters of one --set value: settings are numbers, names and short lists
MAX_CONFIG_BYTES = 1_000_000  # a --config file is a few lines of YAML


class UsageError(Exception):
    """A command line that cannot be run as written (exit 2, like argparse's own errors)."""


class InputPath(str):
    """A path the command reads, recorded by argparse and checked by `check_inputs` (so a bad one is an input
    error, exit 1, naming the option, rather than argparse's usage error)."""

    folder = False


class InputFolder(InputPath):
    folder = True


class InputFileOrFolder(InputPath):
    folder = None  # a media file or a folder of them


POSITIONALS = {"run_dir", "runs_dir", "root", "result_dirs", "run", "bundle", "clips", "inputs"}  # as in `--help`


def check_inputs(args: argparse.Namespace) -> None:
    """Refuse a missing input, a folder given for a file (or the reverse), a FIFO or device (reading one would
    block), naming the option; all of them at once."""
    problems = []
    for dest, value in vars(args).items():
        for path in value if isinstance(value, list) else [value]:
            if isinstance(path, InputPath) and (problem := input_file_problem(path, folder=path.folder)):
                option = dest if dest in POSITIONALS else "--" + dest.replace("_", "-")
                problems.append(f"{option} {path}: {problem}")
    if problems:
        raise ValueError("; ".join(problems))


def check_seeds(seeds: list[int]) -> None:
    """Each seed is one run folder and one sample of the mean and std: a repeated seed would count one run twice."""
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(f"--seeds: seed(s) {repeated} given more than once; each seed is one run (n in the "
                         "summary counts them), so give each seed once")
    negative = [s for s in seeds if not 0 <= s < 2**32]
    if negative:
        raise ValueError(f"--seeds: {negative} out of range; seeds are 0 .. 2^32-1")


def parse_overrides(pairs: list[str]) -> dict:
    """`section.key=value` pairs; values are parsed as plain YAML (numbers, booleans, strings, lists)."""
    import yaml

    sections: dict = {s: {} for s in SECTIONS}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or section not in sections:
            raise UsageError(f"--set expects section.key=value with section in {list(sections)}, got {pair!r}")
        if len(value) > MAX_SET_VALUE:
            raise ValueError(f"--set {key}: the value is {len(value)} characters long (at most {MAX_SET_VALUE})")
        try:  # safe_load: a tag such as !!python/object is refused, never constructed
            sections[section][name] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            problem = str(err).strip().splitlines()[0]
            raise ValueError(f"--set {key}: {value[:60]!r} is not a plain YAML value ({problem}); give a number, "
                             "true/false, a name or a [list]") from err
    return sections


def _read_config(path: str) -> dict:
    import yaml

    size = Path(path).stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ValueError(f"--config {path}: {size} bytes, too large for a settings file (at most {MAX_CONFIG_BYTES})")
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as err:
        raise ValueError(f"--config {path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a mapping with model/loss/train sections")
    unknown = sorted(set(loaded) - {*SECTIONS, "preset"}, key=str)
    if unknown:
        raise ValueError(f"--config {path}: unknown top-level key(s) {unknown}; it takes preset, model, loss, train "
                         "(seeds and the rest are command-line options)")
    return loaded


def settings(args) -> tuple[str, dict]:
    """The preset and the model/loss/train sections from --config and --set (later wins)."""
    base: dict = {s: {} for s in SECTIONS}
    preset = args.preset
    if args.config:
        loaded = _read_config(args.config)
        for section in base:
            values = loaded.get(section) or {}
            if not isinstance(values, dict):
                raise ValueError(f"{args.config}: section {section!r} must be a mapping")
            base[section].update(values)
        preset = loaded.get("preset", args.preset)
    for section, values in parse_overrides(args.set).items():
        base[section].update(values)
    return preset, base


def experiment_from_args(args, seed: int, dims: dict | None = None):
    from avgzsl.pipeline.config_check import check_experiment_sections
    from avgzsl.settings.experiment import build_experiment

    preset, base = settings(args)
    base["model"].update(dims or {})
    base["train"]["seed"] = seed
    check_experiment_sections(base, preset=preset)  # names the key of a bad value (train.epochs: must be ...)
    return build_experiment(name=args.name, preset_name=preset, **base)


def experiment_spec(args) -> dict:
    """The experiment as the command line asks for it, in the layout of the workflow's experiment entries: name,
    preset, seeds and the model / loss / train sections from --config and --set (summary.json records it)."""
    preset, sections = settings(args)
    return {"name": args.name, "preset": preset, "seeds": list(args.seeds), **sections}
