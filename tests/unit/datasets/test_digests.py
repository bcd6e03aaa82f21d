import pytest
from keiko.datasets import accelerator
from keiko.datasets.digests import INITIAL_SLOTS, DigestSet, digest

# The pure Python loops, and the accelerator's where it is built.
PATHS = ["0", pytest.param("1", marks=pytest.mark.skipif(not accelerator.available(), reason="not built"))]


@pytest.fixture(params=PATHS, ids=["python", "accelerator"])
def digests(request, monkeypatch) -> DigestSet:
    monkeypatch.setenv("KEIKO_ACCELERATOR", request.param)
    return DigestSet()


def test_repeats_found_within_and_across_batches(digests):
    # Given a set that already contains two digests
    assert digests.add_all([11, 22]) == []
    # When a batch repeats one of them, repeats itself, and contains 0 (the empty-slot value)
    repeated = digests.add_all([33, 22, 33, 0, 0])
    # Then the positions of the repeats come back, and 0 is stored like any digest
    assert repeated == [1, 2, 4]
    assert digests.count == 4


def test_growing_keeps_every_digest(digests):
    # Given more digests than fit in the initial table
    values = [digest(str(index).encode()) for index in range(2 * INITIAL_SLOTS)]
    assert digests.add_all(values) == []
    # When they are added again
    repeated = digests.add_all(values[::-1])
    # Then every one is found, and the table stays at most two thirds full
    assert repeated == list(range(len(values)))
    assert digests.count * 3 <= len(digests.table) * 2
