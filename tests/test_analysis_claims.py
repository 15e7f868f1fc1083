"""analysis.claims: the exact signed-rank test, Holm, and the selection/confirmation protocol on synthetic
scores where the truth is known (a real difference is confirmed; a null winner picked on 5 seeds is not)."""
import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from analysis import claims as C
from analysis import pareto, synthetic


def _brute_signed_rank(d, alternative):
    """Every sign pattern of the mid-ranks, counted: the definition of the exact test."""
    d = np.asarray(d, float)
    d = d[d != 0]
    ranks = st.rankdata(np.abs(d))
    t = ranks[d > 0].sum()
    sums = np.array([np.dot(signs, ranks) for signs in itertools.product((0, 1), repeat=len(d))])
    upper, lower = np.mean(sums >= t - 1e-9), np.mean(sums <= t + 1e-9)
    return {"greater": upper, "less": lower, "two-sided": min(1.0, 2 * min(upper, lower))}[alternative]


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_signed_rank_matches_scipy_exact_and_brute_force_with_ties(alternative):
    rng = np.random.default_rng(1)
    for n in (3, 5, 9, 12):
        d = rng.normal(0.4, 1.0, n)
        assert C.signed_rank_p(d, alternative) == pytest.approx(
            st.wilcoxon(d, alternative=alternative, method="exact").pvalue, rel=1e-12)
    tied = [1.0, 1.0, -1.0, 2.0, 0.0, 3.0, -2.0, 2.0]       # ties and a zero: scipy has no exact path here
    assert C.signed_rank_p(tied, alternative) == pytest.approx(_brute_signed_rank(tied, alternative), rel=1e-12)


def test_signed_rank_floor_and_degenerate_inputs():
    assert C.signed_rank_p(np.ones(5), "greater") == pytest.approx(1 / 32)      # 5 seeds: 0.031 at best
    assert C.signed_rank_p(np.ones(5), "two-sided") == pytest.approx(1 / 16)
    assert C.signed_rank_p(np.zeros(4)) == 1.0                                     # no difference at all
    with pytest.raises(ValueError, match="alternative"):
        C.signed_rank_p([1.0], "bigger")


def test_holm_known_values():
    adj = C.holm([0.01, 0.04, 0.03, np.nan, 0.5])
    assert adj[:3].tolist() == pytest.approx([0.04, 0.09, 0.09])   # 4 tests: 4*0.01, max(3*0.03, .), 2*0.04
    assert np.isnan(adj[3]) and adj[4] == pytest.approx(0.5)


def _scores(effects: dict, seeds, rng, unit="u") -> pd.DataFrame:
    """Paired design: a seed shifts every method alike (a shared bandit), plus per-run noise of sd 1.
    The seed effect's sd is 1 to show that pairing removes it."""
    rows = []
    for s in seeds:
        shared = rng.normal(0, 1)
        for m, effect in effects.items():
            rows.append({"unit": unit, "method": m, "seed": s, "value": effect + shared + rng.normal(0, 1)})
    return pd.DataFrame(rows)


def _protocol(effects, rng, n_sel=5, n_conf=20):
    sel = _scores(effects, range(n_sel), rng)
    claims = C.select_claims(sel, higher=True)
    plan = {"metric": "m", "higher_is_better": True, "alpha": 0.05, "selection_seeds": list(range(n_sel)),
            "confirmation_seeds": list(range(n_sel, n_sel + n_conf)),
            "claims": [{"unit": r.unit, "winner": r.winner, "other": r.other, "selection": {}}
                       for r in claims.itertuples()]}
    conf = _scores(effects, plan["confirmation_seeds"], rng)
    return claims, C.confirm_claims(pd.concat([sel, conf]), plan)


def test_a_real_difference_is_confirmed():
    claims, confirmed = _protocol({"a": 2.0, "b": 0.0, "c": 0.0, "d": 0.0}, np.random.default_rng(3))
    assert set(claims.winner) == {"a"}
    assert (confirmed.status == "confirmed").all() and (confirmed.n == 20).all()


def test_a_null_winner_picked_on_5_seeds_is_rarely_confirmed():
    """Five equal methods: the best of 5 seeds looks ahead on every selection (winner's curse), yet
    on 20 fresh seeds at most 10% of 100 repetitions confirm any of its claims (Holm keeps it near 5%)."""
    rng = np.random.default_rng(7)
    looked_ahead = false = 0
    for _ in range(100):
        claims, confirmed = _protocol(dict.fromkeys("abcde", 0.0), rng)
        looked_ahead += bool((claims["diff"] > 0).all())
        false += bool((confirmed.status == "confirmed").any())
    assert looked_ahead == 100
    assert false <= 10


def test_confirmation_uses_only_confirmation_seeds():
    """Strong selection evidence with no confirmation runs is 'not run', never confirmed."""
    rng = np.random.default_rng(0)
    sel = _scores({"a": 5.0, "b": 0.0}, range(8), rng)
    plan = {"metric": "m", "higher_is_better": True, "alpha": 0.05, "selection_seeds": list(range(8)),
            "confirmation_seeds": [8, 9, 10], "claims": [{"unit": "u", "winner": "a", "other": "b", "selection": {}}]}
    out = C.confirm_claims(sel, plan)
    assert out.status.tolist() == ["not run"] and out.n.tolist() == [0]
    # a lower-is-better metric: the winner's smaller values favour it
    low = _scores({"a": -3.0, "b": 0.0}, range(8, 20), rng)
    out = C.confirm_claims(low, {**plan, "higher_is_better": False, "confirmation_seeds": list(range(8, 20))})
    assert out.status.tolist() == ["confirmed"] and out["diff"].iloc[0] > 0


def test_confirmation_runs_must_share_the_selection_runs_config():
    runs = pd.DataFrame([{"unit": "u", "method": m, "seed": s, "steps": 200 if s < 3 else st, "front_hv": 0.1 * s}
                         for m in ("a", "b") for s in range(6) for st in [200]])
    plan = {"selection_seeds": [0, 1, 2], "confirmation_seeds": [3, 4, 5],
            "claims": [{"unit": "u", "winner": "a", "other": "b"}]}
    C.check_same_config(runs, plan)                       # front_hv varies by seed: not configuration
    runs.loc[(runs.method == "b") & (runs.seed == 4), "steps"] = 100
    with pytest.raises(ValueError, match=r"u, b: the confirmation runs have steps=\['100', '200'\]"):
        C.check_same_config(runs, plan)


def test_plan_refuses_overlapping_seeds_and_non_plans(tmp_path):
    bad = tmp_path / "confirm.yaml"
    C.write_plan({"metric": "m", "higher_is_better": True, "alpha": 0.05, "selection_seeds": [0, 1, 2],
                  "confirmation_seeds": [2, 3], "claims": [{"unit": "u", "winner": "a", "other": "b"}]}, bad)
    with pytest.raises(ValueError, match=r"seeds \[2\] are both selection and confirmation"):
        C.read_plan(bad)
    (tmp_path / "x.yaml").write_text("a: 1\n")
    with pytest.raises(ValueError, match="not a confirmation plan"):
        C.read_plan(tmp_path / "x.yaml")
    with pytest.raises(ValueError, match="no such file"):
        C.read_plan(tmp_path / "missing.yaml")
    assert C.fresh_seeds([0, 4, 2], 3) == [5, 6, 7]
    with pytest.raises(ValueError, match="positive number"):
        C.fresh_seeds([0], 0)


def test_pareto_confirm_then_plan_end_to_end(tmp_path, capsys):
    """--confirm writes a plan with fresh seeds and a command; runs on those seeds; --plan confirms on them."""
    runs = tmp_path / "runs"
    synthetic.write_sweep(runs, methods=("rc", "dvao"), w0s=(0.2, 0.8), seeds=(0, 1, 2), steps=2)
    out = tmp_path / "sel"
    pareto.main([str(runs), "--out", str(out), "--confirm", "6", "--claims-only"])
    plan = C.read_plan(out / C.PLAN_FILE)
    assert plan["selection_seeds"] == [0, 1, 2] and plan["confirmation_seeds"] == [3, 4, 5, 6, 7, 8]
    assert [(c["winner"], c["other"]) for c in plan["claims"]] == [("dvao", "rc")]   # QUALITY: dvao > rc
    assert "method=dvao,rc" in plan["commands"][0] and "seed=3,4,5,6,7,8" in plan["commands"][0]
    assert "none is confirmed" in (out / "report.md").read_text()
    synthetic.write_sweep(runs, methods=("rc", "dvao"), w0s=(0.2, 0.8), seeds=plan["confirmation_seeds"], steps=2)
    conf = tmp_path / "conf"
    result = pareto.main([str(runs), "--out", str(conf), "--plan", str(out / C.PLAN_FILE), "--n-boot", "50"])
    assert result.claims.status.tolist() == ["confirmed"] and result.claims.n.tolist() == [6]
    report = (conf / "report.md").read_text()
    assert "confirmed *" in report and "Selection seeds 0-2 (3)" in report and "3-8 (6)" in report
    assert (conf / "claims.csv").exists()
    fast = pareto.main([str(runs), "--out", str(tmp_path / "fast"), "--plan", str(out / C.PLAN_FILE), "--claims-only"])
    pd.testing.assert_frame_equal(fast.reset_index(drop=True), result.claims.reset_index(drop=True))
    assert "confirmed *" in (tmp_path / "fast" / "report.md").read_text()
    with pytest.raises(SystemExit):
        pareto.main([str(runs), "--out", str(conf), "--plan", str(out / C.PLAN_FILE), "--metric", "eval/accuracy"])
    assert "rerun with --metric hypervolume" in capsys.readouterr().err
