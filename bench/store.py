"""The results store: one folder per run, addressed by a hash of its config and the code.

Layout: `<results>/runs/<key>/` holds `config.json`, `metrics.json`, `history.csv`,
`images.npz` and `model.pt`: one cache of runs, whichever suite or study asked for a run (the
baseline VAE that `ablations` and `claims` both need trains once). `<results>/<suite>/manifest.json`
(a `Manifest`) says which runs the last invocation of the suite asked for, so its report can be
re-rendered without training. A run folder is written under a temporary name and renamed into
place when complete, so a folder named by a key is always whole; a kill leaves only a `.tmp-*`
folder, which a later run removes. A lock file keeps two runs off one suite's manifest at once.
Versions before the shared cache kept runs in `<results>/<suite>/<key>/`: they are read there
and moved to `runs/` when the suite next runs (`Store.migrate`).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import math
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import types
import typing
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import vae_core
from vae_core.config import ConfigError, RunConfig, config_dict, config_from_dict
from vae_core.data import data_version
from vae_core.models import arch_version

SCHEMA = 1


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The process's umask, read once at import (reading it means setting it; threads come later):
#: results and reports are created with the permissions it gives, as `open()` would.
UMASK = _umask()
MiB = 2**20
SMALL_FILE = 16 * MiB  # JSON and CSV files of a run, a manifest, a config or suite file
IMAGES_FILE = 256 * MiB  # a run's images.npz, compressed and uncompressed


class UnsafeFileError(ValueError):
    """A path that is not a regular file within its size cap (a FIFO, a device, a folder, a
    symbolic link where none may be, or too large): never read, since it could block or
    exhaust memory."""


def read_bounded(path: Path, limit: int = SMALL_FILE, follow_symlinks: bool = True) -> bytes:
    """The bytes of the regular file `path`, of at most `limit` bytes; anything else raises
    `UnsafeFileError` without reading (a FIFO is opened non-blocking, so it cannot hang), and
    a missing file `FileNotFoundError`. Inside a results folder pass `follow_symlinks=False`:
    a link there is damage, not data."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(f"{path} is a symbolic link") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(f"{path} is not a regular file")
        if info.st_size > limit:
            raise UnsafeFileError(f"{path} holds {info.st_size:,} bytes, more than the {limit:,} allowed")
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise UnsafeFileError(f"{path} holds more than the {limit:,} bytes allowed")
        return data
    finally:
        os.close(fd)


def read_npz(path: Path, limit: int = IMAGES_FILE) -> dict[str, np.ndarray]:
    """The arrays of an .npz file, refusing a pickle (never executed), a link, and an archive
    that would decompress past `limit` bytes (a zip bomb or an absurd declared shape)."""
    data = read_bounded(path, limit, follow_symlinks=False)
    declared = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.infolist():
            declared += member.file_size
            with archive.open(member) as fh:  # the .npy header: the shape the array claims
                major, _ = np.lib.format.read_magic(fh)
                read_header = np.lib.format.read_array_header_1_0 if major == 1 else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = read_header(fh)
            declared += math.prod(shape) * dtype.itemsize
            if declared > limit:
                raise UnsafeFileError(f"{path} would decompress to more than {limit:,} bytes")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


@lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the `vae_core` sources: results of older training or metric code are not reused."""
    digest = hashlib.sha256()
    root = Path(vae_core.__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def run_key(config: RunConfig, version: str | None = None) -> str:
    """Content address of a run: the same config, code and data give the same key (a user's
    array file counts by its content, `vae_core.data.data_version`, and a user's networks by
    their module's source, `vae_core.models.arch_version`)."""
    text = json.dumps(config_dict(config), sort_keys=True) + (version or code_version()) + \
        data_version(config.dataset) + arch_version(config.arch)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class RunRecord:
    key: str
    config: RunConfig
    status: str  # "ok", "diverged" or "failed"
    metrics: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # device, diverged_epoch, error, versions
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    images: dict[str, np.ndarray] = field(default_factory=dict)
    # the trained network's state dict on the CPU, from training to the store (`model.pt`); never
    # loaded with the record (`Store.load_weights` reads it), and dropped once stored
    weights: dict[str, torch.Tensor] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ManifestEntry:
    axis: str  # the report section (ablation axis or claim) the run belongs to
    key: str
    label: str | None = None  # a display label from a suite file; None = the config's


@dataclass(frozen=True)
class Manifest:
    """What one invocation of a suite asked for and how it ran: the hand-off from the runner to
    the report, stored as `manifest.json` beside the runs."""

    suite: str
    description: str
    axes: dict[str, str]  # axis -> section title, in report order
    report: str  # the report kind (`bench.reports.REPORTS`)
    entries: list[ManifestEntry]
    options: dict = field(default_factory=dict)  # the `SuiteOptions` it was built with
    failed: dict[str, str] = field(default_factory=dict)  # key -> error of runs that raised
    executor: str = "inline"
    stacked: bool = False
    trained: int = 0
    cached: int = 0
    started_at: str = ""
    wall_seconds: float = 0.0
    environment: dict = field(default_factory=dict)

    def keys(self, axis: str | None = None) -> list[str]:
        """The distinct run keys, in suite order (of one axis, if given)."""
        return list(dict.fromkeys(e.key for e in self.entries if axis is None or e.axis == axis))

    def labels(self) -> dict[str, str]:
        """Display labels by run key; where one run was given several, the first."""
        out: dict[str, str] = {}
        for e in self.entries:
            if e.label:
                out.setdefault(e.key, e.label)
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Manifest:
        """The manifest stored as `data`; a field of the wrong type, or an entry whose key is not
        a run key (it names a folder), is damage: `ValueError`, never passed on to the report."""
        if not isinstance(data, dict) or not isinstance(data.get("entries"), list) \
                or not all(isinstance(e, dict) for e in data["entries"]):
            raise ValueError("not a manifest (a JSON object with a list of entries)")
        manifest = cls(**{**data, "entries": [_typed(ManifestEntry(**e)) for e in data["entries"]]})
        if bad := [e.key for e in manifest.entries if not RUN_KEY.fullmatch(e.key)]:
            raise ValueError(f"entry key {bad[0][:40]!r} is not a run key")
        return _typed(manifest)


#: What `run_key` returns, and so the only names a manifest may give a run folder.
RUN_KEY = re.compile(r"[0-9a-f]{16}")


def _typed(obj: object) -> object:
    """`obj`, a dataclass read from JSON, after checking each field against its annotation
    (the outer type: `dict[str, str]` is checked as a dict)."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        hint = hints[f.name]
        allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        allowed = tuple(typing.get_origin(t) or t for t in allowed)
        value = getattr(obj, f.name)
        if not (isinstance(value, allowed) or (float in allowed and type(value) is int)):  # JSON may write 3.0 as 3
            raise ValueError(f"{f.name} is a {type(value).__name__}, not {hint}")
    return obj


class OutputError(ConfigError):
    """Results or a report could not be written for a reason outside the program: a full or
    read-only disk, a file-size limit, permissions. Reported in one line, like a user's mistake."""

    def __init__(self, path: Path, exc: OSError) -> None:
        super().__init__(f"cannot write {path} ({exc.strerror or exc}); free some space or pass --results / "
                         "--reports a folder with room")


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it: a reader sees the
    old file or the new one, never half of one. Creates the folder if it is missing."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}-")
        os.fchmod(fd, 0o666 & ~UMASK)  # mkstemp makes 0600; a colleague may read what the umask lets them
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(path, exc) from None
        raise


def remove_stale(folder: Path, older_than_s: float = 0.0) -> None:
    """Remove the temporary files and folders (`.tmp-*`) that killed writers left in `folder`,
    those at least `older_than_s` old (a write in progress is younger)."""
    now = time.time()
    for tmp in folder.glob(".tmp-*"):
        try:
            if now - tmp.lstat().st_mtime < older_than_s:
                continue
        except FileNotFoundError:
            continue
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def write_json(path: Path, obj: object) -> None:
    write_atomic(path, (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode())


def check_folder(path: Path, what: str, flag: str) -> Path:
    """Check, creating nothing, that `path` is a writable folder or could be made one (its
    nearest existing parent is a writable folder); else a one-line error. Commands check every
    folder first and create each only when they write to it, so a refused command leaves none."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} folder {path} is a file; pass {flag} a folder path")
    if path.is_symlink() and not path.exists():
        raise ConfigError(f"{what} folder {path} is a link to {os.readlink(path)}, which does not exist; create it "
                          f"or pass {flag} another folder")
    parent = path.absolute()
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{what} folder {path} would be made under {parent}, which is a file; pass {flag} a "
                          "folder path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write the {what} folder {path} ({parent} is not writable); pass {flag} a "
                          "writable folder")
    return path


def prepare_folder(path: Path, what: str, flag: str) -> Path:
    """Create `path` if needed and check that it is a writable folder; else a one-line error."""
    check_folder(path, what, flag)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ConfigError(
            f"cannot write the {what} folder {path} ({exc.strerror or exc}); pass {flag} a writable folder"
        ) from None
    return path


#: The folder of a results root that holds every run, by key; no suite may take this name.
RUNS = "runs"
#: Age (s) from which a `.tmp-*` folder in `runs/` is a killed writer's: other suites and tuning
#: workers may be writing there now, and a live write takes seconds.
STALE_S = 3600


def _present(path: Path) -> bool:
    return path.is_dir() or path.is_symlink()  # a link is damage the load reports, not absence


class Store:
    """A results root as one suite sees it: the shared run folders (`runs/`) and the suite's
    own folder (its manifest and lock)."""

    def __init__(self, root: Path, suite: str, keep_weights: bool = True) -> None:
        self.root = Path(root)
        self.dir = self.root / suite
        self.runs_dir = self.root / RUNS
        self.keep_weights = keep_weights  # False: `model.pt` is not written (run --no-weights)

    def run_dir(self, key: str) -> Path:
        """Where run `key` is stored: `runs/<key>`, or the suite's own folder where a version
        before the shared cache stored it and `migrate` has not moved it yet."""
        shared, legacy = self.runs_dir / key, self.dir / key
        return legacy if not _present(shared) and _present(legacy) else shared

    def migrate(self) -> int:
        """Move the run folders an older version kept in the suite's folder into `runs/` (a copy
        already there is the same run: the legacy one is dropped); returns how many moved.
        Only folders named by a run key are touched, never a link or a user's own files."""
        legacy = [p for p in self.dir.iterdir() if RUN_KEY.fullmatch(p.name) and p.is_dir() and not p.is_symlink()] \
            if self.dir.is_dir() else []
        moved = 0
        for folder in legacy:
            try:
                self.runs_dir.mkdir(exist_ok=True)
                os.rename(folder, self.runs_dir / folder.name)
                moved += 1
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                    raise OutputError(folder, exc) from None
                shutil.rmtree(folder)
        return moved

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def write_manifest(self, manifest: Manifest) -> None:
        write_json(self.manifest_path, manifest.to_dict())

    def read_manifest(self) -> Manifest:
        """The suite's manifest; a missing or unreadable one is a one-line `ConfigError`."""
        suite = self.dir.name
        if not self.manifest_path.is_file():
            raise ConfigError(f"no results for suite {suite} in {self.dir.parent}; "
                              f"run python -m bench run --suite {suite} first")
        try:
            return Manifest.from_dict(json.loads(read_bounded(self.manifest_path, follow_symlinks=False)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise ConfigError(f"{self.manifest_path} is unreadable ({exc}); rerun python -m bench run --suite "
                              f"{suite}") from None

    def load_manifest_runs(self, with_images: bool = True) -> tuple[Manifest, list[RunRecord]]:
        """The manifest and its stored runs (their image arrays only if `with_images`: a report
        needs them, a listing does not), for re-rendering a report; one line on stderr if some
        are missing, a `ConfigError` if none is stored."""
        manifest = self.read_manifest()
        keys = manifest.keys()
        records = [r for k in keys if (r := self.load(k, with_images)) is not None]
        if not records:
            raise ConfigError(f"none of the runs listed in {self.manifest_path} is stored; "
                              f"rerun python -m bench run --suite {self.dir.name}")
        if missing := len(keys) - len(records):
            print(f"warning: {missing} run(s) of the suite are not stored (failed or removed)", file=sys.stderr)
        return manifest, records

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the suite folder's lock; refuse with a one-line error if another run has it.
        (`filelock` opens its lock file with O_TRUNC and follows links: a `.lock` that is a link
        to a user's file would empty it. Here the file is opened O_NOFOLLOW, never truncated.)"""
        lock = self.dir / ".lock"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fh = os.fdopen(os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644), "a+")
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR) or lock.is_symlink():
                raise ConfigError(f"{lock} is not a lock file (a link or a folder); remove it and run again") \
                    from None
            raise OutputError(self.dir, exc) from None
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigError(
                    f"another bench run is using {self.dir}; wait for it to finish or pass --results "
                    "another folder"
                ) from None
            try:
                self.remove_partial()
                if moved := self.migrate():
                    print(f"moved {moved} stored run(s) from {self.dir} to {self.runs_dir}, the cache every suite "
                          "shares", file=sys.stderr)
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def remove_partial(self, older_than_s: float = 0.0) -> None:
        """Remove what killed writers left (`.tmp-*`): in the suite's folder those `older_than_s`
        old (0 under the lock; without it, as for tuning workers, an age no live write has), in
        the shared `runs/` those `STALE_S` old."""
        remove_stale(self.dir, older_than_s)
        remove_stale(self.runs_dir, max(older_than_s, STALE_S))

    def save(self, record: RunRecord) -> None:
        """Write a finished run: all files into a temporary folder, then one rename. If a whole
        copy is already there (a parallel worker), keep it; if an unreadable one, replace it."""
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=self.runs_dir, prefix=f".tmp-{record.key}-"))
            tmp.chmod(0o777 & ~UMASK)  # mkdtemp makes 0700
        except OSError as exc:
            raise OutputError(self.runs_dir, exc) from None
        try:
            write_json(tmp / "config.json", config_dict(record.config))
            write_json(tmp / "metrics.json", {"schema": SCHEMA, "key": record.key,
                                              "status": record.status, "info": record.info,
                                              "metrics": _json_safe(record.metrics)})
            write_atomic(tmp / "history.csv", record.history.to_csv(index=False).encode())
            buf = io.BytesIO()
            np.savez_compressed(buf, **record.images)
            write_atomic(tmp / "images.npz", buf.getvalue())
            if record.weights is not None and self.keep_weights:
                buf = io.BytesIO()
                torch.save(record.weights, buf)
                write_atomic(tmp / "model.pt", buf.getvalue())
            final = self.runs_dir / record.key
            try:
                os.replace(tmp, final)
                return
            except OSError:  # the folder exists: another worker stored it first, or it is unreadable
                pass
            try:
                if _present(final) and self.load(record.key) is not None:
                    shutil.rmtree(tmp)
                    return
            except StoredRunError:  # damage: a link is removed (never what it points to), a folder replaced
                final.unlink() if final.is_symlink() else shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def load(self, key: str, with_images: bool = True) -> RunRecord | None:
        """The stored run, or None when there is none. A folder that is not a whole run of
        this version raises `ConfigError` naming it."""
        folder = self.run_dir(key)
        if not folder.is_symlink() and not folder.is_dir():
            return None
        try:
            if folder.is_symlink():
                raise UnsafeFileError(f"{folder} is a symbolic link")
            meta = json.loads(read_bounded(folder / "metrics.json", follow_symlinks=False))
            if meta.get("schema") != SCHEMA or meta.get("key") != key:
                raise ValueError("written by another version of vae-bench")
            config = config_from_dict(json.loads(read_bounded(folder / "config.json", follow_symlinks=False)))
            history = pd.read_csv(io.BytesIO(read_bounded(folder / "history.csv", follow_symlinks=False)))
            images = read_npz(folder / "images.npz") if with_images else {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError, RecursionError,
                zipfile.BadZipFile, ConfigError) as exc:
            raise StoredRunError(folder, exc) from None
        return RunRecord(key, config, meta["status"], meta["metrics"], meta["info"], history, images)


MODEL_FILE = 2 * 2**30  # bytes of a run's model.pt: far above any network this harness builds


def load_weights(folder: Path) -> dict[str, torch.Tensor] | None:
    """The state dict stored in a run folder (`model.pt`), or None where the run was stored
    without one (`run --no-weights`, or an older version). Read with `weights_only=True`:
    tensors only, nothing in the file is executed."""
    path = folder / "model.pt"
    if not path.exists() and not path.is_symlink():
        return None
    try:
        weights = torch.load(io.BytesIO(read_bounded(path, MODEL_FILE, follow_symlinks=False)), map_location="cpu",
                             weights_only=True)
        if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
            raise ValueError("not a state dict of tensors")
        return weights
    except Exception as exc:  # torch raises many kinds for a damaged or foreign file
        raise StoredRunError(folder, exc) from None


class StoredRunError(ConfigError):
    def __init__(self, folder: Path, exc: Exception) -> None:
        first = (str(exc).strip().splitlines() or [""])[0][:200]  # torch's messages run over several lines
        super().__init__(f"results folder {folder} is unreadable ({type(exc).__name__}: {first}); "
                         "delete it to retrain that run")
        self.folder = folder


def _json_safe(metrics: dict) -> dict:
    """NaN/inf are not JSON: store them as None ("not available")."""
    def fix(v: object) -> object:
        if isinstance(v, float) and not np.isfinite(v):
            return None
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v
    return {k: fix(v) for k, v in metrics.items()}
