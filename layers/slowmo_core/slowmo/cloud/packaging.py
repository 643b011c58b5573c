"""Build the SageMaker model artefact, model.tar.gz, for the FILM model server.

Layout (DJL Serving, Python engine; SageMaker unpacks it into /opt/ml/model)::

    serving.properties  model.py  requirements.txt   the DJL adapter (the repository's model/ folder)
    requirements/*.whl                               with ``wheels_dir``: every dependency, for offline install
    slowmo/                                          the core package: the same code as the CLI
    film/saved_model.pb  film/variables/...          the FILM SavedModel

DJL Serving's Python engine runs ``python -m pip install -r requirements.txt`` at every model load, adding
``-f <model>/requirements`` when that folder exists, and only logs a failed install
(``PyEnv.installDependency`` in deepjavalibrary/djl-serving). Built with wheels, the packaged
requirements.txt starts with ``--no-index`` and ``--find-links requirements``, so the install never touches
the network, and every requirement is checked to have a wheel for the image's Python before the tarball is
written (``download_wheels`` fetches them with ``pip download`` for CPython 3.10, manylinux x86_64). If the
install still fails, model.py's load imports the runtime and fails the health check.

The SavedModel can come from a local folder (the ``saved_model`` folder itself or its parent, e.g.
``pretrained_models/film_net/Style``), an ``s3://bucket/prefix`` holding that folder or an archive of it,
or an http(s)/file URL of a .zip/.tar.gz archive. The tarball is deterministic (sorted entries, fixed
mtimes), so rebuilding from the same inputs yields the same bytes and the same S3 ETag.

Only the standard library at import time; boto3 is imported when an S3 client must be created.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from slowmo.errors import InputError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
SERVER_FILES = ("serving.properties", "model.py", "requirements.txt")
FILM_DIR = "film"
#: DJL adds ``-f <model>/requirements`` to its pip install when this folder exists.
WHEELS_DIR = "requirements"
#: The DJL LMI image's Python and platform (djl-inference 0.29 LMI: CPython 3.10 on x86_64 Linux).
IMAGE_PYTHON = "3.10"
IMAGE_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")


@dataclass(frozen=True)
class PackageInfo:
    path: str
    size_bytes: int
    sha256: str
    files: int
    saved_model_source: str


def default_server_dir() -> Path:
    """The repository's model/ folder (next to layers/), where serving.properties and model.py live."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "model"
        if (cand / "model.py").is_file() and (cand / "serving.properties").is_file():
            return cand
    raise InputError("cannot find the model server files (model/model.py); pass server_dir=")


def find_saved_model(root: str | os.PathLike) -> Path:
    """The folder holding saved_model.pb under ``root`` (itself, or the shallowest one below it)."""
    root = Path(root)
    if (root / "saved_model.pb").is_file():
        return root
    found = sorted(root.rglob("saved_model.pb"), key=lambda p: (len(p.parts), str(p)))
    if not found:
        raise InputError(f"no FILM SavedModel (saved_model.pb) found in {root}")
    return found[0].parent


def _is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def _extract(archive: Path, dest: Path) -> None:
    name = archive.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                target = (dest / member).resolve()
                if not str(target).startswith(str(dest.resolve())):
                    raise InputError(f"unsafe path in archive {archive.name}: {member}")
            zf.extractall(dest)
    else:
        try:
            with tarfile.open(archive) as tf:
                tf.extractall(dest, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise InputError(f"cannot unpack {archive.name}: {exc}") from None


def fetch_saved_model(source: str, workdir: str | os.PathLike, *, s3=None) -> Path:
    """Materialise the SavedModel named by ``source`` under ``workdir``; returns its folder."""
    work = Path(workdir)
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme == "s3":
        bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
        if not bucket:
            raise InputError(f"not an S3 URI: {source}")
        s3 = s3 or _boto3_client("s3")
        dest = work / "s3"
        if _is_archive(prefix):
            dest.mkdir(parents=True, exist_ok=True)
            archive = dest / Path(prefix).name
            s3.download_file(bucket, prefix, str(archive))
            _extract(archive, dest / "x")
            return find_saved_model(dest / "x")
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/"):
            keys += [o["Key"] for o in page.get("Contents", [])]
        if not keys:
            raise InputError(f"no objects under {source}")
        base = prefix.rstrip("/") + "/"
        for key in keys:
            if key.endswith("/"):
                continue
            target = dest / key[len(base):]
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(target))
        return find_saved_model(dest)
    if parsed.scheme in ("http", "https", "file"):
        name = Path(urllib.parse.unquote(parsed.path)).name or "model"
        if not _is_archive(name):
            raise InputError(f"a model URL must point to a .zip or .tar.gz archive of the SavedModel: {source}")
        dest = work / "url"
        dest.mkdir(parents=True, exist_ok=True)
        archive = dest / name
        try:
            with urllib.request.urlopen(source, timeout=60) as resp, open(archive, "wb") as fh:  # noqa: S310 - user-chosen URL
                shutil.copyfileobj(resp, fh)
        except OSError as exc:
            raise InputError(f"cannot download {source}: {exc}") from None
        _extract(archive, dest / "x")
        return find_saved_model(dest / "x")
    local = Path(source).expanduser()
    if not local.exists():
        raise InputError(f"saved model path not found: {source}")
    if local.is_file() and _is_archive(local.name):
        dest = work / "local"
        _extract(local, dest)
        return find_saved_model(dest)
    return find_saved_model(local)


def _boto3_client(name: str):
    import boto3

    return boto3.client(name)


def _add_tree(tar: tarfile.TarFile, src: Path, arcbase: str) -> int:
    count = 0
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if "__pycache__" in rel.parts or path.suffix in (".pyc", ".pyo"):
            continue
        if path.is_file():
            _add_file(tar, path, f"{arcbase}/{rel.as_posix()}")
            count += 1
    return count


def _add_file(tar: tarfile.TarFile, path: Path, arcname: str) -> None:
    _add_bytes(tar, path.read_bytes(), arcname)


def _add_bytes(tar: tarfile.TarFile, data: bytes, arcname: str) -> None:
    info = tarfile.TarInfo(arcname)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(text: str) -> list[str]:
    """Project names required by a requirements.txt (options, comments and blank lines skipped)."""
    names = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if match:
            names.append(_canonical(match.group(0)))
    return names


def wheel_fits_image(filename: str, python: str = IMAGE_PYTHON) -> bool:
    """Whether a wheel (by the tags in its file name) installs on the image's CPython and x86_64 Linux."""
    parts = filename[: -len(".whl")].split("-")
    if len(parts) < 5:
        return False
    pythons, abi, platforms = parts[-3].split("."), parts[-2], parts[-1].split(".")
    minor = int(python.split(".")[1])

    def python_ok(tag: str) -> bool:
        if tag in ("py3", f"cp3{minor}"):
            return True
        # a stable-ABI wheel built for an older CPython 3 also installs on this one
        return abi == "abi3" and tag.startswith("cp3") and tag[3:].isdigit() and int(tag[3:]) <= minor

    def platform_ok(tag: str) -> bool:
        return tag == "any" or (tag.startswith("manylinux") and tag.endswith("x86_64"))

    return any(map(python_ok, pythons)) and any(map(platform_ok, platforms))


def offline_requirements(text: str, wheels: list[str]) -> str:
    """The packaged requirements.txt: pip may only use the shipped wheels; every requirement has one."""
    have = {_canonical(w.split("-")[0]) for w in wheels if wheel_fits_image(w)}
    missing = [n for n in requirement_names(text) if n not in have]
    if missing:
        raise InputError(f"no wheel for the image's Python {IMAGE_PYTHON} among the packaged wheels for: "
                         f"{', '.join(missing)} (run download_wheels first)")
    wrong = sorted(w for w in wheels if not wheel_fits_image(w))
    if wrong:
        raise InputError(f"wheels that do not install on the image (CPython {IMAGE_PYTHON}, x86_64 Linux): "
                         f"{', '.join(wrong[:5])}")
    header = ("# Offline: install only the wheels shipped in requirements/ (pip resolves this relative path\n"
              "# against this file). Written by slowmo.cloud.packaging.\n"
              f"--no-index\n--find-links {WHEELS_DIR}\n")
    return header + text


def download_wheels(requirements: str | os.PathLike, dest: str | os.PathLike, *, python: str = IMAGE_PYTHON,
                    platforms: tuple[str, ...] = IMAGE_PLATFORMS) -> list[Path]:
    """``pip download`` every requirement (and its dependencies) as wheels for the image's Python.

    Needs the network once, on the machine that builds the tarball; the endpoint never does.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--python-version", python,
           "--implementation", "cp", "-d", str(dest), "-r", str(requirements)]
    for platform in platforms:
        cmd += ["--platform", platform]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argument list
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["pip download failed"])[-1]
        raise InputError(f"cannot download the wheels for Python {python}: {last}")
    return sorted(dest.glob("*.whl"))


def build_model_tarball(
    saved_model: str,
    output: str | os.PathLike,
    *,
    s3=None,
    server_dir: str | os.PathLike | None = None,
    core_dir: str | os.PathLike | None = None,
    wheels_dir: str | os.PathLike | None = None,
) -> PackageInfo:
    """Write model.tar.gz to ``output`` from the FILM SavedModel at ``saved_model`` (path, s3:// or URL).

    With ``wheels_dir`` (the wheels of every requirement for the image's Python, e.g. from
    ``download_wheels``) the dependencies travel inside the tarball and install offline at load.
    """
    server = Path(server_dir) if server_dir else default_server_dir()
    for name in SERVER_FILES:
        if not (server / name).is_file():
            raise InputError(f"model server file missing: {server / name}")
    if core_dir is None:
        import slowmo

        core_dir = Path(slowmo.__file__).parent
    core = Path(core_dir)
    output = Path(output)
    wheels = sorted(Path(wheels_dir).glob("*.whl")) if wheels_dir else []
    if wheels_dir and not wheels:
        raise InputError(f"no wheels (*.whl) in {wheels_dir}")
    requirements = (server / "requirements.txt").read_text()
    if wheels:
        requirements = offline_requirements(requirements, [w.name for w in wheels])
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="slowmo-pkg-") as tmp:
        model_dir = fetch_saved_model(saved_model, tmp, s3=s3)
        files = 0
        with open(output, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in SERVER_FILES:
                if name == "requirements.txt":
                    _add_bytes(tar, requirements.encode(), name)
                else:
                    _add_file(tar, server / name, name)
                files += 1
            for wheel in wheels:
                _add_file(tar, wheel, f"{WHEELS_DIR}/{wheel.name}")
                files += 1
            files += _add_tree(tar, core, "slowmo")
            files += _add_tree(tar, model_dir, FILM_DIR)
    digest = hashlib.sha256(output.read_bytes()).hexdigest()
    return PackageInfo(str(output), output.stat().st_size, digest, files, saved_model)


def upload_model_tarball(path: str | os.PathLike, s3_uri: str, *, s3=None) -> str:
    """Upload the tarball to ``s3_uri`` (a key ending in .tar.gz, or a prefix); returns the object URI."""
    parsed = urllib.parse.urlparse(s3_uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise InputError(f"not an S3 URI: {s3_uri}")
    key = parsed.path.lstrip("/")
    if not key.endswith(".tar.gz"):
        key = (key.rstrip("/") + "/" if key else "") + "model.tar.gz"
    s3 = s3 or _boto3_client("s3")
    s3.upload_file(str(path), parsed.netloc, key)
    return f"s3://{parsed.netloc}/{key}"
