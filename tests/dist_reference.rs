//! Every distribution's quantities at extreme parameters, in f64 and f32, against reference
//! values computed with 400-digit arithmetic: `tests/fixtures/dist_reference.json`, written by
//! `scripts/dist_reference.py` (mpmath; regenerate with
//! `python3 scripts/dist_reference.py > tests/fixtures/dist_reference.json`).
//!
//! The laws: Bernoulli, Geometric, Categorical, OneHotCategorical, TruncatedGeometric, Normal,
//! the two Concrete laws (each density in its raw space and in its value space), Gamma, Beta,
//! Dirichlet, StudentT, Poisson, Binomial, Uniform, Exponential, LogNormal and Laplace; the
//! quantities: log_prob, mean, variance, entropy, mode, and KL divergences (math §11), each
//! evaluated with every combination of batch ranks 0–2 of the two laws. Parameters are rounded to the
//! dtype before the reference is computed, so f32 is held to f32's own precision. Every
//! mismatch is listed before the test fails.

use pact::dist::{
    kl_divergence, Bernoulli, Beta, Binomial, Categorical, Dirichlet, Distribution, Draw,
    Exponential, Gamma, Geometric, Laplace, LogNormal, Normal, OneHotCategorical, Poisson,
    RelaxedBernoulli, RelaxedOneHotCategorical, StudentT, TruncatedGeometric, Uniform,
};
use pact::{DType, Device, Tensor};
use serde_json::Value;

const CPU: Device = Device::Cpu;

fn cases() -> Vec<Value> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dist_reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).expect("fixture JSON");
    v["cases"].as_array().expect("cases").clone()
}

fn number(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        v => v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")),
    }
}

fn vector(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(number).collect()
}

/// A tensor of `values` in `shape`.
fn tensor(values: &[f64], shape: &[usize], dtype: DType) -> Tensor {
    Tensor::from_f64_slice(values, shape, dtype, CPU).expect("tensor")
}

/// The law of a case, with its parameters repeated over `batch` (`[]`: unbatched).
fn law(dist: &str, p: &Value, dtype: DType, batch: &[usize], other: bool) -> Box<dyn Distribution> {
    let n: usize = batch.iter().product();
    let key = |k: &str| {
        if other {
            format!("other_{k}")
        } else {
            k.to_string()
        }
    };
    let scalar = |k: &str| tensor(&vec![number(&p[key(k)]); n], batch, dtype);
    let classes = |k: &str| {
        let v = vector(&p[key(k)]);
        let shape = [batch, &[v.len()]].concat();
        tensor(&v.repeat(n), &shape, dtype)
    };
    match dist {
        "bernoulli" => Box::new(Bernoulli::new(scalar("logit")).expect("law")),
        "geometric" => Box::new(Geometric::new(scalar("logit")).expect("law")),
        "categorical" => Box::new(Categorical::new(classes("logits")).expect("law")),
        "one_hot_categorical" => Box::new(OneHotCategorical::new(classes("logits")).expect("law")),
        "truncated_geometric" => Box::new(
            TruncatedGeometric::new(
                scalar("lambda"),
                p["units"].as_u64().expect("units") as usize,
            )
            .expect("law"),
        ),
        "normal" => Box::new(Normal::new(scalar("loc"), scalar("scale")).expect("law")),
        "relaxed_bernoulli" => Box::new(
            RelaxedBernoulli::new(scalar("logit"), number(&p["temperature"])).expect("law"),
        ),
        "relaxed_one_hot_categorical" => Box::new(
            RelaxedOneHotCategorical::new(classes("logits"), number(&p["temperature"]))
                .expect("law"),
        ),
        "gamma" => Box::new(Gamma::new(scalar("concentration"), scalar("rate")).expect("law")),
        "beta" => Box::new(Beta::new(scalar("alpha"), scalar("beta")).expect("law")),
        "dirichlet" => Box::new(Dirichlet::new(classes("concentration")).expect("law")),
        "student_t" => {
            Box::new(StudentT::new(scalar("df"), scalar("loc"), scalar("scale")).expect("law"))
        }
        "poisson" => Box::new(Poisson::new(scalar("rate")).expect("law")),
        "binomial" => Box::new(
            Binomial::new(
                p["total"].as_u64().expect("total") as usize,
                scalar("logit"),
            )
            .expect("law"),
        ),
        "uniform" => Box::new(Uniform::new(scalar("low"), scalar("high")).expect("law")),
        "exponential" => Box::new(Exponential::new(scalar("rate")).expect("law")),
        "log_normal" => Box::new(LogNormal::new(scalar("loc"), scalar("scale")).expect("law")),
        "laplace" => Box::new(Laplace::new(scalar("loc"), scalar("scale")).expect("law")),
        other => panic!("unknown law {other}"),
    }
}

/// The quantity of a case, unbatched.
fn evaluate(c: &Value, dtype: DType) -> Vec<f64> {
    let (dist, p) = (c["dist"].as_str().expect("dist"), &c["params"]);
    let d = law(dist, p, dtype, &[], false);
    let at = &c["at"];
    let result = match c["quantity"].as_str().expect("quantity") {
        "log_prob" => {
            let value = match dist {
                "one_hot_categorical" => {
                    let k = number(at) as usize;
                    let mut hot = vec![0.0; vector(&p["logits"]).len()];
                    hot[k] = 1.0;
                    tensor(&hot, &[hot.len()], dtype)
                }
                "relaxed_one_hot_categorical" | "dirichlet" => {
                    let z = vector(at);
                    tensor(&z, &[z.len()], dtype)
                }
                _ => tensor(&[number(at)], &[], dtype),
            };
            d.log_prob(&value)
        }
        "log_prob_raw" => {
            let raw = match at {
                Value::Array(_) => {
                    let x = vector(at);
                    tensor(&x, &[x.len()], dtype)
                }
                v => tensor(&[number(v)], &[], dtype),
            };
            let value = if dist == "relaxed_bernoulli" {
                raw.sigmoid().expect("σ")
            } else {
                raw.exp().expect("exp")
            };
            d.log_prob_draw(&Draw::Relaxed { value, raw })
        }
        "mean" => d.mean(),
        "variance" => d.variance(),
        "entropy" => d.entropy(),
        "mode" => d.mode(),
        "kl" => return kl_every_batch_rank(dist, p, dtype),
        q => panic!("unknown quantity {q}"),
    };
    result.expect("quantity").to_f64_vec()
}

/// `KL(q ‖ p)` with the two laws at every combination of batch ranks 0, 1 and 2 that
/// broadcast; every element of every result.
fn kl_every_batch_rank(dist: &str, p: &Value, dtype: DType) -> Vec<f64> {
    let shapes: [(&[usize], &[usize]); 7] = [
        (&[], &[]),
        (&[3], &[]),
        (&[], &[3]),
        (&[2, 3], &[3]),
        (&[3], &[2, 3]),
        (&[2, 1], &[3]),
        (&[], &[2, 3]),
    ];
    let mut all = Vec::new();
    for (qs, ps) in shapes {
        let q = law(dist, p, dtype, qs, false);
        let other = law(dist, p, dtype, ps, true);
        let kl = kl_divergence(&*q, &*other).expect("kl");
        let want = if qs.len() >= ps.len() { qs } else { ps };
        let want: Vec<usize> = match (qs, ps) {
            ([2, 1], [3]) => vec![2, 3],
            _ => want.to_vec(),
        };
        assert_eq!(
            kl.dims(),
            want.as_slice(),
            "{dist}: KL shape for {qs:?} against {ps:?}"
        );
        all.extend(kl.to_f64_vec());
    }
    all
}

/// Whether `got` matches the exact `want` to the dtype's precision: within a relative
/// tolerance, or within a few units in the last place of 1 (a log-probability or a divergence
/// near 0 is a difference of terms of order 1, which no formula resolves beyond their own
/// absolute precision). Infinities must match exactly.
///
/// Laws whose formulas hold `log Γ` or `ψ` (`lgamma_law`) get 8 times the absolute
/// tolerance: `Tensor::lgamma` shifts its argument by 16 before Stirling's series, so near
/// its zeros (1 and 2) it is a difference of terms of order `log 16! ≈ 30`, good to a few
/// units in the last place of 30 rather than of 1. In f32, whose last place is 2²⁹ times
/// coarser, that is not enough where the log-gamma terms are large (`log Γ(1000) ≈ 5905`
/// holds 3 decimals in f32, and a Beta(1000, 1000) density is a difference of such
/// terms): there the tolerance is a few units in the last place of `lgamma_scale`, the
/// size of the log-gamma terms the formula combines (the fixture computes it per case).
/// This is the precision of the formulas, not a bug: the same quantities in f64 meet the
/// plain tolerance.
fn matches(got: f64, want: f64, dtype: DType, lgamma_law: bool, lgamma_scale: f64) -> bool {
    if want.is_infinite() || got.is_infinite() {
        return got == want;
    }
    let (relative, mut absolute) = match dtype {
        DType::F64 => (1e-10, 8.0 * f64::EPSILON),
        _ => (2e-5, 8.0 * f64::from(f32::EPSILON)),
    };
    if lgamma_law {
        absolute *= 8.0;
    }
    if dtype == DType::F32 {
        absolute = absolute.max(8.0 * f64::from(f32::EPSILON) * lgamma_scale);
    }
    (got - want).abs() <= relative * want.abs() + absolute
}

/// The laws whose formulas hold `log Γ` or `ψ` (see [`matches`]).
const LGAMMA_LAWS: [&str; 6] = [
    "gamma",
    "beta",
    "dirichlet",
    "student_t",
    "poisson",
    "binomial",
];

#[test]
fn every_law_matches_exact_references_at_extreme_parameters() {
    let cases = cases();
    assert!(cases.len() > 2500, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let dtype = match c["dtype"].as_str() {
            Some("f32") => DType::F32,
            _ => DType::F64,
        };
        let got = evaluate(c, dtype);
        // A vector quantity (Dirichlet's mean, say) lists one value per element; a scalar
        // quantity holds for every element (the batch-rank combinations of a KL).
        let want: Vec<f64> = match &c["expected"] {
            Value::Array(_) => vector(&c["expected"]),
            v => vec![number(v); got.len()],
        };
        assert_eq!(got.len(), want.len(), "{c}: {} values", got.len());
        let lgamma = LGAMMA_LAWS.contains(&c["dist"].as_str().unwrap_or(""));
        let scale = c.get("lgamma_scale").map_or(0.0, number);
        for (got, want) in got.into_iter().zip(want) {
            if !matches(got, want, dtype, lgamma, scale) {
                failures.push(
                    format!(
                        "{} {} {} at {}: got {got:e}, exact {want:e}",
                        c["dtype"], c["dist"], c["quantity"], c["params"]
                    ) + &c
                        .get("at")
                        .map_or(String::new(), |a| format!(" (point {a})")),
                );
            }
        }
    }
    failures.dedup();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
