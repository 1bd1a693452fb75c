"""RELION 5 / WarpTools fixture: counts, hidden frames, doses, poses, hand, subsets, detection."""
import shutil
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import torch

from tomodrgn_core.errors import TomoDrgnInputError
from tomodrgn_core.io import load_particles, read_star, write_star
from tomodrgn_core.io import schema as S
from tomodrgn_core.physics import compute_ctf, euler_to_matrix, fft2_center, ifft3_center, lattice_2d
from _data import RELION5, RELION5_OPT  # noqa: F401  (tests/data)

FIX = RELION5
STEM = "warptools_test_4-tomos_10-ptcls_box-32_angpix-12"
OPT = FIX / f"{STEM}_optimisation_set.star"
PARTICLES = FIX / f"{STEM}.star"
TOMOS = FIX / f"{STEM}_tomograms.star"


@pytest.fixture(scope="module")
def ps():
    return load_particles(OPT)


def test_counts_and_hidden_frames(ps):
    assert ps.source == "relion5" and ps.n_particles == 40 and ps.box == 32 and ps.pixel_size == 12.0
    per_tomo = ps.table.groupby(S.TOMO_ID)[S.PARTICLE_INDEX].nunique()
    assert set(per_tomo) == {10}
    ntilts = dict(zip(ps.table.drop_duplicates(S.PARTICLE_INDEX)[S.TOMO_ID], ps.ntilts))
    # visible-frame lists of the fixture: Unt_083 hides frames 0, 5, 35; Unt_076 hides 9 and 23
    assert ntilts == {"Unt_083.tomostar": 34, "Unt_050.tomostar": 37, "Unt_076.tomostar": 35,
                      "Unt_088.tomostar": 37}
    unt83 = ps.table[ps.table[S.TOMO_ID] == "Unt_083.tomostar"]
    assert not set(unt83[S.FRAME]) & {0, 5, 35}
    assert (ps.table[S.TILT_WEIGHT] > 0).all()  # the hidden frames are the ones with scale factor 0
    assert list(ps.table[S.PARTICLE_INDEX].unique()) == list(range(40))
    assert (ps.table[S.IMAGE_INDEX] == ps.table[S.FRAME]).all()


def test_doses_ctf_and_tilts_from_tomograms_star(ps):
    tomos = read_star(TOMOS)
    block = tomos["Unt_083.tomostar"]
    first = ps.table[ps.table[S.PARTICLE_INDEX] == 0]
    f = first[S.FRAME].to_numpy()
    np.testing.assert_allclose(first[S.DOSE], block["rlnMicrographPreExposure"].to_numpy()[f])
    np.testing.assert_allclose(first[S.DEFOCUS_U], block["rlnDefocusU"].to_numpy()[f])
    np.testing.assert_allclose(first[S.TILT_WEIGHT], block["rlnCtfScalefactor"].to_numpy()[f])
    assert (ps.table[S.VOLTAGE] == 300).all() and (ps.table[S.CS] == 2.7).all()
    # stage tilt: 0 at the lowest-dose frame, 3 degree steps around it, signs opposite on either side
    zero = first[first[S.DOSE] == 0]
    assert float(zero[S.TILT_ANGLE].iloc[0]) == 0.0
    by_frame = dict(zip(first[S.FRAME], first[S.TILT_ANGLE]))
    assert by_frame[17] == pytest.approx(3.0, abs=0.3) and by_frame[19] == pytest.approx(-3.0, abs=0.3)
    assert by_frame[16] == pytest.approx(6.0, abs=0.3)
    # coordinates in A: rlnCoordinate * tilt-series pixel size (1.667 A)
    assert first[S.COORD_X].iloc[0] == pytest.approx(494.521 * 1.667)


def test_poses_compose_projection_and_particle_matrices(ps):
    row = ps.table.iloc[0]  # particle Unt_083/1, first visible frame 1
    proj = read_star(TOMOS)["Unt_083.tomostar"].iloc[int(row[S.FRAME])]
    R = np.array([[float(v) for v in proj[c].strip("[]").split(",")[:3]] for c in
                  ("rlnTomoProjX", "rlnTomoProjY", "rlnTomoProjZ")])
    A_p = euler_to_matrix(53.913, 104.840, -78.580)
    M = np.diag([1.0, 1.0, -1.0])
    np.testing.assert_allclose(euler_to_matrix(row[S.ROT], row[S.TILT], row[S.PSI]), M @ R @ A_p @ M, atol=1e-6)


def _backproject(ps, rows):
    """Phase-flipped nearest-neighbour Fourier back-projection (sign: stacks hold white protein)."""
    t = ps.table.iloc[rows]
    D = ps.box
    lat = lattice_2d(D, dtype=torch.float64)
    col = lambda c: torch.tensor(t[c].to_numpy(np.float64))  # noqa: E731
    ctf = compute_ctf(lat[:, :2] / ps.pixel_size, col(S.DEFOCUS_U), col(S.DEFOCUS_V), col(S.DEFOCUS_ANGLE),
                      col(S.VOLTAGE), col(S.CS), col(S.AMP_CONTRAST))
    F = -fft2_center(torch.from_numpy(ps.images(rows)).double()).reshape(len(t), -1) * torch.sign(ctf)
    A = torch.from_numpy(euler_to_matrix(t[S.ROT].to_numpy(), t[S.TILT].to_numpy(), t[S.PSI].to_numpy()))
    idx = torch.round(torch.einsum("pk,nkj->npj", lat, A) * D).long() + D // 2
    ok = ((idx >= 0) & (idx < D)).all(-1) & (lat.norm(dim=-1) < 0.5)[None]
    flat = (idx[..., 2] * D + idx[..., 1]) * D + idx[..., 0]
    acc = torch.zeros(D ** 3, dtype=torch.complex128).index_add_(0, flat[ok], F[ok])
    cnt = torch.zeros(D ** 3, dtype=torch.float64).index_add_(0, flat[ok], torch.ones(int(ok.sum()), dtype=torch.float64))
    return ifft3_center((acc / cnt.clamp(min=1)).reshape(D, D, D)).real.numpy()


def _shell_cc(a, b, shells):
    D = a.shape[0]
    fa, fb = np.fft.fftshift(np.fft.fftn(a)), np.fft.fftshift(np.fft.fftn(b))
    z, y, x = np.mgrid[:D, :D, :D] - D // 2
    r = np.round(np.sqrt(x * x + y * y + z * z))
    sel = (r >= shells[0]) & (r <= shells[1])
    return float((fa[sel] * fb[sel].conj()).real.sum() / np.sqrt((abs(fa[sel]) ** 2).sum() * (abs(fb[sel]) ** 2).sum()))


def test_backprojection_matches_the_exporters_map_and_hand(ps):
    ref = mrcfile.read(FIX / "warptools_test_box-32_angpix-12_reconstruct.mrc").astype(np.float64)
    vol = _backproject(ps, np.arange(len(ps.table)))
    own, mirrored = _shell_cc(vol, ref, (3, 10)), _shell_cc(vol[::-1], ref, (3, 10))
    assert own > 0.2 and mirrored < 0.1, (own, mirrored)  # measured: 0.28 vs 0.03


def test_particles_star_detection_and_explicit_tomograms(tmp_path):
    direct = load_particles(PARTICLES)  # finds the optimisation set beside it
    assert direct.source == "relion5" and direct.n_particles == 40
    assert load_particles(PARTICLES, source_software="relion5", tomograms_star=TOMOS).n_particles == 40
    with pytest.raises(TomoDrgnInputError, match="_rlnGroupName"):
        load_particles(PARTICLES, source_software="warp")
    # alone in a folder with two tomograms STARs -> ambiguous, the error says how to fix it
    shutil.copy(PARTICLES, tmp_path / "p.star")
    shutil.copy(TOMOS, tmp_path / "a_tomograms.star")
    shutil.copy(TOMOS, tmp_path / "b_tomograms.star")
    with pytest.raises(TomoDrgnInputError, match="ambiguous tomograms STAR.*fix:"):
        load_particles(tmp_path / "p.star")
    # stacks are found through datadir when the STAR moved away from them
    ps = load_particles(tmp_path / "p.star", tomograms_star=tmp_path / "a_tomograms.star", datadir=FIX)
    assert ps.n_particles == 40 and Path(ps.table[S.IMAGE_PATH].iloc[0]).is_file()


def test_relion_project_relative_names_found_from_the_job_folder(ps, tmp_path, monkeypatch):
    """RELION names files relative to its project folder; STARs sit two levels down, in <project>/Job/jobNNN/."""
    proj, job = tmp_path / "proj", tmp_path / "proj" / "Refine3D" / "job010"
    job.mkdir(parents=True)
    (proj / STEM).symlink_to(FIX / STEM, target_is_directory=True)  # the stacks, under the project
    shutil.copy(PARTICLES, job / "run_data.star")  # its names 'STEM/Unt_083/...' are now project-relative
    shutil.copy(TOMOS, job / "run_tomograms.star")
    write_star(job / "run_optimisation_set.star", {"": {"rlnTomoParticlesFile": "Refine3D/job010/run_data.star",
                                                        "rlnTomoTomogramsFile": "Refine3D/job010/run_tomograms.star"}})
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "other")  # neither the cwd nor the STAR's folder or parent would find them
    again = load_particles(job / "run_optimisation_set.star")
    assert again.n_particles == 40 and list(again.ntilts) == list(ps.ntilts)
    assert all(Path(p).is_relative_to((FIX / STEM).resolve()) for p in again.table[S.IMAGE_PATH])
    np.testing.assert_array_equal(again.images(np.arange(50)), ps.images(np.arange(50)))


def test_subset_write_and_reread_relion5(ps, tmp_path):
    sub = ps.subset(np.array([0, 15, 39]))
    files = sub.write(tmp_path / "out" / "sel_optimisation_set.star")
    assert [f.name for f in files] == ["sel_particles.star", "sel_tomograms.star", "sel_optimisation_set.star"]
    again = load_particles(files[2])
    assert again.source == "relion5" and again.n_particles == 3
    assert list(again.ntilts) == [34, 37, 37]
    assert list(again.table[S.PARTICLE_ID].unique()) == list(sub.table[S.PARTICLE_ID].unique())
    np.testing.assert_array_equal(again.images(np.arange(40)), sub.images(np.arange(40)))
    for col in (S.ROT, S.TILT, S.PSI, S.DOSE, S.DEFOCUS_U):
        np.testing.assert_allclose(again.table[col], sub.table[col], atol=1e-6)
    assert len(read_star(files[0])["particles"]) == 3
    with pytest.raises(TomoDrgnInputError, match="already exists"):
        sub.write(tmp_path / "out" / "sel_optimisation_set.star")
    # relative paths: the new files stay valid next to each other
    rel = sub.write(tmp_path / "rel" / "x.star", relative_paths=True)
    assert load_particles(rel[0]).n_particles == 3 and load_particles(rel[2]).n_particles == 3


def test_premultiplied_images_are_divided_by_their_ctf_into_plain_ones(tmp_path):
    """A CTF-premultiplied image (h x (h x volume + noise), h = CTF x exposure weight, what RELION multiplies 2D
    stacks by on extraction) must reach training as the plain image it came from: divided by h where h^2 is above
    the floor, with the plain image's sign. Trained on h^2 x volume, the decoder got almost no low-resolution
    gradient (fixture map CC 0.23)."""
    from tomodrgn_core import physics as P
    from tomodrgn_core.data import preprocess, window_mask
    from tomodrgn_core.data._preprocess import CTF_COLUMNS, PREMULTIPLIED_CTF2_FLOOR
    from tomodrgn_core.simulate import simulate_dataset

    sim = simulate_dataset(tmp_path / "sim", n_particles=6, box=32, n_classes=1, snr=0.5, seed=3, max_tilt=30)
    plain = load_particles(sim["warp"])
    t = plain.table
    D = plain.box
    # premultiply as RELION does: the forward-model image (protein dark) times its CTF and exposure weight
    sign = P.image_sign(True, np.zeros(len(t), bool))
    freqs = lattice_2d(D, dtype=torch.float64)[:, :2] / plain.pixel_size
    ctf_full = P.compute_ctf(freqs, *(torch.from_numpy(np.array(t[c], dtype=np.float64)) for c in CTF_COLUMNS))
    ctf_full = ctf_full * P.dose_attenuation(torch.from_numpy(t[S.DOSE].to_numpy(np.float64)), freqs.norm(dim=-1))
    images = torch.from_numpy(plain.images(np.arange(len(t))) * sign[:, None, None])
    premult_images = P.iht2_center(P.ht2_center(images) * ctf_full.reshape(-1, D, D)).numpy()
    premult = load_particles(sim["warp"])
    premult.table[S.CTF_PREMULTIPLIED] = True
    premult.images = lambda rows: premult_images[rows]
    premult.star_path = plain.star_path
    # (without the real-space window, which does not commute with the CTF: the division itself is checked here)
    a = np.load(preprocess(plain, tmp_path / "a", invert_data=True, log=lambda m: None, window=None))
    b = np.load(preprocess(premult, tmp_path / "b", invert_data=True, log=lambda m: None, window=None))
    ctf2 = ctf_full[:, window_mask(D)].square().numpy()
    above = ctf2 > PREMULTIPLIED_CTF2_FLOOR
    assert above.mean() > 0.9  # most of the lattice: the comparison covers the data
    scale = a.std()
    assert np.abs(a - b)[above].max() < 1e-3 * scale  # the plain image again, with its own sign
    # without the division the rows would be CTF^2 x volume: far from the plain image
    assert np.abs(a * ctf_full[:, window_mask(D)].numpy() - b)[above].mean() > 0.1 * scale
    # the image sign: premultiplied stacks are never flipped (CTF^2 x volume is positive whatever the CTF)
    assert (P.image_sign(True, np.ones(3, bool)) == 1).all() and (P.image_sign(True, np.zeros(3, bool)) == -1).all()


