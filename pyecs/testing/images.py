"""Build small test images without a registry: busybox from Debian's ``busybox-static``.

Where no image registry is reachable (CI sandboxes, air-gapped machines), ``docker pull``
fails. :func:`ensure_busybox_image` builds a ~2 MB image ``FROM scratch`` with a static
busybox installed as ``sh``, ``sleep``, ``httpd``, ``nc``, ``wget``... in under a second.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker

__all__ = ["BUSYBOX_IMAGE", "busybox_binary", "docker_client", "ensure_busybox_image"]

#: The default tag of the busybox image.
BUSYBOX_IMAGE = "pyecs-test/busybox:latest"

_DOCKERFILE = b"""\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["sh"]
"""


def docker_client() -> docker.DockerClient:
    """A client of the environment's engine (``DOCKER_HOST`` or the default socket).

    Raises:
        docker.errors.DockerException: when no engine answers.
    """
    import docker

    client = docker.from_env()
    try:
        client.ping()
    except Exception:
        client.close()
        raise
    return client


def busybox_binary() -> Path:
    """The static busybox of Debian's ``busybox-static`` package.

    Raises:
        FileNotFoundError: when it is not installed, saying how to install it.
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
        data = busybox.read_bytes()
        binary = tarfile.TarInfo("busybox")
        binary.size = len(data)
        binary.mode = 0o755
        tar.addfile(binary, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def ensure_busybox_image(client: docker.DockerClient, tag: str = BUSYBOX_IMAGE) -> str:
    """Build the busybox image on ``client``'s engine unless it is there; return its tag.

    Idempotent, and one inspect call when the image exists.
    """
    import docker.errors

    try:
        client.api.inspect_image(tag)  # type: ignore[no-untyped-call]
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
