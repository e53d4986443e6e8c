//! The halting site (`Ctx::halting`) under the handlers that fix or enumerate its value:
//! parallel enumeration against brute force, replay, condition, and the errors.

mod prob_common;

use pact::dist::{Normal, OneHotCategorical};
use pact::nn::ParamStore;
use pact::ppl::{
    condition, decode, enumerate_parallel, relax, replay, run, Ctx, DecodeRule, HaltingSite,
    Relaxation, Select, SiteKind, Values,
};
use pact::{DType, Device, Result, Rng, Tensor};
use prob_common::{categorical_site, t64 as t};
use std::sync::Arc;

const CPU: Device = Device::Cpu;
const L: usize = 3;
const B: usize = 4;

/// A site whose prior is a fixed categorical over the steps and whose posterior is the
/// categorical of the logits with 0 appended (enough to exercise the handlers).
fn site() -> HaltingSite {
    categorical_site(&[0.3, -0.2, 0.5])
}

/// Step `l` adds `l + 1` times a per-row offset; the head is the state minus 2.
fn model(site: HaltingSite) -> impl Fn(&mut Ctx) -> Result<Tensor> {
    let x = t(&[0.5, -1.0, 2.0, 0.1], &[B, 1]);
    let y = t(&[1.0, -2.0, 4.5, 0.0], &[B]);
    move |ctx: &mut Ctx| {
        ctx.plate("batch", B, |ctx| {
            let out = ctx.halting(
                "n",
                &site,
                &x,
                |l, s, _| s.add(&x.mul_scalar(l as f64 + 1.0)?),
                |_, s| s.squeeze(1)?.add_scalar(-2.0),
            )?;
            let loc = out.output.squeeze(out.output.rank() - 1)?;
            ctx.observe("y", Normal::new(loc.clone(), loc.ones_like())?, &y)?;
            Ok(out.output)
        })
    }
}

/// The states s_1 … s_L of every row, by hand.
fn states() -> Vec<Vec<f64>> {
    let x = [0.5, -1.0, 2.0, 0.1];
    (0..L)
        .map(|l| {
            let factor: f64 = (1..=l + 1).map(|k| k as f64).sum::<f64>() + 1.0;
            x.iter().map(|v| v * factor).collect()
        })
        .collect()
}

#[test]
fn parallel_enumeration_of_a_halting_site_gives_the_exact_marginal() {
    let params = ParamStore::new(DType::F64, CPU);
    let (graph, _) = run(
        &enumerate_parallel(Select::All, model(site())),
        &params,
        &mut Rng::seed(0),
    )
    .unwrap();
    let prior = [0.3f64, -0.2, 0.5];
    let log_z = prior.iter().map(|v| v.exp()).sum::<f64>().ln();
    let ys = [1.0, -2.0, 4.5, 0.0];
    let s = states();
    let mut want = 0.0;
    for (row, y) in ys.iter().enumerate() {
        let mut total = 0.0;
        for n in 0..L {
            let d = y - s[n][row];
            let normal = (-0.5 * d * d).exp() / (2.0 * std::f64::consts::PI).sqrt();
            total += (prior[n] - log_z).exp() * normal;
        }
        want += total.ln();
    }
    let got = graph.log_marginal.to_scalar().unwrap();
    assert!((got - want).abs() < 1e-10, "{got} vs {want}");
}

#[test]
fn a_replayed_or_conditioned_value_runs_every_step_and_selects_it() {
    let params = ParamStore::new(DType::F64, CPU);
    let relaxed = relax(Relaxation::Concrete { temperature: 0.5 }, model(site()));
    let (out, trace) = run(&relaxed, &params, &mut Rng::seed(3)).unwrap();
    let (again, replayed) = run(
        &replay(trace.clone(), model(site())),
        &params,
        &mut Rng::seed(9),
    )
    .unwrap();
    assert_eq!(out.to_f64_vec(), again.to_f64_vec());
    assert!(replayed.get("n").unwrap().replayed);

    // Every row stops after step 2: the output is s_2.
    let second = t(&[0.0, 1.0, 0.0].repeat(B), &[B, L]);
    let conditioned = condition(Values::new().with("n", second), model(site()));
    let (out, trace) = run(&conditioned, &params, &mut Rng::seed(0)).unwrap();
    assert_eq!(out.squeeze(1).unwrap().to_f64_vec(), states()[1]);
    assert_eq!(trace.get("n").unwrap().kind, SiteKind::Observe);
}

#[test]
fn a_block_of_one_step_records_no_site() {
    let prior = OneHotCategorical::new(t(&[0.0], &[1])).unwrap();
    let one = HaltingSite::new(1, Arc::new(prior), |_| {
        Err(pact::Error::invalid("posterior", "not needed"))
    });
    let m = move |ctx: &mut Ctx| -> Result<Tensor> {
        let x = t(&[1.0, 2.0], &[2, 1]);
        Ok(ctx
            .halting(
                "n",
                &one,
                &x,
                |_, s, _| s.mul_scalar(3.0),
                |_, _| unreachable!(),
            )?
            .output)
    };
    let params = ParamStore::new(DType::F64, CPU);
    let (out, trace) = run(&m, &params, &mut Rng::seed(0)).unwrap();
    assert_eq!(out.to_f64_vec(), vec![3.0, 6.0]);
    assert!(trace.get("n").is_none());
}

#[test]
fn bad_blocks_and_thresholds_are_errors_naming_the_problem() {
    let params = ParamStore::new(DType::F64, CPU);
    let prior = OneHotCategorical::new(t(&[0.0, 0.0], &[2])).unwrap();
    let zero = HaltingSite::new(0, Arc::new(prior), |_| unreachable!());
    let m = move |ctx: &mut Ctx| -> Result<()> {
        let x = t(&[1.0], &[1, 1]);
        ctx.halting(
            "block",
            &zero,
            &x,
            |_, s, _| Ok(s.clone()),
            |_, s| s.squeeze(1),
        )
        .map(|_| ())
    };
    let err = run(&m, &params, &mut Rng::seed(0)).unwrap_err().to_string();
    assert!(
        err.contains("block") && err.contains("at least one step"),
        "{err}"
    );

    let m = move |ctx: &mut Ctx| -> Result<()> {
        let x = Tensor::scalar(1.0, DType::F64, CPU);
        ctx.halting(
            "block",
            &site(),
            &x,
            |_, s, _| Ok(s.clone()),
            |_, s| Ok(s.clone()),
        )
        .map(|_| ())
    };
    let err = run(&m, &params, &mut Rng::seed(0)).unwrap_err().to_string();
    assert!(err.contains("batch of rows"), "{err}");

    let err = run(
        &decode(DecodeRule::Threshold(1.5), model(site())),
        &params,
        &mut Rng::seed(0),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("threshold") && err.contains("1.5"), "{err}");
}
