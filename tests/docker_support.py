"""Docker helpers shared by the test suites: the busybox test image, built from scratch.

No registry is reachable where the tests run, so the one image they use is built locally
by :mod:`pyecs.testing.images` (``FROM scratch`` + Debian's static busybox).
"""

from __future__ import annotations

from pyecs.testing.images import BUSYBOX_IMAGE, busybox_binary, ensure_busybox_image

__all__ = ["BUSYBOX_IMAGE", "busybox_binary", "ensure_busybox_image"]
