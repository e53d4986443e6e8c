//! A chain of halting sites enumerated in parallel: each site's output holds every state along
//! its enumeration axis, what it passes on (`HaltingOutput::carry`) is the posterior expectation
//! of its output, and the exact expectation of the chain's terms (`ParallelEnum::expectation`,
//! with `log_prior` its latent part) is what a hand computation gives.

mod prob_common;

use pact::dist::{Independent, Normal};
use pact::nn::ParamStore;
use pact::ppl::{run, Ctx, HaltingSite, ParallelEnum, Select};
use pact::{DType, Device, Result, Rng, Tensor};
use prob_common::categorical_site;
use std::cell::RefCell;

const CPU: Device = Device::Cpu;
const INPUTS: [f64; 2] = [0.4, -1.2];
const TARGETS: [[f64; 2]; 2] = [[2.0, 0.5], [4.5, 1.0]];

/// Three steps adding 1, 2, 3 to the state; the halting logit after a step is the state − 1.5;
/// the posterior is the categorical of (a_1, a_2, 0), the prior uniform.
fn site() -> Result<HaltingSite> {
    Ok(categorical_site(&[0.0; 3]))
}

/// Per step, the outputs, expected states and carries the model saw.
type Seen = RefCell<Vec<(Tensor, Option<Tensor>, Tensor)>>;

fn model<'a>(site: &'a HaltingSite, seen: &'a Seen) -> impl Fn(&mut Ctx) -> Result<()> + 'a {
    move |ctx: &mut Ctx| {
        seen.borrow_mut().clear();
        let x = Tensor::from_f64_slice(&INPUTS, [2, 1], DType::F64, CPU)?;
        ctx.plate("batch", 2, |ctx| {
            let mut state = x.clone();
            ctx.markov(2, |ctx, t| {
                let out = ctx.halting(
                    &format!("n{t}"),
                    site,
                    &state,
                    |l, s, _| s.add_scalar((l + 1) as f64),
                    |_, s| s.squeeze(1)?.add_scalar(-1.5),
                )?;
                let y = Tensor::from_f64_slice(&TARGETS[t], [2, 1], DType::F64, CPU)?;
                let law = Independent::new(Normal::new(out.output.clone(), y.ones_like())?, 1)?;
                ctx.observe(&format!("y{t}"), law, &y)?;
                seen.borrow_mut().push((
                    out.output.clone(),
                    out.expected.clone(),
                    out.carry().clone(),
                ));
                state = out.carry().clone();
                Ok(())
            })
        })
    }
}

/// `(Σ E_q[log N(y; s_N, 1)], Σ E_q[log p(N)], Σ H[q], carries)` by hand.
fn by_hand() -> (f64, f64, f64, Vec<Vec<f64>>) {
    let ln_n = |y: f64, m: f64| -0.5 * (y - m).powi(2) - 0.5 * (2.0 * std::f64::consts::PI).ln();
    let (mut lik, mut prior, mut entropy) = (0.0, 0.0, 0.0);
    let mut carries = vec![Vec::new(), Vec::new()];
    for (i, &x) in INPUTS.iter().enumerate() {
        let mut s = x;
        for t in 0..2 {
            let states = [s + 1.0, s + 3.0, s + 6.0];
            let logits = [states[0] - 1.5, states[1] - 1.5, 0.0];
            let z: f64 = logits.iter().map(|a| a.exp()).sum();
            let q: Vec<f64> = logits.iter().map(|a| a.exp() / z).collect();
            for n in 0..3 {
                lik += q[n] * ln_n(TARGETS[t][i], states[n]);
                prior += q[n] * (1.0f64 / 3.0).ln();
                entropy -= q[n] * q[n].ln();
            }
            s = (0..3).map(|n| q[n] * states[n]).sum();
            carries[t].push(s);
        }
    }
    (lik, prior, entropy, carries)
}

#[test]
fn an_enumerated_chain_of_halting_sites_carries_the_expected_state() -> Result<()> {
    let site = site()?;
    let seen = Seen::default();
    let no_guide = |_: &mut Ctx| -> Result<()> { Ok(()) };
    let exact = ParallelEnum::new(Select::All)
        .max_plate_nesting(1)
        .expectation(no_guide, model(&site, &seen));
    let params = ParamStore::new(DType::F64, CPU);
    let (e, _) = run(&exact, &params, &mut Rng::seed(0))?;
    let (lik, prior, entropy, carries) = by_hand();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12 * (1.0 + b.abs());
    assert_eq!(e.enumerated, vec!["n0", "n1"]);
    assert!(close(e.log_joint.to_scalar()?, lik + prior));
    assert!(close(e.log_prior.to_scalar()?, prior));
    assert!(close(e.entropy.to_scalar()?, entropy));
    let seen = seen.borrow();
    for (t, (output, expected, carry)) in seen.iter().enumerate() {
        // Every state of the step along its own axis (steps alternate between two axes).
        let axes: &[usize] = if t == 0 { &[3, 2, 1] } else { &[3, 1, 2, 1] };
        assert_eq!(output.dims(), axes, "step {t}");
        let expected = expected.as_ref().expect("an expectation under enumeration");
        assert_eq!(expected.dims(), [2, 1]);
        assert_eq!(carry.to_f64_vec(), expected.to_f64_vec());
        for (got, want) in carry.to_f64_vec().iter().zip(&carries[t]) {
            assert!(close(*got, *want), "step {t}: {got} vs {want}");
        }
    }
    Ok(())
}

#[test]
fn a_halting_site_not_enumerated_passes_on_its_output() -> Result<()> {
    let site = site()?;
    let seen = Seen::default();
    let params = ParamStore::new(DType::F64, CPU);
    run(&model(&site, &seen), &params, &mut Rng::seed(0))?;
    for (output, expected, carry) in seen.borrow().iter() {
        assert!(expected.is_none());
        assert_eq!(output.dims(), [2, 1]);
        assert_eq!(carry.to_f64_vec(), output.to_f64_vec());
    }
    Ok(())
}
