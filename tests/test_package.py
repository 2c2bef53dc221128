"""Packaging and module contracts: the wheel ships the UI, the core stays free of web code."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_core_modules_import_neither_flask_nor_aiosmtpd() -> None:
    code = (
        "import sys, catcher.store, catcher.message, catcher.settings\n"
        "web = ('flask', 'aiosmtpd', 'h11', 'werkzeug')\n"
        "bad = sorted(m for m in web if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


@pytest.mark.slow
def test_wheel_ships_static_files_and_entry_points(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = tmp_path.glob("catcher-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        entry_text = archive.read(entry_points).decode()
    static = sorted(
        p.relative_to(ROOT).as_posix() for p in (ROOT / "static").rglob("*") if p.is_file()
    )
    assert static, "static/ is empty"
    for path in static:
        assert "catcher/" + path in names, path
    assert "catcher/cli.py" in names and "catcher/py.typed" in names
    assert "catcher = catcher.cli:run" in entry_text
