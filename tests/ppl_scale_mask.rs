//! `Ctx::scaled` and `Ctx::masked`: site scales and element masks, and the closed-form terms
//! of the sampled objectives under a mask.

use pact::dist::{Bernoulli, Normal};
use pact::nn::ParamStore;
use pact::ppl::{run, Ctx};
use pact::{DType, Device, Result, Rng, Tensor};

const CPU: Device = Device::Cpu;

fn t(v: &[f64]) -> Tensor {
    Tensor::from_f64_slice(v, [v.len()], DType::F64, CPU).unwrap()
}

#[test]
fn a_mask_zeroes_the_masked_elements_and_is_recorded() {
    let model = |ctx: &mut Ctx| -> Result<()> {
        ctx.masked(&t(&[1.0, 0.0, 1.0]), |ctx| {
            ctx.plate("batch", 3, |ctx| {
                ctx.sample("z", Normal::new(t(&[0.0; 3]), t(&[1.0; 3]))?)?;
                ctx.factor("f", &t(&[1.0, 2.0, 3.0]))
            })
        })
    };
    let params = ParamStore::new(DType::F64, CPU);
    let (_, trace) = run(&model, &params, &mut Rng::seed(0)).unwrap();
    let z = trace.get("z").unwrap();
    assert_eq!(z.log_prob.as_ref().unwrap().to_f64_vec()[1], 0.0);
    assert!(z.log_prob.as_ref().unwrap().to_f64_vec()[0] != 0.0);
    assert_eq!(z.mask.as_ref().unwrap().to_f64_vec(), vec![1.0, 0.0, 1.0]);
    let f = trace.get("f").unwrap();
    assert_eq!(
        f.log_prob.as_ref().unwrap().to_f64_vec(),
        vec![1.0, 0.0, 3.0]
    );
}

#[test]
fn a_mask_that_does_not_broadcast_is_an_error_naming_the_site() {
    let model = |ctx: &mut Ctx| -> Result<()> {
        ctx.masked(&t(&[1.0, 0.0]), |ctx| {
            ctx.plate("batch", 3, |ctx| {
                ctx.sample("z", Bernoulli::new(t(&[0.0; 3]))?).map(|_| ())
            })
        })
    };
    let params = ParamStore::new(DType::F64, CPU);
    let err = run(&model, &params, &mut Rng::seed(0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"z\"") || err.contains("z:") || err.contains("z"),
        "{err}"
    );
    assert!(err.contains("mask"), "{err}");
}

#[test]
fn scales_multiply_with_nesting_and_bad_scales_are_refused() {
    let model = |ctx: &mut Ctx| -> Result<()> {
        ctx.scaled(0.5, |ctx| {
            ctx.scaled(0.25, |ctx| ctx.factor("f", &t(&[4.0])))
        })
    };
    let params = ParamStore::new(DType::F64, CPU);
    let (_, trace) = run(&model, &params, &mut Rng::seed(0)).unwrap();
    assert_eq!(trace.get("f").unwrap().scale, 0.125);
    assert!((trace.log_joint().unwrap().to_scalar().unwrap() - 0.5).abs() < 1e-15);
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let m = move |ctx: &mut Ctx| -> Result<()> { ctx.scaled(bad, |_| Ok(())) };
        assert!(run(&m, &params, &mut Rng::seed(0)).is_err(), "{bad}");
    }
}
