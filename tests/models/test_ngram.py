"""The byte n-gram language model: a real LanguageModel (counts, cache, batching)."""

from __future__ import annotations

import math

import pytest

from lesson.core.generative import KVCache, LanguageModel
from lesson.models.ngram import NgramCache, NgramModel, pydoc_ngram


def test_it_implements_the_protocol_and_its_logits_are_log_probabilities():
    model = pydoc_ngram()
    assert isinstance(model, LanguageModel) and isinstance(model.new_cache(), KVCache)
    assert (model.vocab_size, model.eos_id) == (257, 256)
    row = model.forward([(model.encode("def "), model.new_cache())])[0]
    assert len(row) == 257 and math.isclose(sum(math.exp(x) for x in row), 1.0)


def test_counts_decide_the_next_token():
    model = NgramModel.train(["abcabd", "abcabc"], order=3)
    row = model.forward([(model.encode("ab"), model.new_cache())])[0]
    ranked = sorted(range(257), key=row.__getitem__, reverse=True)
    assert model.decode(ranked[:2]) == "cd"  # "ab" was followed by c three times, d once
    end = model.forward([(model.encode("bd"), model.new_cache())])[0]
    assert max(range(257), key=end.__getitem__) == model.eos_id


def test_prefill_then_decode_equals_one_prefill_and_batches_are_independent():
    model = pydoc_ngram()
    ids = model.encode("The with statement")
    whole = model.forward([(ids, model.new_cache())])[0]
    cache = model.new_cache()
    model.forward([(ids[:10], cache)])
    assert model.forward([(ids[10:], cache)])[0] == whole and len(cache) == len(ids)
    a, b = model.new_cache(), model.new_cache()
    rows = model.forward([(ids, a), (model.encode("xyz"), b)])
    assert rows[0] == whole and len(a) == len(ids) and len(b) == 3


def test_copy_prefix_is_a_new_cache():
    cache = NgramCache([1, 2, 3])
    copy = cache.copy_prefix(2)
    copy.tokens.append(9)
    assert cache.tokens == [1, 2, 3] and copy.tokens == [1, 2, 9]
    with pytest.raises(ValueError):
        cache.copy_prefix(4)


def test_it_refuses_what_does_not_fit():
    model = NgramModel.train(["ab"], order=2, max_seq_len=4)
    with pytest.raises(ValueError, match="exceed the context"):
        model.forward([([1, 2, 3, 4, 5], model.new_cache())])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.forward([([300], model.new_cache())])
    assert model.decode(model.encode("héllo") + [256]) == "héllo"
