"""Does an ODENet cost no more than the loop it replaces, and less than torchdiffeq?

Question (issue 2 §5): forward + backward of ``structdl.dynamics.ODENet`` — Euler and RK4 on
per-layer ``Residual`` fields ``σ(A_k y + b_k)``, Störmer–Verlet on per-layer
``SeparableHamiltonian`` fields — against

* **loop**: a hand-written PyTorch loop doing the same mathematics with the *same parameter
  tensors* (the floor: no validation, no dispatch, just the arithmetic a person would type);
* **torchdiffeq**: ``odeint`` with the fixed-grid method ``"euler"`` / ``"rk4"`` and
  ``step_size = T/K`` on the *same field objects* (a thin wrapper picks layer ``k``'s field;
  torchdiffeq has no symplectic method, so Verlet is compared with the loop only).

Targets: ODENet/loop ≤ 1.10, ODENet/torchdiffeq ≤ 0.8 (time ratios, per round).

One call of a side: the forward pass, then ``torch.autograd.grad`` of ``<out, g>`` (fixed
random ``g``) with respect to every parameter. All sides run in one process, interleaved with
the order rotated every round. Before timing, the outputs are compared: ODENet and the loop
must agree to round-off (same arithmetic); torchdiffeq's Euler too; torchdiffeq's ``"rk4"`` is
the 3/8-rule variant of RK4 (same four field evaluations per step, other coefficients), so
its gap is reported, not required to vanish.

Run (the peers environment has torchdiffeq; ``benchmarks/setup-peers.sh peers``)::

    benchmarks/.envs/peers/bin/python benchmarks/ode_networks.py [--quick] [--profile]

``--profile`` adds a per-operator profile (torch.profiler) of ODENet forward+backward per
scheme, to locate any overhead. ``--diagnose`` times, interleaved with the loop, ODENet with
parts of its per-step validation switched off *in this process only* (``unittest.mock``; the
library is untouched), to attribute the gap to the loop:

* ``no_scans``: ``check_state`` without its ``torch.isfinite(y).all()`` scan (type, rank and
  dtype checks kept) — in the integrators' ``validate_inputs`` and the fields' ``validate``;
* ``no_validation``: additionally no per-step ``validate_inputs`` (compatibility, tensor step
  size, state) and no per-call ``StructuredField.validate``: what is left is ODENet's
  dispatch (tensor step sizes, ``state_add``, the RK stage combination);
* ``float_steps``: ``no_validation`` with the step sizes passed as Python floats instead of
  0-d tensors (``ODENet.step_sizes`` patched on the instance).
"""

from __future__ import annotations

import contextlib
import importlib
import statistics
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    add_clock_argument,
    common_parser,
    environment,
    interleaved_times,
    print_table,
    ratio_from_times,
    use_clock,
    write_result,
)

from structdl.dynamics import (  # noqa: E402
    Euler,
    ODENet,
    Residual,
    RungeKutta,
    SeparableHamiltonian,
    StormerVerlet,
)

try:
    import torchdiffeq
except ImportError:  # the comparison with torchdiffeq is then reported as unavailable
    torchdiffeq = None

T_FINAL = 1.0
STAGES = {"euler": 1, "rk4": 4}


# -- the floor: hand-written loops over the same parameters ---------------------------------


def loop_euler(fields: nn.ModuleList, y: Tensor, h: float) -> Tensor:
    """``y ← y + h tanh(A_k y + b_k)`` for each layer."""
    for f in fields:
        y = y + h * torch.tanh(y @ f.weight.T + f.bias)
    return y


def loop_rk4(fields: nn.ModuleList, y: Tensor, h: float) -> Tensor:
    """Classical RK4 with the field of layer ``k`` at every stage of step ``k``."""
    for f in fields:
        w, b = f.weight.T, f.bias
        k1 = torch.tanh(y @ w + b)
        k2 = torch.tanh((y + 0.5 * h * k1) @ w + b)
        k3 = torch.tanh((y + 0.5 * h * k2) @ w + b)
        k4 = torch.tanh((y + h * k3) @ w + b)
        y = y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return y


def loop_verlet(fields: nn.ModuleList, y: tuple[Tensor, Tensor], h: float) -> tuple:
    """Kick-drift-kick with ``∂_qH = Bᵀtanh(Bq + b)``, ``∂_pH = Aᵀtanh(Ap + a)``."""
    q, p = y
    for f in fields:
        a_w, a_b = f.kinetic_weight, f.kinetic_bias
        b_w, b_b = f.potential_weight, f.potential_bias
        p = p - (0.5 * h) * (torch.tanh(q @ b_w.T + b_b) @ b_w)
        q = q + h * (torch.tanh(p @ a_w.T + a_b) @ a_w)
        p = p - (0.5 * h) * (torch.tanh(q @ b_w.T + b_b) @ b_w)
    return q, p


LOOPS = {"euler": loop_euler, "rk4": loop_rk4, "verlet": loop_verlet}


# -- torchdiffeq on the same fields ----------------------------------------------------------


class LayerSelector(nn.Module):
    """``f(t, y) = f_k(t, y)`` with ``k`` = (evaluations so far) // (stages per step).

    torchdiffeq's fixed-grid solvers evaluate the field a fixed number of times per step in a
    fixed order (1 for euler, 4 for rk4), so counting calls selects layer ``k`` exactly and
    costs a Python integer division — cheaper than locating ``t`` on the grid.
    """

    def __init__(self, fields: nn.ModuleList, stages: int) -> None:
        super().__init__()
        self.fields = fields
        self.stages = stages
        self.calls = 0

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        """Evaluate the current layer's field (our ``Residual``, validation included)."""
        k = self.calls // self.stages
        self.calls += 1
        return self.fields[k](t, y)


def torchdiffeq_side(fields: nn.ModuleList, scheme: str, y0: Tensor) -> Callable[[Tensor], Tensor]:
    """``y0 ↦ y(T)`` by torchdiffeq's fixed-grid ``odeint`` with ``step_size = T/K``."""
    selector = LayerSelector(fields, STAGES[scheme])
    t = torch.tensor([0.0, T_FINAL], dtype=y0.dtype)
    h = T_FINAL / len(fields)

    def run(y: Tensor) -> Tensor:
        selector.calls = 0
        out = torchdiffeq.odeint(selector, y, t, method=scheme, options={"step_size": h})[-1]
        if selector.calls != len(fields) * STAGES[scheme]:
            raise RuntimeError(
                f"torchdiffeq made {selector.calls} field evaluations, expected "
                f"{len(fields) * STAGES[scheme]}: the layer selection would be wrong"
            )
        return out

    return run


# -- one configuration -------------------------------------------------------------------------


def build(scheme: str, width: int, depth: int) -> ODENet:
    """ODENet with ``depth`` per-layer fields of state width ``width`` (tanh)."""
    if scheme == "verlet":
        fields = [SeparableHamiltonian(width) for _ in range(depth)]
        return ODENet(fields, StormerVerlet(), T=T_FINAL)
    fields = [Residual(width) for _ in range(depth)]
    integrator = Euler() if scheme == "euler" else RungeKutta("rk4")
    return ODENet(fields, integrator, T=T_FINAL)


def max_gap(a: Tensor | tuple, b: Tensor | tuple) -> float:
    """Largest absolute difference over the parts of two states."""
    pa = a if isinstance(a, tuple) else (a,)
    pb = b if isinstance(b, tuple) else (b,)
    return max(float((x - z).abs().max()) for x, z in zip(pa, pb, strict=True))


def grad_call(
    forward: Callable[[object], object], y0: object, grad_out: object, params: list[Tensor]
) -> Callable[[], object]:
    """One call: ``out = forward(y0)``, then the gradient of ``<out, grad_out>`` w.r.t. params."""
    outs_grad = grad_out if isinstance(grad_out, tuple) else (grad_out,)

    def run() -> object:
        out = forward(y0)
        outs = out if isinstance(out, tuple) else (out,)
        return torch.autograd.grad(outs, params, outs_grad)

    return run


def compare(scheme: str, width: int, depth: int, batch: int, args: object) -> dict[str, object]:
    """Interleave ODENet / loop / torchdiffeq on one configuration; return its JSON record."""
    torch.manual_seed(args.seed)
    net = build(scheme, width, depth)
    h = T_FINAL / depth
    params = list(net.parameters())
    shape = (batch, width)
    if scheme == "verlet":
        y0: object = (torch.randn(shape), torch.randn(shape))
        grad_out: object = (torch.randn(shape), torch.randn(shape))
    else:
        y0 = torch.randn(shape)
        grad_out = torch.randn(shape)

    def loop(y: object) -> object:
        return LOOPS[scheme](net.fields, y, h)

    sides = {"odenet": net, "loop": loop}
    if torchdiffeq is not None and scheme in STAGES:
        sides["torchdiffeq"] = torchdiffeq_side(net.fields, scheme, y0)

    with torch.no_grad():
        reference = net(y0)
        gaps = {label: max_gap(reference, fn(y0)) for label, fn in sides.items()}
    scale = (
        max_gap(reference, tuple(torch.zeros_like(r) for r in reference))
        if isinstance(reference, tuple)
        else float(reference.abs().max())
    )
    if gaps["loop"] > 1e-5 * max(scale, 1.0):
        raise RuntimeError(f"{scheme}: ODENet and the hand-written loop differ by {gaps['loop']}")
    if scheme == "euler" and "torchdiffeq" in gaps and gaps["torchdiffeq"] > 1e-5 * max(scale, 1):
        raise RuntimeError(f"euler: ODENet and torchdiffeq differ by {gaps['torchdiffeq']}")

    calls = {label: grad_call(fn, y0, grad_out, params) for label, fn in sides.items()}
    times = interleaved_times(calls, rounds=args.rounds, warmup=args.warmup)
    record: dict[str, object] = {
        "scheme": scheme,
        "field": "SeparableHamiltonian" if scheme == "verlet" else "Residual",
        "width": width,
        "depth": depth,
        "batch": batch,
        "state_shape": [batch, width] if scheme != "verlet" else [[batch, width]] * 2,
        "parameters": sum(p.numel() for p in params),
        "output_gap_vs_odenet": gaps,
        "inner": times["inner"],
        "seconds": times["seconds"],
        "odenet_vs_loop": ratio_from_times(times, "odenet", "loop").as_dict(),
    }
    if "torchdiffeq" in sides:
        record["odenet_vs_torchdiffeq"] = ratio_from_times(times, "odenet", "torchdiffeq").as_dict()
    return record


def _check_state_without_scan(y: object, what: str = "state") -> None:
    """``check_state`` minus the finiteness scan (type, dtype and rank checks kept)."""
    for part in y if isinstance(y, tuple) else (y,):
        if not isinstance(part, Tensor) or not part.is_floating_point() or part.dim() < 1:
            raise TypeError(f"{what}: not a floating tensor of rank >= 1")


@contextlib.contextmanager
def _switched_off(level: str) -> Iterator[None]:
    """Switch off parts of the per-step validation (``"no_scans"`` or ``"no_validation"``)."""
    common = importlib.import_module("structdl.dynamics.integrators._common")
    field_base = importlib.import_module("structdl.dynamics._field_base")
    targets = [(common, "check_state", _check_state_without_scan)]
    targets.append((field_base, "check_state", _check_state_without_scan))
    if level == "no_validation":
        for name in ("euler", "runge_kutta", "symplectic"):
            module = importlib.import_module(f"structdl.dynamics.integrators.{name}")
            targets.append((module, "validate_inputs", lambda *args: None))
        targets.append((field_base.StructuredField, "validate", lambda *args: None))
        targets.append((field_base.StructuredField, "validate_part", lambda *args: None))
    with contextlib.ExitStack() as stack:
        for owner, name, value in targets:
            stack.enter_context(mock.patch.object(owner, name, value))
        yield


def diagnose(scheme: str, width: int, depth: int, batch: int, args: object) -> dict[str, object]:
    """Attribute the ODENet/loop gap: time ODENet with validation parts switched off."""
    torch.manual_seed(args.seed)
    net = build(scheme, width, depth)
    h = T_FINAL / depth
    params = list(net.parameters())
    shape = (batch, width)
    pair = scheme == "verlet"
    y0 = (torch.randn(shape), torch.randn(shape)) if pair else torch.randn(shape)
    g = (torch.randn(shape), torch.randn(shape)) if pair else torch.randn(shape)

    def loop(y: object) -> object:
        return LOOPS[scheme](net.fields, y, h)

    def switched(level: str, call: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            with _switched_off(level):
                return call()

        return run

    float_steps = [float(x) for x in net.step_sizes()]
    no_validation = grad_call(net, y0, g, params)

    def float_steps_call() -> object:
        # Python-float step sizes (what a fixed, unlearned grid could pass): the integrators'
        # ``t + c_i h`` and ``h · b_i`` become float arithmetic instead of 0-d tensor ops.
        with mock.patch.object(net, "step_sizes", lambda: float_steps):
            return no_validation()

    sides = {
        "odenet": grad_call(net, y0, g, params),
        "no_scans": switched("no_scans", grad_call(net, y0, g, params)),
        "no_validation": switched("no_validation", no_validation),
        "float_steps": switched("no_validation", float_steps_call),
        "loop": grad_call(loop, y0, g, params),
    }
    if torchdiffeq is not None and scheme in STAGES:
        # torchdiffeq calls the same field objects, so switching off the fields' validation
        # speeds it up too: compare like with like.
        solve = torchdiffeq_side(net.fields, scheme, y0)
        sides["torchdiffeq"] = grad_call(solve, y0, g, params)
        sides["torchdiffeq_no_validation"] = switched(
            "no_validation", grad_call(solve, y0, g, params)
        )
    with torch.no_grad(), _switched_off("no_validation"):
        gap = max_gap(net(y0), loop(y0))  # the switched-off net still computes the same map
    times = interleaved_times(sides, rounds=args.rounds, warmup=args.warmup)
    ratios = {
        f"{label}_vs_loop": ratio_from_times(times, label, "loop").as_dict()
        for label in ("odenet", "no_scans", "no_validation", "float_steps")
    }
    if "torchdiffeq" in sides:
        ratios["odenet_vs_torchdiffeq"] = ratio_from_times(times, "odenet", "torchdiffeq").as_dict()
        ratios["no_validation_vs_torchdiffeq_no_validation"] = ratio_from_times(
            times, "no_validation", "torchdiffeq_no_validation"
        ).as_dict()
    return {
        "scheme": scheme,
        "width": width,
        "depth": depth,
        "batch": batch,
        "no_validation_output_gap_vs_loop": gap,
        "inner": times["inner"],
        "seconds": times["seconds"],
        **ratios,
    }


def profile(scheme: str, width: int, depth: int, batch: int, rows: int = 25) -> str:
    """Operator table (self CPU time) of 5 ODENet forward+backward calls."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    torch.manual_seed(0)
    net = build(scheme, width, depth)
    params = list(net.parameters())
    shape = (batch, width)
    y0 = (torch.randn(shape), torch.randn(shape)) if scheme == "verlet" else torch.randn(shape)
    g = (torch.randn(shape), torch.randn(shape)) if scheme == "verlet" else torch.randn(shape)
    call = grad_call(net, y0, g, params)
    call()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(5):
            call()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main() -> None:
    parser = common_parser(__doc__.splitlines()[0])
    add_clock_argument(parser)
    parser.add_argument("--profile", action="store_true", help="add an operator profile")
    parser.add_argument(
        "--diagnose", action="store_true", help="attribute the ODENet/loop gap (see docstring)"
    )
    parser.add_argument("--diagnose-only", action="store_true", help="run only the --diagnose part")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 128)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    use_clock(args.clock)
    if args.rounds is None:
        args.rounds = 10 if args.quick else 20
    batch = args.batch or 128
    if args.quick:
        configs = [(scheme, 64, 16) for scheme in ("euler", "rk4", "verlet")]
    else:
        configs = [
            (scheme, width, depth)
            for scheme in ("euler", "rk4", "verlet")
            for width in (64, 256)
            for depth in (16, 64)
        ]
    env = environment(["torch", "torchdiffeq", "numpy"], args.threads, "float32")
    if torchdiffeq is None:
        print("torchdiffeq unavailable; run under benchmarks/.envs/peers/bin/python")

    if args.diagnose_only:
        args.diagnose, configs = True, []
    results, rows = [], []
    for scheme, width, depth in configs:
        rec = compare(scheme, width, depth, batch, args)
        results.append(rec)
        tde = rec.get("odenet_vs_torchdiffeq")
        rows.append(
            {
                "scheme": scheme,
                "width": width,
                "depth": depth,
                "odenet ms": f"{1e3 * statistics.median(rec['seconds']['odenet']):.2f}",
                "loop ms": f"{1e3 * statistics.median(rec['seconds']['loop']):.2f}",
                "odenet/loop med (min)": "{median:.3f} ({min:.3f})".format(**rec["odenet_vs_loop"]),
                "odenet/torchdiffeq med (min)": (
                    "{median:.3f} ({min:.3f})".format(**tde) if tde else "n/a"
                ),
            }
        )
        print_table(rows[-1:], list(rows[0]))  # progress, one row at a time
    if rows:
        print()
        print_table(rows, list(rows[0]))

    profiles = {}
    if args.profile:
        width, depth = (64, 16) if args.quick else (64, 64)
        for scheme in ("euler", "rk4", "verlet"):
            profiles[scheme] = profile(scheme, width, depth, batch)
            print(f"\n== profile {scheme} width {width} depth {depth} batch {batch}")
            print(profiles[scheme])

    diagnoses = []
    if args.diagnose:
        diag_rows = []
        for scheme in ("euler", "rk4", "verlet"):
            for width in (64,) if args.quick else (64, 256):
                rec = diagnose(scheme, width, 16, batch, args)
                diagnoses.append(rec)
                row = {"scheme": scheme, "width": width, "depth": 16}
                for label in ("odenet", "no_scans", "no_validation", "float_steps"):
                    row[f"{label}/loop"] = "{median:.3f} ({min:.3f})".format(
                        **rec[f"{label}_vs_loop"]
                    )
                both = rec.get("no_validation_vs_torchdiffeq_no_validation")
                row["no_validation/tdq_no_validation"] = (
                    "{median:.3f} ({min:.3f})".format(**both) if both else "n/a"
                )
                diag_rows.append(row)
        print("\n== diagnosis: ODENet/loop with validation parts switched off, median (min)")
        print_table(diag_rows, list(diag_rows[0]))

    payload = {
        "benchmark": "ode_networks",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "quick": args.quick,
        "environment": env,
        "protocol": {
            "rounds": args.rounds,
            "warmup": args.warmup,
            "batch": batch,
            "T": T_FINAL,
            "order": "rotated every round (odenet, loop, torchdiffeq / loop, torchdiffeq, ...)",
            "work": "forward + autograd.grad of <out, g> wrt all parameters",
            "ratio": "t_odenet / t_other per round; < 1 means ODENet is faster",
            "torchdiffeq": "odeint(method='euler'|'rk4', options={'step_size': T/K}) on the same "
            "Residual field objects; its 'rk4' is the 3/8 rule (4 evaluations per step)",
        },
        "targets": {"odenet_vs_loop": "<= 1.10", "odenet_vs_torchdiffeq": "<= 0.8"},
        "results": results,
        "diagnosis": diagnoses,
        "profiles": profiles,
    }
    name = "ode_networks" + ("_diagnosis" if args.diagnose_only else "")
    path = write_result(name + ("_quick" if args.quick else ""), payload, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
