"""Next-element task: the grammar and its optimum, the Markov baseline, the task end to end."""

from __future__ import annotations

import math

import pytest

from rnnkit.baselines.markov import MarkovChain
from rnnkit.data.nextelement import generate, next_distributions, optimum
from rnnkit.errors import DataError


def test_reber_strings_follow_the_embedded_grammar():
    """Every generated string is B {T|P} <Reber> {T|P} E, the last branch symbol equal to the first."""
    text = generate("reber", 3000, seed=1)
    strings = text.replace("EB", "E|B").split("|")
    assert len(strings) > 100 and all(s[0] == "B" and s[-1] == "E" for s in strings)
    for s in strings:
        assert s[1] in "TP" and s[-2] == s[1] and s[2] == "B" and s[-3] == "E"
    dists = next_distributions("reber", text)
    assert len(dists) == len(text) - 1
    assert all(abs(sum(d.values()) - 1.0) < 1e-12 for d in dists)
    assert all(d == {"B": 1.0} for i, d in enumerate(dists) if text[i] == "E" and text[i - 1] in "TP")
    with pytest.raises(DataError, match="impossible"):
        next_distributions("reber", "BTBTSXXE")


def test_optimum_by_hand():
    # iid digits: every distribution is uniform over 10 -> expected accuracy 0.1, nll ln 10
    o = optimum("iid", generate("iid", 1000))
    assert o["expected_accuracy"] == pytest.approx(0.1) and o["nll"] == pytest.approx(math.log(10))
    # "BTBTXSETE": positions after B, B, E, T(last), are forced; the rest are 50/50 branches
    text = "BTBTXSETE"
    o = optimum("reber", text)
    probs = [0.5, 1.0, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0]  # next after B,T,B,T,X,S,E,T
    assert o["expected_accuracy"] == pytest.approx(sum(max(p, 0.5) for p in probs) / 8)
    assert o["nll"] == pytest.approx(-sum(math.log(p) for p in probs) / 8)


def test_markov_chain_counts_and_backoff():
    m = MarkovChain(order=2, alpha=1.0).fit("abcabcabd")
    assert m.predict("ab") == "c"  # c seen twice after "ab", d once
    assert m.logprob("ab", "d") == pytest.approx(math.log((1 + 1) / (3 + 4)))
    assert m.predict("zz") == "a"  # unseen context: backs off to the unigram's most frequent
    assert MarkovChain(1).fit("abab" * 10).score("abababab")["accuracy"] == 1.0


def test_task_end_to_end_reports_optimum_and_baselines(tmp_path):
    from rnnkit.tasks import make_run_config, train_run
    cfg = make_run_config("nextelement", ["train.max_steps=150", "train.eval_every=150", "data.train_symbols=20000",
                                          "data.valid_symbols=2000", "data.test_symbols=6000", "train.batch_size=16",
                                          "train.seq_len=50", "data.markov_orders=[1,3]"])
    m = train_run(cfg, tmp_path / "run").metrics
    assert m["optimum_accuracy"] > m["best_markov_accuracy"] > m["baselines"]["chance (uniform)"]["accuracy"]
    # the LSTM learns the grammar's local structure on a tiny budget: within 5 points of the optimum
    assert m["test_accuracy"] > m["optimum_accuracy"] - 0.05, m
    assert m["test_nll"] >= m["optimum_nll"] - 0.02  # nothing beats the generating process
    assert m["long_range_positions"] > 50 and 0.0 <= m["best_markov_accuracy_long_range"] <= 1.0
