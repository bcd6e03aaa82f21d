"""The training code archive every SageMaker job runs."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from keiko.packaging import build_training_sourcedir

ROOT = Path(__file__).resolve().parents[2]


def members(archive: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return tar.getmembers()


def test_archive_is_reproducible():
    assert build_training_sourcedir() == build_training_sourcedir()


def test_archive_holds_scripts_at_root_and_both_packages():
    names = [member.name for member in members(build_training_sourcedir())]

    assert "train.py" in names
    assert "keiko_training/__init__.py" in names
    assert "keiko/recipe.py" in names
    assert "keiko/training_metrics.py" in names
    assert names == sorted(names)
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_archive_entries_carry_no_local_metadata():
    for member in members(build_training_sourcedir()):
        assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (0, 0, 0, "", "")
        assert member.mode == 0o644


def test_archive_changes_with_the_code(tmp_path):
    # given a copy of the source tree with one script changed
    for relative in ("training", "layers/keiko/keiko"):
        source = ROOT / relative
        for path in source.rglob("*.py"):
            target = tmp_path / relative / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    (tmp_path / "training" / "train.py").write_text("print('changed')\n")

    # then its archive differs from the repository's
    assert build_training_sourcedir(tmp_path) != build_training_sourcedir()


def test_archive_needs_source_tree(tmp_path):
    with pytest.raises(FileNotFoundError, match="training/keiko_training"):
        build_training_sourcedir(tmp_path)
