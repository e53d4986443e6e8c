//! Gradient estimators of the SvoMap objective `E_q[log p(x, z)]` against its exact
//! (enumerated) gradient, on a one-latent model small enough to enumerate:
//! `z ~ Bernoulli(1/2)`, `x | z ~ N(3z, 1)`, observed `x = 1`, guide `q(z) = Bernoulli(σ(φ))`
//! at `φ = 0.2`. For each estimator and temperature it averages many single-sample
//! gradients `∂J/∂φ` and reports the bias (mean − exact, with its standard error) and the
//! variance of one sample, as a Markdown table and a plot.
//!
//! ```text
//! cargo run --release --example estimators -- --out docs/img/estimators.png
//! cargo run --release --example estimators -- --quick   # CI-sized, writes no plot
//! ```

use pact::dist::{Bernoulli, Normal};
use pact::nn::ParamStore;
use pact::ppl::Ctx;
use pact::{DType, Device, Result, Rng, Tensor};
use pact_inference::objectives::{Estimator, Exact, Objective, ScoreFunction, SvoMap, Temperature};
use pact_models::plot::{self, LineChart};

fn s(v: f64) -> Tensor {
    Tensor::scalar(v, DType::F64, Device::Cpu)
}

fn model(ctx: &mut Ctx) -> Result<()> {
    let z = ctx.sample("z", Bernoulli::new(s(0.0))?)?;
    ctx.observe("x", Normal::new(z.mul_scalar(3.0)?, s(1.0))?, &s(1.0))?;
    Ok(())
}

fn guide(ctx: &mut Ctx) -> Result<()> {
    let phi = ctx.param("phi", || Ok(s(0.2)))?;
    ctx.sample("z", Bernoulli::new(phi)?).map(|_| ())
}

/// One gradient `∂J/∂φ` from `objective`.
fn grad(
    objective: &mut impl Objective,
    params: &ParamStore,
    rng: &mut Rng,
) -> std::result::Result<f64, Box<dyn std::error::Error>> {
    let e = objective.estimate(&model, &guide, params, rng)?;
    let g = e.loss.backward()?;
    let phi = params.get("phi").ok_or("no parameter phi")?.tensor();
    Ok(-g.get(&phi).ok_or("no gradient for phi")?.to_scalar()?)
}

/// (mean, variance of one sample) over `m` single-sample gradients.
fn moments(
    objective: &mut impl Objective,
    m: usize,
    seed: u64,
) -> std::result::Result<(f64, f64), Box<dyn std::error::Error>> {
    let params = ParamStore::new(DType::F64, Device::Cpu);
    let mut rng = Rng::seed(seed);
    let g = (0..m)
        .map(|_| grad(objective, &params, &mut rng))
        .collect::<std::result::Result<Vec<f64>, _>>()?;
    let mean = g.iter().sum::<f64>() / m as f64;
    let var = g.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m as f64 - 1.0);
    Ok((mean, var))
}

/// Points `(temperature, value)` of one line.
type Curve = Vec<(f64, f64)>;

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let out = match args.iter().position(|a| a == "--out") {
        Some(i) => Some(args.get(i + 1).ok_or("--out needs a path")?.clone()),
        None => None,
    };
    let m = if quick { 300 } else { 20000 };
    let temperatures = [1.0, 0.5, 0.2, 0.1];

    let params = ParamStore::new(DType::F64, Device::Cpu);
    let truth = grad(&mut Exact::map(), &params, &mut Rng::seed(0))?;
    println!("exact gradient dJ/dphi = {truth:.5}; {m} single-sample gradients per row\n");
    println!("| estimator | temperature | bias (± s.e.) | variance |");
    println!("|---|---|---|---|");
    let (mean, var) = moments(&mut ScoreFunction::map(), m, 1)?;
    let se = (var / m as f64).sqrt();
    println!(
        "| score function (moving-average baseline) | – | {:+.4} (± {se:.4}) | {var:.4} |",
        mean - truth
    );
    let sf_var = var;
    let mut curves: Vec<(&str, Curve, Curve)> = Vec::new();
    for (name, estimator) in [
        ("Concrete", Estimator::Concrete),
        ("straight-through", Estimator::StraightThrough),
    ] {
        let (mut bias, mut variance) = (Vec::new(), Vec::new());
        for &t in &temperatures {
            let mut svo = SvoMap::new(estimator.clone()).temperature(Temperature::Constant(t));
            let (mean, var) = moments(&mut svo, m, 2)?;
            let se = (var / m as f64).sqrt();
            println!(
                "| {name} | {t} | {:+.4} (± {se:.4}) | {var:.4} |",
                mean - truth
            );
            bias.push((t, (mean - truth).abs()));
            variance.push((t, var));
        }
        curves.push((name, bias, variance));
    }
    if let Some(path) = out {
        let mut chart =
            LineChart::new("Gradient estimators of E_q[log p(x, z)] vs the exact gradient")
                .x_label("temperature")
                .y_label("|bias| and variance of dJ/dphi");
        for (name, bias, variance) in &curves {
            chart = chart
                .series_with_dots(format!("{name}: |bias|"), bias.clone())
                .series_with_dots(format!("{name}: variance"), variance.clone());
        }
        chart = chart.series(
            "score function: variance",
            temperatures.iter().map(|&t| (t, sf_var)),
        );
        plot::save(&chart, &path)?;
        println!("\nwrote {path}");
    }
    Ok(())
}
