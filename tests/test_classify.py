"""classify data and model: vocabulary from train only, padding invariance, learning, baselines, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.baselines.classify import _pad, dtw_distances, majority, nn1_dtw
from rnnkit.data.classify import (
    PAD,
    UNK,
    ClassBatches,
    LabelEncoder,
    Scaler,
    Vocab,
    check_series,
    pad_batch,
    stratified_val_split,
    tokenize,
)
from rnnkit.errors import DataError
from rnnkit.evaluation.classification import scores
from rnnkit.models.classifier import POOLINGS, ClassifierConfig, SequenceClassifier, balanced_class_weight


def test_vocab_counts_only_the_texts_it_is_given_with_limits():
    train = ["the cat sat", "the dog sat", "the cat ran"]
    v = Vocab.build(train, "word", min_freq=2)
    assert v.itos[:2] == [PAD, UNK]
    assert set(v.itos[2:]) == {"the", "cat", "sat"}  # dog, ran seen once: below min_freq
    assert v.itos[2] == "the"  # most frequent first
    assert v.encode("the zebra") == [v.stoi["the"], 1]  # unseen word -> <unk>
    assert len(Vocab.build(train, "word", max_size=3)) == 3
    c = Vocab.build(["ab"], "char")
    assert c.encode("abc") == [2, 3, 1]
    assert Vocab.from_dict(v.to_dict()).itos == v.itos
    assert tokenize("Don't stop!", "word") == ["don't", "stop", "!"]


def test_prepare_data_builds_vocabulary_on_the_training_part_only(tmp_path):
    from rnnkit.apps.classify import prepare_data
    from rnnkit.tasks import make_run_config

    train = tmp_path / "train.csv"
    test = tmp_path / "test.csv"
    rows = [f"alpha{i} common,a" if i % 2 else f"beta{i} common,b" for i in range(20)]
    train.write_text("text,label\n" + "\n".join(rows) + "\n")
    test.write_text("text,label\ntestonlyword common,a\nbeta0 testonly2,b\n")
    cfg = make_run_config("classify", [f"data.test_source={test}", "data.val_fraction=0.2", "data.min_freq=1",
                           "train.batch_size=4"],
                          data=str(train))
    b = prepare_data(cfg)
    val_words = {tokenize(b.raw.train_x[i])[0] for i in b.val_idx}
    fit_words = {tokenize(b.raw.train_x[i])[0] for i in b.fit_idx}
    assert "testonlyword" not in b.vocab.stoi and "testonly2" not in b.vocab.stoi
    assert val_words and not (val_words & set(b.vocab.stoi))  # validation texts are held out too
    assert fit_words <= set(b.vocab.stoi)
    assert b.test[0][0][0] == 1  # unseen test word encodes as <unk>


@pytest.mark.parametrize("pooling", list(POOLINGS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_does_not_change_predictions(pooling, bidirectional):
    """A padded batch gives each sequence the logits it gets alone (every pooling is masked)."""
    cfg = ClassifierConfig(cell="lstm", hidden_size=8, bidirectional=bidirectional, pooling=pooling, attn_size=6)
    model = SequenceClassifier(cfg, 3, input_size=2).eval()
    seqs = [np.random.default_rng(i).normal(size=(n, 2)).astype(np.float32) for i, n in enumerate([5, 2, 7])]
    batch = pad_batch(seqs, [0, 1, 2])
    together = model(batch.x, batch.lengths).logits
    alone = torch.cat([model(torch.from_numpy(s)[None]).logits for s in seqs])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_padding_invariance_with_tokens_and_conv_frontend():
    cfg = ClassifierConfig(cell="gru", hidden_size=8, embed_dim=4, frontend="conv", conv_channels=5, conv_kernel=3,
                           conv_pool=2, pooling="attention", attn_size=4)
    model = SequenceClassifier(cfg, 2, vocab_size=10).eval()
    seqs = [[2, 3, 4, 5, 6, 7], [8, 9, 2, 3]]
    b = pad_batch(seqs, [0, 1])
    with torch.no_grad():
        out = model(b.x, b.lengths)
        alone = torch.cat([model(torch.tensor([s])).logits for s in seqs])
    torch.testing.assert_close(out.logits, alone, atol=1e-5, rtol=1e-5)
    assert out.attention.shape == (2, 3)
    torch.testing.assert_close(out.attention.sum(-1), torch.ones(2))
    assert float(out.attention[1, 2]) == 0.0  # the padded step gets no attention


def test_model_learns_a_tiny_separable_task_beyond_majority():
    from rnnkit.config import TrainConfig
    from rnnkit.train.fit import fit

    rng = np.random.default_rng(0)
    y = np.array([0] * 40 + [1] * 24)
    seqs = [(rng.normal(size=(int(rng.integers(3, 9)), 1)) + (1.0 if c else -1.0)).astype(np.float32) for c in y]
    model = SequenceClassifier(ClassifierConfig(hidden_size=16, pooling="mean"), 2, input_size=1)
    fit(model, ClassBatches(seqs, y, 16), TrainConfig(max_steps=60, eval_every=60, lr=1e-2, device="cpu"))
    b = pad_batch(seqs, y)
    model.eval()
    acc = float((model(b.x, b.lengths).logits.argmax(-1) == b.y).float().mean())
    base = float((majority(y, len(y)) == y).mean())
    assert base == pytest.approx(40 / 64)
    assert acc >= 0.95 > base


def test_ensemble_averages_member_probabilities_and_trains_each_member_on_its_own_loss():
    torch.manual_seed(0)
    single = SequenceClassifier(ClassifierConfig(hidden_size=8, pooling="mean"), 3, input_size=2)
    assert not any(k.startswith("members.") for k in single.state_dict())  # N=1 checkpoints unchanged
    model = SequenceClassifier(ClassifierConfig(hidden_size=8, pooling="mean", ensemble=3), 3, input_size=2)
    x, lengths, y = torch.randn(4, 5, 2), torch.tensor([5, 3, 2, 4]), torch.tensor([0, 2, 1, 2])
    model.eval()
    members = [model._single(x, lengths)] + [m._single(x, lengths) for m in model.members]
    assert not torch.allclose(members[0].logits, members[1].logits)  # independently initialised
    mean_p = torch.stack([torch.softmax(o.logits, -1) for o in members]).mean(0)
    torch.testing.assert_close(model.predict_proba(x, lengths), mean_p)
    batch = pad_batch([x[i, : int(n)].numpy() for i, n in enumerate(lengths)], y.numpy())
    loss, _, metrics = model.loss(batch)
    loss.backward()
    m1 = model.members[1]
    ref = torch.nn.functional.cross_entropy(m1._single(batch.x, batch.lengths).logits, batch.y)
    g = torch.autograd.grad(ref, m1.head[1].weight)[0]
    torch.testing.assert_close(m1.head[1].weight.grad, g)  # member 1 sees only its own cross-entropy
    ens = torch.nn.functional.nll_loss(torch.log(mean_p), batch.y)
    assert float(metrics["loss_sum"]) / 4 == pytest.approx(float(ens.detach()), rel=1e-5)  # reported: the ensemble's


def test_class_weights_balanced_as_sklearn():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0] * 6 + [1] * 3 + [2] * 1)
    ref = compute_class_weight("balanced", classes=np.arange(3), y=y)
    torch.testing.assert_close(balanced_class_weight(np.bincount(y).tolist()), torch.tensor(ref, dtype=torch.float32))


def test_scores_match_sklearn():
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    rng = np.random.default_rng(1)
    t, p = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    s = scores(t, p, 4)
    assert s["accuracy"] == pytest.approx(accuracy_score(t, p))
    assert s["macro_f1"] == pytest.approx(f1_score(t, p, average="macro"))
    assert s["confusion_matrix"] == confusion_matrix(t, p, labels=range(4)).tolist()


def _dtw_ref(a: np.ndarray, b: np.ndarray, w: int | None = None) -> float:
    n, m = len(a), len(b)
    D = np.full((n + 1, m + 1), np.inf)
    D[0, 0] = 0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if w is None or abs(i - j) <= w:
                D[i, j] = ((a[i - 1] - b[j - 1]) ** 2).sum() + min(D[i - 1, j - 1], D[i - 1, j], D[i, j - 1])
    return D[n, m]


@pytest.mark.parametrize("window", [None, 2])
def test_dtw_matches_the_textbook_double_loop(window):
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(int(rng.integers(3, 9)), 2)) for _ in range(4)]
    ys = [rng.normal(size=(int(rng.integers(3, 11)), 2)) for _ in range(3)]
    (a, la), (b, lb) = _pad(xs, torch.float64), _pad(ys, torch.float64)
    got = dtw_distances(a, la, b, lb, window).numpy()
    ref = np.array([[_dtw_ref(x, y, window) for y in ys] for x in xs])
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    shifted = [np.roll(np.sin(np.linspace(0, 6, 30)), k)[:, None] for k in (0, 3)]
    assert nn1_dtw(shifted, np.array([0, 1]), [shifted[1] + 0.01]).tolist() == [1]


@pytest.mark.parametrize("window", [None, 0, 3])
@pytest.mark.parametrize("features", [1, 3])
def test_native_dtw_search_finds_the_reference_nearest_neighbour(window, features):
    """The native 1-NN DTW (early abandoning, band) against the torch diagonals in float64: the same
    nearest index (first on ties: duplicated training series) and distance, inf where the band admits
    no path; nn1_dtw gives the same predictions on both paths."""
    from rnnkit.layers import native

    if not native.load():
        pytest.skip(native.status())
    rng = np.random.default_rng(features)
    train = [rng.normal(size=(int(rng.integers(6, 25)), features)).cumsum(0) for _ in range(30)]
    train += train[:5]  # exact duplicates: the tie must go to the first
    test = [rng.normal(size=(int(rng.integers(6, 25)), features)).cumsum(0) for _ in range(12)] + train[2:4]
    (a, la), (b, lb) = _pad(test, torch.float64), _pad(train, torch.float64)
    ref = dtw_distances(a, la, b, lb, window)
    idx, dist = torch.ops.rnnkit_native.dtw_nn(a, la, b, lb, -1 if window is None else window)
    best, arg = ref.min(1)
    assert idx.tolist() == arg.tolist()
    finite = torch.isfinite(best)
    torch.testing.assert_close(dist[finite], best[finite], rtol=1e-12, atol=1e-10)  # torch: a²+b²-2ab
    assert torch.isinf(dist[~finite]).all()
    y = np.arange(len(train)) % 4
    assert nn1_dtw(train, y, test, window).tolist() == nn1_dtw(train, y, test, window, use_native=False).tolist()


def test_labels_scaler_split_and_bad_series():
    enc = LabelEncoder.fit(["10", "2", "b", "a"])
    assert enc.names == ["2", "10", "a", "b"]  # numbers in numeric order
    with pytest.raises(DataError, match="row 7: label 'z' never occurs"):
        enc.encode(["z"], ["row 7"])
    x = np.array([[1.0, 10.0], [3.0, 30.0]], np.float32)
    np.testing.assert_allclose(Scaler("per_series").transform(x), [[-1, -1], [1, 1]])
    g = Scaler.fit("global", [x, x + 2])
    np.testing.assert_allclose(g.mean, [3.0, 21.0])
    np.testing.assert_allclose(Scaler.from_dict(g.to_dict()).transform(x), g.transform(x))
    tr, va = stratified_val_split(np.array([0] * 8 + [1] * 2), 0.25, 0)
    assert len(va) == 3 and sorted(np.r_[tr, va].tolist()) == list(range(10))
    with pytest.raises(DataError, match="f.csv:3: NaN"):
        check_series([1.0, float("nan")], "f.csv:3")
    with pytest.raises(DataError, match="f.jsonl:2: ragged series"):
        check_series([[1, 2], [3]], "f.jsonl:2")
    with pytest.raises(DataError, match="T >= 1"):
        check_series([], "row 1")
