"""Refresh the bundled caniemail data from the npm registry.

    python -m catcher.checks.refresh [--version 2.0.2] [--tarball caniemail-2.0.2.tgz]

The package is fetched with ``npm pack`` (npm's own client and registry settings), or
read from a tarball already at hand. Its data file is copied byte for byte next to this
module, with its licence and a record of where it came from (``caniemail.source.json``).
catcher itself never downloads anything: the data ships with it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = "package/dist/data/caniemail.json"


def pack(version: str, into: Path) -> tuple[Path, str]:
    """Download ``caniemail@version`` with npm; the tarball's path and its integrity."""
    done = subprocess.run(
        ["npm", "pack", f"caniemail@{version}", "--json", "--pack-destination", str(into)],
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(done.stdout)[0]
    return into / info["filename"], info["integrity"]


def member(archive: tarfile.TarFile, name: str) -> bytes:
    found = archive.extractfile(name)
    if found is None:
        raise SystemExit(f"{name} is not a file in the package")
    return found.read()


def refresh(tarball: Path, integrity: str | None, output: Path) -> dict[str, object]:
    """Write the data, licence and source record from a package tarball into ``output``."""
    with tarfile.open(tarball) as archive:
        data = member(archive, DATA)
        package = json.loads(member(archive, "package/package.json"))
        licence = member(archive, "package/LICENSE")
    parsed = json.loads(data)
    if not isinstance(parsed.get("data"), list) or "nicenames" not in parsed:
        raise SystemExit(f"{DATA} does not look like caniemail's data")
    output.mkdir(parents=True, exist_ok=True)
    (output / "caniemail.json").write_bytes(data)
    (output / "caniemail.LICENSE").write_bytes(licence)
    source = {
        "package": package["name"],
        "version": package["version"],
        "license": package.get("license", ""),
        "homepage": package.get("homepage", ""),
        "integrity": integrity or "sha512-" + _b64(hashlib.sha512(tarball.read_bytes()).digest()),
        "data_sha256": hashlib.sha256(data).hexdigest(),
        "data_updated": parsed.get("last_update_date", ""),
        "features": len(parsed["data"]),
        "refreshed": datetime.now(UTC).date().isoformat(),
    }
    (output / "caniemail.source.json").write_text(json.dumps(source, indent=2) + "\n")
    return source


def _b64(digest: bytes) -> str:
    import base64

    return base64.b64encode(digest).decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m catcher.checks.refresh", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--version", default="latest", help="the caniemail version (default: latest)"
    )
    parser.add_argument(
        "--tarball", type=Path, help="a package tarball to read instead of downloading"
    )
    parser.add_argument(
        "--output", type=Path, default=HERE, help="where to write (default: beside this module)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        if args.tarball is None:
            tarball, integrity = pack(args.version, Path(scratch))
        else:
            tarball, integrity = args.tarball, None
        source = refresh(tarball, integrity, args.output)
    print(
        f"caniemail {source['version']}: {source['features']} features, data of "
        f"{source['data_updated']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
