"""Generate the Python stubs for every proto under protos/ into one package.

Usage: python scripts/gen_protos.py [OUT_DIR]   (default: the repository root)

The generated package is `aimesh` (`aimesh.llm.v1.llm_pb2`, ...), importable
from the repository root. `.pyi` files are written so type checkers see the
messages. tests/test_protos.py regenerates into a temporary directory and fails
when the committed stubs differ.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Write stubs for every proto into out_dir; return the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    well_known = str(resources.files("grpc_tools") / "_proto")
    protos = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--proto_path={well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed; see the messages above")
    # protoc writes modules, not packages: add the __init__.py files.
    package_root = out_dir / "aimesh"
    for directory in [package_root, *[p for p in package_root.rglob("*") if p.is_dir()]]:
        if directory.name != "__pycache__":
            (directory / "__init__.py").touch()
    return sorted(
        p for p in package_root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    written = generate(out_dir)
    print(f"generated {len(written)} files under {out_dir / 'aimesh'}")


if __name__ == "__main__":
    main()
