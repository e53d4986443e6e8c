//! An adaptive network of your own, written as a model of the modelling language: a residual
//! MLP with a halting head after each layer, trained as PACT and as ACT from the same model,
//! decoded with PACT's deterministic rule, and its halting distributions plotted.
//!
//! The pieces are the ones the shipped networks are built from:
//!
//! - the block is one halting site (`Ctx::halting`) whose prior is the time-penalty
//!   `HaltingLaw` and whose posterior is `HaltingLaw::posterior` of the heads' logits
//!   (`time_penalty_site`); it outputs `Σ_l w_l s_l` for the site's value `w`;
//! - PACT is `SvoMap` with the Concrete estimator; ACT is the same objective over the model
//!   relaxed by `ActRelaxation` (math §7), which runs the layers online; deterministic
//!   evaluation is `decode(DecodeRule::Threshold(0.5), model)`, where points leave the batch
//!   at their first confident head; ACT's evaluation is the relaxed model itself.
//!
//! The task: points in the plane, labelled by which of three rings they fall in; points near a
//! ring's edge are the hard ones.
//!
//! ```text
//! cargo run --release --example adaptive_mlp [-- --quick] [-- --out halting.png]
//! ```

use pact::dist::Categorical;
use pact::nn::{Adam, AdamConfig, Linear, Optimizer, ParamStore};
use pact::ppl::{decode, relax, run, Ctx, DecodeRule, RelaxPolicy};
use pact::{DType, Device, Error, Result, Rng, Tensor};
use pact_inference::objectives::{Estimator, Objective, SvoMap, Temperature};
use pact_models::halting::{time_penalty_site, ActRelaxation, HaltingLaw, ACT_EPSILON};
use pact_models::plot::{save, Figure, GroupedBarChart, Panel, YAxis};

const CPU: Device = Device::Cpu;
/// Layers (units) of the adaptive block.
const LAYERS: usize = 4;
const HIDDEN: usize = 16;
const CLASSES: usize = 3;
/// The time penalty λ of PACT and ACT's τ.
const PENALTY: f64 = 0.02;

/// The residual MLP: a stem, `LAYERS` residual layers with a halting head after each but the
/// last, and a classifier.
struct AdaptiveMlp {
    stem: Linear,
    layers: Vec<Linear>,
    heads: Vec<Linear>,
    classifier: Linear,
}

impl AdaptiveMlp {
    fn new(params: &ParamStore, rng: &mut Rng) -> Result<Self> {
        let layers = (0..LAYERS)
            .map(|l| Linear::new(&params.pp(format!("layer{l}")), HIDDEN, HIDDEN, rng))
            .collect::<Result<Vec<_>>>()?;
        let heads = (0..LAYERS - 1)
            .map(|l| {
                let head = Linear::new(&params.pp(format!("head{l}")), HIDDEN, 1, rng)?;
                // Start deep, as the ResNets do: h ≈ 0.05.
                if let Some(b) = head.bias() {
                    b.set(b.tensor().full_like(-3.0))?;
                }
                Ok(head)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AdaptiveMlp {
            stem: Linear::new(&params.pp("stem"), 2, HIDDEN, rng)?,
            layers,
            heads,
            classifier: Linear::new(&params.pp("classifier"), HIDDEN, CLASSES, rng)?,
        })
    }

    /// Layer `l`'s residual update of the state.
    fn layer(&self, l: usize, s: &Tensor) -> Result<Tensor> {
        s.add(&self.layers[l].forward(s)?.tanh()?)
    }

    /// The halting logit after layer `l`, one per row.
    fn head(&self, l: usize, s: &Tensor) -> Result<Tensor> {
        self.heads[l].forward(s)?.squeeze(1)
    }

    /// The model: the block as one halting site (its layers run as far as the handlers
    /// decide), the classifier's likelihood as an observation; log-probabilities are averaged
    /// over the batch (`scaled`). Returns the class logits.
    fn model(&self, x: Tensor, y: Tensor) -> Result<impl Fn(&mut Ctx) -> Result<Tensor> + '_> {
        let site = time_penalty_site(LAYERS, PENALTY, DType::F64, CPU)?;
        Ok(move |ctx: &mut Ctx| {
            let n = x.dims()[0];
            let s0 = self.stem.forward(&x)?.tanh()?;
            ctx.scaled(1.0 / n as f64, |ctx| {
                ctx.plate("data", n, |ctx| {
                    let block = ctx.halting(
                        "halt",
                        &site,
                        &s0,
                        |l, s, _rows| self.layer(l, s),
                        |l, s| self.head(l, s),
                    )?;
                    let out = self.classifier.forward(&block.output)?;
                    ctx.observe("y", Categorical::new(out.clone())?, &y)?;
                    Ok(out)
                })
            })
        })
    }

    /// `q(N | x)` for the points `x`: every layer and head, then the posterior.
    fn posterior(&self, x: &Tensor) -> Result<HaltingLaw> {
        let mut s = self.stem.forward(x)?.tanh()?;
        let mut logits = Vec::with_capacity(LAYERS - 1);
        for l in 0..LAYERS - 1 {
            s = self.layer(l, &s)?;
            logits.push(self.head(l, &s)?);
        }
        HaltingLaw::posterior(Tensor::stack(&logits, 1)?)
    }
}

/// `n` points in the disc of radius 3, labelled by their ring: r < 1, 1 ≤ r < 2, r ≥ 2.
fn rings(n: usize, rng: &mut Rng) -> Result<(Tensor, Tensor)> {
    let mut x = Vec::with_capacity(2 * n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let r = 3.0 * rng.uniform().sqrt();
        let angle = std::f64::consts::TAU * rng.uniform();
        x.extend([r * angle.cos(), r * angle.sin()]);
        y.push(r.floor().min(2.0));
    }
    Ok((
        Tensor::from_f64_vec(x, [n, 2], CPU)?,
        Tensor::from_f64_vec(y, [n], CPU)?,
    ))
}

/// ACT's relaxation of the halting site.
fn act_policy() -> RelaxPolicy {
    RelaxPolicy::all(ActRelaxation::new(ACT_EPSILON).into_relaxation())
}

/// Trains with SVO-MAP over the model `model_for` builds (PACT's, or ACT's relaxed one) for
/// `steps` steps of Adam on fresh batches; returns the last loss per example.
fn fit<M>(
    params: &ParamStore,
    steps: usize,
    seed: u64,
    model_for: impl Fn(Tensor, Tensor) -> Result<M>,
) -> Result<f64>
where
    M: Fn(&mut Ctx) -> Result<Tensor>,
{
    let mut rng = Rng::seed(seed);
    let mut svo = SvoMap::new(Estimator::Concrete).temperature(Temperature::Constant(0.5));
    let mut opt = Adam::new(
        params.trainable(),
        AdamConfig {
            lr: 0.01,
            ..Default::default()
        },
    );
    let nothing = |_: &mut Ctx| -> Result<()> { Ok(()) };
    let mut last = f64::NAN;
    for _ in 0..steps {
        let (x, y) = rings(64, &mut rng)?;
        let model = model_for(x, y)?;
        let e = svo
            .estimate(&model, &nothing, params, &mut rng)
            .map_err(|e| Error::invalid("fit", e.to_string()))?;
        last = e.loss.to_scalar()?;
        opt.step(&e.loss.backward()?)?;
    }
    Ok(last)
}

/// Accuracy, and the layers each example ran (`N`), of predictions `out` against `y`.
fn accuracy(out: &Tensor, y: &Tensor) -> Result<f64> {
    let predicted = out.argmax(1)?;
    let labels = y.to_f64_vec();
    let hits = predicted
        .iter()
        .zip(&labels)
        .filter(|(p, l)| **p as f64 == **l)
        .count();
    Ok(hits as f64 / labels.len() as f64)
}

/// The layers run per example: the position of the one in each decoded one-hot row.
fn units_run(one_hot: &Tensor) -> Vec<usize> {
    one_hot
        .to_f64_vec()
        .chunks(LAYERS)
        .map(|row| row.iter().position(|&v| v == 1.0).map_or(LAYERS, |i| i + 1))
        .collect()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let out_path = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "target/adaptive_mlp.png".into());
    let steps = if quick { 400 } else { 1500 };
    let (test_x, test_y) = rings(1000, &mut Rng::seed(99))?;

    // PACT: SVO-MAP through the Concrete relaxation, decoded with the deterministic rule.
    let pact_params = ParamStore::new(DType::F64, CPU);
    let pact_net = AdaptiveMlp::new(&pact_params, &mut Rng::seed(1))?;
    let pact_loss = fit(&pact_params, steps, 2, |x, y| pact_net.model(x, y))?;
    // Decoded online: each point leaves the batch at its first confident head (math §6).
    let (decoded, trace) = run(
        &decode(
            DecodeRule::Threshold(0.5),
            pact_net.model(test_x.clone(), test_y.clone())?,
        ),
        &pact_params,
        &mut Rng::seed(0),
    )?;
    let units =
        units_run(trace.get("halt").map(|s| s.value()).ok_or_else(|| {
            Error::invalid("adaptive_mlp", "the decoded trace has no halting site")
        })?);
    let pact_accuracy = accuracy(&decoded, &test_y)?;
    let mean_units = units.iter().sum::<usize>() as f64 / units.len() as f64;

    // ACT: the same model with ACT's relaxation of the halting site (math §7).
    let act_params = ParamStore::new(DType::F64, CPU);
    let act_net = AdaptiveMlp::new(&act_params, &mut Rng::seed(1))?;
    let act_loss = fit(&act_params, steps, 2, |x, y| {
        Ok(relax(act_policy(), act_net.model(x, y)?))
    })?;
    // ACT runs online too: its weights accumulate as the layers run, and the block stops once
    // every point has halted.
    let (act_out, act_trace) = run(
        &relax(act_policy(), act_net.model(test_x.clone(), test_y.clone())?),
        &act_params,
        &mut Rng::seed(0),
    )?;
    let act_accuracy = accuracy(&act_out, &test_y)?;
    let act_weights = act_trace
        .get("halt")
        .map(|s| s.value().to_f64_vec())
        .unwrap_or_default();
    let act_units = act_weights
        .chunks(LAYERS)
        .map(|w| w.iter().rposition(|&v| v > 0.0).map_or(LAYERS, |i| i + 1))
        .sum::<usize>() as f64
        / 1000.0;

    println!(
        "PACT: loss {pact_loss:.3}, test accuracy {:.1}%, {mean_units:.2} of {LAYERS} layers on average",
        100.0 * pact_accuracy
    );
    println!(
        "ACT:  loss {act_loss:.3}, test accuracy {:.1}%, {act_units:.2} of {LAYERS} layers on average",
        100.0 * act_accuracy
    );
    let mut histogram = vec![0usize; LAYERS];
    for &n in &units {
        histogram[n - 1] += 1;
    }
    println!("PACT's decoded layers per example: {histogram:?} (N = 1 … {LAYERS})");

    // q(N | x) of three test points: near the centre, on the first ring's edge, far out.
    let probe = Tensor::from_f64_vec(vec![0.2, 0.1, 1.0, 0.05, 2.6, 0.3], [3, 2], CPU)?;
    let q = pact_net.posterior(&probe)?;
    let probs = pact::dist::Distribution::mean(&q)?.to_f64_vec();
    let mut figure = Figure::new("Halting distributions q(N | x) of the adaptive MLP", 3);
    for (row, label) in ["x = (0.2, 0.1)", "x = (1.0, 0.05)", "x = (2.6, 0.3)"]
        .iter()
        .enumerate()
    {
        let chart = GroupedBarChart::new(*label, (1..=LAYERS).map(|n| n.to_string()))
            .x_label("layers N")
            .y_label("q(N | x)")
            .y_axis(YAxis::Probability)
            .series("PACT", probs[row * LAYERS..(row + 1) * LAYERS].to_vec());
        figure = figure.panel(Panel::Bars {
            chart,
            lines: Vec::new(),
        });
    }
    save(&figure, &out_path).map_err(|e| Error::invalid("adaptive_mlp", e.to_string()))?;
    println!("halting distributions: {out_path}");

    // The checks this example stands for.
    let chance = 1.0 / CLASSES as f64;
    if pact_accuracy < chance + 0.2 || act_accuracy < chance + 0.2 {
        return Err(Error::invalid(
            "adaptive_mlp",
            format!("accuracies {pact_accuracy} (PACT) and {act_accuracy} (ACT) are near chance"),
        ));
    }
    if !(1.0..=LAYERS as f64).contains(&mean_units) {
        return Err(Error::invalid("adaptive_mlp", "decoded N out of range"));
    }
    Ok(())
}
