#!/usr/bin/env python3
"""Tables and plots of the Fashion-MNIST sweep, from its records.

    python3 scripts/fashion_report.py RECORDS [PACT] [--write docs/RESULTS.md]

RECORDS holds one directory per setting (`resnet`, `act-tau-0.05`, `pact-lambda-0.1`, ...),
each with one JSON record per seed (`seed-0.json`, ...) as `scripts/results.sh fashion` writes
them. Prints Markdown tables (per setting: accuracy and FLOPs as mean ± sample standard
deviation over seeds, how much the cost varies between images, units per block and
evaluation memory; per class: accuracy and units; evaluation speed is measured apart, on an
idle machine, by `scripts/results.sh fashion-speed`), then the checks of the claim, and draws docs/img/fashion-tradeoff.png and
docs/img/fashion-classes.png with PACT (the `pact` binary, default target/release/pact).
With `--write FILE`, the tables and checks also replace the text between the markers
`<!-- fashion-report:begin -->` and `<!-- fashion-report:end -->` in FILE. Standard library only.
"""

import json
import pathlib
import statistics
import subprocess
import sys


def load(records):
    """Setting name -> list of records (one per seed), settings with at least one record."""
    settings = {}
    for d in sorted(pathlib.Path(records).iterdir()):
        if not d.is_dir():
            continue
        runs = [json.loads(f.read_text()) for f in sorted(d.glob("seed-*.json"))]
        if runs:
            settings[d.name] = runs
    return settings


def mean(xs):
    return sum(xs) / len(xs)


def std(xs):
    """Sample standard deviation (0 for a single value)."""
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


def method(name):
    if name.startswith("act-"):
        return "ACT"
    if name.startswith("pact-"):
        return "PACT"
    return "ResNet"


def penalty(name):
    """The penalty's symbol and value of a setting name, e.g. ('τ', 0.05)."""
    if name.startswith("act-tau-"):
        return "τ", float(name[len("act-tau-"):])
    if name.startswith("pact-lambda-"):
        return "λ", float(name[len("pact-lambda-"):])
    return "", 0.0


class Setting:
    def __init__(self, name, runs):
        self.name = name
        self.method = method(name)
        self.symbol, self.value = penalty(name)
        self.n = len(runs)
        acc = [r["accuracy"] for r in runs]
        flops = [r["flops_mean"] for r in runs]
        self.acc, self.acc_std = mean(acc), std(acc)
        self.flops, self.flops_std = mean(flops), std(flops)
        # How much the cost varies between the images of one run (averaged over seeds).
        self.spread = mean([r["flops_std"] for r in runs])
        self.flops_least = runs[0].get("flops_least", 0.0)
        self.flops_most = runs[0].get("flops_most", 0.0)
        blocks = len(runs[0]["units_mean"])
        self.units = [mean([r["units_mean"][b] for r in runs]) for b in range(blocks)]
        self.memory = mean([r["peak_activation_bytes"] for r in runs]) / 2**20
        self.speed = mean([r["examples_per_s"] for r in runs])
        self.train_seconds = sum(r.get("train_seconds", 0.0) for r in runs)
        self.classes = runs[0].get("class_names") or [
            str(c) for c in range(len(runs[0].get("accuracy_by_class", [])))
        ]
        k = len(self.classes)
        self.acc_by_class = [mean([r["accuracy_by_class"][c] for r in runs]) for c in range(k)]
        self.units_by_class = [
            mean([sum(r["units_by_class"][c]) for r in runs]) for c in range(k)
        ]
        self.mode = runs[0].get("mode", "")

    def label(self):
        if self.method == "ResNet":
            return "ResNet (all units)"
        return f"{self.method} {self.symbol} = {self.value:g}"


def interpolate(points, x):
    """Piecewise-linear value at x of points sorted by x, or None outside their range."""
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1:
            if x1 == x0:
                return max(y0, y1)
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return None


def tables(settings):
    out = []
    out.append(
        "| setting | seeds | accuracy (%) | MFLOPs / example | spread between images (MFLOPs) "
        "| units per block (of 5) | eval activations (MiB) |"
    )
    out.append("|---|---|---|---|---|---|---|")
    for s in settings:
        units = " / ".join(f"{u:.2f}" for u in s.units)
        out.append(
            f"| {s.label()} | {s.n} | {100 * s.acc:.2f} ± {100 * s.acc_std:.2f} | "
            f"{s.flops / 1e6:.1f} ± {s.flops_std / 1e6:.1f} | {s.spread / 1e6:.1f} | {units} | "
            f"{s.memory:.1f} |"
        )
    return "\n".join(out)


def class_tables(settings, chosen):
    names = chosen[0].classes
    head = "| class | " + " | ".join(s.label() for s in chosen) + " |"
    rule = "|---|" + "---|" * len(chosen)
    acc = [head, rule]
    units = [head, rule]
    for c, name in enumerate(names):
        acc.append(
            f"| {name} | " + " | ".join(f"{100 * s.acc_by_class[c]:.1f}" for s in chosen) + " |"
        )
        units.append(
            f"| {name} | " + " | ".join(f"{s.units_by_class[c]:.2f}" for s in chosen) + " |"
        )
    return "\n".join(acc), "\n".join(units)


def checks(settings):
    """The claim's checks, as Markdown bullet lines."""
    lines = []
    act = sorted((s for s in settings if s.method == "ACT"), key=lambda s: s.flops)
    pact = sorted((s for s in settings if s.method == "PACT"), key=lambda s: s.flops)
    plain = [s for s in settings if s.method == "ResNet"]
    if pact:
        most = pact[0].flops_most
        least = pact[0].flops_least
        inside = [s for s in pact if least < s.flops < most]
        distinct = []
        for s in inside:
            if not distinct or s.flops - distinct[-1].flops > 0.01 * most:
                distinct.append(s)
        stops = [least] + [s.flops for s in distinct] + [most]
        gap = max(b - a for a, b in zip(stops, stops[1:]))
        lines.append(
            f"- Smooth trade-off: PACT has {len(distinct)} distinct operating points strictly "
            f"between one unit per block ({least / 1e6:.1f} MFLOPs) and the full network "
            f"({most / 1e6:.1f} MFLOPs); the widest gap between neighbours (ends included) is "
            f"{gap / 1e6:.1f} MFLOPs = {100 * gap / most:.0f}% of the full network "
            f"({'met' if len(distinct) >= 5 and gap <= 0.25 * most else 'NOT met'}: at least 5 "
            f"points, gaps ≤ 25%)."
        )
    curve = [(s.flops, s.acc) for s in pact]
    curve_std = [(s.flops, s.acc_std) for s in pact]
    for a in act:
        p = interpolate(curve, a.flops)
        tol = max(a.acc_std, 0.003)
        if p is None:
            lines.append(
                f"- ACT τ = {a.value:g} ({a.flops / 1e6:.1f} MFLOPs, {100 * a.acc:.2f}%): outside "
                f"PACT's FLOPs range ({curve[0][0] / 1e6:.1f}–{curve[-1][0] / 1e6:.1f}), no "
                "comparison."
            )
            continue
        ps = interpolate(curve_std, a.flops)
        verdict = "better" if p >= a.acc else ("within" if a.acc - p <= tol else "BELOW")
        lines.append(
            f"- ACT τ = {a.value:g}: {100 * a.acc:.2f} ± {100 * a.acc_std:.2f}% at "
            f"{a.flops / 1e6:.1f} MFLOPs; PACT's curve there {100 * p:.2f}% (± {100 * ps:.2f}); "
            f"difference {100 * (p - a.acc):+.2f} points, tolerance {100 * tol:.2f}: {verdict}."
        )
    if plain and pact:
        base = plain[0]
        lines.append(
            f"- Plain ResNet: {100 * base.acc:.2f} ± {100 * base.acc_std:.2f}% at "
            f"{base.flops / 1e6:.1f} MFLOPs."
        )
    return "\n".join(lines)


def status(settings, wanted_seeds=3):
    """One line on how far the sweep has come."""
    runs = sum(s.n for s in settings)
    short = [s.label() for s in settings if s.n < wanted_seeds]
    line = (
        f"Status: {runs} runs recorded over {len(settings)} settings "
        f"(training time {sum(s.train_seconds for s in settings) / 3600:.1f} h, sum over runs)."
    )
    if short:
        line += (
            f" Still short of {wanted_seeds} seeds: {', '.join(short)}; the figures below will "
            "move as the remaining seeds land (`scripts/results.sh fashion` resumes the sweep)."
        )
    else:
        line += f" Every setting has {wanted_seeds} seeds."
    return line


BEGIN = "<!-- fashion-report:begin -->"
END = "<!-- fashion-report:end -->"


def write_block(path, block):
    """Replaces the text between BEGIN and END in the file at path with block."""
    text = pathlib.Path(path).read_text()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        sys.exit(f"{path}: markers {BEGIN} … {END} not found")
    new = text[: start + len(BEGIN)] + "\n" + block.rstrip() + "\n" + text[end:]
    tmp = pathlib.Path(str(path) + ".tmp")
    tmp.write_text(new)
    tmp.replace(path)


def main():
    args = sys.argv[1:]
    write = None
    if "--write" in args:
        i = args.index("--write")
        if i + 1 >= len(args):
            sys.exit("--write needs a file")
        write = args[i + 1]
        del args[i : i + 2]
    if not args:
        sys.exit(__doc__)
    records = args[0]
    pact = args[1] if len(args) > 1 else "target/release/pact"
    settings = [Setting(n, r) for n, r in load(records).items()]
    order = {"ResNet": 0, "ACT": 1, "PACT": 2}
    settings.sort(key=lambda s: (order[s.method], s.value))
    if not settings:
        sys.exit(f"{records}: no records yet")
    out = [status(settings), "", tables(settings), ""]
    act = [s for s in settings if s.method == "ACT"]
    pact_settings = [s for s in settings if s.method == "PACT"]
    plain = [s for s in settings if s.method == "ResNet"]
    chosen = list(plain)
    if act and pact_settings:
        # The middle ACT point and the PACT point nearest it in FLOPs, and PACT's cheapest.
        a = sorted(act, key=lambda s: s.flops)[len(act) // 2]
        p = min(pact_settings, key=lambda s: abs(s.flops - a.flops))
        cheapest = min(pact_settings, key=lambda s: s.flops)
        chosen += [a, p] + ([cheapest] if cheapest is not p else [])
    if chosen:
        acc, units = class_tables(settings, chosen)
        out += ["Accuracy per class (%, seeds averaged):", "", acc, ""]
        out += ["Units executed per example, all blocks together (of 15):", "", units, ""]
    out += ["Checks of the claim (`scripts/fashion_report.py` computes them from the records):", ""]
    out.append(checks(settings))
    print("\n".join(out))
    if write:
        write_block(write, "\n".join(out))
    dirs = [str(pathlib.Path(records, s.name)) for s in settings]
    subprocess.run(
        [pact, "plot", "tradeoff", "--runs", *dirs, "--out", "docs/img/fashion-tradeoff.png",
         "--title", "Fashion-MNIST, ResNet-32: accuracy against FLOPs (mean ± s.d. over seeds)"],
        check=True,
    )
    if chosen:
        subprocess.run(
            [pact, "plot", "classes", "--runs",
             *[str(pathlib.Path(records, s.name)) for s in chosen],
             "--out", "docs/img/fashion-classes.png",
             "--title", "Fashion-MNIST: units executed and accuracy per class"],
            check=True,
        )


if __name__ == "__main__":
    main()
