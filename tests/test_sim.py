"""The bandit simulator: generator, vectorised GRPO update, convergence, every estimator, determinism."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from workbench import advantages, metrics as M
from workbench.sim import front as F
from workbench.sim.env import BanditSpec, make_bandit, resolve_correlation
from workbench.sim.policy import make_policy
from workbench.sim.runner import LearnerSpec, parse_task, simulate
from workbench.sim.train import UpdateSettings, clipped_surrogate, make_optimizer, update

SMALL = BanditSpec(K=2, contexts=32, candidates=6)


@pytest.fixture(autouse=True)
def one_thread():
    """Bandit tensors are tiny: one torch thread is much faster (as in run_bandit); restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _between_objective_corr(spec: BanditSpec) -> float:
    m = make_bandit(spec, 0).means.reshape(-1, spec.K).numpy()
    c = np.corrcoef(m.T)
    return float(c[np.triu_indices(spec.K, 1)].mean())


def test_correlation_settings_shape_the_candidates():
    assert _between_objective_corr(dataclasses.replace(SMALL, correlation="aligned")) > 0.5
    assert _between_objective_corr(dataclasses.replace(SMALL, correlation="conflicting")) < -0.7
    assert _between_objective_corr(dataclasses.replace(SMALL, K=4, correlation="conflicting")) < -0.2
    with pytest.raises(ValueError, match="outside"):
        resolve_correlation(-0.6, 3)                                   # S not positive definite for K=3
    with pytest.raises(ValueError, match="aligned"):
        resolve_correlation("opposite", 2)


def test_bad_spec_values_raise_early_with_the_key():
    with pytest.raises(ValueError, match="noise has 3 entries but K=2"):
        BanditSpec(K=2, noise=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="aux_miscalibration"):
        BanditSpec(aux_miscalibration=1.5)
    with pytest.raises(ValueError, match="reward"):
        BanditSpec(reward="poisson")
    with pytest.raises(ValueError, match="task.colour"):
        parse_task({"name": "bandit", "kind": "bandit", "colour": 3})


def test_miscalibration_and_noise_touch_only_the_auxiliary_objective():
    base = make_bandit(SMALL, 5)
    bad = make_bandit(dataclasses.replace(SMALL, aux_miscalibration=0.8, aux_noise=0.5), 5)
    torch.testing.assert_close(bad.means, base.means)                  # what counts as good is unchanged
    torch.testing.assert_close(bad.observed_means[..., 0], base.observed_means[..., 0])
    assert (bad.observed_means[..., 1] - base.observed_means[..., 1]).abs().mean() > 0.05
    assert bad.noise.tolist() == [0.0, 0.5]


def test_sampled_rewards_have_the_observed_means():
    spec = dataclasses.replace(SMALL, reward="gaussian", noise=[0.1, 0.2], scale=[1.0, 3.0])
    b = make_bandit(spec, 0)
    gen = torch.Generator().manual_seed(0)
    choices = torch.zeros(32, 4000, dtype=torch.long)                  # candidate 0 everywhere
    r = b.sample(None, choices, gen)
    assert r.shape == (32, 4000, 2) and r.dtype == torch.float32
    expect = b.observed_means[:, 0, :].float() * torch.tensor([1.0, 3.0])
    torch.testing.assert_close(r.mean(1), expect, atol=0.03, rtol=0)
    assert r[..., 1].std(1).mean() == pytest.approx(0.6, rel=0.05)    # noise 0.2 times scale 3
    rb = make_bandit(SMALL, 0).sample(torch.tensor([3, 1]), choices[:2], gen)
    assert set(rb.unique().tolist()) <= {0.0, 1.0}


def test_first_epoch_gradient_is_the_policy_gradient():
    """Epoch 1 has ratio 1: d loss / d logits = -(1/BG) sum_j A_j (onehot(a_j) - pi) per context."""
    b = make_bandit(SMALL, 0)
    torch.manual_seed(0)
    pol = make_policy("tabular", b.features, 6)
    with torch.no_grad():
        pol.logits.normal_()
    probs = torch.softmax(pol.logits.detach(), -1)
    opt = make_optimizer("sgd", pol.parameters(), 1.0)
    gen = torch.Generator().manual_seed(1)
    before = pol.logits.detach().clone()
    out = update(pol, opt, b, advantages.get("rc"), torch.tensor([0.5, 0.5]), UpdateSettings(G=8), gen)
    gen2 = torch.Generator().manual_seed(1)                             # replay the same samples
    choices = torch.multinomial(probs, 8, replacement=True, generator=gen2)
    adv = out.result.advantages
    onehot = torch.nn.functional.one_hot(choices, 6).float()            # (B, G, N)
    grad = -((onehot - probs[:, None]) * adv[..., None]).sum(1) / adv.numel()
    torch.testing.assert_close(before - pol.logits.detach(), grad, atol=1e-6, rtol=1e-4)


def test_clipped_surrogate_has_no_gradient_past_the_trust_region():
    old = torch.zeros(4)
    logp = torch.log(torch.tensor([1.5, 0.5, 1.5, 0.5])).requires_grad_()   # ratios 1.5, 0.5, 1.5, 0.5
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0])
    clipped_surrogate(logp[None], old[None], adv[None], 0.2).backward()
    # A > 0 past 1 + eps and A < 0 below 1 - eps are clipped; the other two still pull (ratio * A / 4)
    torch.testing.assert_close(logp.grad, torch.tensor([0.0, -0.125, 0.375, 0.0]))


@pytest.mark.parametrize("estimator", ["rc", "dvao", "gdpo"])
def test_k1_converges_to_the_optimum(estimator):
    env = BanditSpec(K=1, contexts=64, candidates=6)
    out = simulate(env, LearnerSpec(lr=0.1), estimator=estimator, weights=[1.0], G=16, steps=300, seed=0)
    best = make_bandit(env, 0).means.numpy().max(1).mean()
    assert out[M.eval_metric("obj1")] > best - 0.01
    assert out[M.eval_metric("regret")] < 0.01


@pytest.mark.parametrize("estimator", advantages.names())
def test_every_estimator_runs_and_improves(estimator):
    logs, evals = [], []
    out = simulate(SMALL, LearnerSpec(log_every=5), estimator=estimator, weights=[0.5, 0.5], G=8, steps=40,
                   seed=1, eval_every=20, on_log=lambda s, r: logs.append((s, r)),
                   on_eval=lambda s, r: evals.append((s, r)))
    assert [s for s, _ in logs] == [5, 10, 15, 20, 25, 30, 35, 40] and [s for s, _ in evals] == [20, 40]
    keys = set(M.per_objective_keys(["obj1", "obj2"])) | {M.ADV_SQ_MEAN, M.ZERO_VAR_FRAC, M.LOSS, M.STEP_TIME}
    assert keys <= set(logs[-1][1])
    assert all(np.isfinite(v) for _, r in logs for v in r.values())
    weights = logs[-1][1][M.weight("obj1")] + logs[-1][1][M.weight("obj2")]
    assert weights == pytest.approx(1.0, abs=1e-5)
    uniform = make_bandit(SMALL, 1).means.numpy().mean(1).mean(0)
    assert out[M.eval_metric("regret")] < F.regret(make_bandit(SMALL, 1).means, uniform, [1, 1])
    assert 0 < out[M.eval_metric("hv_frac")] <= 1 + 1e-9 and out[M.eval_metric("front_distance")] >= -1e-9


@pytest.mark.parametrize("learner", [LearnerSpec(policy="mlp", epochs=2), LearnerSpec(batch_contexts=8, optimizer="sgd")])
def test_mlp_policy_inner_epochs_and_context_batches(learner):
    env = dataclasses.replace(SMALL, K=3, reward="gaussian", noise=0.1, aux_noise=0.3, aux_miscalibration=0.5)
    out = simulate(env, learner, estimator="dvao", weights=[1, 1, 1], G=4, steps=30, seed=0)
    assert {M.eval_metric(f"obj{i}") for i in (1, 2, 3)} <= set(out)
    assert np.isfinite(out[M.eval_metric("front_distance")])


def test_identical_seeds_identical_results_and_other_seeds_differ():
    kw = dict(estimator="dvao", weights=[0.5, 0.5], G=8, steps=25, eval_every=0)
    runs = []
    for seed in (3, 3, 4):
        logs = []
        out = simulate(SMALL, LearnerSpec(policy="mlp", log_every=5), seed=seed, on_log=lambda s, r: logs.append(r), **kw)
        out.pop(M.STEP_TIME)
        runs.append((out, [{k: v for k, v in r.items() if k != M.STEP_TIME} for r in logs]))
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[2][0]
