#!/usr/bin/env python3
"""Reference values of every distribution's quantities at extreme parameters, computed with
400-digit arithmetic (mpmath: enough for e^−800 next to 1), for `tests/dist_reference.rs`.

    pip install mpmath
    python3 scripts/dist_reference.py > tests/fixtures/dist_reference.json

Each case names a law and its parameters, a dtype (`f64` or `f32`: the parameters and points
are first rounded to that dtype, so the reference is the exact value at what the dtype can
hold), a quantity and, where it takes one, the point. Expected values are JSON numbers (the
f64 nearest the exact value) or the strings "inf" and "-inf". The laws follow pact's
documented conventions: Geometric counts failures, Categorical indexes from 0, the truncated
geometric law lives on 1..=L, ties of the mode go to the smallest value (Bernoulli: 1 at
logit 0), relaxed laws clamp logits to ±30 and are scored in their raw (logit or log-simplex)
space or in their value space.
"""

import json
import struct
import sys

from mpmath import mp, mpf, exp, log, log1p, inf, pi, e, fsum, factorial

mp.dps = 400


def f32(x):
    return struct.unpack("f", struct.pack("f", float(x)))[0]


def rounder(dtype):
    return f32 if dtype == "f32" else float


F32_MAX = 3.4028234663852886e38


def out(v, dtype="f64"):
    """The f64 nearest `v`; beyond the dtype's range, "inf" or "-inf" (what the dtype holds)."""
    v = float(mpf(v))
    if dtype == "f32" and abs(v) > F32_MAX:
        v = v * float("inf")
    if v == float("inf"):
        return "inf"
    if v == float("-inf"):
        return "-inf"
    return v


def log_sigmoid(a):
    a = mpf(a)
    return -log1p(exp(-a))


def softplus(x):
    return log1p(exp(mpf(x)))


def logsumexp(xs):
    m = max(xs)
    if m == -inf:
        return -inf
    return m + log(fsum(exp(x - m) for x in xs))


CASES = []


def case(dist, dtype, params, quantity, expected, at=None):
    c = {"dist": dist, "dtype": dtype, "params": params, "quantity": quantity,
         "expected": out(expected, dtype)}
    if at is not None:
        c["at"] = at
    CASES.append(c)


def categorical_law(logits):
    z = logsumexp([mpf(a) for a in logits])
    return [mpf(a) - z for a in logits]


def moments(log_p, offset=0):
    p = [exp(l) for l in log_p]
    mean = fsum((k + offset) * q for k, q in enumerate(p))
    var = fsum(q * (k + offset - mean) ** 2 for k, q in enumerate(p))
    ent = -fsum(q * l for q, l in zip(p, log_p) if q > 0)
    mode = max(range(len(p)), key=lambda k: (log_p[k], -k)) + offset
    return mean, var, ent, mode


for dtype in ("f64", "f32"):
    r = rounder(dtype)
    big = [-800.0, -100.0, -30.0] if dtype == "f64" else [-100.0, -30.0]
    logits = big + [-5.0, -1e-8, 0.0, 1e-8, 3.0, 30.0] + [-x for x in big]

    # Bernoulli(σ(a)).
    for a in map(r, logits):
        A = mpf(a)
        for v in (0.0, 1.0):
            case("bernoulli", dtype, {"logit": a}, "log_prob",
                 log_sigmoid(A) if v else log_sigmoid(-A), at=v)
        p, q = exp(log_sigmoid(A)), exp(log_sigmoid(-A))
        case("bernoulli", dtype, {"logit": a}, "mean", p)
        case("bernoulli", dtype, {"logit": a}, "variance", p * q)
        case("bernoulli", dtype, {"logit": a}, "entropy",
             -(p * log_sigmoid(A) + q * log_sigmoid(-A)))
        case("bernoulli", dtype, {"logit": a}, "mode", 1 if a >= 0 else 0)

    # Geometric: failures before the first success, success probability σ(a).
    for a in map(r, logits):
        A = mpf(a)
        for k in (0.0, 1.0, 7.0, 1000.0):
            case("geometric", dtype, {"logit": a}, "log_prob",
                 k * log_sigmoid(-A) + log_sigmoid(A), at=k)
        odds = exp(-A)  # (1 − p) / p
        case("geometric", dtype, {"logit": a}, "mean", odds)
        case("geometric", dtype, {"logit": a}, "variance", odds * (1 + odds))
        case("geometric", dtype, {"logit": a}, "entropy", softplus(-A) + odds * softplus(A))
        case("geometric", dtype, {"logit": a}, "mode", 0)

    # Categorical and one-hot categorical over a few laws, from spread to near-certain.
    vectors = [
        [0.0, 0.0, 0.0],
        [1e-8, 0.0, -1e-8],
        [-100.0, -100.0, 100.0],
        [0.0, -30.0, 30.0],
        [5.0 * k / 99.0 for k in range(100)],      # mass growing towards index 99
        [0.0] * 97 + [25.0, 25.0, 30.0],           # mass at the end of 100 classes
    ]
    if dtype == "f64":
        vectors.append([0.0, -800.0, 800.0])
    for vec in vectors:
        a = [r(x) for x in vec]
        log_p = categorical_law(a)
        mean, var, ent, mode = moments(log_p)
        for k in sorted({0, len(a) // 2, len(a) - 1}):
            case("categorical", dtype, {"logits": a}, "log_prob", log_p[k], at=float(k))
            case("one_hot_categorical", dtype, {"logits": a}, "log_prob", log_p[k], at=float(k))
        case("categorical", dtype, {"logits": a}, "mean", mean)
        case("categorical", dtype, {"logits": a}, "variance", var)
        case("categorical", dtype, {"logits": a}, "entropy", ent)
        case("categorical", dtype, {"logits": a}, "mode", mode)
        case("one_hot_categorical", dtype, {"logits": a}, "entropy", ent)

    # Truncated geometric on 1..=L: p(n) ∝ e^{−λn}.
    lambdas = [-50.0, -5.0, -1e-6, 0.0, 1e-6, 0.5, 5.0, 50.0, 700.0]
    for lam in map(r, lambdas):
        for L in (1, 2, 5, 100):
            log_p = categorical_law([-mpf(lam) * n for n in range(1, L + 1)])
            mean, var, ent, mode = moments(log_p, offset=1)
            params = {"lambda": lam, "units": L}
            for n in sorted({1, (L + 1) // 2, L}):
                case("truncated_geometric", dtype, params, "log_prob", log_p[n - 1], at=float(n))
            case("truncated_geometric", dtype, params, "mean", mean)
            case("truncated_geometric", dtype, params, "variance", var)
            case("truncated_geometric", dtype, params, "entropy", ent)
            case("truncated_geometric", dtype, params, "mode", mode)

    # Normal.
    scales = [1e-30, 1e-3, 1.0, 1e10] + ([1e-300, 1e300] if dtype == "f64" else [])
    for s in map(r, scales):
        for loc in map(r, [0.0, -3.5]):
            S, M = mpf(s), mpf(loc)
            params = {"loc": loc, "scale": s}
            for x in map(r, [loc, loc + 1.0, 1e5]):
                X = mpf(x)
                case("normal", dtype, params, "log_prob",
                     -((X - M) / S) ** 2 / 2 - log(S) - log(2 * pi) / 2, at=x)
            case("normal", dtype, params, "entropy", log(S) + (1 + log(2 * pi)) / 2)
            case("normal", dtype, params, "variance", S * S)

    # Binary Concrete: the logit-space density of y, and the (0, 1)-space density of z.
    for t in map(r, [0.01, 0.5, 1.0, 10.0]):
        for a in map(r, [-25.0, 0.0, 3.0]):
            T, A = mpf(t), mpf(a)
            params = {"logit": a, "temperature": t}

            def logit_density(y):
                return log(T) - T * y + A - 2 * softplus(A - T * y)

            for y in map(r, [-100.0, -1.0, 0.0, 2.0, 500.0]):
                case("relaxed_bernoulli", dtype, params, "log_prob_raw", logit_density(mpf(y)), at=y)
            for z in map(r, [1e-6, 0.3, 0.5, 0.999]):
                Z = mpf(z)
                y = log(Z) - log1p(-Z)
                case("relaxed_bernoulli", dtype, params, "log_prob",
                     logit_density(y) - log(Z) - log1p(-Z), at=z)

    # Concrete on the simplex: the ExpConcrete density of a log-simplex point x, and the
    # Concrete density of z = exp(x).
    for t in map(r, [0.1, 0.5, 2.0]):
        for vec in ([0.0, 1.0, -1.0], [0.0, 0.0], [-20.0, 0.0, 5.0, 2.0]):
            a = [r(v) for v in vec]
            A = categorical_law(a)  # pact normalises the logits
            T, K = mpf(t), len(a)
            params = {"logits": a, "temperature": t}

            def exp_concrete(x):
                terms = [A[k] - T * x[k] for k in range(K)]
                return (log(factorial(K - 1)) + (K - 1) * log(T) + fsum(terms)
                        - K * logsumexp(terms))

            for raw in ([0.3, -0.2, 1.1], [-40.0, 0.0, 3.0], [0.0, 0.0, 0.0]):
                raw = raw[:K] + [0.0] * (K - len(raw))
                x = [mpf(v) for v in raw]
                lse = logsumexp(x)
                x = [v - lse for v in x]  # a point on the log-simplex
                xr = [r(float(v)) for v in x]
                case("relaxed_one_hot_categorical", dtype, params, "log_prob_raw",
                     exp_concrete([mpf(v) for v in xr]), at=xr)
                z = [r(float(exp(mpf(v)))) for v in xr]
                Z = [mpf(v) for v in z]
                lz = [log(v) for v in Z]
                case("relaxed_one_hot_categorical", dtype, params, "log_prob",
                     exp_concrete(lz) - fsum(lz), at=z)

    # KL divergences between extreme laws of one family.
    for (a, b) in [(-800.0, 3.0), (0.0, 30.0), (-30.0, 30.0), (5.0, 5.0), (1e-8, -1e-8)]:
        a, b = r(a), r(b)
        pa = [exp(log_sigmoid(mpf(a))), exp(log_sigmoid(-mpf(a)))]
        la = [log_sigmoid(mpf(a)), log_sigmoid(-mpf(a))]
        lb = [log_sigmoid(mpf(b)), log_sigmoid(-mpf(b))]
        case("bernoulli", dtype, {"logit": a, "other_logit": b}, "kl",
             fsum(p * (x - y) for p, x, y in zip(pa, la, lb) if p > 0))
    for (lq, lp, L) in [(-50.0, 50.0, 5), (0.0, 0.5, 100), (1e-6, -1e-6, 5), (5.0, 700.0, 2)]:
        lq, lp = r(lq), r(lp)
        q = categorical_law([-mpf(lq) * n for n in range(1, L + 1)])
        p = categorical_law([-mpf(lp) * n for n in range(1, L + 1)])
        case("truncated_geometric", dtype, {"lambda": lq, "units": L, "other_lambda": lp},
             "kl", fsum(exp(x) * (x - y) for x, y in zip(q, p)))
    for (mq, sq, mp_, sp) in [(0.0, 1e-3, 1.0, 1e3), (1.0, 1.0, 1.0, 1.0), (-3.5, 1e10, 0.0, 1.0)]:
        mq, sq, mp_, sp = r(mq), r(sq), r(mp_), r(sp)
        Sq, Sp = mpf(sq), mpf(sp)
        case("normal", dtype, {"loc": mq, "scale": sq, "other_loc": mp_, "other_scale": sp},
             "kl", log(Sp / Sq) + (Sq ** 2 + (mpf(mq) - mpf(mp_)) ** 2) / (2 * Sp ** 2) - mpf(1) / 2)

json.dump({"generator": "scripts/dist_reference.py", "digits": mp.dps, "cases": CASES},
          sys.stdout, indent=0)
sys.stdout.write("\n")
