"""Docker helpers shared by the test suites: the busybox test image, built from scratch.

No registry is reachable where the tests run, so the one image they use is built locally:
``FROM scratch`` + Debian's static busybox, installed as ``sh``, ``sleep``, ``httpd``,
``nc``, ``wget``... (about 2 MB; builds in under a second).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import docker
import docker.errors

__all__ = ["BUSYBOX_IMAGE", "busybox_binary", "ensure_busybox_image"]

#: The tag of the test image.
BUSYBOX_IMAGE = "pyecs-test/busybox:latest"

_DOCKERFILE = b"""\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["sh"]
"""


def busybox_binary() -> Path:
    """The static busybox of Debian's ``busybox-static`` package.

    Raises:
        FileNotFoundError: when the package is not installed, saying how to install it.
    """
    candidates: list[Path] = []
    if shutil.which("dpkg"):
        listing = subprocess.run(
            ["dpkg", "-L", "busybox-static"], capture_output=True, text=True, check=False
        )
        candidates += [Path(p) for p in listing.stdout.split() if p.endswith("bin/busybox")]
    candidates += [Path("/bin/busybox"), Path("/usr/bin/busybox")]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        "no static busybox found (looked in dpkg -L busybox-static, /bin, /usr/bin); "
        "install it: apt-get install -y busybox-static"
    )


def _context(busybox: Path) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        dockerfile = tarfile.TarInfo("Dockerfile")
        dockerfile.size = len(_DOCKERFILE)
        tar.addfile(dockerfile, io.BytesIO(_DOCKERFILE))
        binary = tarfile.TarInfo("busybox")
        data = busybox.read_bytes()
        binary.size = len(data)
        binary.mode = 0o755
        tar.addfile(binary, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def ensure_busybox_image(client: docker.DockerClient, tag: str = BUSYBOX_IMAGE) -> str:
    """Build the busybox test image on ``client``'s engine unless it is there; return its tag.

    Idempotent and fast when the image exists (one inspect call).
    """
    try:
        client.api.inspect_image(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    client.images.build(
        fileobj=_context(busybox_binary()),
        custom_context=True,
        tag=tag,
        rm=True,
        forcerm=True,
        labels={"pyecs.test-image": "busybox"},
    )
    return tag
