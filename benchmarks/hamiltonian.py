"""One HNN training step: our closed-form batched gradient against the anchor's autograd pattern.

Question: how much faster is a training step of structdl's :class:`HamiltonianNN` than the
Hamiltonian neural network of greydanus/hamiltonian-nn, on the same sizes?

Sides (same architecture — two tanh hidden layers of width 200, orthogonal weights — same
inputs, same loss ``mean ‖J∇H_θ(x) − ẋ‖²``, one Adam step each call):

* ``ours`` — :class:`structdl.dynamics.learning.HamiltonianNN`: ``∇H_θ`` formed by explicit
  batched products (:class:`~structdl.dynamics.learning.ScalarMLP`), one plain backward;
* ``anchor`` — a reimplementation of the anchor's ``HNN.time_derivative`` pattern (its code is
  a script collection, not an installable package, so it is re-typed here, not imported): an
  MLP with two outputs, ``torch.autograd.grad(F2.sum(), x, create_graph=True)`` and ``@ M.T``,
  then the backward through that double-backward graph;
* ``per_sample`` — the same autograd route one sample at a time (a Python loop), the pattern of
  the tutorials that differentiate each state separately.

The sizes are the anchor's: mass–spring (d = 1, full batch 750), two-body (d = 4, minibatch
200), three-body (d = 6, minibatch 600). Ratios ``t_ours / t_other`` per interleaved round;
below 0.5 means at least twice as fast.

Run::

    .venv/bin/python benchmarks/hamiltonian.py [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402  (the harness sits next to this script)
    add_clock_argument,
    common_parser,
    environment,
    interleaved_times,
    print_table,
    ratio_from_times,
    use_clock,
    write_result,
)

from structdl.dynamics.learning import HamiltonianNN  # noqa: E402

#: (name, degrees of freedom, batch) of the anchor's tasks.
CASES = (("mass_spring", 1, 750), ("two_body", 4, 200), ("three_body", 6, 600))
WIDTH = 200


class AnchorPattern(nn.Module):
    """The anchor's HNN pattern, re-typed: MLP → two scalars, autograd for the field."""

    def __init__(self, dim: int, width: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(dim, width)
        self.linear2 = nn.Linear(width, width)
        self.linear3 = nn.Linear(width, 2, bias=False)
        for layer in (self.linear1, self.linear2, self.linear3):
            nn.init.orthogonal_(layer.weight)
        eye = torch.eye(dim)
        self.register_buffer("M", torch.cat((eye[dim // 2 :], -eye[: dim // 2])))

    def time_derivative(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.linear1(x))
        h = torch.tanh(self.linear2(h))
        _, f2 = self.linear3(h).split(1, 1)
        (grad,) = torch.autograd.grad(f2.sum(), x, create_graph=True)
        return grad @ self.M.t()


def _agreement(ours: HamiltonianNN, anchor: AnchorPattern, x: torch.Tensor) -> float:
    """Copy the anchor's weights into ours and return ``max |field_ours − field_anchor|``."""
    with torch.no_grad():
        net = ours.net
        net.weights[0].copy_(anchor.linear1.weight)
        net.biases[0].copy_(anchor.linear1.bias)
        net.weights[1].copy_(anchor.linear2.weight)
        net.biases[1].copy_(anchor.linear2.bias)
        net.head.copy_(anchor.linear3.weight[1])
    theirs = anchor.time_derivative(x).detach()
    return float((ours.time_derivative(x.detach()).detach() - theirs).abs().max())


def _training_step(model: nn.Module, x: torch.Tensor, dx: torch.Tensor, *, per_sample: bool):  # noqa: ANN202
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        if per_sample:
            rows = [model.time_derivative(x[i : i + 1]) for i in range(x.shape[0])]
            predicted = torch.cat(rows)
        else:
            predicted = model.time_derivative(x)
        loss = (predicted - dx).pow(2).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    return step


def main() -> None:
    parser = common_parser(__doc__.splitlines()[0])
    parser.add_argument("--no-per-sample", action="store_true", help="skip the per-sample loop")
    add_clock_argument(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    use_clock(args.clock)
    rounds = args.rounds or (10 if args.quick else 20)
    cases = CASES[:1] if args.quick else CASES
    env = environment(["torch", "numpy"], args.threads, "float32")
    rows, records = [], []
    for name, dof, batch in cases:
        torch.manual_seed(args.seed)
        x = torch.randn(batch, 2 * dof, requires_grad=True)
        dx = torch.randn(batch, 2 * dof)
        ours = HamiltonianNN(dof, WIDTH)
        anchor = AnchorPattern(2 * dof, WIDTH)
        sides = {
            "ours": _training_step(ours, x.detach(), dx, per_sample=False),
            "anchor": _training_step(anchor, x, dx, per_sample=False),
        }
        if not args.no_per_sample:
            sides["per_sample"] = _training_step(anchor, x, dx, per_sample=True)
        # Same work: with the same weights both compute the same field (checked once).
        agreement = _agreement(ours, anchor, x)
        times = interleaved_times(sides, rounds=rounds, warmup=args.warmup, min_seconds=0.05)
        record = {
            "case": name,
            "dof": dof,
            "batch": batch,
            "width": WIDTH,
            "field_agreement": agreement,
            "times": times,
        }
        row = {"case": f"{name} (d={dof}, batch {batch})", "agree": f"{agreement:.1e}"}
        for other in [s for s in sides if s != "ours"]:
            ratio = ratio_from_times(times, "ours", other)
            record[f"ours/{other}"] = ratio.as_dict()
            row[f"ours/{other} median"] = f"{ratio.median:.3f}"
            row[f"ours/{other} min"] = f"{ratio.min:.3f}"
            row[f"speed-up vs {other}"] = f"{1.0 / ratio.median:.2f}x"
        rows.append(row)
        records.append(record)
    columns = list(rows[0])
    print_table(rows, columns)
    payload = {"environment": env, "rounds": rounds, "clock": args.clock, "cases": records}
    path = write_result("hamiltonian" + ("_quick" if args.quick else ""), payload, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
