#!/usr/bin/env bash
# Build the benchmark environments from scratch under benchmarks/.envs/ (gitignored).
#
#   benchmarks/.envs/peers  torch==2.13.0 (CPU), torchdiffeq, structdl (editable)
#   benchmarks/.envs/escnn  torch==2.13.0 (CPU), numpy<2, escnn (--no-deps) and the light
#                           dependencies it needs to import R2Conv, structdl (editable)
#
# Peers are never dependencies of structdl; they live only here.  escnn gets its own
# environment because it pins numpy<2 and because its optional dependency py3nj needs a
# Fortran compiler: escnn imports without py3nj, and the C4/D4 regular fields used by
# benchmarks/group_conv.py never call it (the script verifies that by importing R2Conv and
# building one layer at the end).
#
#   benchmarks/.envs/manifolds  torch==2.13.0 (CPU), geoopt 0.5.1, geotorch 0.4.0, structdl
#   benchmarks/.envs/reversible torch==2.13.0 (CPU), memcnn 1.5.2 and momentumnet 0.10
#                               (--no-deps), revlib 1.7.2, structdl
#   benchmarks/.envs/flows      torch==2.13.0 (CPU), zuko 1.6, normflows 1.7, nflows 0.14
#                               (--no-deps: it declares tensorboard), FrEIA 0.2, structdl
#   benchmarks/.envs/kfac       torch==2.13.0 (CPU), curvlinops-for-pytorch 3.0.1 (--no-deps:
#                               it declares backpack-for-pytorch, which declares torchvision)
#   benchmarks/.envs/learner    the jpzxshi/learner tree at a pinned commit (src/), imported by
#                               benchmarks/sympnet_learner.py from the project venv
#
# Usage:  bash benchmarks/setup-peers.sh [peers|escnn|manifolds|reversible|flows|kfac|learner|all] (default: all)
# Environment: PYTHON (interpreter used to create the venvs; default python3.11 or python3),
#              FRESH=1 to delete an existing environment first.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
ENVS="$HERE/.envs"
TORCH_VERSION="2.13.0"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
WHICH="${1:-all}"

# torch first, pinned, from the CPU index, so that nothing installed later can pull in a
# multi-gigabyte CUDA build of torch as a "dependency upgrade".
TORCH_INDEX="https://download.pytorch.org/whl/cpu"

make_env() {  # make_env NAME -> creates $ENVS/NAME with an up-to-date pip and torch
    local name="$1" dir="$ENVS/$1"
    if [[ "${FRESH:-0}" == "1" && -d "$dir" ]]; then
        rm -rf "$dir"
    fi
    if [[ ! -x "$dir/bin/python" ]]; then
        echo "== creating $dir with $PYTHON"
        "$PYTHON" -m venv "$dir"
    fi
    "$dir/bin/python" -m pip install -q --upgrade pip wheel "setuptools<81"
    # A local wheel (pip's find-links) is preferred when present; otherwise the CPU index.
    "$dir/bin/python" -m pip install -q "torch==$TORCH_VERSION" \
        || "$dir/bin/python" -m pip install -q "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX"
}

build_peers() {
    local py="$ENVS/peers/bin/python"
    make_env peers
    echo "== peers: torchdiffeq + structdl"
    "$py" -m pip install -q numpy matplotlib scikit-learn rich scipy
    "$py" -m pip install -q torchdiffeq
    "$py" -m pip install -q --no-deps -e "$ROOT"
    "$py" - <<'EOF'
import torch, torchdiffeq, structdl
print("peers ok: torch", torch.__version__, "torchdiffeq", torchdiffeq.__version__,
      "structdl", structdl.__version__)
EOF
}

build_escnn() {
    local py="$ENVS/escnn/bin/python"
    make_env escnn
    echo "== escnn: numpy<2, escnn --no-deps, and its light dependencies"
    "$py" -m pip install -q "numpy<2" "scipy<1.14" joblib autograd
    # lie_learn's released source needs Cython at build time; build it against numpy<2.
    "$py" -m pip install -q Cython
    "$py" -m pip install -q --no-build-isolation lie_learn
    # pymanopt is imported by escnn's kernel-basis code (for the band-limited bases);
    # --no-deps keeps it from pulling other array back-ends.
    "$py" -m pip install -q --no-deps pymanopt
    "$py" -m pip install -q --no-deps escnn
    # structdl's own light runtime dependencies (torch and numpy<2 are already there).
    # scikit-learn<1.6: escnn's D4 kernel basis calls sklearn's randomized_svd on an
    # np.matrix, which newer scikit-learn rejects ("np.matrix is not supported").
    "$py" -m pip install -q matplotlib "scikit-learn<1.6" rich
    "$py" -m pip install -q --no-deps -e "$ROOT"
    "$py" - <<'EOF'
import importlib.util

import torch
from escnn import gspaces, nn as enn

has_py3nj = importlib.util.find_spec("py3nj") is not None
for name, gspace in (("C4", gspaces.rot2dOnR2(4)), ("D4", gspaces.flipRot2dOnR2(4))):
    field = enn.FieldType(gspace, 2 * [gspace.regular_repr])
    conv = enn.R2Conv(field, field, kernel_size=3, padding=1)
    y = conv(enn.GeometricTensor(torch.randn(1, field.size, 8, 8), field))
    print(f"escnn ok: {name} R2Conv {tuple(y.tensor.shape)}")
import escnn, numpy, structdl
print("escnn env: torch", torch.__version__, "escnn", escnn.__version__, "numpy",
      numpy.__version__, "py3nj installed:", has_py3nj, "structdl", structdl.__version__)
EOF
}

build_manifolds() {
    local py="$ENVS/manifolds/bin/python"
    make_env manifolds
    echo "== manifolds: geoopt 0.5.1, geotorch 0.4.0 + structdl"
    "$py" -m pip install -q numpy scipy "geoopt==0.5.1" "geotorch==0.4.0"
    "$py" -m pip install -q matplotlib scikit-learn rich
    "$py" -m pip install -q --no-deps -e "$ROOT"
    "$py" -c "import torch, geoopt, geotorch, structdl; print('manifolds ok: torch', torch.__version__, 'geoopt', geoopt.__version__, 'structdl', structdl.__version__)"
}

build_reversible() {
    # memcnn 1.5.2 and momentumnet 0.10 declare torchvision: --no-deps, light deps by hand.
    local py="$ENVS/reversible/bin/python"
    make_env reversible
    echo "== reversible: memcnn 1.5.2, momentumnet 0.10 (--no-deps), revlib 1.7.2 + structdl"
    "$py" -m pip install -q numpy scipy matplotlib scikit-learn rich psutil
    "$py" -m pip install -q --no-deps "memcnn==1.5.2" "momentumnet==0.10" "revlib==1.7.2"
    "$py" -m pip install -q --no-deps -e "$ROOT"
    "$py" -c "import torch, memcnn, momentumnet, revlib, structdl; print('reversible ok: torch', torch.__version__, 'memcnn', memcnn.__version__, 'structdl', structdl.__version__)"
}

build_flows() {
    local py="$ENVS/flows/bin/python"
    make_env flows
    echo "== flows: zuko 1.6, normflows 1.7, nflows 0.14 (--no-deps), FrEIA 0.2 + structdl"
    "$py" -m pip install -q numpy scipy matplotlib scikit-learn rich tqdm
    "$py" -m pip install -q "zuko==1.6.*" "normflows==1.7.*" "FrEIA==0.2.*"
    "$py" -m pip install -q --no-deps "nflows==0.14"
    "$py" -m pip install -q --no-deps -e "$ROOT"
    "$py" -c "import torch, zuko, normflows, nflows, FrEIA, structdl; print('flows ok: torch', torch.__version__, 'zuko', zuko.__version__, 'normflows', normflows.__version__, 'structdl', structdl.__version__)"
}

build_kfac() {
    local py="$ENVS/kfac/bin/python"
    make_env kfac
    echo "== kfac: curvlinops-for-pytorch 3.0.1 (--no-deps) + its light dependencies + structdl"
    # Its own dependencies minus backpack-for-pytorch, which the KFAC operator never imports.
    "$py" -m pip install -q numpy scipy einops einconv opt-einsum linear_operator tqdm pytest
    "$py" -m pip install -q matplotlib scikit-learn rich
    "$py" -m pip install -q --no-deps "curvlinops-for-pytorch==3.0.1"
    "$py" -m pip install -q --no-deps -e "$ROOT"
    "$py" -c "import importlib.metadata as m, torch, curvlinops, structdl; print('kfac ok: torch', torch.__version__, 'curvlinops', m.version('curvlinops-for-pytorch'), 'structdl', structdl.__version__)"
}

build_learner() {
    # jpzxshi/learner (the SympNets authors' code) is not on PyPI and needs only torch and
    # numpy: its tree at a pinned commit is extracted to .envs/learner/src, and
    # benchmarks/sympnet_learner.py imports it from there in the project's own venv.
    # LEARNER_GIT: a clone URL or a local (bare) git directory holding that commit.
    local dest="$ENVS/learner/src" commit="1d0cf4326d86d2798d60db923a6b08abd5cb6366"
    local source="${LEARNER_GIT:-https://github.com/jpzxshi/learner}"
    echo "== learner: $source @ $commit -> $dest"
    if [[ ! -f "$dest/learner/__init__.py" ]]; then
        local clone="$ENVS/learner/git"
        [[ -d "$clone" ]] || git clone -q --bare "$source" "$clone"
        mkdir -p "$dest"
        git --git-dir="$clone" archive "$commit" | tar -x -C "$dest"
    fi
    "$ROOT/.venv/bin/python" -c "import sys; sys.path.insert(0, '$dest'); import learner, torch; print('learner ok: torch', torch.__version__, type(learner.nn.GSympNet(2, 5, 30)).__name__)"
}

mkdir -p "$ENVS"
case "$WHICH" in
    peers) build_peers ;;
    escnn) build_escnn ;;
    manifolds) build_manifolds ;;
    reversible) build_reversible ;;
    flows) build_flows ;;
    kfac) build_kfac ;;
    learner) build_learner ;;
    all) build_peers; build_escnn; build_manifolds; build_reversible; build_flows; build_kfac; build_learner ;;
    *) echo "usage: $0 [peers|escnn|manifolds|reversible|flows|kfac|learner|all]" >&2; exit 2 ;;
esac
echo "== done: $WHICH"
