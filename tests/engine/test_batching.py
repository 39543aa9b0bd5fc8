import random

import pytest

from lfe.engine.batching import pad_batch, plan_batches, plan_packed_batches


def test_plan_covers_every_row_once_within_budget_longest_first() -> None:
    rng = random.Random(0)
    lengths = [rng.randint(1, 40) for _ in range(200)]
    plan = plan_batches(lengths, token_budget=128)
    assert sorted(i for batch in plan for i in batch) == list(range(200))
    for batch in plan:
        longest = max(lengths[i] for i in batch)
        assert lengths[batch[0]] == longest
        assert len(batch) == 1 or len(batch) * longest <= 128
    firsts = [lengths[batch[0]] for batch in plan]
    assert firsts == sorted(firsts, reverse=True)
    assert plan == plan_batches(list(lengths), 128)  # a pure function


def test_a_row_longer_than_the_budget_gets_its_own_batch() -> None:
    assert plan_batches([50, 3, 3], token_budget=10) == [[0], [1, 2]]
    with pytest.raises(ValueError):
        plan_batches([1], 0)


def test_packed_plan_counts_real_tokens_and_rows() -> None:
    rng = random.Random(1)
    lengths = [rng.randint(1, 40) for _ in range(300)]
    plan = plan_packed_batches(lengths, token_budget=256, max_rows=16)
    assert sorted(i for batch in plan for i in batch) == list(range(300))
    for batch in plan:
        assert len(batch) <= 16
        assert len(batch) == 1 or sum(lengths[i] for i in batch) <= 256
    firsts = [lengths[batch[0]] for batch in plan]
    assert firsts == sorted(firsts, reverse=True)
    assert plan_packed_batches([50, 3, 3, 3], token_budget=7, max_rows=8) == [[0], [1, 2], [3]]
    assert plan_packed_batches([2] * 5, token_budget=100, max_rows=2) == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_keeps_tokens_and_positions(side) -> None:
    ids, mask, positions, pooling = pad_batch([[5, 6, 7], [8]], pad_id=0, side=side)
    assert ids.shape == mask.shape == positions.shape == pooling.shape == (2, 3)
    assert pooling.tolist() == mask.tolist()  # no positions left out: every real token is pooled
    assert mask.sum(1).tolist() == [3, 1]
    assert ids[1][mask[1].bool()].tolist() == [8]
    assert positions[0].tolist() == [0, 1, 2]
    assert positions[1][mask[1].bool()].tolist() == [0]
    expected = [[8, 0, 0]] if side == "right" else [[0, 0, 8]]
    assert ids[1:].tolist() == expected
    _, mask, _, pooling = pad_batch(
        [[1, 5, 6], [1, 8]], pad_id=0, side=side, pooled=[[False, True, True], [False, True]]
    )
    assert pooling.sum(1).tolist() == [2, 1]
    assert (pooling <= mask).all()
    assert pooling[1].tolist() == ([0, 1, 0] if side == "right" else [0, 0, 1])
