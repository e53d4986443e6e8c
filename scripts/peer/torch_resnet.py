"""The PyTorch peer of `pact bench`: the same adaptive ResNet, timed the same way.

The network is the one `pact` trains (models/src/resnet): a 3x3 stem convolution to 16
channels, then three stages of `--units` pre-activation residual units (widths 16/32/64,
strides 1/2/2; each unit is BN + leaky ReLU(0.1) -> 3x3 conv -> BN + leaky ReLU -> 3x3 conv,
with an identity shortcut, or average pooling and zero channel padding where the shape
changes), halting heads after every unit but the last of a stage (global average pool -> BN
-> leaky ReLU -> linear to one logit, bias -3), and a classifier (BN + leaky ReLU -> global
average pool -> linear). Batch norms use eps 1e-3 and momentum 0.1.

Modes:
  plain  every unit, no heads;
  act    Graves' ACT per stage (eps 0.01, ponder cost N + R added with weight --tau);
  pact   training: Concrete-relaxed halting variables (temperature 0.5) with stick-breaking
         weights and the prior term lambda * E_q[N]; evaluation: the threshold rule h >= 0.5,
         computed densely (every unit runs, then the state is selected).

It times `--steps` training steps (SGD, momentum 0.9, weight decay 1e-4, after 2 warm-up
steps) and as many no-grad evaluation passes on one random batch, then prints one JSON line:
`train_img_per_s`, `eval_img_per_s`, `peak_rss_mb`, and `isa`, the instruction set ATen's
kernels use (`ATEN_CPU_CAPABILITY=avx2` with `ONEDNN_MAX_CPU_ISA=AVX2` forces AVX2).

    python3 -m venv .venv-peer && .venv-peer/bin/pip install torch numpy
    .venv-peer/bin/python scripts/peer/torch_resnet.py --mode act --units 5 --batch 128 --steps 10 --threads 2

`scripts/bench_vs_torch.sh` runs it next to `pact bench` with the same settings.
"""

import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SLOPE = 0.1
BN_EPS = 1e-3
ACT_EPS = 0.01


def bn_act(bn, x):
    return F.leaky_relu(bn(x), SLOPE)


# Module names follow pact's parameter names (`stages.0.units.1.c1.weight`, `stages.0.halt.0`,
# ...), so a `pact` checkpoint loads as it is (scripts/check_torch_interop.py).


class ResidualUnit(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.b1 = nn.BatchNorm2d(c_in, eps=BN_EPS)
        self.c1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.b2 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.c2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.stride = stride
        self.extra_channels = c_out - c_in

    def shortcut(self, x):
        if self.stride > 1:
            x = F.avg_pool2d(x, self.stride)
        if self.extra_channels:
            low = self.extra_channels // 2
            x = F.pad(x, (0, 0, 0, 0, low, self.extra_channels - low))
        return x

    def forward(self, x):
        branch = self.c2(bn_act(self.b2, self.c1(bn_act(self.b1, x))))
        return branch + self.shortcut(x)


def act_weights(h):
    """ACT's weights p (B x L) and ponder cost N + R (B) from halting probabilities h."""
    batch, units = h.shape
    weights = torch.zeros_like(h)
    cost = torch.zeros(batch)
    running = torch.zeros(batch)
    open_ = torch.ones(batch, dtype=torch.bool)
    for n in range(units):
        last = n == units - 1
        stops = open_ & ((running + h[:, n] >= 1 - ACT_EPS) | last)
        remainder = 1 - running
        weights[:, n] = torch.where(stops, remainder, torch.where(open_, h[:, n], 0.0))
        cost = torch.where(stops, (n + 1) + remainder, cost)
        running = running + torch.where(open_, h[:, n], 0.0)
        open_ = open_ & ~stops
    return weights, cost


def pact_weights(h, training, temperature=0.5):
    """Stick-breaking weights (B x L) of relaxed (training) or thresholded (evaluation)
    halting variables, and E_q[N] (B)."""
    batch, units = h.shape
    if training:
        u = torch.rand_like(h).clamp(1e-6, 1 - 1e-6)
        logit = torch.logit(h.clamp(1e-6, 1 - 1e-6))
        z = torch.sigmoid((logit + torch.log(u) - torch.log1p(-u)) / temperature)
    else:
        z = (h >= 0.5).to(h.dtype)
    z = torch.cat([z[:, :-1], torch.ones(batch, 1)], 1)
    survive = torch.cumprod(torch.cat([torch.ones(batch, 1), 1 - z[:, :-1]], 1), 1)
    q_survive = torch.cumprod(torch.cat([torch.ones(batch, 1), 1 - h[:, :-1]], 1), 1)
    expected_n = (q_survive * torch.cat([h[:, :-1], torch.ones(batch, 1)], 1)
                  * torch.arange(1, units + 1)).sum(1)
    return z * survive, expected_n


class Stage(nn.Module):
    def __init__(self, c_in, c_out, stride, units, mode):
        super().__init__()
        self.units = nn.ModuleList(
            ResidualUnit(c_in if i == 0 else c_out, c_out, stride if i == 0 else 1)
            for i in range(units))
        # Halting head i: global average pool -> BN -> leaky ReLU -> linear, bias -3.
        self.halt_bn = nn.ModuleList(nn.BatchNorm1d(c_out, eps=BN_EPS) for _ in range(units - 1))
        self.halt = nn.ModuleList(nn.Linear(c_out, 1) for _ in range(units - 1))
        for head in self.halt:
            nn.init.constant_(head.bias, -3.0)
        self.mode = mode

    def halting(self, i, state):
        if i == len(self.halt):
            return torch.ones(state.shape[0])
        pooled = bn_act(self.halt_bn[i], state.mean((2, 3)))
        return torch.sigmoid(self.halt[i](pooled).squeeze(1))

    def forward(self, x):
        if self.mode == "plain":
            for unit in self.units:
                x = unit(x)
            return x, torch.zeros(x.shape[0])
        states, halting = [], []
        for i, unit in enumerate(self.units):
            x = unit(x)
            states.append(x)
            halting.append(self.halting(i, x))
        h = torch.stack(halting, 1)
        if self.mode == "act":
            weights, cost = act_weights(h)
        else:
            weights, cost = pact_weights(h, self.training)
        mixed = sum(weights[:, i].view(-1, 1, 1, 1) * s for i, s in enumerate(states))
        return mixed, cost


class AdaptiveResNet(nn.Module):
    def __init__(self, units, mode, channels, classes, widths=(16, 32, 64)):
        super().__init__()
        self.conv = nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False)
        c_in = widths[0]
        stages = []
        for width, stride in zip(widths, (1, 2, 2)):
            stages.append(Stage(c_in, width, stride, units, mode))
            c_in = width
        self.stages = nn.ModuleList(stages)
        self.bn = nn.BatchNorm2d(widths[-1], eps=BN_EPS)
        self.fc = nn.Linear(widths[-1], classes)

    def forward(self, x):
        x = self.conv(x)
        total = 0
        for stage in self.stages:
            x, cost = stage(x)
            total = total + cost
        return self.fc(bn_act(self.bn, x).mean((2, 3))), total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=["plain", "act", "pact"], default="act")
    ap.add_argument("--units", type=int, default=5, help="units per stage (5: ResNet-32)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tau", type=float, default=0.01, help="ACT's tau or PACT's lambda")
    ap.add_argument("--channels", type=int, default=3, help="image channels (1 for MNIST-like)")
    ap.add_argument("--size", type=int, default=32, help="image side (28 for MNIST-like)")
    ap.add_argument("--classes", type=int, default=10)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    net = AdaptiveResNet(a.units, a.mode, a.channels, a.classes)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(a.batch, a.channels, a.size, a.size)
    y = torch.randint(0, a.classes, (a.batch,))

    def timed(step, training):
        net.train(training)
        for i in range(a.steps + 2):
            if i == 2:
                start = time.perf_counter()
            step()
        return a.batch * a.steps / (time.perf_counter() - start)

    def train_step():
        logits, cost = net(x)
        loss = F.cross_entropy(logits, y) + a.tau * cost.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    def eval_step():
        with torch.no_grad():
            net(x)

    train_ips = timed(train_step, True)
    eval_ips = timed(eval_step, False)
    print(json.dumps({
        "peer": "pytorch", "torch": torch.__version__, "mode": a.mode, "units": a.units,
        "isa": torch.backends.cpu.get_cpu_capability().lower(),
        "batch": a.batch, "train_img_per_s": round(train_ips, 1),
        "eval_img_per_s": round(eval_ips, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }))


if __name__ == "__main__":
    main()
