"""Screenshots of the demo project in the Scipion GUI, as a user sees it (run by tests/gui_screenshots.sh under Xvfb):
1_protocol_tree.png (the project window: protocol tree with the tomoDRGN boxes, the runs), 2_train_vae_form.png
(the train VAE run's form), 3_latent_viewer.png (the latent viewer's form on the analyze run), 4_latent_scatter.png
(its PCA/UMAP figure). Prints the tree's tomoDRGN labels and any Tk error; exits non-zero on one."""
import os
import sys
import time
import traceback


def main(project_name: str, outdir: str) -> int:
    from PIL import ImageGrab
    from pyworkflow.gui.project import ProjectWindow
    from pyworkflow.project import Manager

    from tomodrgn_plugin.protocols import ProtTomoDrgnAnalyze, ProtTomoDrgnTrainVAE
    from tomodrgn_plugin.viewers import TomoDrgnLatentViewer

    import pyworkflow.gui.gui as pwgui

    def show_without_mainloop(self, center=True, modal=False):
        """Window.show, but returning at once: this script drives Tk itself (root.update) between screenshots."""
        if center:
            pwgui.centerWindows(self.root, dim=self.desiredDimensions(),
                                refWindows=None if self.master is None else self.master.getRoot())
        self.root.deiconify()
        self.root.focus_set()

    pwgui.Window.show = show_without_mainloop
    os.makedirs(outdir, exist_ok=True)
    errors = []
    window = ProjectWindow(Manager().getProjectPath(project_name))
    window.show()
    root = window.root
    root.report_callback_exception = lambda *exc: errors.append("".join(traceback.format_exception(*exc)))
    view = window.getViewWidget()
    runs = {type(p).__name__: p for p in window.project.getRuns()}

    def settle(seconds=2.0):
        end = time.time() + seconds
        while time.time() < end:
            root.update()
            time.sleep(0.05)

    def shot(name):
        settle()
        ImageGrab.grab(xdisplay=os.environ["DISPLAY"]).save(os.path.join(outdir, name))
        print(f"screenshot: {os.path.join(outdir, name)}")

    def tree_labels(tree, item=""):
        for child in tree.get_children(item):
            yield tree.item(child, "text")
            yield from tree_labels(tree, child)

    settle(4)
    labels = [t for t in tree_labels(view.protTree) if "tomoDRGN" in t or "tomodrgn" in t]
    print(f"protocol view: {window.project.getProtocolView()}; tomoDRGN labels in the tree: {labels}")
    shot("1_protocol_tree.png")
    view._openProtocolForm(runs[ProtTomoDrgnTrainVAE.__name__], disableRunMode=True)
    shot("2_train_vae_form.png")
    import tkinter as tk
    for w in root.winfo_children():  # close the form before the next one
        if isinstance(w, tk.Toplevel):
            w.destroy()
    settle(1)
    analyze = runs[ProtTomoDrgnAnalyze.__name__]
    # as the GUI's "Analyze results" finds it (the domain registers the viewer with its plugin)
    from pyworkflow.viewer import DESKTOP_TKINTER
    found = window.project.getDomain().findViewers(analyze, DESKTOP_TKINTER)
    assert TomoDrgnLatentViewer in found, found
    viewer = found[0](project=window.project, protocol=analyze, parent=window)
    viewer.visualize(analyze, windows=window)
    shot("3_latent_viewer.png")
    import matplotlib.pyplot as plt
    viewer._showLatent()
    for num in plt.get_fignums():
        plt.figure(num).canvas.draw()
    shot("4_latent_scatter.png")
    for e in errors:
        print(f"Tk error: {e}")
    root.destroy()
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
