"""Generate the gRPC Python modules from `lesson/proto/inference.proto`.

Run from the repository root::

    .venv/bin/python tools/gen_proto.py           # (re)write lesson/proto/
    .venv/bin/python tools/gen_proto.py --check   # exit 1 if the checked-in files differ

The output is reproducible: the same proto and the same pinned grpcio-tools give the same
bytes. Two deterministic edits follow `protoc`:

* the descriptors go into a private `DescriptorPool`, not the process-wide default one, so
  the lesson's modules can be imported next to another copy of the same protocol (for
  example `tritonclient.grpc`, which registers the same `inference.*` names) without a
  "duplicate symbol" error; the wire format is unchanged;
* the service module imports its messages relatively (`from . import inference_pb2`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_DIR = ROOT / "lesson" / "proto"
PROTO_NAME = "inference.proto"
OUT_DIR = ROOT / "lesson" / "proto"
GENERATED = ("inference_pb2.py", "inference_pb2.pyi", "inference_pb2_grpc.py")

INIT_TEXT = '''"""The gRPC contract: ``inference.proto`` and the modules generated from it.

tools/gen_proto.py writes ``inference_pb2*.py`` beside the ``.proto`` (do not edit them).

Below both the clients and the servers; imports grpcio and protobuf."""

from . import inference_pb2, inference_pb2_grpc

__all__ = ["inference_pb2", "inference_pb2_grpc"]
'''

_DEFAULT_POOL = "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile("
_PRIVATE_POOL = (
    "# Private pool (tools/gen_proto.py): coexists with other copies of the protocol.\n"
    "_POOL = _descriptor_pool.DescriptorPool()\n"
    "DESCRIPTOR = _POOL.AddSerializedFile("
)


def _run_protoc(out: Path) -> None:
    from grpc_tools import protoc  # imported here: only this tool needs grpcio-tools

    include = Path(protoc.__file__).resolve().parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        str(PROTO_DIR / PROTO_NAME),
    ]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed on {PROTO_DIR / PROTO_NAME}")


def _post_process(name: str, text: str) -> str:
    if name == "inference_pb2.py":
        if _DEFAULT_POOL not in text:
            raise SystemExit("unexpected protoc output: the descriptor pool line was not found")
        text = text.replace(_DEFAULT_POOL, _PRIVATE_POOL, 1)
    elif name == "inference_pb2_grpc.py":
        if "\nimport inference_pb2 as" not in text:
            raise SystemExit("unexpected protoc output: the message import was not found")
        text = text.replace("\nimport inference_pb2 as", "\nfrom . import inference_pb2 as", 1)
    return text


def generate() -> dict[str, str]:
    """Run protoc and return {file name: text} for every file of `lesson/proto/`."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        _run_protoc(out)
        files = {name: _post_process(name, (out / name).read_text()) for name in GENERATED}
    files["__init__.py"] = INIT_TEXT
    return files


def differences(files: dict[str, str]) -> list[str]:
    """Names of the generated files that differ from the ones in `lesson/proto/`."""
    changed = []
    for name, text in files.items():
        path = OUT_DIR / name
        if not path.exists() or path.read_text() != text:
            changed.append(name)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    files = generate()
    changed = differences(files)
    if args.check:
        if changed:
            print(f"out of date: {', '.join(changed)} (run tools/gen_proto.py)")
            return 1
        print("lesson/proto is up to date")
        return 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT_DIR / name).write_text(text)
    print(f"wrote {len(files)} files to {OUT_DIR.relative_to(ROOT)} ({len(changed)} changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
