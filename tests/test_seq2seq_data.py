"""Seq2seq data: pairs files and their errors, synthetic generators, batching, metrics."""

from __future__ import annotations

import datetime as dt

import pytest
import torch

from rnnkit.data.seq2seq import BOS, EOS, PAD, PairBatches, Vocab, make_batch, read_pairs, split_pairs
from rnnkit.data.seq2seq_synth import _date_forms, addition, dates, reverse, synthetic_pairs
from rnnkit.errors import DataError
from rnnkit.evaluation.sequences import bleu, char_error_rate, edit_distance, multi_reference_errors, sequence_metrics


def test_read_tsv_and_csv_with_levels(tmp_path):
    tsv = tmp_path / "p.tsv"
    tsv.write_text("# comment\ncat\tK AE1 T\n\ndog\tD AO1 G\n", encoding="utf-8")
    assert read_pairs(tsv, "char", "word") == [(list("cat"), ["K", "AE1", "T"]), (list("dog"), ["D", "AO1", "G"])]
    csv = tmp_path / "p.csv"
    csv.write_text('"a, b",x\nc,y\n', encoding="utf-8")
    assert read_pairs(csv) == [(list("a, b"), ["x"]), (["c"], ["y"])]


@pytest.mark.parametrize("text,match", [
    ("ok\tfine\n\tempty source\n", r"p\.tsv:2: empty source"),
    ("ok\tfine\nno target\t  \n", r"p\.tsv:2: empty target"),
    ("ok\tfine\nno tab here\n", r"p\.tsv:2: expected 'source<TAB>target'"),
    ("abcdefghijk\tx\n", r"p\.tsv:1: source has 11 tokens, more than max_len=10"),
])
def test_bad_pairs_name_the_line(tmp_path, text, match):
    f = tmp_path / "p.tsv"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=match):
        read_pairs(f, max_len=10)


def test_missing_file_and_unknown_synthetic_task(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_pairs(tmp_path / "nope.tsv")
    with pytest.raises(DataError, match="dates, addition, reverse"):
        synthetic_pairs("sorting")


def test_split_by_source_is_disjoint_and_fixed():
    pairs = [([str(i % 50)], ["x"]) for i in range(200)]
    a = split_pairs(pairs, 0.1, 0.2, seed=3)
    assert a == split_pairs(pairs, 0.1, 0.2, seed=3)
    keys = [{tuple(s) for s, _ in part} for part in a]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert sum(len(p) for p in a) == 200


def test_dates_are_correct_unseen_and_unambiguous():
    train, valid, test = dates(n_train=3000, seed=0)
    iso = {"".join(t) for _, t in train}
    assert not iso & {"".join(t) for _, t in test}  # test dates never seen in training, in any form
    for s, t in test[:200]:
        d = dt.date.fromisoformat("".join(t))
        assert "".join(s) in _date_forms(d)
    seen: dict[str, dt.date] = {}  # every surface form of every date in range has one answer
    d, end = dt.date(1950, 1, 1), dt.date(2049, 12, 31)
    while d <= end:
        for form in _date_forms(d):
            assert seen.setdefault(form, d) == d, form
        d += dt.timedelta(days=1)


def test_addition_and_reverse_are_correct_and_disjoint():
    tr, va, te = addition(n_train=500, seed=1)
    for s, t in tr[:100]:
        a, b = "".join(s).split("+")
        assert int(a) + int(b) == int("".join(t)) and int(a) < 1000 and int(b) < 1000
    assert not {"".join(s) for s, _ in tr} & {"".join(s) for s, _ in te}
    tr, va, te = reverse(n_train=500, seed=1)
    assert all(10 <= len(s) <= 30 and t == s[::-1] for s, t in tr + te)
    assert not {"".join(s) for s, _ in tr} & {"".join(s) for s, _ in te}


def test_batches_pad_with_bos_eos_and_are_deterministic():
    pairs = [(list("abc"), list("x")), (list("a"), list("xyy"))]
    sv, tv = Vocab.build([s for s, _ in pairs], "char"), Vocab.build([t for _, t in pairs], "char")
    b = make_batch(pairs, sv, tv)
    assert b.src_len.tolist() == [3, 1] and b.tgt_len.tolist() == [2, 4]
    assert b.src[1].tolist()[1:] == [PAD, PAD]
    x, y = tv.encode("x")[0], tv.encode("y")[0]
    assert b.tgt_in.tolist() == [[BOS, x, PAD, PAD], [BOS, x, y, y]]
    assert b.tgt_out.tolist() == [[x, EOS, PAD, PAD], [x, y, y, EOS]]
    assert sv.decode(sv.encode(list("cab")) + [EOS, 5]) == list("cab")
    assert Vocab.from_dict(sv.to_dict()) == sv
    data = PairBatches(pairs * 10, sv, tv, batch_size=4, seed=0)
    e1, e1b = list(data.epoch(1)), list(data.epoch(1))
    assert all(torch.equal(p.src, q.src) for p, q in zip(e1, e1b))
    assert torch.equal(list(data.epoch(1, start=2))[0].src, e1[2].src)


def test_metrics_against_hand_values():
    assert edit_distance("kitten", "sitting") == 3
    assert bleu([list("hello world")], [list("hello world")]) == pytest.approx(100.0)
    assert bleu([list("abc")] * 3, [list("abc")] * 3) == pytest.approx(100.0)  # shorter than 4-grams
    assert bleu([list("zzzz")], [list("abcd")]) == pytest.approx(0.0)
    assert char_error_rate(["abd"], ["abcd"]) == pytest.approx(0.25)
    m = sequence_metrics([["K", "AE1", "T"], ["D", "AO1"]], [["K", "AE1", "T"], ["D", "AO1", "G"]], "word")
    assert m["test_exact_match"] == 0.5 and m["test_wer"] == 0.5
    assert m["test_token_error_rate"] == pytest.approx(1 / 6)
    assert m["test_token_accuracy"] == pytest.approx(5 / 6)


def test_any_reference_scoring_uses_the_closest_pronunciation():
    hyps = [["T", "AH0", "M", "AA1", "T", "OW2"], ["K", "AE1", "T"], ["D", "AA1"]]
    refs = [[["T", "AH0", "M", "EY1", "T", "OW2"], ["T", "AH0", "M", "AA1", "T", "OW2"]],  # 2nd variant: right
            [["K", "AA1", "T", "S"], ["K", "AE1", "T", "S"]],  # closest = 2nd (1 edit), length 4
            [["D", "AO1", "G"]]]  # a single reference: 2 edits of 3
    wer, per = multi_reference_errors(hyps, refs)
    assert wer == pytest.approx(2 / 3)
    assert per == pytest.approx((0 + 1 + 2) / (6 + 4 + 3))
    first_only = sequence_metrics(hyps, [r[0] for r in refs], "word")
    assert first_only["test_wer"] == 1.0 and first_only["test_token_error_rate"] > per
    with pytest.raises(ValueError, match="at least one reference"):
        multi_reference_errors([["A"]], [[]])


def test_stress_free_scoring_drops_only_the_stress_digits():
    from rnnkit.apps.seq2seq import strip_stress

    assert strip_stress(["W", "AA1", "SH", "B", "ER2", "N"]) == ["W", "AA", "SH", "B", "ER", "N"]
    hyp, ref = ["W", "AA1", "SH", "B", "ER0", "N"], ["W", "AA1", "SH", "B", "ER2", "N"]
    assert multi_reference_errors([hyp], [[ref]]) == (1.0, pytest.approx(1 / 6))
    assert multi_reference_errors([strip_stress(hyp)], [[strip_stress(ref)]]) == (0.0, 0.0)
