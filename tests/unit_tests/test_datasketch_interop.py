"""datasketch interop: build from existing MinHash/LeanMinHash signatures, export LeanMinHash."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash, MinHashLSH
from datasketch.hashfunc import sha1_hash64
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche import (
    InvalidExampleError,
    InvalidParameterError,
    MinHashExampleSelector,
    MissingDependencyError,
    add_datasketch_examples,
    from_datasketch,
    to_lean_minhash,
    to_lean_minhashes,
)
from langchain_niche.datasets import python_api_examples

EXAMPLES = python_api_examples()[:120]


def datasketch_minhash(text: str, num_perm: int = 128, seed: int = 1) -> MinHash:
    """What a datasketch user keeps: words of the text, as UTF-8 bytes."""
    minhash = MinHash(num_perm=num_perm, seed=seed)
    minhash.update_batch([word.encode("utf-8") for word in set(text.split())])
    return minhash


def test_package_import_does_not_import_datasketch() -> None:
    code = "import sys, langchain_niche; assert 'datasketch' not in sys.modules, 'imported'"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (64, 7), (256, 123456)])
def test_from_datasketch_takes_the_signatures_settings(num_perm: int, seed: int) -> None:
    minhashes = [datasketch_minhash(e["description"], num_perm, seed) for e in EXAMPLES]
    selector = from_datasketch(
        EXAMPLES, minhashes, input_keys=["description"], tokenizer=str.split, k=3
    )
    assert (selector.num_perm, selector.seed, len(selector)) == (num_perm, seed, len(EXAMPLES))
    plain = MinHashExampleSelector(
        EXAMPLES, input_keys=["description"], tokenizer=str.split, k=3, num_perm=num_perm,
        seed=seed,
    )  # fmt: skip
    query = {"description": EXAMPLES[9]["description"]}
    assert selector.search(query) == plain.search(query)
    assert selector.search(query)[0].id == "9"


def test_lean_minhashes_work_where_minhashes_do() -> None:
    minhashes = [LeanMinHash(datasketch_minhash(e["description"])) for e in EXAMPLES]
    selector = from_datasketch(EXAMPLES, minhashes, input_keys=["description"], tokenizer=str.split)
    exported = to_lean_minhashes(selector)
    assert list(exported) == selector.ids
    for theirs, ours in zip(minhashes, exported.values(), strict=True):
        assert isinstance(ours, LeanMinHash)
        assert ours == theirs  # same seed, scheme and values
    # ours go into datasketch's own index and serialize like theirs
    lsh = MinHashLSH(threshold=0.5, num_perm=128)
    for example_id, lean in exported.items():
        lsh.insert(example_id, lean)
    probe = to_lean_minhash(selector, {"description": EXAMPLES[4]["description"]})
    assert "4" in lsh.query(probe)
    buf = bytearray(probe.bytesize())
    probe.serialize(buf)
    assert LeanMinHash.deserialize(buf) == probe


@settings(max_examples=40, deadline=None)
@given(
    words=st.lists(
        st.text(min_size=1, max_size=12).filter(lambda w: w.split() == [w]), max_size=30
    ),
    num_perm=st.sampled_from([16, 128]),
    seed=st.integers(0, 2**32 - 1),
)
def test_exported_signature_equals_datasketch(words: list[str], num_perm: int, seed: int) -> None:
    selector = MinHashExampleSelector(
        input_keys=["q"], tokenizer=str.split, num_perm=num_perm, seed=seed
    )
    text = " ".join(words)
    ours = to_lean_minhash(selector, {"q": text})
    theirs = datasketch_minhash(text, num_perm, seed)
    np.testing.assert_array_equal(ours.hashvalues, theirs.hashvalues)
    assert ours.seed == theirs.seed


@pytest.mark.parametrize(
    ("minhash", "needles"),
    [
        (MinHash(num_perm=64), ["num_perm=64", "num_perm=128"]),
        (MinHash(num_perm=128, seed=9), ["seed=9", "seed=1"]),
        (MinHash(num_perm=128, scheme="affine64"), ["affine64", "affine32"]),
        (MinHash(num_perm=128, hashfunc=sha1_hash64), ["sha1_hash64", "sha1_hash32"]),
        ("not a minhash", ["datasketch MinHash"]),
    ],
)
def test_incompatible_signatures_name_both_settings(minhash: object, needles: list[str]) -> None:
    selector = MinHashExampleSelector(input_keys=["q"])
    with pytest.raises(InvalidParameterError) as info:
        add_datasketch_examples(selector, [{"q": "a"}], [minhash])
    for needle in needles:
        assert needle in str(info.value)
    assert len(selector) == 0


def test_explicit_settings_must_match_the_signatures() -> None:
    minhashes = [datasketch_minhash("a b c", 64, 7)]
    with pytest.raises(InvalidParameterError, match=r"seed=7.*seed=1"):
        from_datasketch([{"q": "a b c"}], minhashes, input_keys=["q"], seed=1)


def test_a_signature_of_other_tokens_is_rejected_and_nothing_added() -> None:
    selector = MinHashExampleSelector(input_keys=["q"])  # default tokenizer: lower-cased words
    examples = [{"q": "reset password"}, {"q": "Where IS my Invoice"}]
    minhashes = [datasketch_minhash(e["q"]) for e in examples]  # case kept: differs for #1
    with pytest.raises(InvalidExampleError, match="example 1") as info:
        add_datasketch_examples(selector, examples, minhashes)
    assert info.value.index == 1
    assert len(selector) == 0


def test_counts_and_input_keys_are_checked() -> None:
    selector = MinHashExampleSelector(input_keys=["q"])
    with pytest.raises(InvalidParameterError, match="2 examples but 1 minhashes"):
        add_datasketch_examples(selector, [{"q": "a"}, {"q": "b"}], [datasketch_minhash("a")])
    with pytest.raises(InvalidParameterError, match="input_keys"):
        to_lean_minhash(MinHashExampleSelector(), {"q": "a"})


def test_without_datasketch_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "datasketch", None)
    selector = MinHashExampleSelector(input_keys=["q"])
    with pytest.raises(MissingDependencyError, match=r"langchain-niche\[datasketch\]"):
        to_lean_minhash(selector, {"q": "a"})
