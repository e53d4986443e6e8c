//! The adaptive block in each halting mode, on toy blocks small enough to check by hand.

use pact::{DType, Device, Rng, Tensor};
use pact_models::adaptive::{run_block, HaltingMode};
use pact_models::halting::{act_from_probs, deterministic_n, ACT_EPSILON};

const CPU: Device = Device::Cpu;

/// A toy block on `[B, D]` states: unit `l` is `tanh(s W_l)`, head `l` is `s · v_l + c_l`.
struct Toy {
    w: Vec<Tensor>,
    v: Vec<Tensor>,
    c: Vec<f64>,
}

impl Toy {
    fn new(units: usize, d: usize, rng: &mut Rng) -> Toy {
        let w = (0..units)
            .map(|_| {
                Tensor::rand_normal([d, d], 0.0, 0.8, DType::F64, CPU, rng)
                    .unwrap()
                    .to_var()
            })
            .collect();
        let v = (0..units)
            .map(|_| {
                Tensor::rand_normal([d, 1], 0.0, 1.5, DType::F64, CPU, rng)
                    .unwrap()
                    .to_var()
            })
            .collect();
        let c = (0..units).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        Toy { w, v, c }
    }

    fn unit(&self, l: usize, s: &Tensor) -> pact::Result<Tensor> {
        s.matmul(&self.w[l])?.tanh()
    }

    fn head(&self, l: usize, s: &Tensor) -> pact::Result<Tensor> {
        s.matmul(&self.v[l])?.add_scalar(self.c[l])?.squeeze(1)
    }
}

fn input(b: usize, d: usize, rng: &mut Rng) -> Tensor {
    Tensor::randn([b, d], DType::F64, CPU, rng).unwrap()
}

#[test]
fn streaming_act_equals_the_dense_reference_in_value_and_gradient() {
    let mut rng = Rng::seed(4);
    for trial in 0..5 {
        let (units, b, d) = (4 + trial % 2, 6, 3);
        let toy = Toy::new(units, d, &mut rng);
        let x = input(b, d, &mut rng);
        let target = Tensor::randn([b, d], DType::F64, CPU, &mut rng).unwrap();
        let tau = 0.3;
        // Streaming ACT.
        let mode = HaltingMode::Act { eps: ACT_EPSILON };
        let out = run_block(
            units,
            &x,
            |l, s, _| toy.unit(l, s),
            |l, s| toy.head(l, s),
            &mode,
            &mut rng,
        )
        .unwrap();
        let loss_a = out
            .output
            .mul(&target)
            .unwrap()
            .sum_all()
            .unwrap()
            .add(
                &out.ponder
                    .clone()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .mul_scalar(tau)
                    .unwrap(),
            )
            .unwrap();
        // Dense reference: every state, every head, weights from act_from_probs.
        let mut states = vec![];
        let mut probs = vec![];
        let mut s = x.clone();
        for l in 0..units {
            s = toy.unit(l, &s).unwrap();
            states.push(s.clone());
            if l + 1 < units {
                probs.push(toy.head(l, &s).unwrap().sigmoid().unwrap());
            }
        }
        let act = act_from_probs(&Tensor::stack(&probs, 1).unwrap(), ACT_EPSILON).unwrap();
        assert_eq!(act.n, out.units);
        let mut mix = states[0]
            .mul(&act.weights.narrow(1, 0, 1).unwrap())
            .unwrap();
        for (l, st) in states.iter().enumerate().skip(1) {
            mix = mix
                .add(&st.mul(&act.weights.narrow(1, l, 1).unwrap()).unwrap())
                .unwrap();
        }
        let loss_b = mix
            .mul(&target)
            .unwrap()
            .sum_all()
            .unwrap()
            .add(&act.ponder.sum_all().unwrap().mul_scalar(tau).unwrap())
            .unwrap();
        assert!((loss_a.to_scalar().unwrap() - loss_b.to_scalar().unwrap()).abs() < 1e-9);
        let (ga, gb) = (loss_a.backward().unwrap(), loss_b.backward().unwrap());
        for p in toy.w.iter().chain(&toy.v) {
            let (a, b) = (
                ga.get(p).map(|g| g.to_f64_vec()),
                gb.get(p).map(|g| g.to_f64_vec()),
            );
            match (a, b) {
                (Some(a), Some(b)) => {
                    for (x, y) in a.iter().zip(&b) {
                        assert!((x - y).abs() < 1e-9, "{a:?} vs {b:?}");
                    }
                }
                (None, None) => {}
                (a, b) => {
                    // A parameter only the reference touched (a unit after every example
                    // halted) must have a zero gradient there.
                    let g = a.or(b).unwrap();
                    assert!(g.iter().all(|v| v.abs() < 1e-12), "{g:?}");
                }
            }
        }
    }
}

#[test]
fn deterministic_mode_returns_the_state_of_unit_n_and_compacts_the_batch() {
    let mut rng = Rng::seed(8);
    let (units, b, d) = (5, 16, 3);
    let toy = Toy::new(units, d, &mut rng);
    let x = input(b, d, &mut rng);
    let mut rows_per_unit = vec![0usize; units];
    let out = pact::no_grad(|| {
        run_block(
            units,
            &x,
            |l, s, _| {
                rows_per_unit[l] += s.dims()[0];
                toy.unit(l, s)
            },
            |l, s| toy.head(l, s),
            &HaltingMode::PactDeterministic,
            &mut rng,
        )
    })
    .unwrap();
    let values = out.output.to_f64_vec();
    for i in 0..b {
        // Run example i alone through units 1..N and compare with s_N.
        let xi = x.narrow(0, i, 1).unwrap();
        let mut s = xi.clone();
        let mut n = units;
        for l in 0..units {
            s = toy.unit(l, &s).unwrap();
            if l + 1 < units && toy.head(l, &s).unwrap().to_f64_vec()[0] >= 0.0 {
                n = l + 1;
                break;
            }
        }
        assert_eq!(out.units[i], n, "example {i}");
        let expected = s.to_f64_vec();
        assert_eq!(&values[i * d..(i + 1) * d], &expected[..], "example {i}");
    }
    // Unit l ran only on the examples that had not halted before it.
    for (l, &rows) in rows_per_unit.iter().enumerate() {
        assert_eq!(
            rows,
            out.units.iter().filter(|&&n| n > l).count(),
            "unit {l}"
        );
    }
    assert!(
        out.units.iter().any(|&n| n < units),
        "no example halted early: {:?}",
        out.units
    );
}

#[test]
fn deterministic_rule_agrees_with_the_dense_logits() {
    let mut rng = Rng::seed(2);
    let toy = Toy::new(4, 3, &mut rng);
    let x = input(10, 3, &mut rng);
    let out = run_block(
        4,
        &x,
        |l, s, _| toy.unit(l, s),
        |l, s| toy.head(l, s),
        &HaltingMode::PactDeterministic,
        &mut rng,
    )
    .unwrap();
    let relaxed = HaltingMode::PactRelaxed {
        temperature: 1.0,
        straight_through: false,
    };
    let dense = run_block(
        4,
        &x,
        |l, s, _| toy.unit(l, s),
        |l, s| toy.head(l, s),
        &relaxed,
        &mut rng,
    )
    .unwrap();
    assert_eq!(deterministic_n(dense.logits.as_ref().unwrap()), out.units);
}

#[test]
fn relaxed_weights_sum_to_one_and_approach_a_sampled_unit_at_low_temperature() {
    let mut rng = Rng::seed(3);
    let (units, b) = (4, 8);
    // Units that add a unit-specific constant: the output reveals the mixture weights.
    let x = Tensor::zeros([b, 1], DType::F64, CPU);
    let relaxed = HaltingMode::PactRelaxed {
        temperature: 0.05,
        straight_through: false,
    };
    let out = run_block(
        units,
        &x,
        |l, _, _| Ok(Tensor::full((l + 1) as f64, [b, 1], DType::F64, CPU)),
        |_, s| s.zeros_like().squeeze(1),
        &relaxed,
        &mut rng,
    )
    .unwrap();
    // With h = 0.5 everywhere, each output is close to one of 1..=4.
    for v in out.output.to_f64_vec() {
        let nearest = v.round();
        assert!(
            (1.0..=4.0).contains(&nearest) && (v - nearest).abs() < 0.2,
            "{v}"
        );
    }
    // E_q[N] for h = 0.5 at every unit: 1·.5 + 2·.25 + 3·.125 + 4·.125 = 1.875.
    for v in out.expected_n.unwrap().to_f64_vec() {
        assert!((v - 1.875).abs() < 1e-12);
    }
    // Identical states: the weighted sum is the state, whatever the weights.
    let same = run_block(
        units,
        &x,
        |_, _, _| Ok(Tensor::full(7.0, [b, 1], DType::F64, CPU)),
        |_, s| s.zeros_like().squeeze(1),
        &relaxed,
        &mut rng,
    )
    .unwrap();
    for v in same.output.to_f64_vec() {
        assert!((v - 7.0).abs() < 1e-12, "{v}");
    }
}

#[test]
fn invalid_settings_are_errors() {
    let mut rng = Rng::seed(0);
    let x = Tensor::zeros([2, 1], DType::F64, CPU);
    let ok_unit = |_: usize, s: &Tensor, _: &[usize]| Ok(s.clone());
    let ok_head = |_: usize, s: &Tensor| s.squeeze(1);
    let bad_t = HaltingMode::PactRelaxed {
        temperature: 0.0,
        straight_through: false,
    };
    assert!(run_block(3, &x, ok_unit, ok_head, &bad_t, &mut rng).is_err());
    assert!(run_block(
        3,
        &x,
        ok_unit,
        ok_head,
        &HaltingMode::Act { eps: 1.5 },
        &mut rng
    )
    .is_err());
    assert!(run_block(0, &x, ok_unit, ok_head, &HaltingMode::Plain, &mut rng).is_err());
    let wrong_head = |_: usize, s: &Tensor| Ok(s.clone());
    assert!(run_block(
        3,
        &x,
        ok_unit,
        wrong_head,
        &HaltingMode::PactDeterministic,
        &mut rng
    )
    .is_err());
}

#[test]
fn sampling_mode_draws_n_from_q_and_reports_its_log_probability() {
    let mut rng = Rng::seed(12);
    let (units, b) = (3, 4000);
    // Constant logits: h = σ(0.4) at unit 1, σ(−0.3) at unit 2, so q(N) is known.
    let x = Tensor::zeros([b, 1], DType::F64, CPU);
    let logits = [0.4, -0.3];
    let out = run_block(
        units,
        &x,
        |l, _, _| Ok(Tensor::full((l + 1) as f64, [b, 1], DType::F64, CPU)),
        |l, s| s.zeros_like().squeeze(1)?.add_scalar(logits[l]),
        &HaltingMode::PactSample,
        &mut rng,
    )
    .unwrap();
    let sig = |a: f64| 1.0 / (1.0 + (-a).exp());
    let q = [
        sig(0.4),
        (1.0 - sig(0.4)) * sig(-0.3),
        (1.0 - sig(0.4)) * (1.0 - sig(-0.3)),
    ];
    let values = out.output.to_f64_vec();
    let log_q = out.sampled_log_q.unwrap().to_f64_vec();
    let mut counts = [0usize; 3];
    for i in 0..b {
        let n = out.units[i];
        counts[n - 1] += 1;
        // The output is the state of unit N, and log q is that of N.
        assert_eq!(values[i], n as f64);
        assert!((log_q[i] - q[n - 1].ln()).abs() < 1e-12);
    }
    for (c, p) in counts.iter().zip(q) {
        // Four binomial standard deviations at most ≈ 0.032 at b = 4000.
        assert!(
            (*c as f64 / b as f64 - p).abs() < 0.032,
            "{counts:?} vs {q:?}"
        );
    }
}
