"""The types of the command line's option values: each turns an option's text into its value,
or raises `argparse.ArgumentTypeError` with one line naming the problem and the fix (argparse
prints it and exits 2). `bench.suites` holds the rules for names and settings; it is imported
when such a value is parsed, so a help page does not wait for it."""

from __future__ import annotations

import argparse
from pathlib import Path

from vae_core.config import ARRAY, IMAGES, ConfigError


def bounded(kind: type, low: float, high: float) -> type:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is out of range; use {low:g} to {high:g}")
        return value
    parse.__name__ = kind.__name__
    return parse  # type: ignore[return-value]


def file_path(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a folder or file name")
    return Path(text)


def seed_list(text: str) -> tuple[int, ...]:
    seeds = tuple(bounded(int, 0, 2**31 - 1)(t.strip()) for t in text.split(","))
    if len(set(seeds)) < len(seeds):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} names a seed twice; give each once")
    return seeds


def setting(text: str) -> tuple[str, tuple]:
    from bench import suites

    try:
        return suites.parse_setting(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def name_text(text: str) -> str:
    from bench import suites

    try:
        return suites.safe_name(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def dataset_text(text: str) -> str:
    """A data set's name, or a user's data (`array:FILE`, `images:FOLDER`) with the path made
    absolute (so the run's config, and its cache key, do not depend on the folder the command
    ran in); the file or folder must exist."""
    if text.startswith(ARRAY):
        path = Path(text[len(ARRAY):]).expanduser()
        if not path.is_file():
            raise argparse.ArgumentTypeError(f"{text}: no such file; give array:FILE of an .npy or .npz file of images")
    elif text.startswith(IMAGES):
        path = Path(text[len(IMAGES):]).expanduser()
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: no such folder; give images:FOLDER of image files (one "
                                             "subfolder per class, or none)")
    else:
        return text
    return f"{text[:text.index(':') + 1]}{path.resolve()}"
