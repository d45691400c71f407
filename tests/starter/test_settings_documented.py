"""README's configuration table names every setting, with its environment variable, so none is a secret."""

from __future__ import annotations

import re
from pathlib import Path

from settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_has_a_row_in_the_readme_configuration_table() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \| `(OMS_[A-Z_]+)` \|", README.read_text(encoding="utf-8"), re.MULTILINE)
    documented = dict(rows)
    for name in Settings.model_fields:
        assert documented.get(name) == f"OMS_{name.upper()}", f"README's configuration table lacks {name}"
