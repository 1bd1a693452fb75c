"""Map metrics against known answers: CC, FSC, soft mask, resolution, ARI / confusion matrix."""
import numpy as np
import pytest

from tomodrgn_core.analysis.metrics import (adjusted_rand_index, confusion_matrix, fsc, map_cc, masked_fsc, reference_weights,
                                            resolution_at, soft_mask)


def blob_volume(D=32, seed=0):
    rng = np.random.default_rng(seed)
    ax = np.arange(D) - D // 2
    zz, yy, xx = np.meshgrid(ax, ax, ax, indexing="ij")
    vol = np.zeros((D, D, D))
    for c in rng.uniform(-6, 6, size=(12, 3)):
        vol += np.exp(-((xx - c[0]) ** 2 + (yy - c[1]) ** 2 + (zz - c[2]) ** 2) / (2 * 1.5 ** 2))
    return vol + 0.05 * rng.normal(size=vol.shape)  # white noise: power in every shell


def lowpass(vol, cutoff):
    """Sharp Fourier low-pass at ``cutoff`` cycles/px."""
    D = vol.shape[0]
    f = np.fft.fftfreq(D)
    r = np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + f[None, None, :] ** 2)
    return np.fft.ifftn(np.fft.fftn(vol) * (r < cutoff)).real


def test_cc_self_and_negative():
    v = blob_volume()
    assert np.isclose(map_cc(v, v), 1.0)
    assert np.isclose(map_cc(v, -v), -1.0)
    assert np.isclose(map_cc(v, 3 * v + 2), 1.0)  # invariant to scale and offset
    assert abs(map_cc(v, blob_volume(seed=5))) < 0.6


def test_fsc_self_is_one_everywhere():
    v = blob_volume()
    freqs, curve = fsc(v, v)
    assert len(freqs) == 16 and np.isclose(freqs[1], 1 / 32)
    assert np.allclose(curve, 1.0)
    assert resolution_at(freqs, curve, 0.143, pixel_size=4.0) == 8.0  # never drops: Nyquist, 2 px


def test_fsc_of_lowpass_copy_falls_at_cutoff():
    v = blob_volume()
    cutoff = 0.25
    freqs, curve = fsc(v, lowpass(v, cutoff))
    assert np.all(curve[freqs < cutoff - 2 / 32] > 0.9)
    assert np.all(np.abs(curve[freqs > cutoff + 2 / 32]) < 0.1)
    res = resolution_at(freqs, curve, 0.5, pixel_size=2.0)  # 2 A/px: cut-off at 8 A
    assert 7.0 < res < 9.5, res


def test_resolution_interpolates_between_shells():
    freqs = np.arange(16) / 32
    curve = np.clip(1 - freqs / 0.3, 0, 1)  # crosses 0.5 at 0.15 cycles/px exactly
    assert np.isclose(resolution_at(freqs, curve, 0.5, pixel_size=3.0), 3.0 / 0.15, rtol=1e-6)


def test_resolution_never_coarser_than_the_box():
    """Below the threshold from the first shell on: no resolution inside the band, not one beyond the box
    (interpolating towards the DC term gave e.g. 1028 A for a 384 A box)."""
    freqs = np.arange(16) / 32
    curve = np.r_[1.0, np.full(15, 0.3)]
    assert resolution_at(freqs, curve, 0.5, pixel_size=12.0) == np.inf
    curve[1] = 0.6  # crosses between shells 1 and 2: a finite value, finer than the box
    assert 12.0 * 16 < resolution_at(freqs, curve, 0.5, pixel_size=12.0) < 12.0 * 32


def test_soft_mask_follows_the_paper():
    v = blob_volume(D=48)
    m = soft_mask(v, dilate_px=3, edge_px=10)
    assert m.shape == v.shape and m.dtype == np.float32
    assert m.min() >= 0 and m.max() <= 1
    core = v >= 0.5 * np.percentile(v, 99)
    assert np.all(m[core] == 1)                       # binarised region kept
    assert 0 < ((m > 0) & (m < 1)).mean()              # a soft edge exists
    assert (m == 1).sum() > core.sum()                 # dilation grew the hard region
    hard = soft_mask(v, dilate_px=3, edge_px=0)
    assert set(np.unique(hard)) <= {0.0, 1.0}
    # the edge reaches ~10 px beyond the dilated region and no further
    from scipy import ndimage
    dist = ndimage.distance_transform_edt(hard == 0)
    assert np.all(m[dist > 10.01] == 0) and np.all(m[(dist > 0) & (dist < 9)] > 0)
    # masked FSC of a map with itself is still 1
    assert np.allclose(masked_fsc(v, v)[1], 1.0)


def test_ari_and_confusion_matrix():
    truth = np.array([0, 0, 1, 1, 2, 2])
    assert adjusted_rand_index(truth, [5, 5, 3, 3, 9, 9]) == 1.0  # relabelling does not matter
    assert adjusted_rand_index(truth, [0, 1, 0, 1, 0, 1]) < 0.1
    cm = confusion_matrix([0, 0, 1, 1], [1, 1, 1, 0])
    assert cm.tolist() == [[0, 2], [1, 1]]


def test_shape_mismatch_is_a_plain_error():
    v = blob_volume(D=16)
    with pytest.raises(ValueError, match="different shapes"):
        map_cc(v, v[:8])
    with pytest.raises(ValueError, match="different shapes"):
        fsc(v, np.zeros((8, 8, 8)))
    with pytest.raises(ValueError, match="cubic"):
        fsc(v[:, :, :8], v[:, :, :8])


def test_reference_weights_recover_a_known_mixture():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 16, 16, 16))
    shared = rng.normal(size=(16, 16, 16))
    a, b = shared + 0.3 * a, shared + 0.3 * b  # two "classes" sharing most of their density
    w = reference_weights(0.7 * a + 0.2 * b + 5.0, [a, b])  # scale and offset do not matter
    assert np.allclose(w, [0.7, 0.2])
    assert np.allclose(reference_weights(-a, [a, b]), [-1, 0], atol=1e-9)
    with pytest.raises(ValueError):
        reference_weights(a[:8], [a, b])
