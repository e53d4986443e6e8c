//! Every distribution's quantities at extreme parameters, in f64 and f32, against reference
//! values computed with 400-digit arithmetic: `tests/fixtures/dist_reference.json`, written by
//! `scripts/dist_reference.py` (mpmath; regenerate with
//! `python3 scripts/dist_reference.py > tests/fixtures/dist_reference.json`).
//!
//! The laws: Bernoulli, Geometric, Categorical, OneHotCategorical, TruncatedGeometric, Normal
//! and the two Concrete laws (each density in its raw space and in its value space); the
//! quantities: log_prob, mean, variance, entropy, mode, and KL divergences, each evaluated
//! with every combination of batch ranks 0–2 of the two laws. Parameters are rounded to the
//! dtype before the reference is computed, so f32 is held to f32's own precision. Every
//! mismatch is listed before the test fails.

use pact::dist::{
    kl_divergence, Bernoulli, Categorical, Distribution, Draw, Geometric, Normal,
    OneHotCategorical, RelaxedBernoulli, RelaxedOneHotCategorical, TruncatedGeometric,
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
        let v = vector(&p[k]);
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
                "relaxed_one_hot_categorical" => {
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
fn matches(got: f64, want: f64, dtype: DType) -> bool {
    if want.is_infinite() || got.is_infinite() {
        return got == want;
    }
    let (relative, absolute) = match dtype {
        DType::F64 => (1e-10, 8.0 * f64::EPSILON),
        _ => (2e-5, 8.0 * f64::from(f32::EPSILON)),
    };
    (got - want).abs() <= relative * want.abs() + absolute
}

#[test]
fn every_law_matches_exact_references_at_extreme_parameters() {
    let cases = cases();
    assert!(cases.len() > 1000, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let dtype = match c["dtype"].as_str() {
            Some("f32") => DType::F32,
            _ => DType::F64,
        };
        let want = number(&c["expected"]);
        for got in evaluate(c, dtype) {
            if !matches(got, want, dtype) {
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
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
