"""The math accuracy checkers (workbench/tasks/math_checkers.py): a corpus of answer pairs scored by all
three, every workbench/math_verify disagreement listed with the side that is right and why; math-verify's
signal timeouts on the main thread, in other threads and in TRL's reward path; no checker ever raises."""
from __future__ import annotations

import threading
import time

import pytest

from tests.conftest import task_with
from workbench.tasks import math_checkers as mc

NAMES = ("workbench", "dapo", "math_verify")

# (completion, ground truth, (workbench, dapo, math_verify) verdicts). DAPO's rule reads only `Answer:`
# lines and compares normalised strings, so it rejects every boxed-only answer and every equivalent form
# that is written differently (0.5 vs 1/2): that is the paper's rule and why its prompt fixes the form.
CORPUS = [
    # integers, the tiny model's forms
    ("Answer:582", "582", (1, 1, 1)),
    ("12 08 05 Answer:582", "582", (1, 1, 1)),
    ("Answer: 583", "582", (0, 0, 0)),
    ("582", "582", (0, 0, 0)),                        # no answer in a required form
    ("Answer: 0582", "582", (1, 0, 1)),
    ("Answer: +582", "582", (1, 0, 1)),
    # boxed vs Answer:
    ("so \\boxed{582}.", "582", (1, 0, 1)),
    ("Answer: \\boxed{582}", "582", (1, 1, 1)),
    ("\\boxed{\\frac{3}{4}} Answer: 1", "3/4", (1, 0, 1)),  # the box beats the marker (DAPO: the marker only)
    ("Answer: 3\nAnswer: 4", "4", (1, 1, 1)),         # the last answer counts
    ("The answer is 7.", "7", (0, 0, 0)),
    # fractions and decimals
    ("Answer: 1/2", "\\frac{1}{2}", (1, 0, 1)),
    ("Answer: 0.5", "\\dfrac{1}{2}", (1, 0, 1)),
    ("Answer: \\frac12", "\\frac{1}{2}", (0, 1, 1)),
    ("Answer: \\dfrac{3}{4}", "0.75", (1, 0, 1)),
    ("Answer: 1.50", "1.5", (1, 0, 1)),
    ("Answer: 0.333", "\\frac{1}{3}", (0, 0, 0)),
    ("Answer: 3.14", "\\pi", (0, 0, 0)),
    # LaTeX
    ("Answer: $\\frac{1}{2}$", "\\frac{1}{2}", (1, 1, 1)),
    ("Answer: 2\\sqrt{2}", "\\sqrt{8}", (0, 0, 1)),
    ("Answer: \\pi/2", "\\frac{\\pi}{2}", (0, 0, 1)),
    ("Answer: 10^{3}", "1000", (0, 0, 1)),
    ("Answer: \\left(1,2\\right)", "(1,2)", (1, 0, 1)),
    ("Answer: (1,2)", "(2,1)", (0, 0, 0)),            # an ordered pair
    ("Answer: x^2+2x+1", "(x+1)^2", (0, 0, 1)),
    # thousands separators
    ("Answer: $1,234$", "1234", (1, 1, 1)),
    ("Answer: 1,234,567", "1234567", (1, 1, 1)),
    ("Answer: 1\\,234", "1234", (1, 0, 0)),
    ("Answer: 1,2", "12", (0, 1, 0)),                 # not a thousands separator
    # units
    ("Answer: 10 cm", "10", (0, 1, 1)),
    ("Answer: 10\\text{ cm}", "10", (0, 1, 1)),
    ("Answer: 90^\\circ", "90", (1, 1, 1)),
    ("Answer: 50\\%", "50", (1, 0, 0)),
    ("Answer: \\$5", "5", (0, 1, 1)),
    ("Answer: 5 dollars", "5", (0, 1, 0)),
    # intervals, sets, equations
    ("Answer: (1, 2]", "(1,2]", (1, 1, 1)),
    ("Answer: [1,2)", "(1,2]", (0, 0, 0)),
    ("Answer: x \\in (1,2]", "(1,2]", (0, 0, 1)),
    ("Answer: \\{2,1\\}", "\\{1,2\\}", (0, 0, 1)),
    ("Answer: 1, 2", "2, 1", (0, 0, 1)),
    ("Answer: x = 5", "5", (0, 1, 1)),
    ("Answer: 5", "x=5", (0, 1, 1)),
    # negative numbers
    ("Answer: -3", "-3", (1, 1, 1)),
    ("Answer: - 3", "-3", (1, 1, 1)),
    ("Answer: −3", "-3", (0, 0, 1)),                 # U+2212 minus sign
    ("Answer: -3", "3", (0, 0, 0)),
    # text
    ("Answer: \\text{east}", "East", (1, 0, 1)),
    ("Answer: East", "east", (1, 0, 0)),
    # malformed
    ("", "5", (0, 0, 0)),
    ("Answer:", "5", (0, 0, 0)),
    ("\\boxed{", "5", (0, 0, 0)),
    ("Answer: \\frac{1}{0}", "5", (0, 0, 0)),
    ("Answer: {", "5", (0, 0, 0)),
    ("Answer: 5.", "5", (1, 0, 0)),
    ("Answer: 1e3", "1000", (0, 0, 0)),
]

# Every pair where the workbench normaliser and math-verify disagree, with the side that is right.
DISAGREEMENTS = {
    ("Answer: \\frac12", "\\frac{1}{2}"): ("math_verify", "\\frac12 is TeX shorthand for 1/2; the normaliser only reads braced \\frac"),
    ("Answer: 2\\sqrt{2}", "\\sqrt{8}"): ("math_verify", "equal surds; the normaliser compares numbers and strings only"),
    ("Answer: \\pi/2", "\\frac{\\pi}{2}"): ("math_verify", "the same expression written two ways"),
    ("Answer: 10^{3}", "1000"): ("math_verify", "10^3 evaluates to 1000"),
    ("Answer: x^2+2x+1", "(x+1)^2"): ("math_verify", "the expanded polynomial equals the square"),
    ("Answer: 1\\,234", "1234"): ("workbench", "\\, is a thin space used as a thousands separator; math-verify reads 1 and 234"),
    ("Answer: 10 cm", "10"): ("math_verify", "a unit after the number does not change the answer"),
    ("Answer: 10\\text{ cm}", "10"): ("math_verify", "a unit in \\text{} does not change the answer"),
    ("Answer: 50\\%", "50"): ("workbench", "the truth of a percentage question is written without %; math-verify reads 50% as 0.5"),
    ("Answer: \\$5", "5"): ("math_verify", "a currency sign does not change the answer"),
    ("Answer: x \\in (1,2]", "(1,2]"): ("math_verify", "x in (1,2] states the interval"),
    ("Answer: \\{2,1\\}", "\\{1,2\\}"): ("math_verify", "sets are unordered"),
    ("Answer: 1, 2", "2, 1"): ("math_verify", "a list of solutions is a set: order does not matter"),
    ("Answer: x = 5", "5"): ("math_verify", "x = 5 states the value 5"),
    ("Answer: 5", "x=5"): ("math_verify", "the truth's x = 5 is the value 5"),
    ("Answer: −3", "-3"): ("math_verify", "U+2212 is the typographic minus sign"),
    ("Answer: East", "east"): ("workbench", "a word answer is case-insensitive; math-verify reads E*a*s*t with E = e"),
    ("Answer: 5.", "5"): ("workbench", "a sentence-final period is not part of the number"),
}


def test_corpus_verdicts_and_every_disagreement_is_listed():
    got = {(t, a): tuple(int(mc.is_correct(t, a, name)) for name in NAMES) for t, a, _ in CORPUS}
    assert got == {(t, a): want for t, a, want in CORPUS}
    disagree = {pair for pair, (wb, _, mv) in got.items() if wb != mv}
    assert disagree == set(DISAGREEMENTS)
    assert len(CORPUS) >= 50 and sum(side == "math_verify" for side, _ in DISAGREEMENTS.values()) == 14


def test_checker_option_reaches_the_reward_and_evaluation():
    truth = ["\\frac{1}{2}", "5"]
    texts = ["Answer: 0.5", "\\boxed{5}"]
    expected = {"workbench": [1.0, 1.0], "dapo": [0.0, 0.0], "math_verify": [1.0, 1.0]}
    for name, want in expected.items():
        t = task_with("math", checker=name, condition_length_on_accuracy=True, length_limit=100)
        accuracy, length = t.reward_funcs()
        assert accuracy(completions=texts, answer=truth) == want == length(completions=texts, answer=truth)
        assert t.evaluate(["p", "q"], texts, {"answer": truth}, [3, 3])["accuracy"] == sum(want) / 2
    with pytest.raises(ValueError, match="valid checkers are \\['workbench', 'dapo', 'math_verify'\\]"):
        task_with("math", checker="sympy")


def test_missing_math_verify_is_a_config_error(monkeypatch):
    monkeypatch.setattr(mc.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install \"math-verify"):
        task_with("math", checker="math_verify")
    task_with("math", checker="dapo")  # the other checkers need nothing


def test_dapo_normalisation_reads_the_last_300_characters():
    assert mc.dapo_correct("Answer: 7" + " " * 300, "7") is False  # the marker fell out of the window
    assert mc.dapo_correct("x" * 10_000 + "answer : 7", "7") is True  # case-insensitive, spaces allowed
    assert mc.dapo_normalise("\\text{(A)}") == "(A)" and mc.dapo_normalise("x = \\frac12") == "\\frac{1}{2}"


def test_math_verify_times_out_on_the_main_thread(monkeypatch):
    monkeypatch.setattr(mc, "TIMEOUT_S", 1)
    start = time.time()
    assert mc.is_correct("Answer: 9^{9^{9^{9}}}", "5", "math_verify") is False
    assert time.time() - start < 6  # two parses and one comparison, each cut at 1 s


def test_math_verify_off_the_main_thread_uses_a_worker_that_is_replaced_when_stuck(monkeypatch):
    results = {}

    def score(key, text, truth):
        results[key] = mc.is_correct(text, truth, "math_verify")

    def in_thread(*args):
        worker = threading.Thread(target=score, args=args)
        worker.start()
        worker.join(120)
        assert not worker.is_alive()

    in_thread("half", "Answer: 0.5", "\\frac{1}{2}")
    assert results["half"] is True and mc._pool is not None
    monkeypatch.setattr(mc, "WORKER_TIMEOUT_S", 0.5)  # shorter than the worker's own 3 s alarm: it is killed
    in_thread("huge", "Answer: 9^{9^{9^{9}}}", "5")
    assert results["huge"] is False and mc._pool is None
    mc._close_pool()


def test_rewards_never_raise_for_any_checker(monkeypatch):
    from hypothesis import given, settings, strategies as st

    monkeypatch.setattr(mc, "TIMEOUT_S", 1)
    pieces = st.sampled_from(["Answer:", "\\boxed{", "}", "{", "\n", " ", "7", "1/0", "\\frac{1}{0}", "é", "$", "^{",
                              "\\sqrt", "=", ",", "(", "]", "\\text{", "−"])
    for name in NAMES:
        accuracy = task_with("math", checker=name).reward_funcs()[0]

        @settings(max_examples=60, deadline=None)
        @given(st.lists(st.one_of(st.text(max_size=30), pieces), max_size=10).map("".join), st.sampled_from(
            ["7", "\\frac{1}{2}", "(1,2]", "x=5", "", "{"]))
        def check(text, truth):
            assert accuracy(completions=[text], answer=[truth])[0] in (0.0, 1.0)

        check()


def test_trl_reward_path_runs_math_verify_on_the_main_thread(tmp_path, monkeypatch):
    from tests.test_run_support import fast_cfg
    from workbench import store
    from workbench.run import run

    on_main = []
    check = mc._math_verify_equal

    def spy(answer, truth):
        on_main.append(threading.current_thread() is threading.main_thread())
        return check(answer, truth)

    monkeypatch.setattr(mc, "_math_verify_equal", spy)
    summary = run(fast_cfg(tmp_path / "mv", "task.checker=math_verify"))
    assert store.read_status(tmp_path / "mv")["status"] == "done" and 0.0 <= summary["eval/accuracy"] <= 1.0
    assert on_main and all(on_main), "TRL called the accuracy reward off the main thread: signals would not work"
