"""The multi-objective bandit: contexts (prompts) x fixed candidate responses with known expected rewards.

Each of C contexts has N candidate responses; candidate n of context c has a true expected reward
``means[c, n, k]`` in (0, 1) on each of K objectives. A policy picks candidates, and the trainer sees a
*sampled* reward per objective (Bernoulli or Gaussian around an *observed* mean, times a per-objective
scale), while evaluation and the Pareto front use the true means. The gap between the two is the
experiment: noise, scale and a miscalibrated auxiliary objective change what the estimator sees, never
what counts as good.

Generator (all draws from one seeded ``torch.Generator``, so a seed fixes the bandit):
    z[c, n, :] ~ N(0, S),  S = (1 - rho) I + rho 11^T          correlated latent quality per objective
    means      = sigmoid(spread * z - difficulty_k)              difficulty > 0 makes successes rare (sparse)
``rho`` comes from ``correlation``: "aligned" = 0.7, "independent" = 0, "conflicting" = -0.9 / (K - 1)
(the most negative equicorrelation that keeps S positive definite is -1 / (K - 1)), or a number.
The auxiliary objective is the last one: ``aux_noise`` adds extra zero-mean Gaussian noise to its sampled
reward (the DVAO paper's worry: a noisy reward gets up-weighted), and ``aux_miscalibration`` m makes its
observed mean (1 - m) * true + m * decoy, with an independent decoy drawn like the others (a proxy reward
that partly measures something else).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

CORRELATIONS = {"aligned": 0.7, "independent": 0.0}
REWARD_KINDS = ("bernoulli", "gaussian")


def objective_names(k: int) -> list[str]:
    """Objective names in order: obj1 .. objK (the last is the auxiliary one when aux_* is set)."""
    return [f"obj{i + 1}" for i in range(k)]


def resolve_correlation(correlation: str | float, k: int) -> float:
    """The equicorrelation rho for a named setting or a number; raises when S would not be positive definite."""
    if isinstance(correlation, str):
        if correlation == "conflicting":
            rho = -0.9 / max(k - 1, 1)
        elif correlation in CORRELATIONS:
            rho = CORRELATIONS[correlation]
        else:
            raise ValueError(f"correlation={correlation!r}: use aligned, independent, conflicting or a number")
    else:
        rho = float(correlation)
    lower = -1.0 / (k - 1) if k > 1 else -1.0
    if not lower < rho < 1.0:
        raise ValueError(f"correlation {rho} is outside ({lower:.3f}, 1) for K={k}; pick a value in that range")
    return rho


def _per_objective(value: float | Sequence[float], k: int, key: str) -> torch.Tensor:
    """A scalar broadcast to (K,), or a list checked to have K entries."""
    t = torch.as_tensor(value, dtype=torch.float64).flatten()
    if t.numel() == 1:
        return t.expand(k).clone()
    if t.numel() != k:
        raise ValueError(f"{key} has {t.numel()} entries but K={k}: give one number or a list of {k}")
    return t


@dataclass(frozen=True)
class BanditSpec:
    """What the generator draws. Every field maps one-to-one to a key of conf/task/bandit.yaml."""

    K: int = 2                                   # objectives
    contexts: int = 256                          # C, prompts
    candidates: int = 8                          # N, responses per prompt
    correlation: str | float = "conflicting"     # aligned | independent | conflicting | rho
    spread: float = 2.0                          # how different candidates are (latent scale)
    difficulty: float | Sequence[float] = 0.0    # per-objective shift; > 0 makes successes rare
    reward: str = "bernoulli"                    # bernoulli | gaussian sampling of the observed reward
    noise: float | Sequence[float] = 0.0         # per-objective std of additive Gaussian observation noise
    scale: float | Sequence[float] = 1.0         # per-objective multiplier of the observed reward
    aux_noise: float = 0.0                       # extra noise std on the last objective
    aux_miscalibration: float = 0.0              # m in [0, 1]: share of the aux reward measuring a decoy
    features: int = 16                           # context feature size (for the MLP policy)

    def __post_init__(self):
        if self.K < 1 or self.contexts < 1 or self.candidates < 2:
            raise ValueError(f"need K >= 1, contexts >= 1 and candidates >= 2, got K={self.K}, "
                             f"contexts={self.contexts}, candidates={self.candidates}")
        if self.reward not in REWARD_KINDS:
            raise ValueError(f"reward={self.reward!r}: use one of {REWARD_KINDS}")
        if not 0.0 <= self.aux_miscalibration <= 1.0:
            raise ValueError(f"aux_miscalibration={self.aux_miscalibration} must lie in [0, 1]")
        if self.aux_noise < 0 or self.spread <= 0 or self.features < 1:
            raise ValueError("aux_noise must be >= 0, spread > 0 and features >= 1")
        resolve_correlation(self.correlation, self.K)
        for key in ("difficulty", "noise", "scale"):
            _per_objective(getattr(self, key), self.K, key)
        if (_per_objective(self.noise, self.K, "noise") < 0).any():
            raise ValueError("noise must be >= 0")


@dataclass(frozen=True)
class Bandit:
    """A drawn bandit (tensors float64 unless noted).

    means:          (C, N, K) true expected rewards in (0, 1): evaluation and the Pareto front use these.
    observed_means: (C, N, K) the mean the sampled reward is drawn around (differs on a miscalibrated aux).
    noise:          (K,) additive Gaussian noise std of the sampled reward (aux_noise included).
    scale:          (K,) multiplier of the sampled reward.
    features:       (C, F) float32 context features for the MLP policy: a fixed random projection of
                    the context's latent qualities, so a network can learn which candidate is good.
    """

    means: torch.Tensor
    observed_means: torch.Tensor
    noise: torch.Tensor
    scale: torch.Tensor
    features: torch.Tensor
    reward: str
    objectives: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.means.shape)

    def sample(self, contexts: torch.Tensor | None, choices: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Sampled per-objective rewards, (B, G, K) float32, for ``choices`` (B, G) of ``contexts`` (B,).

        contexts=None means every context in order (B = C). Float32 throughout: this is the hot path.
        """
        table = self._observed32 if contexts is None else self._observed32[contexts]   # (B, N, K)
        mu = table.gather(1, choices.unsqueeze(-1).expand(-1, -1, table.shape[-1]))   # (B, G, K)
        if self.reward == "bernoulli":
            r = (torch.rand(mu.shape, generator=generator) < mu).float()
        else:
            r = mu
        if self._noisy:
            r = r + self._noise32 * torch.randn(mu.shape, generator=generator)
        return r * self._scale32 if self._scaled else r

    def __post_init__(self):
        # float32 copies for sampling; the float64 originals stay for evaluation and the front.
        object.__setattr__(self, "_observed32", self.observed_means.float().contiguous())
        object.__setattr__(self, "_noise32", self.noise.float())
        object.__setattr__(self, "_scale32", self.scale.float())
        object.__setattr__(self, "_noisy", bool((self.noise > 0).any()))
        object.__setattr__(self, "_scaled", bool((self.scale != 1).any()))


def make_bandit(spec: BanditSpec, seed: int) -> Bandit:
    """Draw a bandit from ``spec``; the same (spec, seed) always gives the same bandit."""
    gen = torch.Generator().manual_seed(int(seed))
    k, c, n = spec.K, spec.contexts, spec.candidates
    rho = resolve_correlation(spec.correlation, k)
    cov = (1 - rho) * torch.eye(k, dtype=torch.float64) + rho
    chol = torch.linalg.cholesky(cov)
    z = torch.randn(c, n, k, generator=gen, dtype=torch.float64) @ chol.T
    difficulty = _per_objective(spec.difficulty, k, "difficulty")
    means = torch.sigmoid(spec.spread * z - difficulty)
    observed = means.clone()
    decoy = torch.sigmoid(spec.spread * torch.randn(c, n, generator=gen, dtype=torch.float64) - difficulty[-1])
    if spec.aux_miscalibration > 0:
        m = spec.aux_miscalibration
        observed[..., -1] = (1 - m) * means[..., -1] + m * decoy
    noise = _per_objective(spec.noise, k, "noise").clone()
    noise[-1] = torch.sqrt(noise[-1] ** 2 + spec.aux_noise ** 2)
    proj = torch.randn(n * k, spec.features, generator=gen, dtype=torch.float64) / (n * k) ** 0.5
    features = torch.tanh(z.reshape(c, n * k) @ proj).float()
    return Bandit(means, observed, noise, _per_objective(spec.scale, k, "scale"), features, spec.reward,
                  objective_names(k))
