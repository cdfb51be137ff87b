"""VadCLIP length handling (spec section 4) against literal transcriptions of the official code."""

from __future__ import annotations

import numpy as np
import pytest

from vadbench.errors import DataError
from vadbench.methods.vadclip.lengths import process_batch, process_feat, process_split, split_lengths


def _official_uniform_extract(feat, t_max):
    """Literal transcription of tools.uniform_extract(avg=True)."""
    new_feat = np.zeros((t_max, feat.shape[1])).astype(np.float32)
    r = np.linspace(0, len(feat), t_max + 1, dtype=np.int32)
    for i in range(t_max):
        if r[i] != r[i + 1]:
            new_feat[i, :] = np.mean(feat[r[i] : r[i + 1], :], 0)
        else:
            new_feat[i, :] = feat[r[i], :]
    return new_feat


def _official_lengths(length, maxlen):
    """Literal transcription of the chunk-length loop of ucf_test.py / xd_test.py."""
    lengths = np.zeros(int(length / maxlen) + 1, dtype=np.int64)
    for j in range(int(length / maxlen) + 1):
        if j == 0 and length < maxlen:
            lengths[j] = length
        elif j == 0 and length > maxlen:
            lengths[j] = maxlen
            length -= maxlen
        elif length > maxlen:
            lengths[j] = maxlen
            length -= maxlen
        else:
            lengths[j] = length
    return lengths


@pytest.mark.parametrize("n", [257, 300, 511, 600, 1000, 2074])
def test_process_feat_averaging_matches_loop(n, rng):
    feat = rng.normal(size=(n, 8)).astype(np.float32)
    out, length = process_feat(feat, 256)
    assert length == 256 and out.shape == (256, 8) and out.dtype == np.float32
    np.testing.assert_allclose(out, _official_uniform_extract(feat, 256), rtol=1e-5, atol=1e-6)


def test_process_feat_empty_bins_take_the_start_row(rng):
    # max_len > T makes empty bins; the official rule (single row at the bin start) is kept
    from vadbench.methods.vadclip.lengths import uniform_extract

    feat = rng.normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(uniform_extract(feat, 8), _official_uniform_extract(feat, 8), atol=1e-6)


def test_process_feat_pads_short(rng):
    feat = rng.normal(size=(100, 4)).astype(np.float32)
    out, length = process_feat(feat, 256)
    assert length == 100 and out.shape == (256, 4)
    np.testing.assert_array_equal(out[:100], feat)
    assert not out[100:].any()
    out, length = process_feat(feat[:1], 256)
    assert length == 1
    batch, lengths = process_batch([feat, rng.normal(size=(400, 4))], 256)
    assert batch.shape == (2, 256, 4) and lengths.tolist() == [100, 256]


def test_process_split_600_and_512(rng):
    feat = rng.normal(size=(600, 4)).astype(np.float32)
    chunks, lengths = process_split(feat, 256)
    assert chunks.shape == (3, 256, 4) and lengths.tolist() == [256, 256, 88]
    np.testing.assert_array_equal(chunks.reshape(-1, 4)[:600], feat)
    assert not chunks[2, 88:].any()
    chunks, lengths = process_split(feat[:512], 256)
    assert chunks.shape == (3, 256, 4) and not chunks[2].any()  # last chunk entirely padding
    assert lengths.tolist() == [256, 256, 256]  # official quirk: valid length 256 for the padding chunk
    chunks, lengths = process_split(feat[:40], 256)
    assert chunks.shape == (1, 256, 4) and lengths.tolist() == [40]


@pytest.mark.parametrize("n", [1, 100, 255, 256, 257, 511, 512, 513, 600, 768, 1000, 2074])
def test_split_lengths_match_official_loop(n):
    assert split_lengths(n, 256).tolist() == _official_lengths(n, 256).tolist()


def test_bad_features_named():
    with pytest.raises(DataError, match="video 'v7'.*found \\(0, 4\\)"):
        process_feat(np.zeros((0, 4), np.float32), 256, video="v7")
    with pytest.raises(DataError, match="video 'v8'.*\\(5,\\)"):
        process_split(np.zeros(5, np.float32), 256, video="v8")
