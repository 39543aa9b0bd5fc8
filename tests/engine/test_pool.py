import numpy as np
import pytest
import torch

from lfe.kernels import masked_mean_pool


def test_worked_example_from_the_docstring() -> None:
    x = torch.tensor([[[1.0, 2], [3, 4], [5, 6], [9, 9]]])
    mask = torch.tensor([[1, 1, 1, 0]])
    assert masked_mean_pool(x, mask).tolist() == [[3.0, 4.0]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_equals_numpy_mean_over_real_tokens(dtype) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 7, 13)).astype(np.float32)
    lengths = [7, 1, 3, 5, 2]
    mask = np.array([[t < n for t in range(7)] for n in lengths])
    rounded = torch.from_numpy(x).to(dtype)
    expected = np.stack([rounded[b, :n].double().mean(0).numpy() for b, n in enumerate(lengths)])
    out = masked_mean_pool(rounded, torch.from_numpy(mask))
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_padding_values_do_not_leak() -> None:
    x = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    changed = x.clone()
    changed[0, 2:] = 1e6
    torch.testing.assert_close(masked_mean_pool(x, mask)[0], masked_mean_pool(changed, mask)[0])


def test_positive_count_is_a_loop_over_real_tokens_and_ignores_padding() -> None:
    from lfe.kernels import masked_positive_count

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 7, 5, generator=generator)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [0] * 2 + [1] * 5])
    x[1, 4:] = float("nan")  # padding may hold anything
    x[2, :2] = 1.0
    expected = torch.zeros(3, 5, dtype=torch.int32)
    for b in range(3):
        for t in range(7):
            if mask[b, t]:
                expected[b] += (x[b, t] > 0).int()
    assert torch.equal(masked_positive_count(x, mask), expected)
    assert torch.equal(masked_positive_count(x.to(torch.bfloat16), mask), expected)
