"""The browser libraries the explorer and the graph view load, shipped in the package.

Nothing is fetched from a CDN when a page opens (a fleet's control plane is often
air-gapped): the files come from npm once, by ``npm pack`` at the versions pinned in
``static/vendor/manifest.json``, and are committed under ``static/vendor/<pkg>-<version>/``
with their licences. The manifest holds, per package, the tarball's integrity (as npm
publishes it) and each kept file's sha256.

    python -m fleetgraph.serving.explorer.vendor check   # files on disk match the manifest
    python -m fleetgraph.serving.explorer.vendor fetch   # re-fetch from npm, verify, write

``fetch --update`` writes the hashes it finds instead of checking them (after changing a
version in the manifest); review the diff.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetgraph.core.errors import FleetgraphError

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
MANIFEST = VENDOR_DIR / "manifest.json"


class VendorError(FleetgraphError):
    """A vendored file is missing or differs from the manifest, or npm gave another file."""


@dataclass(frozen=True)
class VendoredFile:
    package: str
    version: str
    dest: str  # the file's name in the package's folder
    source: str  # its path in the npm tarball (of ``source_package`` when set)
    sha256: str
    source_package: str | None = None  # e.g. a licence text kept in another package


def folder_name(package: str, version: str) -> str:
    """``@graphiql/plugin-explorer`` at 1.0.2 -> ``graphiql-plugin-explorer-1.0.2``."""
    return f"{package.lstrip('@').replace('/', '-')}-{version}"


def load_manifest(path: Path = MANIFEST) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def vendored_files(manifest: dict[str, Any]) -> list[VendoredFile]:
    return [VendoredFile(name, spec["version"], dest, entry["source"], entry["sha256"],
                         entry.get("package"))
            for name, spec in manifest["packages"].items()
            for dest, entry in spec["files"].items()]


def local_path(file: VendoredFile, root: Path = VENDOR_DIR) -> Path:
    return root / folder_name(file.package, file.version) / file.dest


def url_path(package: str, manifest: dict[str, Any], dest: str) -> str:
    """The file's path under the static mount, e.g. ``vendor/react-18.3.1/react.min.js``."""
    return f"vendor/{folder_name(package, manifest['packages'][package]['version'])}/{dest}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check(root: Path = VENDOR_DIR, manifest: dict[str, Any] | None = None) -> list[str]:
    """What differs between the files under ``root`` and the manifest (empty: all match)."""
    manifest = manifest or load_manifest()
    problems = []
    for file in vendored_files(manifest):
        path = local_path(file, root)
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif sha256(path.read_bytes()) != file.sha256:
            problems.append(f"{path} differs from the manifest (sha256 {file.sha256})")
    return problems


def _pack(package: str, version: str, integrity: str, into: Path) -> tarfile.TarFile:
    """``npm pack package@version`` into ``into``; the tarball, checked against the
    integrity the manifest pins."""
    done = subprocess.run(["npm", "pack", f"{package}@{version}", "--json", "--silent"],
                          cwd=into, check=True, capture_output=True, text=True)
    (packed,) = json.loads(done.stdout)
    data = (into / packed["filename"]).read_bytes()
    algorithm, _, digest = integrity.partition("-")
    found = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if found != digest:
        raise VendorError(f"npm gave {package}@{version} with {algorithm} {found}; the "
                          f"manifest pins {digest}")
    return tarfile.open(into / packed["filename"])


def fetch(root: Path = VENDOR_DIR, *, update: bool = False) -> dict[str, Any]:
    """Fetch every package from npm, write the manifest's files under ``root``, each
    checked against its sha256 (``update``: record the hash found instead)."""
    manifest = load_manifest()
    with tempfile.TemporaryDirectory() as scratch:
        tarballs = {name: _pack(name, spec["version"], spec["integrity"], Path(scratch))
                    for name, spec in manifest["packages"].items()}
        for name, spec in manifest["packages"].items():
            for dest, entry in spec["files"].items():
                member = tarballs[entry.get("package", name)].extractfile(entry["source"])
                if member is None:
                    raise VendorError(f"{entry['source']} is not a file in {name}")
                data = member.read()
                if update:
                    entry["sha256"] = sha256(data)
                elif sha256(data) != entry["sha256"]:
                    raise VendorError(f"{name}: {entry['source']} from npm has sha256 "
                                      f"{sha256(data)}, the manifest pins {entry['sha256']}")
                path = root / folder_name(name, spec["version"]) / dest
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
    return manifest


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "fetch":
        manifest = fetch(update="--update" in argv)
        if "--update" in argv:
            MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
        print(f"fetched {len(vendored_files(manifest))} files into {VENDOR_DIR}")
        return 0
    if command == "check":
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        print("vendored files match the manifest" if not problems else
              f"{len(problems)} vendored files differ: run `python -m "
              "fleetgraph.serving.explorer.vendor fetch`")
        return 1 if problems else 0
    print("usage: python -m fleetgraph.serving.explorer.vendor check | fetch [--update]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
