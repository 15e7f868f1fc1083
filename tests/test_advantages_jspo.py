"""jspo against a loop-by-loop transcription of its authors' two functions (guanning03/JSPO-Official,
code/verl/trainer/ppo/core_algos.py: compute_jspo_outcome_advantage and compute_jspo_plus_plus_outcome_advantage
with js_smooth_coef=0), written here from their code's steps, one prompt and one sample at a time."""
import pytest
import torch

from workbench.advantages import get


def authors_jspo(P: torch.Tensor, epsilon: float = 1e-6) -> torch.Tensor:
    """compute_jspo_outcome_advantage on scores P (n prompts, m responses), in float64, sample by sample."""
    n, m = P.shape
    adv = torch.zeros(n, m, dtype=torch.float64)
    for i in range(n):
        others = [p for p in range(n) if p != i]
        means = torch.stack([P[p].mean() for p in others])
        variances = torch.stack([P[p].var(unbiased=True) / m for p in others])
        batch_mean = means.mean()
        v_square, s_square = variances.mean(), ((means - batch_mean) ** 2).mean()
        lam = v_square / (v_square + s_square + epsilon)
        other_samples = torch.cat([P[p] for p in others])
        for j in range(m):
            rloo = (P[i].sum() - P[i, j]) / (m - 1)
            adv[i, j] = P[i, j] - (rloo * (1 - lam) + other_samples.mean() * lam)
    return adv


def authors_jspo_plus_plus(P: torch.Tensor, epsilon: float = 1e-6) -> torch.Tensor:
    """compute_jspo_plus_plus_outcome_advantage (js_smooth_coef = 0) on scores P (n, m)."""
    n, m = P.shape
    prompt_mean, batch_mean = P.mean(dim=1), P.mean()
    v_square = (P.var(dim=1, unbiased=True) / m).mean()
    s_square = ((prompt_mean - batch_mean) ** 2).mean()
    lam = v_square / (v_square + s_square + epsilon)
    rloo = (P.sum(dim=1, keepdim=True) - P) / (m - 1)
    return P - (rloo * (1 - lam) + batch_mean * lam)


@pytest.mark.parametrize("variant,oracle", [("loo", authors_jspo), ("batch", authors_jspo_plus_plus)])
@pytest.mark.parametrize("shape", [(2, 2, 1), (5, 4, 2), (16, 8, 3), (3, 16, 2)])
@pytest.mark.parametrize("binary", [False, True])
def test_jspo_equals_the_authors_code(variant, oracle, shape, binary):
    for seed in range(3):
        gen = torch.Generator().manual_seed(seed)
        r = torch.rand(*shape, generator=gen, dtype=torch.float64)
        r = (r < 0.5).double() if binary else r
        w = (torch.rand(shape[-1], generator=gen, dtype=torch.float64) + 0.1).tolist()
        scores = r @ torch.tensor(w, dtype=torch.float64)          # the single reward the authors' code sees
        torch.testing.assert_close(get("jspo")(r, w, variant=variant).advantages, oracle(scores),
                                   atol=1e-12, rtol=1e-12)


def test_jspo_is_not_rc_shrink_and_keeps_a_constant_groups_signal():
    """No std division and a leave-one-out baseline: on the same batch rc_shrink differs; a constant group
    above the batch gets a positive advantage (the shrinkage's non-vanishing signal)."""
    r = torch.tensor([[[1.0], [1.0], [1.0], [1.0]], [[0.0], [1.0], [0.0], [0.0]], [[0.0], [0.0], [1.0], [0.0]]])
    a = get("jspo")(r, [1.0], variant="batch").advantages
    assert (a[0] > 0).all() and torch.allclose(a[0], a[0, :1].expand(4))
    assert (a - get("rc_shrink")(r, [1.0]).advantages).abs().max() > 0.5


def test_jspo_one_group_is_plain_rloo_and_short_groups_get_zero():
    r = torch.tensor([[[1.0], [0.0], [0.0]]])
    torch.testing.assert_close(get("jspo")(r, [1.0]).advantages, torch.tensor([[1.0, -0.5, -0.5]]))
    missing = torch.tensor([[[1.0], [float("nan")]], [[0.0], [1.0]], [[1.0], [1.0]]])
    a = get("jspo")(missing, [1.0]).advantages
    assert a[0].tolist() == [0.0, 0.0] and torch.isfinite(a).all()
    with pytest.raises(ValueError, match="variant must be one of"):
        get("jspo")(r, [1.0], variant="plus")
