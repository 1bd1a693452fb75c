"""``tomodrgn <command>``: the reference tomoDRGN command names, each in its own module.

Modules are imported only when their command runs, so ``tomodrgn --help`` stays instant.
Each command module defines ``add_args(parser)`` and ``main(args)``.
"""
import argparse
import importlib
import os
import shutil
import sys
from pathlib import Path

from .errors import TomoDrgnInputError

# name -> (module, one-line help). Add a command by adding a line here.
COMMANDS = {
    "downsample": ("tomodrgn_core.commands.downsample", "Fourier-crop an image-series STAR + stacks"),
    "train_nn": ("tomodrgn_core.commands.train_nn", "Train a homogeneous decoder (no latent)"),
    "train_vae": ("tomodrgn_core.commands.train_vae", "Train the tilt-series VAE"),
    "eval_images": ("tomodrgn_core.commands.eval_images", "Embed particles with a trained encoder"),
    "eval_vol": ("tomodrgn_core.commands.eval_vol", "Generate volumes at given latent values"),
    "backproject_voxel": ("tomodrgn_core.commands.backproject_voxel", "Weighted back-projection baseline"),
    "analyze": ("tomodrgn_core.commands.analyze", "PCA/UMAP/k-means of the latent space + volumes"),
    "compare_runs": ("tomodrgn_core.commands.compare_runs", "Do two runs agree? ARI, matched classes, class-volume FSC"),
    "validate_selection": ("tomodrgn_core.commands.validate_selection",
                           "Back-project a selection and compare it with the decoder's map"),
    "spatial_stats": ("tomodrgn_core.commands.spatial_stats",
                      "Classes in their tomograms: composition, nearest neighbours, clustering vs shuffled"),
    "analyze_volumes": ("tomodrgn_core.commands.analyze_volumes", "Voxel-space PCA/UMAP of generated volumes"),
    "pc_traversal": ("tomodrgn_core.commands.pc_traversal", "Volumes along principal components"),
    "graph_traversal": ("tomodrgn_core.commands.graph_traversal", "Volumes along a latent nearest-neighbour path"),
    "convergence_nn": ("tomodrgn_core.commands.convergence_nn", "Convergence metrics of train_nn"),
    "convergence_vae": ("tomodrgn_core.commands.convergence_vae", "Convergence metrics of train_vae"),
    "filter_star": ("tomodrgn_core.commands.filter_star", "Write a particle subset in the input STAR format"),
    "subtomo2chimerax": ("tomodrgn_core.commands.subtomo2chimerax", "ChimeraX script placing volumes in the tomogram"),
    "simulate": ("tomodrgn_core.commands.simulate", "Simulate a small tilt-series particle dataset"),
    "extract_particles": ("tomodrgn_core.commands.extract_particles",
                          "Particle tilt-image series from a tilt stack + IMOD .tlt/.xf + coordinates"),
    "prepare_image_series": ("tomodrgn_core.commands.prepare_image_series",
                             "Particle tilt-image series from tilt series described in JSON (the Scipion plugin's)"),
    "simulate_tilt_series": ("tomodrgn_core.commands.simulate_tilt_series",
                             "Simulated whole tilt series as files (stacks, .tlt, .xf, defocus, coordinates)"),
    "particle_table": ("tomodrgn_core.commands.particle_table",
                       "One CSV row per particle with its Scipion pose (what the Scipion plugin registers)"),
}


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already names it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or action.default is None or action.default is False \
                or action.default == argparse.SUPPRESS or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tomodrgn", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="commands:\n" + "\n".join(f"  {k:18s} {v[1]}" for k, v in COMMANDS.items()))
    p.add_argument("--version", action="version", version=f"tomodrgn {version()}")
    p.add_argument("command", choices=list(COMMANDS), metavar="command")
    return p


def version() -> str:
    """The installed package's version (scipion-em-tomodrgn), else the bundled core's (a source checkout)."""
    from importlib.metadata import PackageNotFoundError, version as installed
    try:
        return installed("scipion-em-tomodrgn")
    except PackageNotFoundError:
        from . import __version__
        return __version__


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--version"]:
        print(f"tomodrgn {version()}")
        return 0
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        _parser().parse_args(argv[:1] or ["--help"])
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    sub = argparse.ArgumentParser(prog=f"tomodrgn {name}", description=COMMANDS[name][1],
                                  formatter_class=DefaultsHelpFormatter)
    module.add_args(sub)
    args = sub.parse_args(argv[1:])
    from .io._star import guard_inputs
    new_dir = first_new_folder(args)
    try:
        with guard_inputs():  # no output may replace a file this command has read
            try:
                module.main(args)
            except FILESYSTEM_ERRORS as err:
                raise filesystem_error(err) from None
    except TomoDrgnInputError as err:
        report(f"tomodrgn {name}: error: {err}")
        # (a diverged training run keeps its folder: its earlier checkpoints are what to resume from)
        if new_dir is not None and new_dir.is_dir() and not getattr(err, "keep_output", False):
            # made by this failed run, so nothing of the user's is in it: leave no half-made output behind
            shutil.rmtree(new_dir, ignore_errors=True)
        return 2
    except KeyboardInterrupt:
        # one line, not a traceback; the output folder stays (a training run's checkpoints are in it)
        training = name in ("train_nn", "train_vae")
        resume = "; saved checkpoints are kept: continue with --load latest" if training else ""
        report(f"tomodrgn {name}: interrupted{resume}")
        return 130  # 128 + SIGINT, as a shell reports it
    return 0


# what the operating system says about a path a command cannot make or write (-o in a read-only folder, -o inside
# an existing file, a folder where a file should go): one line like any other input error, never a traceback
FILESYSTEM_ERRORS = (PermissionError, NotADirectoryError, FileExistsError, IsADirectoryError)


def filesystem_error(err: OSError) -> TomoDrgnInputError:
    kind = {PermissionError: "permission denied", NotADirectoryError: "a part of the path is a file, not a folder",
            FileExistsError: "a file is in the way", IsADirectoryError: "this is a folder, not a file"}
    what = next(v for k, v in kind.items() if isinstance(err, k))
    return TomoDrgnInputError(f"cannot use this path: {what}", path=err.filename,
                              fix="write the output (-o) into a folder you can write to, not inside an existing "
                                  "file; give inputs you can read")


def report(message: str) -> None:
    print(message, file=sys.stderr)
    if os.environ.get("TOMODRGN_ERROR_FILE"):  # a caller (the Scipion plugin) shows it as the run's error
        Path(os.environ["TOMODRGN_ERROR_FILE"]).write_text(message + "\n")


def first_new_folder(args) -> Path | None:
    """The outermost folder that -o would create (None if -o is absent or its folders all exist)."""
    out = getattr(args, "outdir", None)
    target = Path(out) if out else (Path(args.output) if getattr(args, "output", None) else None)
    if target is not None and (target.suffix in (".mrc", ".star") or not out):  # a file: its folder
        target = target.parent
    if target is None or target.exists():
        return None
    target = target.absolute()
    while not target.parent.exists():
        target = target.parent
    return target
