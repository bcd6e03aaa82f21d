"""Build the training code archive (`sourcedir.tar.gz`) that every SageMaker job runs.

The archive contains `training/*.py` at its root (so `sagemaker_program=train.py` resolves), with
`training/requirements.txt` when present, the `keiko_training` package and the `keiko` package (the
recipe model). It is byte-for-byte reproducible:
sorted entries, zero timestamps and owners, fixed modes, and a gzip header without name or time. It
needs the source tree, so it runs on a workstation or in CI, never inside Lambda.

    python -m keiko.packaging build/sourcedir.tar.gz
"""

from __future__ import annotations

import gzip
import io
import sys
import tarfile
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
EXCLUDED_PARTS = {"__pycache__", ".pytest_cache"}


def sourcedir_files(root: Path = REPOSITORY_ROOT) -> list[tuple[Path, str]]:
    """Return (path, name in the archive) for every file of the training code, sorted by name."""
    training = root / "training"
    package = root / "layers" / "keiko" / "keiko"
    if not (training / "keiko_training").is_dir() or not package.is_dir():
        raise FileNotFoundError(
            f"{root} is not a keiko source tree (needs training/keiko_training and layers/keiko/keiko); "
            "build the training code from a checkout of the repository"
        )

    entries = [(path, path.name) for path in training.glob("*.py")]
    # The SageMaker training toolkit installs a requirements.txt found at the archive root.
    if (training / "requirements.txt").is_file():
        entries.append((training / "requirements.txt", "requirements.txt"))
    for folder, prefix in ((training / "keiko_training", "keiko_training"), (package, "keiko")):
        for path in folder.rglob("*"):
            relative = path.relative_to(folder)
            if path.is_file() and path.suffix != ".pyc" and not EXCLUDED_PARTS & set(relative.parts):
                entries.append((path, f"{prefix}/{relative.as_posix()}"))
    return sorted(entries, key=lambda entry: entry[1])


def build_training_sourcedir(root: Path = REPOSITORY_ROOT) -> bytes:
    """Return the gzipped tar archive of the training code; equal sources give equal bytes."""
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, name in sourcedir_files(root):
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))

    gzip_buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=gzip_buffer, mtime=0) as compressed:
        compressed.write(tar_buffer.getvalue())
    return gzip_buffer.getvalue()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m keiko.packaging OUTPUT.tar.gz", file=sys.stderr)
        return 2
    output = Path(argv[0])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(build_training_sourcedir())
    print(f"wrote {output} ({output.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
