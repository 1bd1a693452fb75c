"""Reference flags build the reference tomoDRGN's network and training: layer counts and parameter counts
written out from its layout (models.py, set_transformer.py), pooling order, phase-flipped encoder input, the
real-space window, critical exposure below 300 kV, the learning rate's batch scaling; and where we keep our own
choice (README "Where we differ"): the forward model with the attenuation in the prediction, the paper's KLD
weight."""
import math

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from tomodrgn_core import physics as P
from tomodrgn_core.cli import main as cli
from tomodrgn_core.data import TiltSeriesData, preprocess
from tomodrgn_core.data._window import soft_window
from tomodrgn_core.io import load_particles
from tomodrgn_core.models import TiltSeriesEncoder, build_model, mlp
from tomodrgn_core.models._mlp import ResidLinear
from tomodrgn_core.models._set_transformer import MAB
from tomodrgn_core.simulate import simulate_dataset
from tomodrgn_core.train._loss import batch_loss


def linear(n_in, n_out):
    return n_in * n_out + n_out


def resid_mlp_params(n_in, hidden, layers, n_out):
    """The reference ResidLinearMLP: input layer, ``layers`` hidden residual layers, output layer."""
    return linear(n_in, hidden) + layers * linear(hidden, hidden) + linear(hidden, n_out)


def test_mlp_has_the_references_layers():
    net = mlp(100, 64, 2, 64)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 4  # in, 2 hidden, out: --enc-layers-A 2 is two hidden layers AFTER the input layer
    # out_dim == hidden: the output layer is residual too, as the reference builds it
    assert isinstance(net[0], nn.Linear) and isinstance(net[-1], ResidLinear)
    assert sum(isinstance(m, nn.ReLU) for m in net) == 3 and not isinstance(net[-1], nn.ReLU)
    assert sum(p.numel() for p in net.parameters()) == resid_mlp_params(100, 64, 2, 64)
    x = torch.randn(3, 64)
    assert torch.allclose(net[-1](x), net[-1].linear(x) + x)


def test_reference_settings_build_the_references_parameter_count():
    # zdim 8, encoder A 64x2 out 64, encoder B 32x4, decoder 256x3 at box 32, 8 tilts, concatenate pooling
    model = build_model(dict(box=32, window_points=749, ntilts=8, zdim=8, dec_dim=256, dec_layers=3, enc_dim_A=64,
                             enc_layers_A=2, out_dim_A=64, enc_dim_B=32, enc_layers_B=4))
    features = 2 * 3 * (32 // 2)  # sin and cos of 3 * D/2 random Fourier features
    expect = (resid_mlp_params(749, 64, 2, 64) + resid_mlp_params(64 * 8, 32, 4, 16)
              + resid_mlp_params(features + 8, 256, 3, 2))
    assert sum(p.numel() for p in model.parameters()) == expect


def test_relu_comes_after_pooling():
    torch.manual_seed(0)
    enc = TiltSeriesEncoder(in_dim=30, ntilts=5, zdim=2, enc_dim_A=16, enc_layers_A=1, out_dim_A=8, enc_dim_B=16,
                            enc_layers_B=1, pooling="mean")
    x = torch.randn(4, 5, 30)
    h = enc.encoder_a(x)
    after = enc.encoder_b(torch.relu(h.mean(1)))[:, :2]
    before = enc.encoder_b(torch.relu(h).mean(1))[:, :2]
    assert torch.allclose(enc(x)[0], after, atol=1e-6) and not torch.allclose(after, before, atol=1e-3)
    # median: the interpolated median (the reference's quantile 0.5), not the lower middle value
    enc.pooling = "median"
    assert torch.allclose(enc(x)[0], enc.encoder_b(torch.relu(h.quantile(0.5, dim=1)))[:, :2], atol=1e-6)


def mab_params(dq, dk, d):
    return linear(dq, d) + 2 * linear(dk, d) + linear(d, d)


def test_set_encoder_is_the_references_set_transformer():
    torch.manual_seed(0)
    enc = TiltSeriesEncoder(in_dim=30, ntilts=6, zdim=4, enc_dim_A=16, enc_layers_A=1, out_dim_A=8, enc_dim_B=32,
                            enc_layers_B=3, pooling="set_encoder")
    d, din, inducing = 32, 8, 32  # width = --enc-dim-B, 32 inducing points, one PMA seed
    isab = lambda a: inducing * d + mab_params(d, a, d) + mab_params(a, d, d)  # noqa: E731
    expect = isab(din) + isab(d) + (d + mab_params(d, d, d)) + 2 * mab_params(d, d, d) + linear(d, 8)
    assert sum(p.numel() for p in enc.encoder_b.parameters()) == expect
    x = torch.randn(3, 6, 30)
    mu, logvar = enc(x)
    assert mu.shape == (3, 4) and torch.allclose(mu, enc(x[:, torch.randperm(6)])[0], atol=1e-5)


def test_attention_block_follows_the_set_transformer_formula():
    # H = Q' + softmax(Q' K'^T / sqrt(width)) V' per head (the width, not the head width), then H + ReLU(fc_o H)
    torch.manual_seed(1)
    mab = MAB(6, 5, 8, heads=2)
    q, k = torch.randn(3, 4, 6), torch.randn(3, 7, 5)
    Q, K, V = mab.fc_q(q), mab.fc_k(k), mab.fc_v(k)
    heads = []
    for h in range(2):
        s = slice(4 * h, 4 * h + 4)
        a = torch.softmax(Q[..., s] @ K[..., s].transpose(1, 2) / math.sqrt(8), -1)
        heads.append(Q[..., s] + a @ V[..., s])
    H = torch.cat(heads, -1)
    assert torch.allclose(mab(q, k), H + torch.relu(mab.fc_o(H)), atol=1e-5)


def test_critical_exposure_is_0_8x_below_300kv():
    k = torch.tensor([0.01, 0.05, 0.1])
    assert torch.allclose(P.critical_exposure(k, 200.0), 0.8 * P.critical_exposure(k, 300.0))
    assert torch.allclose(P.critical_exposure(k, 300.0), 0.245 * k ** -1.665 + 2.81)
    dose = torch.tensor([10.0, 40.0])
    assert torch.allclose(P.dose_attenuation(dose, k, 200.0), torch.exp(-dose[:, None] / (2 * 0.8 * (0.245 * k ** -1.665 + 2.81))))
    assert torch.equal(P.dose_mask(dose, k, 200.0), P.dose_mask(dose / 0.8, k, 300.0))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("parity")
    sim = simulate_dataset(d, n_particles=6, box=16, n_classes=2, snr=1.0, seed=2, max_tilt=12)
    ps = load_particles(sim["warp"])
    return ps, preprocess(ps, d / "cache", log=lambda m: None)


def test_200kv_data_train_on_the_300kv_equivalent_exposure(small):
    ps, pre = small
    ps.table["voltage"] = 200.0
    data = TiltSeriesData(ps, pre)
    assert torch.allclose(data.dose, torch.as_tensor(ps.table["dose"].to_numpy() / 0.8, dtype=torch.float32))


def test_encoder_sees_phase_flipped_images(small):
    ps, pre = small
    data = TiltSeriesData(ps, pre)
    model = build_model(dict(box=data.D, window_points=len(data.coords), ntilts=data.n_sample, zdim=2, dec_dim=16,
                             dec_layers=1, enc_dim_A=8, enc_layers_A=1, out_dim_A=4, enc_dim_B=8, enc_layers_B=1))
    seen = []
    model.encoder.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    b = data.batch(torch.arange(3), random=False)
    batch_loss(model, b, data, 0.1)
    assert torch.equal(seen[0], b.ht * torch.sign(b.ctf))
    assert (torch.sign(b.ctf) < 0).any()  # the flip does something on these images


def test_forward_model_is_the_image_formation_weighted_by_attenuation(small):
    # prediction CTF x attenuation x V (the image formation; the paper and the reference leave the attenuation out of
    # the prediction, README "Where we differ"), squared error weighted by attenuation x cos(tilt)
    ps, pre = small
    data = TiltSeriesData(ps, pre)
    torch.manual_seed(0)
    model = build_model(dict(box=data.D, window_points=len(data.coords), ntilts=data.n_sample, zdim=0, dec_dim=16,
                             dec_layers=1))
    b = data.batch(torch.arange(2), random=False)
    got = batch_loss(model, b, data, 0.0, dose_mask=False, dose_weight=True, tilt_weight=True).mse
    # written out over the full window lattice, with the decoder evaluated at every posed point
    n = b.ht.shape[1]
    coords = torch.einsum("pi,tij->tpj", data.coords, b.rot.reshape(-1, 3, 3))
    pred = model.decoder(coords)
    att = P.dose_attenuation(b.dose.reshape(-1), data.kmag)
    w = att * b.tilt_weight.reshape(-1, 1)
    err = b.ctf.reshape(2 * n, -1) * att * pred - b.ht.reshape(2 * n, -1)
    assert torch.allclose(got, (w * err.square()).mean(), rtol=1e-4)


def test_kld_weight_is_the_papers_whatever_the_dose_mask_keeps(small):
    # 1 / (D^2 t) per unit KLD with and without the dose mask (the reference divides by the kept points instead)
    ps, pre = small
    data = TiltSeriesData(ps, pre)
    torch.manual_seed(0)
    model = build_model(dict(box=data.D, window_points=len(data.coords), ntilts=data.n_sample, zdim=2, dec_dim=16,
                             dec_layers=1, enc_dim_A=8, enc_layers_A=1, out_dim_A=4, enc_dim_B=8, enc_layers_B=1))
    b = data.batch(torch.arange(3), random=False)
    b.dose = b.dose + 200.0  # enough exposure for the mask to drop most points
    for mask in (False, True):
        t = batch_loss(model, b, data, 1e4, dose_mask=mask, sample_z=False)
        assert torch.allclose(t.loss - t.mse, 1e4 * t.kld / (data.D ** 2 * b.ht.shape[1]), rtol=1e-4)


def test_soft_window_matches_the_references_shape():
    w = soft_window(32)
    assert w[16, 16] == 1 and w[0, 0] == 0 and w[16, 0] == 0  # the edge lies at radius 0.9 < 1 of the half-width
    r = 0.85 * 16  # half way through the cosine fall (0.8 -> 0.9 of the half-width)
    assert abs(float(soft_window(1024)[512, 512 - int(r * 32)]) - 0.5) < 0.02
    assert torch.all(w[16, 16 - int(0.8 * 16):17] == 1)


def test_learning_rate_scales_with_the_square_root_of_the_batch(small, tmp_path):
    ps, _ = small
    out = tmp_path / "nn"
    assert cli(["train_nn", str(ps.star_path), "-o", str(out), "-n", "1", "-b", "4", "--dim", "16", "--layers", "1",
                "--lr", "1e-3", "--lr-schedule", "constant", "--device", "cpu"]) == 0
    cfg = yaml.safe_load((out / "config.yaml").read_text())["training"]
    assert cfg["lr"] == 1e-3 and np.isclose(cfg["lr_used"], 2e-3)
    opt = torch.load(out / "weights.0.pkl", weights_only=False)["optimizer_state_dict"]
    assert np.isclose(opt["param_groups"][0]["lr"], 2e-3)


def test_window_flags_reach_the_preprocessing_and_the_config(small, tmp_path):
    from tomodrgn_core.commands import _train_args
    from tomodrgn_core.data._window import WINDOW
    assert (_train_args.WINDOW_INNER, _train_args.WINDOW_OUTER) == WINDOW  # the CLI's copy of the defaults
    ps, _ = small
    base = ["train_nn", str(ps.star_path), "-n", "1", "--dim", "16", "--layers", "1", "--device", "cpu"]
    assert cli(base + ["-o", str(tmp_path / "w")]) == 0
    assert cli(base + ["-o", str(tmp_path / "nw"), "--no-window"]) == 0
    cw, cn = (yaml.safe_load((tmp_path / d / "config.yaml").read_text())["dataset"] for d in ("w", "nw"))
    assert cw["window"] == [0.8, 0.9] and cn["window"] is None
    windowed, plain = np.load(cw["preprocessed"]), np.load(cn["preprocessed"])
    assert windowed.shape == plain.shape and not np.allclose(windowed, plain)


def test_bad_window_and_set_encoder_width_give_one_line_errors(small, tmp_path, capsys):
    ps, _ = small
    assert cli(["train_nn", str(ps.star_path), "-o", str(tmp_path / "a"), "--window-r", "0.9", "--window-r-outer",
                "0.8"]) == 2
    assert "inner radius < outer radius" in capsys.readouterr().err
    assert cli(["train_vae", str(ps.star_path), "-o", str(tmp_path / "b"), "--zdim", "2", "--pooling-function",
                "set_encoder", "--enc-dim-B", "30"]) == 2
    assert "4 attention heads" in capsys.readouterr().err


def test_checkpoint_of_the_shallower_networks_is_refused_in_one_line(small, tmp_path, capsys):
    ps, _ = small
    out = tmp_path / "nn"
    assert cli(["train_nn", str(ps.star_path), "-o", str(out), "-n", "1", "--dim", "16", "--layers", "1",
                "--device", "cpu"]) == 0
    old = torch.load(out / "weights.0.pkl", weights_only=False)
    del old["config"]["model"]["architecture"]  # as written before the networks matched the reference's depth
    torch.save(old, tmp_path / "weights.7.pkl")
    capsys.readouterr()
    assert cli(["eval_vol", "--weights", str(tmp_path / "weights.7.pkl"), "-o", str(tmp_path / "v")]) == 2
    err = capsys.readouterr().err.strip()
    assert "one residual layer fewer" in err and "weights.7.pkl" in err and len(err.splitlines()) == 1
