"""The training step is graph-safe (no host syncs), and --cuda-graph's dispatch: graphs for full batches, eager
for the rest, eager after a failed capture. The capture itself needs a GPU (bench/gpu_check.py runs it there)."""
import numpy as np
import pytest
import torch
import yaml
from torch.utils._python_dispatch import TorchDispatchMode

from tomodrgn_core.cli import main as cli
from tomodrgn_core.data import TiltSeriesData, preprocess
from tomodrgn_core.io import load_particles
from tomodrgn_core.models import build_model
from tomodrgn_core.simulate import simulate_dataset
from tomodrgn_core.train._graph import GraphedStep
from tomodrgn_core.train._loss import TrainStep

# ops whose result size or value the host must read back: on a GPU each one waits for the device and makes
# CUDA-graph capture fail ("operation not permitted when stream is capturing")
SYNCING_OPS = {"aten._local_scalar_dense.default", "aten.nonzero.default", "aten.masked_select.default",
               "aten.unique_dim.default", "aten._unique2.default", "aten.repeat_interleave.Tensor",
               "aten.item.default", "aten.is_nonzero.default"}


class HostSyncScan(TorchDispatchMode):
    """Records every op of SYNCING_OPS, and indexing by a boolean mask (a nonzero in disguise)."""

    def __init__(self):
        super().__init__()
        self.found = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        if name in SYNCING_OPS:
            self.found.append(name)
        elif name.startswith(("aten.index.", "aten.index_put")) and any(
                isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in (args[1] or [])):
            self.found.append(name + " (boolean mask)")
        return func(*args, **(kwargs or {}))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    d = tmp_path_factory.mktemp("graph")
    sim = simulate_dataset(d, n_particles=12, box=16, n_classes=2, snr=0.5, seed=5, max_tilt=24)
    ps = load_particles(sim["warp"])
    return ps, preprocess(ps, d / "cache", log=lambda m: None), sim


def make_step(dataset, zdim=0, pooling="concatenate", dose_mask=True, static=True):
    ps, pre, _ = dataset
    data = TiltSeriesData(ps, pre, sample_ntilts=6)
    if static:
        data.pad_points = data.max_kept_points(dose_mask)
    cfg = dict(box=ps.box, window_points=int(data.ht.shape[1]), ntilts=data.n_sample, zdim=zdim, dec_dim=16,
               dec_layers=2)
    if zdim:
        cfg.update(enc_dim_A=16, enc_layers_A=2, out_dim_A=8, enc_dim_B=16, enc_layers_B=2, pooling=pooling)
    torch.manual_seed(0)
    return TrainStep(build_model(cfg), data, 0.5, dose_mask, True, True), data


def scan_iteration(step, data, batch_size=4):
    with HostSyncScan() as scan:
        b = data.batch(torch.arange(batch_size), random=True, generator=torch.Generator().manual_seed(1))
        loss, mse, kld = step(b)
        loss.backward()
    return scan.found


@pytest.mark.parametrize("zdim,pooling,dose_mask", [(0, None, True), (0, None, False), (2, "concatenate", True),
                                                     (2, "max", True), (2, "mean", False), (2, "median", True),
                                                     (2, "set_encoder", True)])
def test_training_iteration_never_waits_for_the_device(dataset, zdim, pooling, dose_mask):
    # tilt sampling + loss + backward with the static padding used on GPUs: not one host sync
    step, data = make_step(dataset, zdim, pooling or "concatenate", dose_mask)
    assert scan_iteration(step, data) == []


def test_the_sync_scan_finds_syncs(dataset):
    # the scan is not blind: per-batch padding reads the largest kept count back (int(counts.max()))...
    step, data = make_step(dataset, static=False)
    assert "aten._local_scalar_dense.default" in scan_iteration(step, data)
    # ...and boolean-mask indexing and .item() are caught
    x = torch.arange(6.0)
    with HostSyncScan() as scan:
        x[x > 2] = 0.0
        x.sum().item()
    assert any("boolean mask" in f for f in scan.found) and "aten._local_scalar_dense.default" in scan.found


class FakeCapture:
    """Stands in for torch.cuda.make_graphed_callables (capture needs CUDA): warms up on the sample batch as
    the real one does, and returns a callable that counts its 'replays'."""

    def __init__(self, fail=None):
        self.captures, self.replays, self.fail = [], 0, fail

    def __call__(self, module, sample_args):
        if self.fail:
            raise self.fail
        self.captures.append(tuple(a.shape for a in sample_args))
        for _ in range(3):
            module(*sample_args)

        def replay(*args):
            self.replays += 1
            return module(*args)
        return replay


def test_graphed_step_replays_full_batches_and_runs_the_short_one_eagerly(dataset):
    step, data = make_step(dataset)  # homogeneous: deterministic, so eager and 'replayed' losses must agree
    capture, lines = FakeCapture(), []
    graphed = GraphedStep(step, batch_size=5, log=lines.append, make_graphed=capture)
    batches = [data.batch(idx, random=True, generator=torch.Generator().manual_seed(int(idx[0])))
               for idx in torch.arange(12).split(5)]  # 5, 5, 2 particles
    for b in batches:
        loss, mse, kld = graphed(b)
        assert torch.equal(loss, step(b)[0]) and torch.equal(mse, step(b)[1])
    assert capture.captures == [(batches[0].ht.shape, (5, 6, 3, 3), batches[0].ctf.shape, (5, 6), (5, 6))]
    assert capture.replays == 2  # the two full batches; the short one ran eagerly
    assert lines == ["training step captured as CUDA graphs (batch 5); replayed for every full batch"]
    # gradients flow through the graphed call to the model
    step.zero_grad(set_to_none=True)
    graphed(batches[0])[0].backward()
    assert all(p.grad is not None for p in step.parameters())


def test_failed_capture_trains_on_eagerly_and_says_so_once(dataset):
    step, data = make_step(dataset)
    capture, lines = FakeCapture(fail=RuntimeError("operation not permitted when stream is capturing\nmore")), []
    graphed = GraphedStep(step, batch_size=4, log=lines.append, make_graphed=capture)
    b = data.batch(torch.arange(4), random=False)
    for _ in range(3):
        assert torch.equal(graphed(b)[0], step(b)[0])
    assert lines == ["CUDA graph capture failed (RuntimeError: operation not permitted when stream is capturing); "
                     "training eagerly"]


def test_cuda_graph_flag_on_cpu_and_with_compile(dataset, tmp_path, capsys):
    _, _, sim = dataset
    base = ["train_nn", str(sim["warp"]), "-n", "1", "--dim", "16", "--layers", "2", "-b", "4", "--device", "cpu",
            "--sample-ntilts", "6"]
    assert cli(base + ["-o", str(tmp_path / "cpu"), "--cuda-graph"]) == 0
    assert "--cuda-graph needs a CUDA device, not cpu: training eagerly" in (tmp_path / "cpu" / "run.log").read_text()
    assert yaml.safe_load(open(tmp_path / "cpu" / "config.yaml"))["training"]["cuda_graph"] is False
    assert np.isfinite(np.loadtxt(tmp_path / "cpu" / "losses.csv", delimiter=",", skiprows=1)[1])
    assert cli(base + ["-o", str(tmp_path / "both"), "--cuda-graph", "--compile"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--cuda-graph and --compile both given" in err and "fix: choose one" in err
    assert not (tmp_path / "both").exists() or not any((tmp_path / "both").glob("weights.*"))


class RecordedGraph:
    """A CPU stand-in for torch.cuda.CUDAGraph with the same contract: capture records every op on its tensors,
    replay re-runs the ops on whatever those (static) tensors hold now, writing into the same outputs. What a
    real graph cannot see (a value read on the host at capture time) is just as frozen here."""

    def __init__(self):
        self.ops = []

    def replay(self):
        for func, args, kwargs, out in self.ops:
            new = func(*args, **kwargs)
            for old, fresh in zip(torch.utils._pytree.tree_leaves(out), torch.utils._pytree.tree_leaves(new)):
                if isinstance(old, torch.Tensor) and old is not fresh:
                    old.copy_(fresh)


class _Recorder(TorchDispatchMode):
    def __init__(self, graph):
        super().__init__()
        self.graph = graph

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not func.is_view:  # views alias recorded storage: they follow without being re-run
            self.graph.ops.append((func, args, kwargs, out))
        return out


@pytest.fixture
def cpu_cuda_graphs(monkeypatch):
    """torch.cuda.make_graphed_callables, unchanged, running on the CPU over RecordedGraph."""
    import contextlib
    import torch.cuda.graphs as graphs

    @contextlib.contextmanager
    def capture(graph, pool=None, **_):
        with _Recorder(graph):
            yield

    monkeypatch.setattr(torch.cuda, "CUDAGraph", RecordedGraph)
    monkeypatch.setattr(torch.cuda, "graph", capture)
    monkeypatch.setattr(graphs, "graph_pool_handle", lambda: None)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: None)
    monkeypatch.setattr(torch.cuda, "Stream", lambda *a, **k: None)
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    return torch.cuda.make_graphed_callables


@pytest.mark.parametrize("zdim,pooling", [(0, None), (2, "concatenate"), (2, "set_encoder")])
def test_replayed_step_gives_the_eager_losses_and_gradients(dataset, cpu_cuda_graphs, zdim, pooling):
    # the real make_graphed_callables: warm-up, forward and backward capture, replay with new inputs copied into
    # the static ones. Every replayed batch (new tilts, new particles) must give exactly what eager gives.
    step, data = make_step(dataset, zdim, pooling or "concatenate")
    lines = []
    graphed = GraphedStep(step, batch_size=4, log=lines.append, make_graphed=cpu_cuda_graphs)
    graphed(data.batch(torch.arange(4), random=False))  # the capture (its warm-up runs draw latent noise too)
    assert lines == ["training step captured as CUDA graphs (batch 4); replayed for every full batch"]
    for k, idx in enumerate([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [3, 7, 1, 5]]):
        b = data.batch(torch.tensor(idx), random=True, generator=torch.Generator().manual_seed(k))
        results = []
        for run in (graphed, step):
            step.zero_grad(set_to_none=True)
            torch.manual_seed(100 + k)  # the same latent noise for both
            loss, mse, kld = run(b)
            loss.backward()
            results.append((loss.detach().clone(), mse.detach().clone(), kld.detach().clone(),
                            [p.grad.clone() for p in step.parameters()]))
        (gl, gm, gk, gg), (el, em, ek, eg) = results
        assert torch.allclose(gl, el, rtol=1e-5) and torch.allclose(gm, em, rtol=1e-5)
        assert torch.allclose(gk, ek, rtol=1e-5, atol=1e-7)
        assert all(torch.allclose(g, e, rtol=1e-4, atol=1e-7) for g, e in zip(gg, eg))
    assert len(lines) == 1  # captured once


def test_training_with_cuda_graph_matches_eager_training(dataset, cpu_cuda_graphs, tmp_path, monkeypatch):
    # the whole loop with --cuda-graph over the CPU stand-in: optimizer updates between replays, a cosine learning
    # rate, the short last batch (12 particles, -b 5) run eagerly, checkpoints. Homogeneous: no latent noise, so
    # the per-epoch losses and the final map must be eager's.
    import tomodrgn_core.train._loop as loop
    from tomodrgn_core.io import read_volume
    monkeypatch.setattr(loop, "graphs_available", lambda device: True)
    _, _, sim = dataset
    base = ["train_nn", str(sim["warp"]), "-n", "3", "--dim", "16", "--layers", "2", "-b", "5", "--device", "cpu",
            "--sample-ntilts", "6", "--l-dose-mask", "--recon-dose-weight", "--recon-tilt-weight", "--lr", "3e-3",
            "--checkpoint", "3"]
    assert cli(base + ["-o", str(tmp_path / "eager")]) == 0
    assert cli(base + ["-o", str(tmp_path / "graph"), "--cuda-graph"]) == 0
    log = (tmp_path / "graph" / "run.log").read_text()
    assert log.count("training step captured as CUDA graphs (batch 5)") == 1 and "eagerly" not in log
    assert yaml.safe_load(open(tmp_path / "graph" / "config.yaml"))["training"]["cuda_graph"] is True
    eager = np.loadtxt(tmp_path / "eager" / "losses.csv", delimiter=",", skiprows=1)
    graph = np.loadtxt(tmp_path / "graph" / "losses.csv", delimiter=",", skiprows=1)
    assert np.allclose(graph[:, 1:3], eager[:, 1:3], rtol=1e-5)
    # the same weights at the end, and far from where they started
    final = {run: torch.load(tmp_path / run / "weights.2.pkl", weights_only=False) for run in ("eager", "graph")}
    torch.manual_seed(0)
    start = build_model(final["eager"]["config"]["model"]).state_dict()
    for name, w0 in start.items():
        w_e, w_g = final["eager"]["model_state_dict"][name], final["graph"]["model_state_dict"][name]
        assert torch.allclose(w_g, w_e, rtol=1e-4, atol=1e-6), name
        if name.startswith("decoder.net"):
            assert (w_e - w0).abs().max() > 1e-3, name
    vol_e, vol_g = (read_volume(tmp_path / run / "reconstruct.mrc")[0] for run in ("eager", "graph"))
    assert np.allclose(vol_g, vol_e, rtol=1e-3, atol=1e-4 * np.abs(vol_e).max())
