//! Layers, optimisers, schedules, clipping and checkpoints.

use pact::nn::{
    checkpoint, clip_grad_norm, Adam, AdamConfig, BatchNorm, Conv2d, Conv2dConfig, Linear,
    LrSchedule, LstmCell, Optimizer, ParamStore, RnnCell, Sgd, SgdConfig,
};
use pact::{DType, Device, Error, Rng, Tensor};

const CPU: Device = Device::Cpu;

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
    }
}

/// One parameter `w`, loss `Σ c·w`, so the gradient is `c` at every step.
fn linear_loss_setup(w0: &[f64], c: &[f64]) -> (ParamStore, Tensor) {
    let store = ParamStore::new(DType::F64, CPU);
    store
        .create(
            "w",
            Tensor::from_f64_vec(w0.to_vec(), [w0.len()], CPU).unwrap(),
        )
        .unwrap();
    let c = Tensor::from_f64_vec(c.to_vec(), [c.len()], CPU).unwrap();
    (store, c)
}

fn step(store: &ParamStore, c: &Tensor, opt: &mut dyn Optimizer) {
    let w = store.get("w").unwrap().tensor();
    let loss = w.mul(c).unwrap().sum_all().unwrap();
    opt.step(&loss.backward().unwrap()).unwrap();
}

#[test]
fn sgd_momentum_and_weight_decay_match_hand_computation() {
    let (store, c) = linear_loss_setup(&[1.0, -2.0], &[0.5, 1.0]);
    let config = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        nesterov: false,
        weight_decay: 0.01,
    };
    let mut opt = Sgd::new(store.trainable(), config);
    // Step 1: g = c + 0.01 w = (0.51, 0.98); v = g; w = w − 0.1 v = (0.949, −2.098).
    step(&store, &c, &mut opt);
    close(
        &store.get("w").unwrap().tensor().to_f64_vec(),
        &[0.949, -2.098],
        1e-12,
    );
    // Step 2: g = (0.5 + 0.00949, 1 − 0.02098) = (0.50949, 0.97902);
    // v = 0.9·(0.51, 0.98) + g = (0.96849, 1.86102); w = w − 0.1 v.
    step(&store, &c, &mut opt);
    close(
        &store.get("w").unwrap().tensor().to_f64_vec(),
        &[0.949 - 0.096849, -2.098 - 0.186102],
        1e-12,
    );
}

#[test]
fn sgd_nesterov_matches_hand_computation() {
    let (store, c) = linear_loss_setup(&[0.0], &[1.0]);
    let config = SgdConfig {
        lr: 1.0,
        momentum: 0.5,
        nesterov: true,
        weight_decay: 0.0,
    };
    let mut opt = Sgd::new(store.trainable(), config);
    // Step 1: v = 1, update = g + μv = 1.5. Step 2: v = 0.5 + 1 = 1.5, update = 1 + 0.75.
    step(&store, &c, &mut opt);
    close(
        &store.get("w").unwrap().tensor().to_f64_vec(),
        &[-1.5],
        1e-12,
    );
    step(&store, &c, &mut opt);
    close(
        &store.get("w").unwrap().tensor().to_f64_vec(),
        &[-3.25],
        1e-12,
    );
}

#[test]
fn adam_matches_hand_computation() {
    let (store, c) = linear_loss_setup(&[1.0], &[2.0]);
    let config = AdamConfig {
        lr: 0.1,
        ..Default::default()
    };
    let mut opt = Adam::new(store.trainable(), config);
    // With a constant gradient, m̂ = g and v̂ = g² at every step, so each step moves by
    // lr · g / (|g| + ε) ≈ 0.1.
    step(&store, &c, &mut opt);
    let expected1 = 1.0 - 0.1 * 2.0 / (2.0 + 1e-8);
    close(
        &store.get("w").unwrap().tensor().to_f64_vec(),
        &[expected1],
        1e-12,
    );
    step(&store, &c, &mut opt);
    close(
        &store.get("w").unwrap().tensor().to_f64_vec(),
        &[expected1 - 0.1 * 2.0 / (2.0 + 1e-8)],
        1e-12,
    );
}

#[test]
fn optimizer_state_round_trip_continues_identically() {
    let (store_a, c) = linear_loss_setup(&[1.0, 3.0], &[0.3, -0.7]);
    let mut a = Adam::new(
        store_a.trainable(),
        AdamConfig {
            lr: 0.05,
            ..Default::default()
        },
    );
    for _ in 0..3 {
        step(&store_a, &c, &mut a);
    }
    let (store_b, _) = linear_loss_setup(
        &store_a.get("w").unwrap().tensor().to_f64_vec(),
        &[0.0, 0.0],
    );
    let mut b = Adam::new(
        store_b.trainable(),
        AdamConfig {
            lr: 0.05,
            ..Default::default()
        },
    );
    b.load_state(&a.state().into_iter().collect()).unwrap();
    step(&store_a, &c, &mut a);
    step(&store_b, &c, &mut b);
    assert_eq!(
        store_a.get("w").unwrap().tensor().to_f64_vec(),
        store_b.get("w").unwrap().tensor().to_f64_vec()
    );
}

#[test]
fn schedules_follow_their_definitions() {
    let p = LrSchedule::Piecewise {
        boundaries: vec![10, 20],
        values: vec![1.0, 0.1, 0.01],
    };
    assert_eq!(
        (p.at(0), p.at(9), p.at(10), p.at(25)),
        (1.0, 1.0, 0.1, 0.01)
    );
    let cosine = LrSchedule::Cosine {
        base: 0.2,
        min: 0.0,
        total_steps: 100,
    };
    assert!((cosine.at(0) - 0.2).abs() < 1e-15);
    assert!((cosine.at(50) - 0.1).abs() < 1e-12);
    assert_eq!(cosine.at(100), 0.0);
    let bad = LrSchedule::Piecewise {
        boundaries: vec![10],
        values: vec![0.1],
    };
    assert!(bad.validate().is_err());
    assert!(LrSchedule::Constant { value: -1.0 }.validate().is_err());
}

#[test]
fn clip_grad_norm_rescales_to_the_bound() {
    let (store, c) = linear_loss_setup(&[0.0, 0.0], &[3.0, 4.0]);
    let w = store.get("w").unwrap().tensor();
    let mut grads = w.mul(&c).unwrap().sum_all().unwrap().backward().unwrap();
    let norm = clip_grad_norm(&mut grads, &store.trainable(), 1.0).unwrap();
    assert!((norm - 5.0).abs() < 1e-12);
    close(&grads.get(&w).unwrap().to_f64_vec(), &[0.6, 0.8], 1e-12);
}

#[test]
fn batch_norm_train_normalises_and_eval_uses_running_statistics() {
    let store = ParamStore::new(DType::F64, CPU);
    let bn = BatchNorm::new(&store.pp("bn"), 2, 1e-5, 0.1).unwrap();
    // Channel 0 holds 1..4, channel 1 holds 10·(1..4), over a batch of 2 with 2 positions.
    let x = Tensor::from_f64_vec(vec![1., 2., 10., 20., 3., 4., 30., 40.], [2, 2, 2], CPU).unwrap();
    let y = bn.forward(&x, true).unwrap().to_f64_vec();
    let inv = 1.0 / (1.25f64 + 1e-5).sqrt();
    close(&y[..2], &[-1.5 * inv, -0.5 * inv], 1e-9);
    // Running mean moved 10% of the way to (2.5, 25); running var towards the unbiased
    // variances (5/3 and 500/3).
    let rm = store.get("bn.running_mean").unwrap().tensor().to_f64_vec();
    let rv = store.get("bn.running_var").unwrap().tensor().to_f64_vec();
    close(&rm, &[0.25, 2.5], 1e-12);
    close(&rv, &[0.9 + 0.1 * 5.0 / 3.0, 0.9 + 0.1 * 500.0 / 3.0], 1e-9);
    // Evaluation uses the running statistics, not the batch's.
    let e = bn.forward(&x, false).unwrap().to_f64_vec();
    close(&e[..1], &[(1.0 - 0.25) / (rv[0] + 1e-5).sqrt()], 1e-9);
    // Parameters are weight/bias, buffers running_mean/running_var.
    assert_eq!(store.trainable().len(), 2);
    assert_eq!(store.all().len(), 4);
}

#[test]
fn recurrent_cells_have_pytorch_shapes_and_names() {
    let store = ParamStore::new(DType::F32, CPU);
    let mut rng = Rng::seed(0);
    let rnn = RnnCell::new(&store.pp("rnn"), 3, 5, &mut rng).unwrap();
    let lstm = LstmCell::new(&store.pp("lstm"), 3, 4, &mut rng).unwrap();
    let x = Tensor::ones([2, 3], DType::F32, CPU);
    let h = rnn
        .forward(&x, &Tensor::zeros([2, 5], DType::F32, CPU))
        .unwrap();
    assert_eq!(h.dims(), &[2, 5]);
    assert!(h.to_f64_vec().iter().all(|v| v.abs() < 1.0));
    let s = lstm.forward(&x, &lstm.zero_state(2)).unwrap();
    assert_eq!(
        (s.h.dims(), s.c.dims()),
        (&[2usize, 4][..], &[2usize, 4][..])
    );
    let w = store.get("lstm.weight_ih").unwrap().tensor();
    assert_eq!(w.dims(), &[16, 3]);
    assert!(store.get("rnn.bias_hh").is_some());
}

#[test]
fn duplicate_parameter_names_are_errors() {
    let store = ParamStore::new(DType::F32, CPU);
    let mut rng = Rng::seed(0);
    Linear::new(&store.pp("fc"), 2, 2, &mut rng).unwrap();
    assert!(matches!(
        Linear::new(&store.pp("fc"), 2, 2, &mut rng),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn checkpoint_round_trip_and_every_mismatch_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let mut rng = Rng::seed(3);
    let store = ParamStore::new(DType::F32, CPU);
    let conv = Conv2dConfig {
        c_in: 3,
        c_out: 4,
        kernel: 3,
        stride: 1,
        padding: 1,
        bias: false,
    };
    Conv2d::new(&store.pp("conv"), conv, 0.0, &mut rng).unwrap();
    Linear::new(&store.pp("fc"), 4, 2, &mut rng).unwrap();
    let meta = [("model".to_string(), "test".to_string())]
        .into_iter()
        .collect();
    checkpoint::save_store(&store, &path, &meta).unwrap();
    // No temporary file is left behind.
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1);

    let same = ParamStore::new(DType::F32, CPU);
    Conv2d::new(&same.pp("conv"), conv, 0.0, &mut rng).unwrap();
    Linear::new(&same.pp("fc"), 4, 2, &mut rng).unwrap();
    let loaded = checkpoint::load_into_store(&same, &path).unwrap();
    assert_eq!(
        loaded.metadata.get("model").map(String::as_str),
        Some("test")
    );
    for ((n1, a), (n2, b)) in store.tensors().iter().zip(same.tensors()) {
        assert_eq!(n1, &n2);
        assert_eq!(a.to_f32_vec(), b.to_f32_vec());
        assert_eq!(a.dims(), b.dims());
    }

    // A model with a mis-shaped, a missing and an extra tensor: all three reported.
    let other = ParamStore::new(DType::F32, CPU);
    Conv2d::new(
        &other.pp("conv"),
        Conv2dConfig { c_out: 5, ..conv },
        0.0,
        &mut rng,
    )
    .unwrap();
    Linear::no_bias(&other.pp("fc"), 4, 2, &mut rng).unwrap();
    other
        .create("extra", Tensor::zeros([1], DType::F32, CPU))
        .unwrap();
    let err = checkpoint::load_into_store(&other, &path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("conv.weight has shape [4, 3, 3, 3] in the checkpoint"),
        "{err}"
    );
    assert!(err.contains("unexpected tensor fc.bias"), "{err}");
    assert!(err.contains("missing tensor extra"), "{err}");

    // A corrupt file is an error naming the file, not a panic.
    std::fs::write(&path, b"not a safetensors file").unwrap();
    let err = checkpoint::load(&path, CPU).unwrap_err().to_string();
    assert!(err.contains("m.safetensors"), "{err}");
}

/// Two interleaved spirals-like classes: points labelled by the sign of `sin(3x) − y`.
fn wavy_task(n: usize, rng: &mut Rng) -> (Vec<f32>, Vec<usize>) {
    let mut x = Vec::with_capacity(2 * n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let a = rng.uniform() * 4.0 - 2.0;
        let b = rng.uniform() * 4.0 - 2.0;
        x.extend([a as f32, b as f32]);
        y.push(usize::from((3.0 * a).sin() > b));
    }
    (x, y)
}

fn accuracy(logits: &Tensor, labels: &[usize]) -> f64 {
    let pred = logits.argmax(1).unwrap();
    pred.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64
}

#[test]
fn small_mlp_learns_a_nonlinear_task() {
    let mut rng = Rng::seed(11);
    let (x, y) = wavy_task(512, &mut rng);
    let x = Tensor::from_f32_vec(x, [512, 2], CPU).unwrap();
    let store = ParamStore::new(DType::F32, CPU);
    let l1 = Linear::new(&store.pp("l1"), 2, 32, &mut rng).unwrap();
    let l2 = Linear::new(&store.pp("l2"), 32, 32, &mut rng).unwrap();
    let l3 = Linear::new(&store.pp("l3"), 32, 2, &mut rng).unwrap();
    let forward = |x: &Tensor| -> pact::Result<Tensor> {
        l3.forward(&l2.forward(&l1.forward(x)?.tanh()?)?.tanh()?)
    };
    let mut opt = Adam::new(
        store.trainable(),
        AdamConfig {
            lr: 0.02,
            ..Default::default()
        },
    );
    for _ in 0..300 {
        let loss = forward(&x).unwrap().cross_entropy(&y).unwrap();
        opt.step(&loss.backward().unwrap()).unwrap();
    }
    let acc = pact::no_grad(|| accuracy(&forward(&x).unwrap(), &y));
    assert!(acc > 0.95, "accuracy {acc}");
}

/// 8×8 single-channel images: a bright horizontal or vertical bar on noise.
fn bars_task(n: usize, rng: &mut Rng) -> (Vec<f32>, Vec<usize>) {
    let mut x = Vec::with_capacity(n * 64);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let label = rng.below(2);
        let pos = rng.below(8);
        for r in 0..8 {
            for c in 0..8 {
                let on = if label == 0 { r == pos } else { c == pos };
                x.push(if on { 1.0 } else { 0.0 } + (rng.uniform() as f32 - 0.5) * 0.6);
            }
        }
        y.push(label);
    }
    (x, y)
}

#[test]
fn small_conv_net_learns_bars() {
    let mut rng = Rng::seed(5);
    let (x, y) = bars_task(128, &mut rng);
    let x = Tensor::from_f32_vec(x, [128, 1, 8, 8], CPU).unwrap();
    let store = ParamStore::new(DType::F32, CPU);
    let c = |c_in, c_out, stride| Conv2dConfig {
        c_in,
        c_out,
        kernel: 3,
        stride,
        padding: 1,
        bias: false,
    };
    let conv1 = Conv2d::new(&store.pp("conv1"), c(1, 8, 1), 0.0, &mut rng).unwrap();
    let bn1 = BatchNorm::new(&store.pp("bn1"), 8, 1e-5, 0.1).unwrap();
    let conv2 = Conv2d::new(&store.pp("conv2"), c(8, 8, 2), 0.0, &mut rng).unwrap();
    let fc = Linear::new(&store.pp("fc"), 8, 2, &mut rng).unwrap();
    let forward = |x: &Tensor, train: bool| -> pact::Result<Tensor> {
        let h = bn1.forward(&conv1.forward(x)?, train)?.relu()?;
        let h = conv2.forward(&h)?.relu()?.max_pool2d(2, 2)?;
        fc.forward(&h.global_avg_pool2d()?)
    };
    let sgd = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        nesterov: false,
        weight_decay: 1e-4,
    };
    let mut opt = Sgd::new(store.trainable(), sgd);
    for _ in 0..60 {
        let loss = forward(&x, true).unwrap().cross_entropy(&y).unwrap();
        opt.step(&loss.backward().unwrap()).unwrap();
    }
    let (xt, yt) = bars_task(128, &mut rng);
    let xt = Tensor::from_f32_vec(xt, [128, 1, 8, 8], CPU).unwrap();
    let acc = pact::no_grad(|| accuracy(&forward(&xt, false).unwrap(), &yt));
    assert!(acc > 0.95, "held-out accuracy {acc}");
}
