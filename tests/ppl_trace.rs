//! The modelling language: what a run records, plates, parameters and errors.

mod prob_common;

use pact::dist::{Bernoulli, Categorical, Normal};
use pact::nn::ParamStore;
use pact::ppl::{condition, run, Ctx, SiteKind, Values};
use pact::{DType, Error, Result, Rng, Tensor};
use prob_common::*;

fn store() -> ParamStore {
    ParamStore::new(DType::F64, CPU)
}

#[test]
fn a_run_records_every_site_with_its_kind_value_and_log_prob() {
    let data = t64(&[0.5, -0.2, 1.3], &[3]);
    let model = |ctx: &mut Ctx| -> Result<Tensor> {
        let w = ctx.param("w", || Ok(t64(&[0.4], &[1])))?;
        let z = ctx.sample("z", Bernoulli::new(w.clone())?)?;
        ctx.plate("data", 3, |ctx| {
            ctx.observe("x", Normal::new(z.clone(), s64(1.0))?, &data)?;
            Ok(())
        })?;
        ctx.factor("penalty", &w.square()?.neg()?)?;
        Ok(z)
    };
    let params = store();
    let (z, trace) = run(&model, &params, &mut Rng::seed(0)).unwrap();
    assert_eq!(trace.names(), vec!["w", "z", "x", "penalty"]);
    let kinds: Vec<SiteKind> = trace.iter().map(|s| s.kind).collect();
    use SiteKind::*;
    assert_eq!(kinds, vec![Param, Sample, Observe, Factor]);
    assert!(trace.get("w").unwrap().log_prob.is_none());
    assert_eq!(trace.value("z").unwrap().to_f64_vec(), z.to_f64_vec());
    let zs = z.to_scalar().unwrap();
    // Per-site log-probabilities.
    let lp_z = trace
        .get("z")
        .unwrap()
        .log_prob
        .clone()
        .unwrap()
        .to_scalar()
        .unwrap();
    let pz = 1.0 / (1.0 + (-0.4f64).exp());
    close(
        &[lp_z],
        &[if zs == 1.0 { pz.ln() } else { (1.0 - pz).ln() }],
        1e-12,
    );
    let x_site = trace.get("x").unwrap();
    assert_eq!(x_site.log_prob.as_ref().unwrap().dims(), &[3]);
    assert_eq!(x_site.plates.len(), 1);
    assert_eq!(x_site.plates[0].name, "data");
    assert_eq!(x_site.dist.as_ref().unwrap().name(), "Normal");
    // Sums by kind add up to the joint.
    let parts: f64 = [Sample, Observe, Factor]
        .iter()
        .map(|k| trace.log_prob_sum(*k).unwrap().to_scalar().unwrap())
        .sum();
    close(
        &[trace.log_joint().unwrap().to_scalar().unwrap()],
        &[parts],
        1e-12,
    );
    close(
        &[trace.latent_log_prob().unwrap().to_scalar().unwrap()],
        &[lp_z],
        1e-12,
    );
    // The parameter was created in the store and gradients of the joint reach it.
    let w = params.get("w").unwrap().tensor();
    let g = trace.log_joint().unwrap().backward().unwrap();
    assert!(g.get(&w).is_some());
}

#[test]
fn duplicate_names_are_errors_but_repeated_params_are_one_parameter() {
    let twice = |ctx: &mut Ctx| -> Result<()> {
        ctx.sample("z", Bernoulli::new(s64(0.0))?)?;
        ctx.sample("z", Bernoulli::new(s64(0.0))?)?;
        Ok(())
    };
    let err = run(&twice, &store(), &mut Rng::seed(0)).unwrap_err();
    assert!(
        matches!(err, Error::DuplicateSite(ref n) if n == "z"),
        "{err}"
    );

    let observe_clash = |ctx: &mut Ctx| -> Result<()> {
        ctx.sample("x", Normal::new(s64(0.0), s64(1.0))?)?;
        ctx.observe("x", Normal::new(s64(0.0), s64(1.0))?, &s64(0.0))?;
        Ok(())
    };
    assert!(matches!(
        run(&observe_clash, &store(), &mut Rng::seed(0)),
        Err(Error::DuplicateSite(_))
    ));

    let param_clash = |ctx: &mut Ctx| -> Result<()> {
        ctx.sample("w", Normal::new(s64(0.0), s64(1.0))?)?;
        ctx.param("w", || Ok(s64(1.0)))?;
        Ok(())
    };
    assert!(matches!(
        run(&param_clash, &store(), &mut Rng::seed(0)),
        Err(Error::DuplicateSite(_))
    ));

    let param_twice = |ctx: &mut Ctx| -> Result<f64> {
        let a = ctx.param("w", || Ok(s64(1.0)))?;
        let b = ctx.param("w", || Ok(s64(2.0)))?;
        Ok(a.to_scalar()? + b.to_scalar()?)
    };
    let (sum, trace) = run(&param_twice, &store(), &mut Rng::seed(0)).unwrap();
    assert_eq!(sum, 2.0);
    assert_eq!(trace.len(), 1);
}

#[test]
fn shape_mismatches_are_errors() {
    // A batch shape that disagrees with the plate.
    let bad_plate = |ctx: &mut Ctx| -> Result<()> {
        ctx.plate("data", 3, |ctx| {
            ctx.sample("z", Bernoulli::new(t64(&[0.0; 4], &[4]))?)?;
            Ok(())
        })
    };
    let err = run(&bad_plate, &store(), &mut Rng::seed(0)).unwrap_err();
    assert!(
        matches!(err, Error::Site { ref site, .. } if site == "z"),
        "{err}"
    );

    // An observation with extra axes.
    let bad_obs = |ctx: &mut Ctx| -> Result<()> {
        ctx.observe(
            "x",
            Normal::new(s64(0.0), s64(1.0))?,
            &t64(&[0.0, 1.0], &[2]),
        )?;
        Ok(())
    };
    let err = run(&bad_obs, &store(), &mut Rng::seed(0)).unwrap_err();
    assert!(
        matches!(err, Error::Site { ref site, .. } if site == "x"),
        "{err}"
    );

    // A conditioned value of the wrong shape.
    let model = |ctx: &mut Ctx| -> Result<Tensor> {
        ctx.sample("z", Bernoulli::new(t64(&[0.0; 2], &[2]))?)
    };
    let wrong = condition(Values::new().with("z", t64(&[1.0; 3], &[3])), model);
    assert!(matches!(
        run(&wrong, &store(), &mut Rng::seed(0)),
        Err(Error::Site { .. })
    ));

    // A one-hot observation with the wrong number of categories.
    let onehot = |ctx: &mut Ctx| -> Result<()> {
        let d = pact::dist::OneHotCategorical::new(t64(&[0.0; 3], &[3]))?;
        ctx.observe("k", d, &t64(&[1.0, 0.0], &[2]))?;
        Ok(())
    };
    assert!(run(&onehot, &store(), &mut Rng::seed(0)).is_err());
}

#[test]
fn plates_expand_batch_shapes_nest_and_scale() {
    let model = |ctx: &mut Ctx| -> Result<(Tensor, Tensor)> {
        ctx.plate("outer", 3, |ctx| {
            let a = ctx.sample("a", Normal::new(s64(0.0), s64(1.0))?)?;
            let b = ctx.plate("inner", 2, |ctx| ctx.sample("b", Bernoulli::new(s64(0.0))?))?;
            Ok((a, b))
        })
    };
    let (out, trace) = run(&model, &store(), &mut Rng::seed(0)).unwrap();
    // The first plate takes the last batch axis; the nested one the axis before.
    assert_eq!(out.0.dims(), &[3]);
    assert_eq!(out.1.dims(), &[2, 3]);
    let b = trace.get("b").unwrap();
    assert_eq!(
        b.plates.iter().map(|p| p.dim).collect::<Vec<_>>(),
        vec![-1, -2]
    );

    // A subsampled plate scales its sites' log-probabilities.
    let sub = |ctx: &mut Ctx| -> Result<()> {
        ctx.subsample_plate("data", 100, 4, |ctx| {
            ctx.observe("x", Normal::new(s64(0.0), s64(1.0))?, &t64(&[0.0; 4], &[4]))?;
            Ok(())
        })
    };
    let (_, trace) = run(&sub, &store(), &mut Rng::seed(0)).unwrap();
    let per_point = -0.5 * (2.0 * std::f64::consts::PI).ln();
    close(
        &[trace.log_joint().unwrap().to_scalar().unwrap()],
        &[100.0 * per_point],
        1e-12,
    );
    assert_eq!(trace.get("x").unwrap().scale, 25.0);

    // A plate name may not be reopened inside itself.
    let reopened =
        |ctx: &mut Ctx| -> Result<()> { ctx.plate("p", 2, |ctx| ctx.plate("p", 2, |_| Ok(()))) };
    assert!(run(&reopened, &store(), &mut Rng::seed(0)).is_err());
}

#[test]
fn categorical_sites_in_plates_and_the_rng_stream() {
    let model = |ctx: &mut Ctx| -> Result<Tensor> {
        ctx.plate("items", 20, |ctx| {
            ctx.sample("k", Categorical::new(t64(&[0.0, 0.0, 0.0], &[3]))?)
        })
    };
    let mut rng = Rng::seed(3);
    let (a, _) = run(&model, &store(), &mut rng).unwrap();
    let (b, _) = run(&model, &store(), &mut rng).unwrap();
    let (c, _) = run(&model, &store(), &mut Rng::seed(3)).unwrap();
    assert_eq!(a.dims(), &[20]);
    assert!(a.to_f64_vec().iter().all(|k| [0.0, 1.0, 2.0].contains(k)));
    // The same seed replays the stream; the caller's generator advances between runs.
    assert_eq!(a.to_f64_vec(), c.to_f64_vec());
    assert_ne!(a.to_f64_vec(), b.to_f64_vec());
}
