#!/usr/bin/env python3
"""Reference values of every distribution's quantities at extreme parameters, computed with
400-digit arithmetic (mpmath: enough for e^−800 next to 1), for `tests/dist_reference.rs`.

    pip install mpmath
    python3 scripts/dist_reference.py > tests/fixtures/dist_reference.json

Each case names a law and its parameters, a dtype (`f64` or `f32`: the parameters and points
are first rounded to that dtype, so the reference is the exact value at what the dtype can
hold), a quantity and, where it takes one, the point. Expected values are JSON numbers (the
f64 nearest the exact value) or the strings "inf" and "-inf", or a list of them for a
vector-valued quantity (Dirichlet's mean, variance and mode). The laws follow pact's
documented conventions: Geometric counts failures, Categorical indexes from 0, the truncated
geometric law lives on 1..=L, ties of the mode go to the smallest value (Bernoulli: 1 at
logit 0), relaxed laws clamp logits to ±30 and are scored in their raw (logit or log-simplex)
space or in their value space.
"""

import json
import struct
import sys

from mpmath import mp, mpf, exp, log, log1p, inf, pi, e, fsum, factorial, loggamma, digamma, floor, sqrt

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


def case(dist, dtype, params, quantity, expected, at=None, lgamma_scale=None):
    if isinstance(expected, list):
        expected = [out(v, dtype) for v in expected]
    else:
        expected = out(expected, dtype)
    c = {"dist": dist, "dtype": dtype, "params": params, "quantity": quantity,
         "expected": expected}
    if at is not None:
        c["at"] = at
    if lgamma_scale is not None:
        c["lgamma_scale"] = float(lgamma_scale)
    CASES.append(c)


def lg(*args):
    """The size of the terms pact's log Γ of these arguments works with: |log Γ(x)| plus
    log 16! ≈ 30 (its recurrence sums up to that before subtracting)."""
    return fsum(abs(loggamma(mpf(x))) + 30 for x in args)


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

    # ---- The continuous and counting laws (Gamma, Beta, Dirichlet, StudentT, Poisson,
    # Binomial, Uniform, Exponential, LogNormal, Laplace).
    tiny = 1e-30

    def lbeta(a, b):
        return loggamma(a) + loggamma(b) - loggamma(a + b)

    # Gamma(α, rate β).
    for a in map(r, [tiny, 1e-3, 0.5, 1.0, 3.0, 1e3] + ([1e8] if dtype == "f64" else [1e6])):
        for b in map(r, [1e-3, 1.0, 1e3]):
            A, B = mpf(a), mpf(b)
            params = {"concentration": a, "rate": b}
            start = len(CASES)
            for x in map(r, [1e-3, 1.0, 100.0]):
                X = mpf(x)
                case("gamma", dtype, params, "log_prob",
                     A * log(B) + (A - 1) * log(X) - B * X - loggamma(A), at=x)
            case("gamma", dtype, params, "mean", A / B)
            case("gamma", dtype, params, "variance", A / B ** 2)
            case("gamma", dtype, params, "entropy",
                 A - log(B) + loggamma(A) + (1 - A) * digamma(A))
            case("gamma", dtype, params, "mode", max(mpf(0), (A - 1) / B))
            for c in CASES[start:]:
                c["lgamma_scale"] = float(lg(A))

    # Beta(α, β).
    for a in map(r, [1e-3, 0.5, 1.0, 2.5, 1e3]):
        for b in map(r, [1e-3, 1.0, 7.0, 1e3]):
            A, B = mpf(a), mpf(b)
            params = {"alpha": a, "beta": b}
            start = len(CASES)
            for x in map(r, [1e-6, 0.3, 0.999]):
                X = mpf(x)
                case("beta", dtype, params, "log_prob",
                     (A - 1) * log(X) + (B - 1) * log1p(-X) - lbeta(A, B), at=x)
            case("beta", dtype, params, "mean", A / (A + B))
            case("beta", dtype, params, "variance", A * B / ((A + B) ** 2 * (A + B + 1)))
            case("beta", dtype, params, "entropy",
                 lbeta(A, B) - (A - 1) * digamma(A) - (B - 1) * digamma(B)
                 + (A + B - 2) * digamma(A + B))
            if a > 1 and b > 1:
                case("beta", dtype, params, "mode", (A - 1) / (A + B - 2))
            for c in CASES[start:]:
                if c["dist"] == "beta":
                    c["lgamma_scale"] = float(lg(A, B, A + B))

    # Dirichlet(α): vector quantities are compared element by element.
    for vec in ([0.5, 0.5, 0.5], [1e-3, 1.0, 1e3], [2.0, 3.0, 4.0, 5.0]):
        a = [r(v) for v in vec]
        A = [mpf(v) for v in a]
        A0 = fsum(A)
        params = {"concentration": a}
        start = len(CASES)
        lb = fsum(loggamma(v) for v in A) - loggamma(A0)
        for point in ([1.0, 1.0, 1.0, 1.0], [1e-6, 0.5, 0.5, 0.3], [0.2, 0.3, 0.5, 1.0]):
            z = [r(v) for v in point[:len(a)]]
            zs = sum(mpf(v) for v in z)
            z = [r(float(mpf(v) / zs)) for v in z]
            Z = [mpf(v) for v in z]
            case("dirichlet", dtype, params, "log_prob",
                 fsum((Ak - 1) * log(Zk) for Ak, Zk in zip(A, Z)) - lb, at=z)
        case("dirichlet", dtype, params, "mean", [Ak / A0 for Ak in A])
        case("dirichlet", dtype, params, "variance",
             [Ak * (A0 - Ak) / (A0 ** 2 * (A0 + 1)) for Ak in A])
        case("dirichlet", dtype, params, "entropy",
             lb + (A0 - len(A)) * digamma(A0) - fsum((Ak - 1) * digamma(Ak) for Ak in A))
        if all(v > 1 for v in a):
            case("dirichlet", dtype, params, "mode", [(Ak - 1) / (A0 - len(A)) for Ak in A])
        for c in CASES[start:]:
            if c["dist"] == "dirichlet":
                c["lgamma_scale"] = float(lg(*A, A0))

    # Student's t(ν, μ, σ).
    for nu in map(r, [0.5, 1.0, 3.0, 1e6]):
        for sc in map(r, [1e-3, 1.0, 1e3]):
            N, S, M = mpf(nu), mpf(sc), mpf(r(-1.5))
            params = {"df": nu, "loc": r(-1.5), "scale": sc}
            start = len(CASES)
            for x in map(r, [-1.5, 0.0, 1e4]):
                Zs = (mpf(x) - M) / S
                case("student_t", dtype, params, "log_prob",
                     loggamma((N + 1) / 2) - loggamma(N / 2) - log(N * pi) / 2 - log(S)
                     - (N + 1) / 2 * log1p(Zs ** 2 / N), at=x)
            case("student_t", dtype, params, "entropy",
                 (N + 1) / 2 * (digamma((N + 1) / 2) - digamma(N / 2)) + log(N) / 2
                 + lbeta(N / 2, mpf(1) / 2) + log(S))
            case("student_t", dtype, params, "mode", M)
            if nu > 2:
                case("student_t", dtype, params, "variance", S ** 2 * N / (N - 2))
            for c in CASES[start:]:
                if c["dist"] == "student_t":
                    c["lgamma_scale"] = float(lg(N / 2, (N + 1) / 2))

    # Poisson(λ).
    for lam in map(r, [1e-8, 0.5, 3.0, 1e3] + ([1e8] if dtype == "f64" else [1e6])):
        L = mpf(lam)
        for k in (0.0, 1.0, 7.0, 1000.0):
            case("poisson", dtype, {"rate": lam}, "log_prob",
                 k * log(L) - L - loggamma(k + 1), at=k, lgamma_scale=lg(k + 1))
        case("poisson", dtype, {"rate": lam}, "mean", L)
        case("poisson", dtype, {"rate": lam}, "mode", floor(L))

    # Binomial(n, σ(a)).
    for n in (1, 10, 1000):
        for a in map(r, [-30.0, -1.0, 0.0, 2.0, 30.0]):
            A = mpf(a)
            params = {"total": n, "logit": a}
            lp = [loggamma(n + 1) - loggamma(k + 1) - loggamma(n - k + 1)
                  + k * log_sigmoid(A) + (n - k) * log_sigmoid(-A) for k in range(n + 1)]
            for k in sorted({0, n // 3, n}):
                case("binomial", dtype, params, "log_prob", lp[k], at=float(k),
                     lgamma_scale=lg(k + 1, n - k + 1))
            p = exp(log_sigmoid(A))
            case("binomial", dtype, params, "mean", n * p)
            case("binomial", dtype, params, "variance", n * p * exp(log_sigmoid(-A)))
            case("binomial", dtype, params, "entropy", -fsum(exp(l) * l for l in lp),
                 lgamma_scale=2 * lg(n + 1))

    # Uniform[a, b), Exponential(λ), LogNormal(μ, σ), Laplace(μ, b).
    for lo, hi in [(0.0, 1.0), (-1e-3, 1e-3), (-1e6, 3.0)]:
        lo, hi = r(lo), r(hi)
        W = mpf(hi) - mpf(lo)
        params = {"low": lo, "high": hi}
        for x in map(r, [lo, 0.5 * (lo + hi), hi]):
            case("uniform", dtype, params, "log_prob", -log(W) if x < hi else -inf, at=x)
        case("uniform", dtype, params, "mean", (mpf(lo) + mpf(hi)) / 2)
        case("uniform", dtype, params, "variance", W ** 2 / 12)
        case("uniform", dtype, params, "entropy", log(W))
    for lam in map(r, [1e-30, 1e-3, 1.0, 1e3] + ([1e30] if dtype == "f64" else [])):
        L = mpf(lam)
        for x in map(r, [0.0, 1e-3, 1.0, 1e5]):
            case("exponential", dtype, {"rate": lam}, "log_prob", log(L) - L * mpf(x), at=x)
        case("exponential", dtype, {"rate": lam}, "mean", 1 / L)
        case("exponential", dtype, {"rate": lam}, "variance", 1 / L ** 2)
        case("exponential", dtype, {"rate": lam}, "entropy", 1 - log(L))
    for loc in map(r, [0.0, -3.0, 20.0]):
        for sc in map(r, [1e-3, 0.5, 2.0]):
            M, S = mpf(loc), mpf(sc)
            params = {"loc": loc, "scale": sc}
            for x in map(r, [1e-3, 1.0, 1e5]):
                X = mpf(x)
                case("log_normal", dtype, params, "log_prob",
                     -((log(X) - M) / S) ** 2 / 2 - log(S) - log(2 * pi) / 2 - log(X), at=x)
            case("log_normal", dtype, params, "mean", exp(M + S ** 2 / 2))
            case("log_normal", dtype, params, "variance", (exp(S ** 2) - 1) * exp(2 * M + S ** 2))
            case("log_normal", dtype, params, "mode", exp(M - S ** 2))
            case("log_normal", dtype, params, "entropy", M + log(S) + (1 + log(2 * pi)) / 2)
    for loc in map(r, [0.0, -3.5]):
        for sc in map(r, [1e-30, 1e-3, 1.0, 1e10]):
            M, S = mpf(loc), mpf(sc)
            params = {"loc": loc, "scale": sc}
            for x in map(r, [loc, loc + 1.0, 1e5]):
                case("laplace", dtype, params, "log_prob",
                     -abs(mpf(x) - M) / S - log(2 * S), at=x)
            case("laplace", dtype, params, "variance", 2 * S ** 2)
            case("laplace", dtype, params, "entropy", 1 + log(2 * S))

    # KL divergences between two laws of one family (math §11).
    def kl_case(dist, params, other, value):
        both = dict(params)
        both.update({"other_" + k: v for k, v in other.items()})
        case(dist, dtype, both, "kl", value)

    for (aq, bq, ap, bp) in [(2.0, 1.0, 1.0, 1.0), (1e-3, 1e3, 5.0, 1e-3), (3.0, 2.0, 3.0, 2.0),
                             (1e3, 1.0, 1e3, 1.0 + 1e-6)]:
        aq, bq, ap, bp = map(r, (aq, bq, ap, bp))
        Aq, Bq, Ap, Bp = map(mpf, (aq, bq, ap, bp))
        kl_case("gamma", {"concentration": aq, "rate": bq}, {"concentration": ap, "rate": bp},
                (Aq - Ap) * digamma(Aq) - loggamma(Aq) + loggamma(Ap) + Ap * (log(Bq) - log(Bp))
                + Aq * (Bp - Bq) / Bq)
    for (aq, bq, ap, bp) in [(2.0, 3.0, 1.0, 1.0), (1e-3, 0.5, 7.0, 1e3), (4.0, 4.0, 4.0, 4.0)]:
        aq, bq, ap, bp = map(r, (aq, bq, ap, bp))
        Aq, Bq, Ap, Bp = map(mpf, (aq, bq, ap, bp))
        kl_case("beta", {"alpha": aq, "beta": bq}, {"alpha": ap, "beta": bp},
                lbeta(Ap, Bp) - lbeta(Aq, Bq) + (Aq - Ap) * digamma(Aq) + (Bq - Bp) * digamma(Bq)
                + (Ap - Aq + Bp - Bq) * digamma(Aq + Bq))
    for (vq, vp) in [([1.0, 2.0, 3.0], [1.0, 1.0, 1.0]), ([1e-3, 1.0, 1e3], [0.5, 0.5, 0.5])]:
        vq, vp = [r(v) for v in vq], [r(v) for v in vp]
        Q, P = [mpf(v) for v in vq], [mpf(v) for v in vp]
        Q0, P0 = fsum(Q), fsum(P)
        kl_case("dirichlet", {"concentration": vq}, {"concentration": vp},
                loggamma(Q0) - fsum(loggamma(v) for v in Q) - loggamma(P0)
                + fsum(loggamma(v) for v in P) + fsum((a - b) * (digamma(a) - digamma(Q0))
                                                      for a, b in zip(Q, P)))
    for (lq, lp) in [(1.0, 2.0), (1e-3, 1e3), (5.0, 5.0), (1.0, 1.0 + 1e-6)]:
        lq, lp = r(lq), r(lp)
        Lq, Lp = mpf(lq), mpf(lp)
        kl_case("exponential", {"rate": lq}, {"rate": lp}, log(Lq) - log(Lp) + Lp / Lq - 1)
        kl_case("poisson", {"rate": lq}, {"rate": lp}, Lq * (log(Lq) - log(Lp)) - Lq + Lp)
    for (mq, sq, mp_, sp) in [(0.0, 1e-3, 1.0, 1e3), (1.0, 1.0, 1.0, 1.0), (-3.5, 2.0, 0.0, 1.0)]:
        mq, sq, mp_, sp = map(r, (mq, sq, mp_, sp))
        Mq, Sq, Mp, Sp = map(mpf, (mq, sq, mp_, sp))
        D = abs(Mq - Mp)
        kl_case("laplace", {"loc": mq, "scale": sq}, {"loc": mp_, "scale": sp},
                log(Sp / Sq) + D / Sp + Sq / Sp * exp(-D / Sq) - 1)
        kl_case("log_normal", {"loc": mq, "scale": sq}, {"loc": mp_, "scale": sp},
                log(Sp / Sq) + (Sq ** 2 + (Mq - Mp) ** 2) / (2 * Sp ** 2) - mpf(1) / 2)
    for (aq, bq, ap, bp) in [(0.0, 1.0, -1.0, 2.0), (0.25, 0.5, 0.0, 1.0), (0.0, 1.0, 0.5, 2.0)]:
        aq, bq, ap, bp = map(r, (aq, bq, ap, bp))
        inside = aq >= ap and bq <= bp
        kl_case("uniform", {"low": aq, "high": bq}, {"low": ap, "high": bp},
                log((mpf(bp) - mpf(ap)) / (mpf(bq) - mpf(aq))) if inside else inf)

json.dump({"generator": "scripts/dist_reference.py", "digits": mp.dps, "cases": CASES},
          sys.stdout, indent=0)
sys.stdout.write("\n")
