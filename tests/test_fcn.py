"""The FCN branch (LSTM-FCN's convolutional half): batch norm over valid steps equals torch's own
batch norm without padding, and padding never changes an output or a statistic."""

from __future__ import annotations

import torch
from torch import nn

from rnnkit.layers.fcn import FCNBranch, MaskedBatchNorm1d


def test_masked_batch_norm_equals_torch_without_padding() -> None:
    x = torch.randn(6, 4, 11)
    ours, ref = MaskedBatchNorm1d(4), nn.BatchNorm1d(4)
    ref.load_state_dict(ours.state_dict())
    y = ours(x, torch.ones(6, 1, 11))
    torch.testing.assert_close(y, ref(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(x, torch.ones(6, 1, 11)), ref(x))


def test_padding_changes_neither_outputs_nor_statistics() -> None:
    torch.manual_seed(0)
    seqs = [torch.randn(n, 3) for n in (9, 5, 12)]
    padded = nn.utils.rnn.pad_sequence(seqs, batch_first=True)  # (3, 12, 3)
    more = torch.cat([padded, torch.randn(3, 6, 3) * 100], 1)  # garbage past every length
    lengths = torch.tensor([9, 5, 12])
    a, b = FCNBranch(3, (8, 16, 8)), FCNBranch(3, (8, 16, 8))
    b.load_state_dict(a.state_dict())
    out_a, out_b = a(padded, lengths), b(more, lengths)  # training mode: batch statistics
    torch.testing.assert_close(out_a, out_b, rtol=1e-5, atol=1e-5)
    for na, nb in zip(a.norms, b.norms):
        torch.testing.assert_close(na.running_mean, nb.running_mean)
    a.eval()
    alone = torch.cat([a(s[None], torch.tensor([len(s)])) for s in seqs])
    torch.testing.assert_close(a(more, lengths), alone, rtol=1e-5, atol=1e-5)


def test_classifier_with_the_fcn_branch_concatenates_both_summaries() -> None:
    from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier

    m = SequenceClassifier(ClassifierConfig(hidden_size=8, frontend="fcn", fcn_channels=(4, 6), fcn_kernels=(3, 3),
                                            pooling="mean"), 3, input_size=2)
    assert m.pooled_size == 8 + 6 and m.head[1].in_features == 14
    out = m(torch.randn(5, 7, 2), torch.tensor([7, 3, 5, 7, 1]))
    assert out.logits.shape == (5, 3) and torch.isfinite(out.logits).all()
