"""K-FAC: exact GGN block for a linear output layer under squared loss; damping; typed errors."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.func import functional_call, jacrev

from structdl import ConfigError, ShapeError, StepSizeError
from structdl.optim.kfac import KFAC

GGN_TOL = 1e-10  # float64


def _exact_ggn_block(net: torch.nn.Module, layer_prefix: str, x: torch.Tensor) -> torch.Tensor:
    """(1/N) Σ_n J_nᵀ J_n over vec([W, b]) (row-major), by torch.func — the squared-loss GGN."""
    params = {k: v.detach() for k, v in net.named_parameters()}

    def out(w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        p = dict(params)
        p[f"{layer_prefix}weight"], p[f"{layer_prefix}bias"] = w, b
        return functional_call(net, p, (x,))

    jw, jb = jacrev(out, argnums=(0, 1))(
        params[f"{layer_prefix}weight"], params[f"{layer_prefix}bias"]
    )  # (N, C, out, in), (N, C, out)
    j = torch.cat([jw, jb.unsqueeze(-1)], dim=-1).reshape(x.shape[0], jw.shape[1], -1)
    return torch.einsum("nci,ncj->ij", j, j) / x.shape[0]


def test_single_linear_layer_factors_equal_exact_ggn() -> None:
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3).double()
    x, y = torch.randn(20, 4, dtype=torch.float64), torch.randn(20, 3, dtype=torch.float64)
    opt = KFAC(net, lr=0.1, damping=1e-3)
    a, g = opt.curvature_factors(lambda: (net(x), y))[net]
    exact = _exact_ggn_block(net, "", x)
    assert torch.allclose(torch.kron(g, a), exact, rtol=0, atol=GGN_TOL)


def test_last_layer_of_a_deep_net_is_exact_and_hidden_layer_is_not() -> None:
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)
    ).double()
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    factors = KFAC(net, damping=1e-3).curvature_factors(lambda: (net(x), y))
    a, g = factors[net[2]]
    assert torch.allclose(torch.kron(g, a), _exact_ggn_block(net, "2.", x), rtol=0, atol=GGN_TOL)
    # Negative control: the hidden layer's Kronecker product is only an approximation.
    a, g = factors[net[0]]
    gap = (torch.kron(g, a) - _exact_ggn_block(net, "0.", x)).abs().max()
    assert gap > 1e-4


def test_first_step_is_damped_kronecker_solve() -> None:
    torch.manual_seed(2)
    net = torch.nn.Linear(3, 2).double()
    x, y = torch.randn(10, 3, dtype=torch.float64), torch.randn(10, 2, dtype=torch.float64)
    lam, lr = 1e-2, 0.5
    before = torch.cat([net.weight.detach(), net.bias.detach().unsqueeze(1)], dim=1).clone()
    loss = 0.5 * ((net(x) - y) ** 2).sum(1).mean()
    gw, gb = torch.autograd.grad(loss, [net.weight, net.bias])
    grad = torch.cat([gw, gb.unsqueeze(1)], dim=1)
    opt = KFAC(net, lr=lr, damping=lam)
    a, g = opt.curvature_factors(lambda: (net(x), y))[net]
    opt.step(lambda: (net(x), y))
    after = torch.cat([net.weight.detach(), net.bias.detach().unsqueeze(1)], dim=1)
    r = lam**0.5
    kron = torch.kron(g + r * torch.eye(2, dtype=g.dtype), a + r * torch.eye(4, dtype=a.dtype))
    expected = before.reshape(-1) - lr * torch.linalg.solve(kron, grad.reshape(-1))
    assert torch.allclose(after.reshape(-1), expected, rtol=0, atol=1e-12)


def test_categorical_factor_root_reproduces_softmax_hessian() -> None:
    torch.manual_seed(3)
    net = torch.nn.Linear(4, 5).double()
    x, labels = torch.randn(12, 4, dtype=torch.float64), torch.randint(0, 5, (12,))
    a, g = KFAC(net, likelihood="categorical").curvature_factors(lambda: (net(x), labels))[net]
    p = torch.softmax(net(x).detach(), dim=-1)
    # Last layer: G = (1/N) Σ_n (diag(p_n) − p_n p_nᵀ).
    expected = (torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)).mean(0)
    assert torch.allclose(g, expected, rtol=0, atol=1e-12)


def test_trains_a_small_classifier() -> None:
    torch.manual_seed(4)
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    x = torch.randn(128, 2)
    labels = (x[:, 0] * x[:, 1] > 0).long()
    opt = KFAC(net, lr=0.3, damping=1e-2, likelihood="categorical", inverse_every=5)
    losses = [float(opt.step(lambda: (net(x), labels))) for _ in range(60)]
    assert losses[-1] < 0.5 * losses[0]


def test_typed_errors() -> None:
    net = torch.nn.Linear(3, 2)
    for bad in (0.0, -1e-3, float("nan")):
        with pytest.raises(ConfigError, match="damping"):
            KFAC(net, damping=bad)
    with pytest.raises(ConfigError, match="inverse_every"):
        KFAC(net, inverse_every=0)
    with pytest.raises(ConfigError, match="likelihood"):
        KFAC(net, likelihood="poisson")
    with pytest.raises(ConfigError, match="factors"):
        KFAC(net, factors="diagonal")
    with pytest.raises(ConfigError, match="model"):
        KFAC(net.parameters())  # type: ignore[arg-type]
    with pytest.raises(StepSizeError):
        KFAC(net, lr=0.0)
    opt = KFAC(net)
    with pytest.raises(ConfigError, match="closure"):
        opt.step()
    x = torch.randn(5, 3)
    with pytest.raises(ShapeError, match="one shape"):
        opt.step(lambda: (net(x), torch.randn(5, 3)))


def test_sampled_factors_are_unbiased_for_the_last_layer() -> None:
    torch.manual_seed(5)
    net = torch.nn.Linear(3, 4).double()
    x, labels = torch.randn(8, 3, dtype=torch.float64), torch.randint(0, 4, (8,))
    exact = KFAC(net, likelihood="categorical").curvature_factors(lambda: (net(x), labels))[net]
    sampled = KFAC(
        net,
        likelihood="categorical",
        factors="sampled",
        generator=torch.Generator().manual_seed(0),
    )
    mean = sum(sampled.curvature_factors(lambda: (net(x), labels))[net][1] for _ in range(2000))
    mean = mean / 2000
    assert torch.allclose(mean, exact[1], atol=0.02)
    assert not torch.allclose(mean, torch.zeros_like(mean), atol=0.02)


def test_conv2d_one_by_one_equals_linear_and_trains() -> None:
    torch.manual_seed(6)
    conv = torch.nn.Conv2d(4, 3, kernel_size=1).double()
    lin = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        lin.weight.copy_(conv.weight.reshape(3, 4))
        lin.bias.copy_(conv.bias)
    x, y = torch.randn(10, 4, dtype=torch.float64), torch.randn(10, 3, dtype=torch.float64)
    img, target = x.reshape(10, 4, 1, 1), y.reshape(10, 3, 1, 1)
    a_c, g_c = KFAC(conv).curvature_factors(lambda: (conv(img), target))[conv]
    a_l, g_l = KFAC(lin).curvature_factors(lambda: (lin(x), y))[lin]
    assert torch.allclose(a_c, a_l, atol=1e-12) and torch.allclose(g_c, g_l, atol=1e-12)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.Tanh(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 36, 2),
    )
    images = torch.randn(32, 1, 6, 6)
    labels = (images.mean((1, 2, 3)) > 0).long()
    opt = KFAC(net, lr=0.2, damping=1e-2, likelihood="categorical", factors="sampled")
    losses = [float(opt.step(lambda: (net(images), labels))) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


def _flat_params(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def test_linear_on_sequences_expand_factors_equal_exact_ggn() -> None:
    # Weight sharing over T positions: A averages over N·T rows, G sums over positions
    # (K-FAC-expand); for a lone linear layer under the squared loss A ⊗ G is exact.
    torch.manual_seed(7)
    net = torch.nn.Linear(3, 2).double()
    x, y = torch.randn(6, 4, 3, dtype=torch.float64), torch.randn(6, 4, 2, dtype=torch.float64)
    a, g = KFAC(net).curvature_factors(lambda: (net(x), y))[net]
    params = {k: v.detach() for k, v in net.named_parameters()}

    def out(w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return functional_call(net, {"weight": w, "bias": b}, (x,))

    jw, jb = jacrev(out, argnums=(0, 1))(params["weight"], params["bias"])
    j = torch.cat([jw, jb.unsqueeze(-1)], dim=-1).reshape(6, 4 * 2, -1)
    exact = torch.einsum("nci,ncj->ij", j, j) / 6
    assert torch.allclose(torch.kron(g, a), exact, rtol=0, atol=GGN_TOL)


def test_conv_first_step_is_damped_kronecker_solve_of_the_autograd_gradient() -> None:
    # The weight gradient is formed from the captured tensors, (∂L/∂s)ᵀ ã on unfolded
    # patches; it must equal autograd's parameter gradient.
    torch.manual_seed(8)
    conv = torch.nn.Conv2d(2, 3, kernel_size=3, padding=1, stride=2).double()
    images = torch.randn(5, 2, 7, 7, dtype=torch.float64)
    target = torch.randn(5, 3, 4, 4, dtype=torch.float64)
    lam, lr = 1e-2, 0.3
    loss = 0.5 * ((conv(images) - target) ** 2).sum() / 5
    gw, gb = torch.autograd.grad(loss, [conv.weight, conv.bias])
    grad = torch.cat([gw.reshape(3, -1), gb.unsqueeze(1)], dim=1)
    opt = KFAC(conv, lr=lr, damping=lam)
    a, g = opt.curvature_factors(lambda: (conv(images), target))[conv]
    before = torch.cat([conv.weight.detach().reshape(3, -1), conv.bias.detach()[:, None]], 1)
    opt.step(lambda: (conv(images), target))
    after = torch.cat([conv.weight.detach().reshape(3, -1), conv.bias.detach()[:, None]], 1)
    r = lam**0.5
    kron = torch.kron(g + r * torch.eye(3, dtype=g.dtype), a + r * torch.eye(19, dtype=a.dtype))
    expected = before.reshape(-1) - lr * torch.linalg.solve(kron, grad.reshape(-1))
    assert torch.allclose(after.reshape(-1), expected, rtol=0, atol=1e-12)


def test_other_parameters_take_a_plain_gradient_step() -> None:
    torch.manual_seed(9)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.PReLU(4, init=0.3), torch.nn.Linear(4, 2)
    ).double()
    x, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
    loss = 0.5 * ((net(x) - y) ** 2).sum() / 8
    (grad,) = torch.autograd.grad(loss, [net[1].weight])
    before = net[1].weight.detach().clone()
    KFAC(net, lr=0.1).step(lambda: (net(x), y))
    assert torch.allclose(net[1].weight, before - 0.1 * grad, rtol=0, atol=1e-14)


def test_factor_every_reuses_the_running_factors_in_between() -> None:
    torch.manual_seed(10)
    net = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    net = net.double()
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    opt = KFAC(net, lr=0.1, damping=1e-2, factor_every=3, inverse_every=3)
    seen = []
    for _ in range(7):
        opt.step(lambda: (net(x), y))
        seen.append(opt.state[net[2].weight]["A"].clone())  # its input moves
    # Estimates at steps 0, 3, 6; the factors stay put on the steps in between.
    assert torch.equal(seen[0], seen[1]) and torch.equal(seen[1], seen[2])
    assert not torch.equal(seen[2], seen[3])
    assert torch.equal(seen[3], seen[4]) and torch.equal(seen[4], seen[5])
    assert not torch.equal(seen[5], seen[6])
    # The gradient part of a step is the same either way: a fresh optimiser with
    # factor_every=1 takes the same first step.
    torch.manual_seed(10)
    twin = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    twin = twin.double()
    torch.manual_seed(10)
    first = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    first = first.double()
    KFAC(twin, lr=0.1, damping=1e-2, factor_every=1).step(lambda: (twin(x), y))
    KFAC(first, lr=0.1, damping=1e-2, factor_every=5).step(lambda: (first(x), y))
    assert torch.equal(_flat_params(twin), _flat_params(first))


def test_state_dict_resumes_exactly() -> None:
    torch.manual_seed(11)

    def make() -> torch.nn.Module:
        torch.manual_seed(11)
        return torch.nn.Sequential(
            torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)
        ).double()

    x, labels = torch.randn(16, 3, dtype=torch.float64), torch.randint(0, 3, (16,))
    kwargs = {"lr": 0.2, "damping": 1e-2, "likelihood": "categorical", "inverse_every": 4}
    net = make()
    opt = KFAC(net, factor_every=2, **kwargs)
    for _ in range(5):
        opt.step(lambda: (net(x), labels))
    saved_net, saved_opt = copy.deepcopy(net.state_dict()), copy.deepcopy(opt.state_dict())
    for _ in range(6):
        opt.step(lambda: (net(x), labels))
    resumed = make()
    resumed.load_state_dict(saved_net)
    opt2 = KFAC(resumed, factor_every=2, **kwargs)
    opt2.load_state_dict(saved_opt)
    assert opt2.steps == 5
    for _ in range(6):
        opt2.step(lambda: (resumed(x), labels))
    assert torch.equal(_flat_params(net), _flat_params(resumed))


def test_in_place_activation_and_shared_layer_are_refused() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(inplace=True))
    x, y = torch.randn(5, 3), torch.randn(5, 4)
    with pytest.raises(ConfigError, match="in place"):
        KFAC(net).step(lambda: (net(x), y))
    layer = torch.nn.Linear(3, 3)
    with pytest.raises(ConfigError, match="twice"):
        KFAC(layer).step(lambda: (layer(layer(x)), torch.randn(5, 3)))
    with pytest.raises(ConfigError, match="factor_every"):
        KFAC(layer, factor_every=0)


def _layer_matrix(net: torch.nn.Linear) -> torch.Tensor:
    return torch.cat([net.weight.detach(), net.bias.detach().unsqueeze(1)], dim=1).clone()


def test_pi_damping_first_step_is_the_balanced_kronecker_solve() -> None:
    torch.manual_seed(12)
    net = torch.nn.Linear(3, 2).double()
    x, y = 3 * torch.randn(10, 3, dtype=torch.float64), torch.randn(10, 2, dtype=torch.float64)
    lam, lr = 1e-2, 0.5
    before = _layer_matrix(net)
    loss = 0.5 * ((net(x) - y) ** 2).sum(1).mean()
    gw, gb = torch.autograd.grad(loss, [net.weight, net.bias])
    grad = torch.cat([gw, gb.unsqueeze(1)], dim=1)
    opt = KFAC(net, lr=lr, damping=lam, pi_damping=True)
    a, g = opt.curvature_factors(lambda: (net(x), y))[net]
    opt.step(lambda: (net(x), y))
    pi = ((a.trace() / 4) / (g.trace() / 2)).sqrt()
    assert pi > 1.5  # the inputs are large: the balance is far from 1
    r = lam**0.5
    kron = torch.kron(
        g + r / pi * torch.eye(2, dtype=g.dtype), a + r * pi * torch.eye(4, dtype=a.dtype)
    )
    expected = before.reshape(-1) - lr * torch.linalg.solve(kron, grad.reshape(-1))
    assert torch.allclose(_layer_matrix(net).reshape(-1), expected, rtol=0, atol=1e-12)


def test_momentum_adds_the_previous_direction() -> None:
    torch.manual_seed(13)
    net = torch.nn.Linear(3, 2).double()
    twin = copy.deepcopy(net)
    x, y = torch.randn(12, 3, dtype=torch.float64), torch.randn(12, 2, dtype=torch.float64)
    settings = {"lr": 0.3, "damping": 1e-2, "ema": 0.0, "inverse_every": 1}
    ours = KFAC(net, momentum=0.5, **settings)
    plain = KFAC(twin, **settings)
    theta0 = _layer_matrix(net)
    ours.step(lambda: (net(x), y))
    plain.step(lambda: (twin(x), y))
    theta1 = _layer_matrix(net)
    assert torch.equal(theta1, _layer_matrix(twin))  # v₀ = d₀
    plain.step(lambda: (twin(x), y))  # θ₁ − lr·d₁
    ours.step(lambda: (net(x), y))  # θ₁ − lr·(μ d₀ + d₁)
    d0 = (theta0 - theta1) / 0.3
    expected = _layer_matrix(twin) - 0.3 * 0.5 * d0
    assert torch.allclose(_layer_matrix(net), expected, rtol=0, atol=1e-12)


def test_kl_clip_shrinks_the_step_to_the_budget() -> None:
    torch.manual_seed(14)
    net = torch.nn.Linear(3, 2).double()
    twin = copy.deepcopy(net)
    x, y = torch.randn(12, 3, dtype=torch.float64), 5 + torch.randn(12, 2, dtype=torch.float64)
    loss = 0.5 * ((net(x) - y) ** 2).sum(1).mean()
    gw, gb = torch.autograd.grad(loss, [net.weight, net.bias])
    grad = torch.cat([gw, gb.unsqueeze(1)], dim=1)
    lr, budget = 0.5, 1e-4
    theta0 = _layer_matrix(net)
    KFAC(twin, lr=lr, damping=1e-2).step(lambda: (twin(x), y))
    KFAC(net, lr=lr, damping=1e-2, kl_clip=budget).step(lambda: (net(x), y))
    free, clipped = theta0 - _layer_matrix(twin), theta0 - _layer_matrix(net)
    predicted = lr * float((free * grad).sum())  # lr²·dᵀ∇L with d = free/lr
    assert predicted > budget
    scale = (budget / predicted) ** 0.5
    assert torch.allclose(clipped, scale * free, rtol=0, atol=1e-12)
    with pytest.raises(ConfigError, match="kl_clip"):
        KFAC(net, kl_clip=0.0)
    with pytest.raises(ConfigError, match="momentum"):
        KFAC(net, momentum=1.0)


def _exact_block(net, x, names, likelihood):
    """(1/N) Σ J_nᵀ L_n J_n over the named parameters (flattened, in order), by torch.func."""
    params = {k: v.detach() for k, v in net.named_parameters()}

    def out(*chosen):
        p = dict(params)
        p.update(dict(zip(names, chosen, strict=True)))
        return functional_call(net, p, (x,))

    jac = jacrev(out, argnums=tuple(range(len(names))))(*(params[k] for k in names))
    n = x.shape[0]
    j = torch.cat(
        [t.reshape(n, -1, params[k].numel()) for t, k in zip(jac, names, strict=True)], dim=-1
    )
    if likelihood == "gaussian":
        return torch.einsum("nci,ncj->ij", j, j) / n
    p = torch.softmax(out(*(params[k] for k in names)).detach(), dim=-1)
    hessian = torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)
    return torch.einsum("nci,ncd,ndj->ij", j, hessian, j) / n


@pytest.mark.parametrize("likelihood", ["gaussian", "categorical"])
def test_layer_norm_block_is_the_exact_ggn_block(likelihood: str) -> None:
    # y = γ ⊙ x̂ + β acts per sample: with the exact columns of L^{1/2} the kept block
    # (1/N) Σ v vᵀ, v = [Σ x̂ ⊙ j, Σ j], is the GGN block of (γ, β) wherever the layer sits.
    torch.manual_seed(15)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 5), torch.nn.LayerNorm(5), torch.nn.Tanh(), torch.nn.Linear(5, 4)
    ).double()
    with torch.no_grad():
        net[1].weight.uniform_(0.5, 1.5)
        net[1].bias.normal_()
    x = torch.randn(9, 3, dtype=torch.float64)
    y = torch.randint(0, 4, (9,)) if likelihood == "categorical" else torch.randn(9, 4).double()
    (block,) = KFAC(net, likelihood=likelihood).curvature_factors(lambda: (net(x), y))[net[1]]
    exact = _exact_block(net, x, ["1.weight", "1.bias"], likelihood)
    assert torch.allclose(block, exact, rtol=0, atol=GGN_TOL)


def test_batch_norm_in_eval_is_exact_and_in_training_takes_the_plain_step() -> None:
    torch.manual_seed(16)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3, padding=1),
        torch.nn.BatchNorm2d(3),
        torch.nn.Tanh(),
        torch.nn.Flatten(),
        torch.nn.Linear(3 * 16, 2),
    ).double()
    images = torch.randn(6, 1, 4, 4, dtype=torch.float64)
    net.train()
    net(images)  # running statistics away from their initial values
    net.eval()
    with torch.no_grad():
        net[1].weight.uniform_(0.5, 1.5)
    target = torch.randn(6, 2, dtype=torch.float64)
    opt = KFAC(net, lr=0.1, damping=1e-3)
    (block,) = opt.curvature_factors(lambda: (net(images), target))[net[1]]
    exact = _exact_block(net, images, ["1.weight", "1.bias"], "gaussian")
    assert torch.allclose(block, exact, rtol=0, atol=GGN_TOL)
    # The first step in eval mode is the damped solve with that block.
    loss = 0.5 * ((net(images) - target) ** 2).sum() / 6
    grad = torch.cat(torch.autograd.grad(loss, [net[1].weight, net[1].bias]))
    before = torch.cat([net[1].weight.detach(), net[1].bias.detach()]).clone()
    opt.step(lambda: (net(images), target))
    after = torch.cat([net[1].weight.detach(), net[1].bias.detach()])
    expected = before - 0.1 * torch.linalg.solve(exact + 1e-3 * torch.eye(6).double(), grad)
    assert torch.allclose(after, expected, rtol=0, atol=1e-10)
    # Training mode (batch statistics couple the samples): the plain gradient step.
    net.train()
    loss = 0.5 * ((net(images) - target) ** 2).sum() / 6
    grad = torch.cat(torch.autograd.grad(loss, [net[1].weight, net[1].bias]))
    before = torch.cat([net[1].weight.detach(), net[1].bias.detach()]).clone()
    opt.step(lambda: (net(images), target))
    after = torch.cat([net[1].weight.detach(), net[1].bias.detach()])
    assert torch.allclose(after, before - 0.1 * grad, rtol=0, atol=1e-12)


def test_damped_inverse_falls_back_to_a_clipped_spectrum() -> None:
    from structdl.optim.kfac import _damped_inverse

    spd = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    expected = torch.linalg.inv(spd + 0.1 * torch.eye(2, dtype=torch.float64))
    assert torch.allclose(_damped_inverse(spd, 0.1), expected, rtol=0, atol=1e-14)
    # Indefinite after damping (as rounding can leave a factor): eigenvalues clipped at 0.
    indefinite = torch.diag(torch.tensor([-1.0, 1.0], dtype=torch.float64))
    clipped = torch.diag(torch.tensor([1 / 0.1, 1 / 1.1], dtype=torch.float64))
    assert torch.allclose(_damped_inverse(indefinite, 0.1), clipped, rtol=0, atol=1e-14)


def test_embedding_factors_equal_exact_ggn_and_first_step_is_the_damped_solve() -> None:
    # A table E (vocab × dim) is a linear layer on one-hot inputs with W̃ = Eᵀ; shared over T
    # positions, a lone table under the squared loss has K-FAC(-expand) = the GGN block.
    torch.manual_seed(17)
    table = torch.nn.Embedding(6, 3, padding_idx=5).double()
    tokens = torch.randint(0, 6, (5, 4))
    tokens[0, 0] = 5  # the padding row is used once: it must not move
    y = torch.randn(5, 4, 3, dtype=torch.float64)
    opt = KFAC(table, lr=0.5, damping=1e-2)
    a, g = opt.curvature_factors(lambda: (table(tokens), y))[table]
    weight = table.weight.detach()

    def out(w: torch.Tensor) -> torch.Tensor:
        return functional_call(table, {"weight": w}, (tokens,))

    jac = jacrev(out)(weight)  # (N, T, dim, vocab, dim): reorder to vec(Eᵀ), dim-major
    j = jac.transpose(-1, -2).reshape(5, 4 * 3, -1)
    exact = torch.einsum("nci,ncj->ij", j, j) / 5
    assert torch.allclose(torch.kron(g, a), exact, rtol=0, atol=GGN_TOL)
    loss = 0.5 * ((table(tokens) - y) ** 2).sum() / 5
    (grad,) = torch.autograd.grad(loss, [table.weight])
    before = weight.clone()
    opt.step(lambda: (table(tokens), y))
    r = 1e-2**0.5
    kron = torch.kron(g + r * torch.eye(3).double(), a + r * torch.eye(6).double())
    step = torch.linalg.solve(kron, grad.T.reshape(-1)).reshape(3, 6).T
    assert torch.allclose(table.weight.detach(), before - 0.5 * step, rtol=0, atol=1e-12)
    assert torch.equal(table.weight.detach()[5], before[5])
