"""A real Docker engine for the docker runtime's tests, and an image built here.

No registry is reachable, so the image is made locally: a root filesystem tarball
(``/etc/passwd``, ``/tmp``, the merged-``/usr`` symlinks) imported with ``docker import``
(as ``FROM scratch`` plus a rootfs would). Programs come from the host's ``/usr`` and
Python prefix, mounted read-only by the runtime's ``mounts`` option, so the image stays
a few kilobytes and builds in a second. Tests skip, with the engine's own error, only
where no engine runs (``scripts/start-test-services.sh`` starts one when it can).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

IMAGE = "ao-test-rootfs:1"


def engine_error() -> str | None:
    """Why the Docker engine cannot be used here, or None when it can."""
    try:
        r = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
    except FileNotFoundError:
        return "the docker client is not installed (apt-get install docker.io)"
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer within 20 s"
    if r.returncode != 0:
        return (r.stderr.strip().splitlines() or ["no answer"])[-1]
    return None


def require_engine() -> None:
    """Skip the calling test, with the engine's own error, when no engine runs."""
    error = engine_error()
    if error:
        log = Path(os.environ.get("AO_DOCKERD_LOG", "/tmp/ao-test-dockerd.log"))
        tail = log.read_text(errors="replace").splitlines()[-3:] if log.exists() else []
        pytest.skip(f"no Docker engine: {error}" + (f" (dockerd: {' | '.join(tail)})" * bool(tail)))


def build_image() -> str:
    """Import the test image (idempotent) and return its name."""
    r = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, timeout=30)
    if r.returncode == 0:
        return IMAGE
    data = io.BytesIO()
    uid, gid = os.getuid(), os.getgid()
    with tarfile.open(fileobj=data, mode="w") as tar:

        def add(name: str, *, mode: int = 0o755, link: str = "", text: str = "") -> None:
            info = tarfile.TarInfo(name)
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
            elif text:
                info.size = len(text.encode())
            else:
                info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info, io.BytesIO(text.encode()) if text else None)

        for folder in ("etc", "usr", "proc", "sys", "dev", "root", "sbin", "home", "opt", "var"):
            add(folder)
        add("tmp", mode=0o1777)
        for name in ("bin", "lib", "lib64"):
            add(name, link=f"usr/{name}")
        users = "root:x:0:0:root:/root:/bin/sh\n"
        if uid:
            users += f"tester:x:{uid}:{gid}:tester:/tmp:/bin/sh\n"
        add("etc/passwd", mode=0o644, text=users)
        add("etc/group", mode=0o644, text=f"root:x:0:\ntester:x:{gid}:\n")
    subprocess.run(
        ["docker", "import", "-", IMAGE], input=data.getvalue(), check=True,
        capture_output=True, timeout=120,
    )  # fmt: skip
    return IMAGE


def host_mounts(*writable: Path) -> list[str]:
    """Mounts that give the test image the host's programs (read-only) and ``writable``."""
    prefixes = {Path("/usr"), Path(sys.base_prefix).resolve(), Path(sys.prefix)}
    mounts = [f"{p}:{p}:ro" for p in sorted(prefixes) if p.is_dir()]
    tests = Path(__file__).resolve().parent
    mounts.append(f"{tests}:{tests}:ro")
    mounts += [f"{p}:{p}" for p in writable]
    return mounts
