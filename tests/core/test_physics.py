import math

import numpy as np
import torch

from tomodrgn_core import physics as P


def test_hartley_inverse_round_trip_2d_and_3d():
    g = torch.Generator().manual_seed(0)
    img = torch.randn(3, 16, 16, generator=g, dtype=torch.float64)
    assert torch.allclose(P.iht2_center(P.ht2_center(img)), img, atol=1e-10)
    vol = torch.randn(8, 8, 8, generator=g, dtype=torch.float64)
    assert torch.allclose(P.iht3_center(P.ht3_center(vol)), vol, atol=1e-10)


def test_hartley_of_centred_delta_is_flat():
    img = torch.zeros(16, 16, dtype=torch.float64)
    img[8, 8] = 1.0  # the real-space centre is at D//2
    assert torch.allclose(P.ht2_center(img), torch.ones(16, 16, dtype=torch.float64))


def test_lattice_origin_and_ordering():
    D = 8
    lat = P.lattice_2d(D)
    assert lat.shape == (64, 3)
    img_index = 3 * D + 5  # row 3, column 5
    assert torch.allclose(lat[img_index], torch.tensor([(5 - 4) / 8, (3 - 4) / 8, 0.0]))
    assert torch.all(lat[4 * D + 4] == 0)
    lat3 = P.lattice_3d(D)
    assert torch.allclose(lat3[(1 * D + 2) * D + 7], torch.tensor([3 / 8, -2 / 8, -3 / 8]))
    assert P.circular_mask(D).sum() < D * D


def test_ctf_closed_form_cases():
    f = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    # at zero frequency the CTF is -w (amplitude contrast)
    assert math.isclose(P.compute_ctf(f, 20000, 20000, 0, 300, 2.7, 0.1)[0].item(), -0.1, abs_tol=1e-12)
    # wavelength at 300 kV is 0.019687 A
    assert abs(P.electron_wavelength(300).item() - 0.019687) < 1e-5
    # no Cs, no amplitude contrast: sin(-pi df lambda s^2)
    s = torch.tensor([[0.05, 0.0]], dtype=torch.float64)
    lam = P.electron_wavelength(300).item()
    expected = math.sin(-math.pi * 15000 * lam * 0.05 ** 2)
    assert math.isclose(P.compute_ctf(s, 15000, 15000, 0, 300, 0.0, 0.0)[0].item(), expected, rel_tol=1e-9)
    # astigmatism: along the U angle the defocus is U, perpendicular it is V
    sy = torch.tensor([[0.0, 0.05]], dtype=torch.float64)
    along_v = P.compute_ctf(sy, 15000, 10000, 0, 300, 0.0, 0.0)[0].item()
    assert math.isclose(along_v, math.sin(-math.pi * 10000 * lam * 0.05 ** 2), rel_tol=1e-9)
    # phase shift of 90 degrees with w=0 turns sin into -cos
    assert math.isclose(P.compute_ctf(f, 1e4, 1e4, 0, 300, 2.7, 0.0, 90)[0].item(), -1.0, abs_tol=1e-12)


def test_dose_weighting_constants():
    k = torch.tensor([0.0, 0.1, 0.25])
    ne = P.critical_exposure(k)
    assert torch.isinf(ne[0])
    assert math.isclose(ne[1].item(), 0.245 * 0.1 ** -1.665 + 2.81, rel_tol=1e-6)
    att = P.dose_attenuation(torch.tensor([0.0, 30.0]), k)
    assert torch.all(att[0] == 1) and att[1, 0] == 1
    assert math.isclose(att[1, 2].item(), math.exp(-30 / (2 * ne[2].item())), rel_tol=1e-6)
    m = P.dose_mask(torch.tensor([0.0, 30.0, 200.0]), k)
    assert m[0].all() and m[:, 0].all()
    assert m[1, 2] == (30 <= 2.51284 * ne[2].item())
    assert not m[2, 2]


def test_euler_matrix_round_trip_and_orthogonality():
    rng = np.random.default_rng(1)
    ang = np.stack([rng.uniform(-180, 180, 200), rng.uniform(0, 180, 200), rng.uniform(-180, 180, 200)], -1)
    m = P.euler_to_matrix(ang[:, 0], ang[:, 1], ang[:, 2])
    assert np.allclose(m @ np.swapaxes(m, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(m), 1)
    back = P.matrix_to_euler(m)
    assert np.allclose(P.euler_to_matrix(back[:, 0], back[:, 1], back[:, 2]), m, atol=1e-9)
    # RELION: a pure tilt of 90 degrees maps the reference z axis onto image -x (row 0 = (0,0,-1))
    assert np.allclose(P.euler_to_matrix(0, 90, 0)[0], [0, 0, -1], atol=1e-12)


def test_ctf_of_device_columns_copies_nothing_from_the_host():
    # lazy training computes CTFs per batch on the GPU: a scalar default (phase shift, B-factor) turned into a
    # device tensor there is a blocking host->device copy per batch. A meta device stands in for the GPU.
    from torch.utils._python_dispatch import TorchDispatchMode

    class HostCopies(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.found = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if str(func).startswith(("aten._to_copy", "aten.copy_")) and isinstance(args[0], torch.Tensor) \
                    and args[0].device.type == "cpu" and out.device.type == "meta":
                self.found.append(str(func))
            return out

    meta = dict(device="meta", dtype=torch.float32)
    freqs, params = torch.empty(50, 2, **meta), [torch.empty(8, **meta) for _ in range(6)]
    with HostCopies() as scan:
        ctf = P.compute_ctf(freqs, *params)  # phase shift and B-factor left at their scalar defaults
    assert ctf.shape == (8, 50) and scan.found == []
    with HostCopies() as scan:
        P.compute_ctf(freqs, *params[:3], torch.tensor([300.0]), *params[4:])  # a host column must move: seen
    assert scan.found
