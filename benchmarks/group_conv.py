"""Is our p4 / p4m group convolution as fast as a plain Conv2d, and no slower than escnn's?

Question: forward + backward, in training mode, of ``structdl.equivariant.GroupConv2d`` on
regular fields of ``C4`` (p4) and ``D4`` (p4m), at batch 32 on 8×8, 16×16 and 32×32 maps (the
training case), against

* a plain ``nn.Conv2d`` with ``|G|·C`` channels in and out — the floor: it is exactly the
  convolution our layer runs, minus building the filter bank (and checking the input). Its
  weights are our layer's exported bank (``GroupConv2d.export``), so the outputs are checked
  equal before timing. ``--diagnose`` also times building the bank alone (forward and backward
  of ``filter_bank()``): the part of our time a plain Conv2d does not pay;
* escnn's ``R2Conv`` between the same numbers of C4 / D4 regular fields (training mode, so it
  expands its filter from its basis on every call, as ours does).

``--forms`` also times other ways of building the same bank (forward + backward of the bank
alone, interleaved, each checked equal to ours bit for bit): our gather (one ``index_select``,
backward autograd's ``index_add``); the same gather with a hand-written gather-and-sum backward
in a Python ``autograd.Function`` (the previous implementation); stacking the ``|G|``
transformed copies (``act_regular``: ``rot90``/``flip`` and the group-axis permutation, then
``torch.stack``); and a precomputed 0/1 permutation matrix applied as one matmul (escnn's way:
a basis expansion is a matmul) followed by the transpose into the bank's layout.

Plus layer construction time: ``GroupConv2d(256, 256, 3, D4)`` against escnn's
``R2Conv`` between 256 D4 regular fields.

Targets, at every size: ours/Conv2d ≤ 1.10 and ours/escnn ≤ 1.0 (no slower than escnn); our
256→256 p4m layer built in ≤ 0.05 s. (A regular group convolution has the multiply-adds of a
dense convolution with ``|G|·C`` channels, so the dense Conv2d is the physical floor; a
larger speed-up over escnn, which runs the same dense convolution, is not a target.)

All three sides run in one process, interleaved round by round (order rotated every round), on
the same input tensor (the layouts agree: field ``c``, group element ``g`` is channel
``c·|G| + g`` for all three). One side's work per call: forward, then ``torch.autograd.grad`` of
``<out, g>`` (fixed random ``g``) with respect to the input and every parameter. Each side
takes the input in its own layout, as a user would hold it — ours the field
``(B, C, |G|, H, W)`` (a view of the same memory), Conv2d the flat ``(B, |G|·C, H, W)``, escnn a
``GeometricTensor`` around it — so that no reshape done by the harness is charged to one side.

Run it with the interpreter of the escnn environment (``benchmarks/setup-peers.sh escnn``,
which also installs structdl there)::

    benchmarks/.envs/escnn/bin/python benchmarks/group_conv.py [--quick]

Without escnn importable, the escnn columns are reported as unavailable and the Conv2d
comparison and our construction time still run.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402  (the harness sits next to this script)
from _common import (  # noqa: E402
    add_clock_argument,
    calibrate_inner,
    common_parser,
    environment,
    interleaved_times,
    print_table,
    ratio_from_times,
    use_clock,
    write_result,
)

from structdl.equivariant import C4, D4, GroupConv2d, act_regular  # noqa: E402
from structdl.equivariant._validate import require_finite  # noqa: E402

GROUPS = {"p4": C4, "p4m": D4}


def load_escnn() -> tuple[object, object] | None:
    """``(gspaces, escnn.nn)`` or ``None`` if escnn is not importable in this interpreter."""
    try:
        with warnings.catch_warnings():
            # escnn warns that py3nj (Fortran) is missing; only SO(3) needs it, not C4/D4.
            warnings.simplefilter("ignore")
            from escnn import gspaces
            from escnn import nn as enn
    except ImportError as err:
        print(f"escnn unavailable ({err}); run under benchmarks/.envs/escnn/bin/python")
        return None
    return gspaces, enn


def escnn_field(escnn: tuple[object, object], name: str, fields: int) -> object:
    """escnn FieldType of ``fields`` regular fields of C4 (``p4``) or D4 (``p4m``)."""
    gspaces, enn = escnn
    space = gspaces.rot2dOnR2(4) if name == "p4" else gspaces.flipRot2dOnR2(4)
    return enn.FieldType(space, fields * [space.regular_repr])


def build_escnn(escnn: tuple[object, object], name: str, fields: int, kernel: int) -> nn.Module:
    """escnn R2Conv between ``fields`` regular fields, 'same' padding, with bias."""
    _, enn = escnn
    ftype = escnn_field(escnn, name, fields)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return enn.R2Conv(ftype, ftype, kernel_size=kernel, padding=kernel // 2, bias=True)


def fwd_bwd(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    grad_out: torch.Tensor,
    params: list[torch.Tensor],
) -> Callable[[], object]:
    """One call: ``forward(x)`` then the gradient of ``<out, grad_out>`` w.r.t. x and params."""
    inputs = [x, *params]

    def run() -> object:
        out = forward(x)
        return torch.autograd.grad(out, inputs, grad_out)

    return run


def time_alone(work: Callable[[], object], times: dict, args: object) -> dict[str, object]:
    """Diagnostic: one part of our layer's work timed alone, against the Conv2d median.

    Timed on its own (a part costs far less than a convolution, and one interleaved inner
    count for both would make the convolution run hundreds of times per round); reported as
    the ratio of its median to the median Conv2d call of the interleaved run. Uses the clock
    chosen by ``--clock``.
    """
    for _ in range(args.warmup):
        work()
    inner = calibrate_inner(work, 0.05)
    seconds = [_common.time_once(work, inner) for _ in range(args.rounds)]
    median = statistics.median(seconds)
    return {
        "inner": inner,
        "seconds": seconds,
        "median_seconds": median,
        "median_vs_conv2d_median": median / statistics.median(times["seconds"]["conv2d"]),
    }


def time_bank_only(layer: GroupConv2d, times: dict, args: object) -> dict[str, object]:
    """Forward + backward of ``filter_bank()`` alone (see :func:`time_alone`)."""
    cotangent = torch.randn_like(layer.filter_bank())

    def bank_only() -> object:
        return torch.autograd.grad(layer.filter_bank(), [layer.weight], cotangent)

    return time_alone(bank_only, times, args)


def time_input_check(field: torch.Tensor, times: dict, args: object) -> dict[str, object]:
    """The finite-input check of our layer alone (see :func:`time_alone`).

    escnn does not check its input for NaN/inf; our layers refuse non-finite input. A strided
    layer checks the whole input (one sum, ``equivariant._validate.require_finite``: one pass
    over the input that grows with the map size, timed here); at stride 1 — every case of this
    benchmark — the layer screens one output channel instead, which every input entry reaches
    (``require_finite_behind``), so this pass is what that screen saves.
    """
    return time_alone(lambda: require_finite(field, "GroupConv2d"), times, args)


class _GatherSumBank(torch.autograd.Function):
    """The previous bank: the same gather, backward = inverse gather + sum over the copies."""

    @staticmethod
    def forward(ctx, source, index, order, rows, copies, shape):
        ctx.save_for_backward(order)
        ctx.rows, ctx.copies, ctx.source_shape = rows, copies, source.shape
        return source.reshape(rows, -1).index_select(1, index).view(shape)

    @staticmethod
    def backward(ctx, grad):
        (order,) = ctx.saved_tensors
        picked = grad.reshape(ctx.rows, -1).index_select(1, order)
        summed = picked.view(ctx.rows, ctx.copies, -1).sum(1).view(ctx.source_shape)
        return summed, None, None, None, None, None


def bank_forms(layer: GroupConv2d) -> dict[str, Callable[[], torch.Tensor]]:
    """Ways of building ``layer.filter_bank()`` (regular fields, exact group), each a thunk."""
    group, weight = layer.group, layer.weight
    c_out, c_in, n, k, _ = weight.shape
    index, rows, shape = layer.bank_index, layer._bank_rows, layer._bank_shape
    # Inverse positions for the gather-and-sum backward: copy r of every source entry.
    size = weight.numel() // rows
    order = torch.argsort(index, stable=True).view(size, n).T.reshape(-1)
    # The transforms act on the (input element, pixel) axis of length t = |G|·k² alone, the
    # same for every (c_out, c_in): one t × |G|·t permutation matrix, read off the index.
    t = n * k * k
    moved = index.view(n, c_in, t)[:, 0]  # source position of every bank entry, c_in = 0
    perm = torch.zeros(t, n * t)
    perm[moved.reshape(-1), torch.arange(n * t)] = 1.0

    def stacked() -> torch.Tensor:
        bank = torch.stack([act_regular(g, weight, group) for g in group.elements()], dim=1)
        return bank.reshape(shape)

    def matmul() -> torch.Tensor:
        out = (weight.reshape(c_out * c_in, t) @ perm).view(c_out, c_in, n, t)
        return out.transpose(1, 2).reshape(shape)

    return {
        "gather (ours)": layer.filter_bank,
        "gather + gather-sum backward": lambda: _GatherSumBank.apply(
            weight, index, order, rows, n, shape
        ),
        "stack of rot90/flip + permutation": stacked,
        "permutation matrix (matmul)": matmul,
    }


def time_bank_forms(layer: GroupConv2d, times: dict, args: object) -> dict[str, object]:
    """Diagnostic: forward + backward of each bank form, interleaved, vs the Conv2d median."""
    forms = bank_forms(layer)
    reference = layer.filter_bank()
    for name, build in forms.items():
        if not torch.equal(build(), reference):
            raise RuntimeError(f"bank form {name!r} differs from filter_bank()")
    cotangent = torch.randn_like(reference)
    sides = {
        name: (lambda build=build: torch.autograd.grad(build(), [layer.weight], cotangent))
        for name, build in forms.items()
    }
    bank_times = interleaved_times(sides, rounds=args.rounds, warmup=args.warmup)
    conv = statistics.median(times["seconds"]["conv2d"])
    return {
        "inner": bank_times["inner"],
        "seconds": bank_times["seconds"],
        "median_seconds": {k: statistics.median(v) for k, v in bank_times["seconds"].items()},
        "median_vs_conv2d_median": {
            k: statistics.median(v) / conv for k, v in bank_times["seconds"].items()
        },
    }


def compare_fwd_bwd(
    name: str,
    fields: int,
    batch: int,
    size: int,
    kernel: int,
    escnn: tuple[object, object] | None,
    args: object,
) -> dict[str, object]:
    """Interleave ours / Conv2d / escnn on one configuration; return its JSON record."""
    group = GROUPS[name]
    torch.manual_seed(args.seed)
    ours = GroupConv2d(fields, fields, kernel, group).train()
    plain = ours.export().train()  # the same bank as a fixed Conv2d: the floor
    for p in plain.parameters():
        p.requires_grad_(True)
    channels = fields * group.order
    x = torch.randn(batch, channels, size, size, requires_grad=True)
    grad_out = torch.randn(batch, channels, size, size)

    # Our layer takes the same memory in its own layout, a field (B, C, |G|, H, W): a leaf of
    # its own (so no reshape of the harness is timed on our side only), as each side gets its
    # input in its own natural form (escnn: wrapped in a GeometricTensor).
    field_shape = (batch, fields, group.order, size, size)
    field = x.detach().view(field_shape).requires_grad_(True)
    grad_field = grad_out.view(field_shape)

    # Same arithmetic check: our layer and the exported Conv2d must agree before timing.
    with torch.no_grad():
        gap = float((ours(field).reshape(x.shape) - plain(x)).abs().max())
    if gap > 1e-4:
        raise RuntimeError(f"GroupConv2d disagrees with its exported Conv2d ({gap:.2e})")

    sides = {
        "ours": fwd_bwd(ours, field, grad_field, list(ours.parameters())),
        "conv2d": fwd_bwd(plain, x, grad_out, list(plain.parameters())),
    }
    escnn_params = None
    if escnn is not None:
        theirs = build_escnn(escnn, name, fields, kernel).train()
        ftype = theirs.in_type
        _, enn = escnn

        def escnn_forward(inp: torch.Tensor) -> torch.Tensor:
            return theirs(enn.GeometricTensor(inp, ftype)).tensor

        escnn_params = sum(p.numel() for p in theirs.parameters())
        sides["escnn"] = fwd_bwd(escnn_forward, x, grad_out, list(theirs.parameters()))

    times = interleaved_times(sides, rounds=args.rounds, warmup=args.warmup)
    record: dict[str, object] = {
        "group": name,
        "fields": fields,
        "channels": channels,
        "batch": batch,
        "size": size,
        "kernel": kernel,
        "input_shape": list(x.shape),
        "params": {
            "ours": sum(p.numel() for p in ours.parameters()),
            "conv2d": sum(p.numel() for p in plain.parameters()),
            "escnn": escnn_params,
        },
        "ours_vs_conv2d_output_gap": gap,
        "inner": times["inner"],
        "seconds": times["seconds"],
        "ours_vs_conv2d": ratio_from_times(times, "ours", "conv2d").as_dict(),
    }
    if escnn is not None:
        record["ours_vs_escnn"] = ratio_from_times(times, "ours", "escnn").as_dict()
    if args.diagnose:
        record["bank_only"] = time_bank_only(ours, times, args)
        record["input_check_only"] = time_input_check(field, times, args)
    if args.forms:
        record["bank_forms"] = time_bank_forms(ours, times, args)
    return record


def construction(fields: int, rounds: int, escnn_fields: int, escnn_rounds: int, escnn) -> dict:
    """Construction time of our p4m layer (absolute, many rounds) and vs escnn (few rounds)."""
    # The floor of any eager construction: drawing the layer's C_out·C_in·|G|·k² parameters.
    shape = (fields, fields, D4.order, 3, 3)
    times = interleaved_times(
        {
            "ours": lambda: GroupConv2d(fields, fields, 3, D4),
            "uniform_fill": lambda: torch.empty(shape).uniform_(-1.0, 1.0),
        },
        rounds=rounds,
        warmup=1,
        inner=1,
    )
    ours_seconds = times["seconds"]["ours"]
    record = {
        "layer": f"p4m {fields}->{fields} fields, kernel 3",
        "parameters": fields * fields * D4.order * 9 + fields,
        "ours_seconds": ours_seconds,
        "ours_median_seconds": statistics.median(ours_seconds),
        "ours_min_seconds": min(ours_seconds),
        "ours_vs_uniform_fill": ratio_from_times(times, "ours", "uniform_fill").as_dict(),
    }
    if escnn is not None and escnn_rounds > 0:
        # escnn builds its kernel basis at construction (tens of seconds at 256 fields), so
        # only a few interleaved rounds fit the time budget: ours, escnn, ours, escnn, ...
        pairs = []
        for _ in range(escnn_rounds):
            start = time.perf_counter()
            GroupConv2d(escnn_fields, escnn_fields, 3, D4)
            t_ours = time.perf_counter() - start
            start = time.perf_counter()
            build_escnn(escnn, "p4m", escnn_fields, 3)
            t_escnn = time.perf_counter() - start
            pairs.append({"ours": t_ours, "escnn": t_escnn, "ratio": t_ours / t_escnn})
        ratios = [p["ratio"] for p in pairs]
        record["vs_escnn"] = {
            "layer": f"p4m {escnn_fields}->{escnn_fields} fields, kernel 3",
            "rounds": pairs,
            "median_ratio": statistics.median(ratios),
            "min_ratio": min(ratios),
            "note": "first escnn round includes filling escnn's basis caches",
        }
    return record


def report_construction(build: dict[str, int], escnn: tuple[object, object] | None) -> dict:
    """Time and print the construction of our 256-field p4m layer (and escnn's)."""
    built = construction(
        build["fields"], build["rounds"], build["escnn_fields"], build["escnn_rounds"], escnn
    )
    fill = built["ours_vs_uniform_fill"]
    print(
        f"\nconstruction {built['layer']}: median {built['ours_median_seconds']:.4f} s, "
        f"min {built['ours_min_seconds']:.4f} s (target <= 0.05 s); ratio to drawing its "
        f"parameters (torch.empty(...).uniform_): median {fill['median']:.3f}, "
        f"min {fill['min']:.3f}"
    )
    if "vs_escnn" in built:
        vs = built["vs_escnn"]
        print(
            f"construction vs escnn ({vs['layer']}): ratio median {vs['median_ratio']:.2e}, "
            f"min {vs['min_ratio']:.2e}; escnn seconds "
            + ", ".join(f"{p['escnn']:.2f}" for p in vs["rounds"])
        )
    return built


def main() -> None:
    parser = common_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="also time building our filter bank alone (forward + backward of filter_bank())",
    )
    parser.add_argument(
        "--forms",
        action="store_true",
        help="also time other ways of building the same bank (gather, gather with a "
        "hand-written backward, stacked rot90/flip, permutation matmul)",
    )
    add_clock_argument(parser)
    parser.add_argument(
        "--no-construction",
        action="store_true",
        help="skip the construction-time comparison (escnn needs minutes at 256 fields)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    use_clock(args.clock)
    if args.rounds is None:
        args.rounds = 10 if args.quick else 20
    escnn = load_escnn()
    env = environment(["torch", "escnn", "numpy", "scipy", "lie_learn"], args.threads, "float32")
    # (group, fields C, batch, map size, kernel): |G|·C = 64 channels for both groups.
    sizes = (8,) if args.quick else (8, 16, 32)
    configs = [(name, 64 // GROUPS[name].order, 32, size, 3) for size in sizes for name in GROUPS]
    if args.quick:
        build = {"fields": 256, "rounds": 10, "escnn_fields": 16, "escnn_rounds": 3}
    else:
        build = {"fields": 256, "rounds": 30, "escnn_fields": 256, "escnn_rounds": 2}

    results = []
    rows = []
    for name, fields, batch, size, kernel in configs:
        rec = compare_fwd_bwd(name, fields, batch, size, kernel, escnn, args)
        results.append(rec)
        esc = rec.get("ours_vs_escnn")
        rows.append(
            {
                "group": name,
                "fields": fields,
                "B,HxW": f"{batch},{size}x{size}",
                "ours ms": f"{1e3 * statistics.median(rec['seconds']['ours']):.2f}",
                "ours/conv2d med (min)": "{median:.3f} ({min:.3f})".format(**rec["ours_vs_conv2d"]),
                "ours/escnn med (min)": (
                    "{median:.3f} ({min:.3f})".format(**esc) if esc else "n/a"
                ),
            }
        )
        if args.diagnose:
            rows[-1]["bank only/conv2d (medians)"] = "{:.4f}".format(
                rec["bank_only"]["median_vs_conv2d_median"]
            )
            rows[-1]["input check/conv2d"] = "{:.4f}".format(
                rec["input_check_only"]["median_vs_conv2d_median"]
            )
        if args.forms:
            for form, share in rec["bank_forms"]["median_vs_conv2d_median"].items():
                rows[-1][f"{form}/conv2d"] = f"{share:.4f}"
        print_table(rows[-1:], list(rows[-1]))  # progress, one row at a time
    print()
    print_table(rows, list(rows[0]))

    built = None if args.no_construction else report_construction(build, escnn)

    payload = {
        "benchmark": "group_conv",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "quick": args.quick,
        "environment": env,
        "protocol": {
            "rounds": args.rounds,
            "warmup": args.warmup,
            "order": "rotated every round (ours, conv2d, escnn / conv2d, escnn, ours / ...)",
            "work": "forward + autograd.grad wrt input and all parameters; training mode",
            "ratio": "t_ours / t_other per round; < 1 means ours is faster",
            "clock": args.clock,
        },
        "targets": {
            "ours_vs_conv2d": "<= 1.10 at every size (median ratio)",
            "ours_vs_escnn": "<= 1.0 at every size (median ratio)",
            "construction_256_p4m_seconds": "<= 0.05",
        },
        "targets_met": {
            "ours_vs_conv2d": all(r["ours_vs_conv2d"]["median"] <= 1.10 for r in results),
            "ours_vs_escnn": (
                all(r["ours_vs_escnn"]["median"] <= 1.0 for r in results)
                if escnn is not None
                else None
            ),
        },
        "fwd_bwd": results,
        "construction": built,
    }
    name = "group_conv" + ("_quick" if args.quick else "") + ("_cpu" if args.clock == "cpu" else "")
    path = write_result(name, payload, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
