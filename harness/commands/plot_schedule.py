"""``python -m harness plot-schedule [KEY=VALUE ...]``: the rate of every update (and the
momentum, where a schedule varies it) as a PNG, without training and without a framework.

Each config is composed and validated exactly as a training run would be (``harness.preflight.preflight``:
the same defaults, overrides, presets and errors), and its per-update plan is built by the same
``harness.plan.build_plan`` the runner calls, derived lengths included. A comma list overlays
several (``scheduler=cosine,onecycle,wsd``; no ``-m`` needed), as does a preset's sweep
(``experiments=schedule_zoo``). Keys of the plot itself:

- ``plot.out=PATH``: where the PNG goes (default ``<results_dir>/_plots/<label>.png``, ``file_stem``
  below: the variant label, which the title shows too, made safe for a file name);
- ``plot.log=true``: a logarithmic rate axis (default linear);
- ``plot.x=epoch|update``: the x axis in epochs (fractional, the default, so that schedules in
  either unit line up) or in updates;
- ``plot.grid=true``: one small panel per schedule (momentum on a right-hand axis) instead of
  one overlay, for many schedules (``experiments=schedule_zoo plot.grid=true``).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import HarnessError

if TYPE_CHECKING:  # numpy is imported in main's time, once its BLAS is told to use one thread
    import numpy as np

PLOT_KEYS = {"out": None, "log": "false", "x": "epoch", "grid": "false"}
TRUE, FALSE = ("true", "yes", "1"), ("false", "no", "0")


def split_args(args: list[str]) -> tuple[dict, list[str]]:
    """The plot's own keys (``plot.*``), and the rest: the overrides of a training run."""
    options, rest = dict(PLOT_KEYS), []
    for arg in args:
        if arg.startswith("plot."):
            key, _, value = arg[len("plot."):].partition("=")
            if key not in PLOT_KEYS:
                raise HarnessError(f"plot.{key} is not a plot-schedule key; it takes {', '.join('plot.' + k for k in PLOT_KEYS)}")
            options[key] = value
        elif arg not in ("-m", "--multirun"):
            rest.append(arg)
    for key in ("log", "grid"):
        if options[key].lower() not in TRUE + FALSE:
            raise HarnessError(f"plot.{key}={options[key]!r} must be true or false")
    if options["x"] not in ("epoch", "update"):
        raise HarnessError(f"plot.x={options['x']!r} must be epoch or update")
    return options, rest


def curves(cfg) -> tuple[np.ndarray, np.ndarray | None, int]:
    """(rate of every update, momentum of every update or None, updates per epoch) of the run."""
    import numpy as np

    from harness.plan import build_plan

    plan = build_plan(cfg)  # protocol=d2l: the tab's own rates; plateau: as if it never reduced
    lrs = np.concatenate([plan.rates(e) for e in range(cfg.epochs)]).astype(np.float64)
    per_epoch = [plan.momenta(e) for e in range(cfg.epochs)]
    momenta = None if per_epoch[0] is None else np.concatenate(per_epoch)
    return lrs, momenta, plan.updates_per_epoch


MAX_STEM = 120  # characters of a file name before the hash takes over (filesystems allow 255 bytes)
# Settings that change the figure without being part of the variant label, with the value that
# leaves them out of the file name (the schema's defaults) and how they are spelled in it.
SHAPING = (("epochs", 30, "epochs"), ("batch_size", 256, "batch"), ("data.train_size", None, "train"),
           ("data.val_size", None, "val"), ("protocol", "clean", ""))


def safe_label(label: str) -> str:
    """A variant label as a file name: ``cosine(lr=0.3, final=0.01, T=20, warmup=5)`` ->
    ``cosine_lr0.3_final0.01_T20_warmup5``, ``multifactor(..., at=[15,30])`` -> ``..._at15-30``,
    ``(..., per step)`` -> ``..._per_step``. Separators become ``_``, ``=`` and brackets go, a comma
    inside a list becomes ``-``, and anything else outside ``A-Za-z0-9._+-`` becomes ``-``."""
    import re

    text = label.replace(", ", "_").replace("(", "_").replace(")", "")
    for gone in "=[]{}':\"":
        text = text.replace(gone, "")
    text = text.replace(",", "-").replace(" ", "_")
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-_.")


def file_stem(configs: list, options: dict) -> str:
    """The default file name (without .png): each config's safe variant label with the settings
    that shape the figure when they differ from the defaults (``_epochs10``, ``_train1024``,
    ``_d2l-tf``), joined by ``+`` for an overlay, then ``_grid``, ``_log``, ``_by-update`` for
    those plot keys. A name longer than MAX_STEM characters keeps its start (one schedule: its
    label; an overlay: the schedules' names) and ends in a hash of the whole name, so two
    different figures never share a file."""
    import hashlib

    from harness.identity import variant
    from harness.schema import as_dict

    labels_, tags = [], []
    for cfg in configs:
        plain, tag = as_dict(cfg), ""
        for key, default, word in SHAPING:
            value = plain
            for part in key.split("."):
                value = value[part]
            if value != default:
                tag += f"_{word}{value}" if word else f"_{value}-{plain['framework']['name']}"
        labels_.append(safe_label(variant(cfg)))
        tags.append(tag)
    plot_tags = "".join(tag for key, tag in (("grid", "_grid"), ("log", "_log")) if options[key].lower() in TRUE)
    plot_tags += "_by-update" if options["x"] == "update" else ""
    stem = "+".join(dict.fromkeys(label + tag for label, tag in zip(labels_, tags))) + plot_tags
    if len(stem) <= MAX_STEM:
        return stem
    digest = hashlib.sha256(stem.encode()).hexdigest()[:8]
    if len(configs) == 1:
        start, end = labels_[0], tags[0] + plot_tags
    else:
        start, end = "+".join(dict.fromkeys(cfg.scheduler.name for cfg in configs)), plot_tags
    return f"{start[:max(MAX_STEM - 9 - len(end), 20)].rstrip('-_.+')}-{digest}{end}"


def default_out(configs: list, options: dict) -> Path:
    """``<results_dir>/_plots/<file_stem>.png``: beside the runs, not in the working directory; the
    underscore keeps it out of the runs (as ``_find_lr/`` and ``_report/``). plot-schedule never
    runs under Hydra, so a relative results_dir means the current directory's."""
    return Path(str(configs[0].results_dir)).expanduser() / "_plots" / f"{file_stem(configs, options)}.png"


TITLE_WIDTH = 105  # characters of a 10-point title line across the 9-inch figure


def title(configs: list, names: list[str], per_epoch: set) -> str:
    """One schedule: its variant label; several: theirs when they fit on two lines, else the names."""
    from harness.identity import variant

    epochs = sorted({cfg.epochs for cfg in configs})
    length = f"{'/'.join(map(str, epochs))} epochs of {'/'.join(map(str, sorted(per_epoch)))} updates"
    variants = list(dict.fromkeys(variant(cfg) for cfg in configs))
    if len(variants) == 1 or len("; ".join(variants)) <= 2 * TITLE_WIDTH:
        text = "; ".join(variants)
    else:
        text = ", ".join(dict.fromkeys(n.split(" (")[0] for n in names))
    import textwrap

    return "\n".join(textwrap.wrap(f"{text}: {length}", TITLE_WIDTH, break_on_hyphens=False))


def labels(configs: list) -> list[str]:
    """The scheduler's name, with the settings that tell apart runs of the same name."""
    from harness.schema import as_dict

    def flat(cfg) -> dict:
        plain = as_dict(cfg)
        out = {f"scheduler.{k}": v for k, v in plain["scheduler"].items() if k not in ("name", "kind")}
        for key in ("epochs", "batch_size", "protocol", "framework"):
            out[key] = plain[key]["name"] if key == "framework" else plain[key]
        out["optimizer.momentum"] = plain["optimizer"]["momentum"]
        out["data.train_size"] = plain["data"]["train_size"]
        return out

    flats = [flat(cfg) for cfg in configs]
    names = [cfg.scheduler.name for cfg in configs]
    result = []
    for i, (name, settings) in enumerate(zip(names, flats)):
        twins = [flats[j] for j in range(len(configs)) if names[j] == name and j != i]
        differing = [k for k in settings if any(other.get(k) != settings[k] for other in twins)]
        result.append(name + (" (" + ", ".join(f"{k}={settings[k]}" for k in differing) + ")" if differing else ""))
    return result


def _matplotlib():
    """matplotlib's Figure and Agg canvas (not pyplot: no GUI backend, a third less import time),
    imported without the help text matplotlib writes while it is imported.

    As each of its ~100 Artist classes is defined, matplotlib gives its ``set`` method a
    signature listing every property and a docstring with a table of them
    (``Artist._update_set_signature_and_docstring``, and ``kwdoc`` for the table, which other
    docstrings use too): 40 % of its import time here (0.63 s -> 0.37 s, median of 8), for help
    text that a command line never shows. Both only describe ``set``, which takes the same keywords
    either way, so the figure is the same pixel for pixel (tests/test_plot_schedule.py); both are
    put back right after the import, and where matplotlib is loaded already (a test, the report)
    nothing is imported and nothing changes.
    """
    import matplotlib.artist as artist

    saved = artist.kwdoc, artist.Artist.__dict__.get("_update_set_signature_and_docstring")
    if saved[1] is not None:  # a matplotlib without it is imported as it is
        artist.kwdoc = lambda cls: ""
        artist.Artist._update_set_signature_and_docstring = classmethod(_generated_set)
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    finally:
        if saved[1] is not None:
            artist.kwdoc, artist.Artist._update_set_signature_and_docstring = saved
    return Figure, FigureCanvasAgg


def _generated_set(cls) -> None:
    # What the real method also does: mark the class's set() as generated, so that each subclass
    # gets its own set() (one that names the subclass), as without this shortcut.
    cls.set._autogenerated_signature = True


def plot(configs: list, options: dict) -> Path:
    out = Path(options["out"]) if options["out"] else default_out(configs, options)
    fig = figure(configs, options)
    _save(fig, out, dpi=100 if options["grid"].lower() in TRUE else 110)
    return out


def figure(configs: list, options: dict):
    """The figure, drawn but not saved (tests read its lines)."""
    import numpy as np
    from matplotlib import colormaps

    Figure, FigureCanvasAgg = _matplotlib()
    if options["grid"].lower() in TRUE:
        fig = Figure()
        FigureCanvasAgg(fig)
        plot_grid(configs, options, fig)
        return fig
    drawn = [curves(cfg) for cfg in configs]
    names = labels(configs)
    any_momentum = any(m is not None for _, m, _ in drawn)
    fig = Figure(figsize=(9, 6.5 if any_momentum else 4.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2 if any_momentum else 1, 1, sharex=True, squeeze=False,
                        height_ratios=[2, 1] if any_momentum else None)
    rate_ax = axes[0][0]
    colours = colormaps["tab10" if len(configs) <= 10 else "tab20"].colors
    styles = ["-", "--", "-.", ":"]
    for i, ((lrs, momenta, per_epoch), name) in enumerate(zip(drawn, names)):
        x = np.arange(len(lrs)) / per_epoch if options["x"] == "epoch" else np.arange(len(lrs))
        style = dict(color=colours[i % len(colours)], linestyle=styles[(i // len(colours)) % len(styles)], linewidth=1.6)
        rate_ax.plot(x, lrs, label=name, **style)
        if momenta is not None:
            axes[1][0].plot(x, momenta, label=name, **style)
    if options["log"].lower() in TRUE:
        rate_ax.set_yscale("log")
    rate_ax.set_ylabel("learning rate (each update)")
    rate_ax.grid(alpha=0.3)
    rate_ax.legend(fontsize=8, ncol=2 if len(configs) > 6 else 1, loc="best")
    if any_momentum:
        axes[1][0].set_ylabel("momentum (beta1)")
        axes[1][0].grid(alpha=0.3)
    axes[-1][0].set_xlabel("epoch" if options["x"] == "epoch" else "update")
    rate_ax.set_title(title(configs, names, {p for _, _, p in drawn}), fontsize=10)
    return fig


def _save(fig, out: Path, dpi: int) -> None:
    """Lay the figure out (tight) and write it.

    ``tight_layout`` leaves a placeholder layout engine on the figure, and ``savefig`` draws a
    figure that has any engine twice, once unrendered so that the engine can act. The layout is
    done, so the engine is dropped: one draw less, a fifth of the drawing time, the same pixels.
    """
    fig.tight_layout()
    fig.set_layout_engine(None)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)


def plot_grid(configs: list, options: dict, fig) -> None:
    """Small multiples: one panel per config, the rate in blue, the momentum (if any) in orange on the right;
    panels in the registry's order (a zoo sweeps its options alphabetically, by glob), a sweep's order within."""
    import numpy as np

    from harness.schedules import option_order

    configs = sorted(configs, key=lambda cfg: option_order(cfg.scheduler.name, cfg.scheduler.kind))

    drawn = [curves(cfg) for cfg in configs]
    names = labels(configs)
    cols = min(4, len(configs))
    rows = -(-len(configs) // cols)
    fig.set_size_inches(3.2 * cols, 2.3 * rows)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=options["x"] == "epoch")
    for ax in axes.flat[len(configs):]:
        ax.set_visible(False)
    for ax, (lrs, momenta, per_epoch), name in zip(axes.flat, drawn, names):
        x = np.arange(len(lrs)) / per_epoch if options["x"] == "epoch" else np.arange(len(lrs))
        ax.plot(x, lrs, color="tab:blue", linewidth=1.4)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if options["log"].lower() in TRUE:
            ax.set_yscale("log")
        if momenta is not None:
            twin = ax.twinx()
            twin.plot(x, momenta, color="tab:orange", linewidth=1.0, linestyle="--")
            twin.tick_params(labelsize=7, colors="tab:orange")
    for ax in axes.flat[max(0, len(configs) - cols):len(configs)]:  # the lowest panel of each column
        ax.tick_params(labelbottom=True)
        ax.set_xlabel("epoch" if options["x"] == "epoch" else "update", fontsize=8)
    fig.suptitle("learning rate of every update (blue); momentum where a schedule cycles it (orange, right axis)", fontsize=10)


def main(args: list[str]) -> int:
    _one_blas_thread()
    with _without_garbage_collection():
        return _main(args)


def _one_blas_thread() -> None:
    """Before numpy is first imported, ask its OpenBLAS for one thread (unless the user chose).

    The only matrices here are matplotlib's 3x3 transforms. After each inversion OpenBLAS's second
    thread spins waiting for more work, and on this 2-core machine that slows the main thread:
    main() took 0.79-0.82 s with it, 0.65-0.68 s without. Where numpy is loaded already (a test
    calling main) it is left as it is, and so is the environment that process hands on.
    """
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@contextlib.contextmanager
def _without_garbage_collection():
    """No garbage collection while the command runs, nor when its process exits.

    Importing numpy, matplotlib and the harness and drawing one figure allocate a bounded amount,
    yet trigger some 150 collections (0.1 s here), and at exit Python runs full collections over
    every object still alive (0.2 s) only to free memory the OS takes back anyway: together a
    quarter of the command. Collection is switched back on when main returns (a test calling it
    goes on as before); ``gc.freeze`` at exit, registered here so that it runs first, leaves the
    exit collections nothing to walk. Files are closed and stdout flushed as always.
    """
    enabled = gc.isenabled()
    gc.disable()
    atexit.register(gc.freeze)
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _main(args: list[str]) -> int:
    from harness.errors import fail
    from harness.preflight import preflight
    from harness.plan_checks import horizon_warning, zero_rate_warning

    try:
        options, overrides = split_args(args)
        # -m when a comma list or a preset may hold several runs (a single run composes once, not twice)
        several = any("," in a or a.split("=")[0] in ("experiments", "+experiments") for a in overrides)
        # cached: the configs Hydra composed before for this command line, when conf/ is unchanged
        configs = preflight(["-m", *overrides] if several else overrides, cached=True)
    except HarnessError as exc:
        fail(str(exc))
    for cfg in configs:
        for warning in (horizon_warning(cfg), zero_rate_warning(cfg)):
            if warning:
                print(f"harness: warning: {warning}", file=sys.stderr)
    try:
        path = plot(configs, options)
    except OSError as exc:
        where = f"plot.out={options['out']!r}" if options["out"] else f"{default_out(configs, options)} (results_dir/_plots)"
        fail(f"{where} cannot be written ({exc.strerror or exc}); choose another path with plot.out=PATH")
    print(path)
    return 0
