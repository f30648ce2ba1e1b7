"""The API reference page names every public name, so none is left undocumented."""

from __future__ import annotations

from pathlib import Path

import pyecs
import pyecs.sync
import pyecs.testing

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_api_reference_covers_the_public_surface() -> None:
    text = (DOCS / "api.md").read_text()
    names = [f"pyecs.{n}" for n in pyecs.__all__ if n != "__version__"]
    names += [f"pyecs.sync.{n}" for n in pyecs.sync.__all__]
    names += [f"pyecs.testing.{n}" for n in pyecs.testing.__all__]
    missing = [n for n in names if f"::: {n}\n" not in text]
    assert not missing, f"add these to docs/api.md: {missing}"
