"""Model pieces: Hermitian decoder, pooling variants, tilt sampling, lazy data."""
import numpy as np
import pytest
import torch

from tomodrgn_core import physics as P
from tomodrgn_core.data import TiltSeriesData, preprocess
from tomodrgn_core.io import load_particles
from tomodrgn_core.models import POOLING, FTPositionalDecoder, TiltSeriesEncoder
from tomodrgn_core.simulate import simulate_dataset


def test_decoder_is_hermitian_so_volumes_are_real_hartley():
    torch.manual_seed(0)
    dec = FTPositionalDecoder(box=16, zdim=3, hidden=32, layers=2)
    c = torch.rand(500, 3) - 0.5
    z = torch.randn(1, 3)
    hk, hmk = dec.pair(c, z)
    assert torch.allclose(dec(c, z), hk, atol=1e-6)
    assert torch.allclose(dec(-c, z), hmk, atol=1e-6)
    # a Hartley grid filled by the decoder is the transform of a REAL volume: HT(HT(x)) round-trips exactly
    lat = P.lattice_3d(16)
    ht = dec(lat, z).reshape(16, 16, 16).double()
    vol = P.iht3_center(ht)
    assert torch.allclose(P.ht3_center(vol), ht, atol=1e-8)
    # Hermitian pairs: FT(vol) at k and -k are complex conjugates
    f = P.fft3_center(vol)
    assert torch.allclose(f[1:, 1:, 1:], torch.flip(f[1:, 1:, 1:], dims=(0, 1, 2)).conj(), atol=1e-8)


def _decoder_inputs(decoder, run):
    """The decoder MLP's input features during ``run()``."""
    seen = []
    handle = decoder.net.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().float().clone()))
    try:
        run()
    finally:
        handle.remove()
    return torch.cat([x.reshape(-1, x.shape[-1]) for x in seen])


def test_decoder_fourier_features_stay_float32_under_bf16_autocast():
    # autocast runs matrix products in bf16: phases c . f of up to ~100 rad at box 128 would be off by up to 0.5 rad,
    # and the decoder would be trained on features other than those it is evaluated on (volumes run in float32)
    dec = FTPositionalDecoder(box=128, zdim=0, hidden=32, layers=2)
    c = (torch.rand(4000, 3, generator=torch.Generator().manual_seed(1)) - 0.5)
    ref = _decoder_inputs(dec, lambda: dec(c))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        amp = _decoder_inputs(dec, lambda: dec(c))
    assert ref.dtype == torch.float32 and ref.abs().max() > 0.9
    assert (amp - ref).abs().max() < 1e-5


def test_training_step_poses_and_features_stay_float32_under_bf16_autocast(small_set):
    from tomodrgn_core.models import build_model
    from tomodrgn_core.train._loss import batch_loss
    ps, pre = small_set
    data = TiltSeriesData(ps, pre)
    model = build_model(dict(box=data.D, window_points=len(data.coords), ntilts=data.n_sample, zdim=0, dec_dim=16,
                             dec_layers=1))
    b = data.batch(torch.arange(4), random=False)
    run = lambda: batch_loss(model, b, data, 0.0)  # noqa: E731
    ref = _decoder_inputs(model.decoder, run)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        amp = _decoder_inputs(model.decoder, run)
    assert (amp - ref).abs().max() < 1e-5


@pytest.mark.parametrize("pooling", POOLING)
def test_pooling_variants(pooling):
    torch.manual_seed(0)
    enc = TiltSeriesEncoder(in_dim=50, ntilts=6, zdim=4, enc_dim_A=16, enc_layers_A=2, out_dim_A=8, enc_dim_B=16,
                            enc_layers_B=2, pooling=pooling)
    x = torch.randn(5, 6, 50)
    mu, logvar = enc(x)
    assert mu.shape == logvar.shape == (5, 4)
    shuffled = enc(x[:, torch.randperm(6)])[0]
    invariant = pooling != "concatenate"
    assert torch.allclose(mu, shuffled, atol=1e-5) == invariant


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    d = tmp_path_factory.mktemp("small")
    out = simulate_dataset(d, n_particles=20, box=16, snr=0.5, seed=4, max_tilt=24, drop_tilts=3)
    ps = load_particles(out["warp"])
    return ps, preprocess(ps, d / "cache", log=lambda m: None)


def test_tilt_sampling_is_random_without_replacement_and_inference_fixed(small_set):
    ps, pre = small_set
    data = TiltSeriesData(ps, pre)
    assert data.n_sample == int(ps.ntilts.min()) == 17 - 3
    idx = torch.arange(20)
    a, b = data.sample_rows(idx), data.sample_rows(idx)
    assert not torch.equal(a, b)
    for rows in (a, b):
        for i in range(20):
            r = rows[i].numpy()
            lo, hi = ps.row_offsets[i], ps.row_offsets[i + 1]
            assert len(set(r)) == len(r) and ((r >= lo) & (r < hi)).all()
    inf = data.batch(idx, random=False)
    assert torch.equal(inf.rows, data.batch(idx, random=False).rows)
    dose = ps.table["dose"].to_numpy()
    # inference uses each particle's lowest-exposure tilts
    assert dose[inf.rows[0].numpy()].max() <= np.sort(dose[ps.row_offsets[0]:ps.row_offsets[1]])[data.n_sample - 1]


def test_lazy_batches_equal_in_memory_batches_and_cache_is_reused(small_set):
    ps, pre = small_set
    eager, lazy = TiltSeriesData(ps, pre), TiltSeriesData(ps, pre, lazy=True)
    idx = torch.tensor([3, 0, 7])
    a, b = eager.batch(idx, random=False), lazy.batch(idx, random=False)
    assert torch.allclose(a.ht, b.ht) and torch.allclose(a.ctf, b.ctf)
    assert preprocess(ps, pre.parent, log=lambda m: None) == pre


def test_streamed_batches_are_read_one_ahead(small_set):
    # while the trainer holds batch k, the reader thread reads batch k + 1
    import threading
    ps, pre = small_set
    lazy = TiltSeriesData(ps, pre, lazy=True)
    reads, read = threading.Semaphore(0), lazy._read_rows

    def reading(rows, out):
        reads.release()
        return read(rows, out)
    lazy._read_rows = reading
    chunks = torch.arange(20).split(4)
    for k, b in enumerate(lazy.batches(chunks, random=True, generator=torch.Generator().manual_seed(0))):
        if k == 0:
            assert reads.acquire(timeout=5)  # its own read
        if k + 1 < len(chunks):  # held here: the next batch's read starts meanwhile
            assert reads.acquire(timeout=5), f"batch {k + 1} was not read ahead"
    # and they are the batches that batch() draws and reads, in order
    streamed = lazy.batches(chunks, random=True, generator=torch.Generator().manual_seed(0))
    again = torch.Generator().manual_seed(0)
    for particles, b in zip(chunks, streamed):
        ref = lazy.batch(particles, random=True, generator=again)
        assert torch.equal(b.rows, ref.rows) and torch.equal(b.ht, ref.ht) and torch.equal(b.ctf, ref.ctf)
