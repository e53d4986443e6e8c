//! A random adaptive block on `[B, D]` states and an independent ACT written from math §2,
//! shared by the tests that check the halting site of the modelling language.

#![allow(dead_code)]

use pact::{DType, Device, GradStore, Rng, Tensor};

pub const CPU: Device = Device::Cpu;
pub const F64: DType = DType::F64;
pub const CLASSES: usize = 3;

/// A random block on `[B, D]` states: unit `l` is `tanh(s W_l)`, head `l` is `s·v_l + c_l`,
/// and a linear classifier `s U` reads the block's output.
#[derive(Clone)]
pub struct Block {
    pub w: Vec<Tensor>,
    pub v: Vec<Tensor>,
    pub c: Vec<f64>,
    pub u: Tensor,
}

impl Block {
    pub fn new(units: usize, d: usize, rng: &mut Rng) -> Block {
        let var = |dims: [usize; 2], sd: f64, rng: &mut Rng| {
            Tensor::rand_normal(dims, 0.0, sd, F64, CPU, rng)
                .unwrap()
                .to_var()
        };
        Block {
            w: (0..units).map(|_| var([d, d], 0.9, rng)).collect(),
            v: (0..units - 1).map(|_| var([d, 1], 2.0, rng)).collect(),
            c: (0..units - 1).map(|_| rng.uniform() * 2.0 - 1.0).collect(),
            u: var([d, CLASSES], 1.0, rng),
        }
    }

    pub fn units(&self) -> usize {
        self.w.len()
    }

    pub fn unit(&self, l: usize, s: &Tensor) -> pact::Result<Tensor> {
        s.matmul(&self.w[l])?.tanh()
    }

    pub fn head(&self, l: usize, s: &Tensor) -> pact::Result<Tensor> {
        s.matmul(&self.v[l])?.add_scalar(self.c[l])?.squeeze(1)
    }

    /// Every unit's state and the halting logits `[B, L−1]`.
    pub fn forward(&self, x: &Tensor) -> pact::Result<(Vec<Tensor>, Tensor)> {
        let mut s = x.clone();
        let (mut states, mut logits) = (Vec::new(), Vec::new());
        for l in 0..self.units() {
            s = self.unit(l, &s)?;
            if l + 1 < self.units() {
                logits.push(self.head(l, &s)?);
            }
            states.push(s.clone());
        }
        Ok((states, Tensor::stack(&logits, 1)?))
    }

    pub fn vars(&self) -> Vec<Tensor> {
        let mut all = self.w.clone();
        all.extend(self.v.iter().cloned());
        all.push(self.u.clone());
        all
    }
}

pub fn problem(seed: u64, units: usize) -> (Block, Tensor, Tensor) {
    let mut rng = Rng::seed(seed);
    let (b, d) = (7, 4);
    let block = Block::new(units, d, &mut rng);
    let x = Tensor::randn([b, d], F64, CPU, &mut rng).unwrap();
    let y: Vec<f64> = (0..b)
        .map(|_| (rng.uniform() * CLASSES as f64).floor())
        .collect();
    (block, x, Tensor::from_f64_vec(y, [b], CPU).unwrap())
}

/// `−Σ_b log softmax(out_b U)[y_b]`, written out without the distribution code.
pub fn cross_entropy(out: &Tensor, u: &Tensor, y: &Tensor) -> Tensor {
    let logits = out.matmul(u).unwrap();
    let hot = one_hot(y);
    let lse = logits.logsumexp_keepdim(1).unwrap();
    logits
        .sub(&lse)
        .unwrap()
        .mul(&hot)
        .unwrap()
        .sum_all()
        .unwrap()
        .neg()
        .unwrap()
}

/// Graves' ACT written directly from math §2, sharing no halting code with the library:
/// `Σ_b CE(Σ_n p_n s_n) + τ Σ_b (N + R)`.
pub fn direct_act(block: &Block, x: &Tensor, y: &Tensor, tau: f64, eps: f64) -> Tensor {
    let (states, logits) = block.forward(x).unwrap();
    let (b, l) = (x.dims()[0], block.units());
    let h = logits.sigmoid().unwrap();
    let hv = h.to_f64_vec();
    let mut out: Option<Tensor> = None;
    let mut ponder = Tensor::scalar(0.0, F64, CPU);
    let mut sum_before = Tensor::zeros([b], F64, CPU);
    let mut n = vec![l; b];
    for (row, n_row) in n.iter_mut().enumerate() {
        let mut cum = 0.0;
        for j in 0..l - 1 {
            cum += hv[row * (l - 1) + j];
            if cum >= 1.0 - eps {
                *n_row = j + 1;
                break;
            }
        }
    }
    // p_j = h_j for j < N, R = 1 − Σ_{j<N} h_j at N, 0 after.
    let mut before_cols = Vec::new();
    for j in 0..l {
        let before: Vec<f64> = n.iter().map(|&nr| f64::from(j + 1 < nr)).collect();
        let at: Vec<f64> = n.iter().map(|&nr| f64::from(j + 1 == nr)).collect();
        before_cols.push((
            Tensor::from_f64_vec(before, [b], CPU).unwrap(),
            Tensor::from_f64_vec(at, [b], CPU).unwrap(),
        ));
        if j + 1 < l {
            let hj = h.narrow(1, j, 1).unwrap().squeeze(1).unwrap();
            sum_before = sum_before.add(&hj.mul(&before_cols[j].0).unwrap()).unwrap();
        }
    }
    let r = sum_before.affine(-1.0, 1.0).unwrap();
    for (j, (before, at)) in before_cols.iter().enumerate() {
        let hj = if j + 1 < l {
            h.narrow(1, j, 1).unwrap().squeeze(1).unwrap()
        } else {
            Tensor::ones([b], F64, CPU)
        };
        let pj = hj.mul(before).unwrap().add(&r.mul(at).unwrap()).unwrap();
        let term = states[j].mul(&pj.unsqueeze(1).unwrap()).unwrap();
        out = Some(match out {
            Some(o) => o.add(&term).unwrap(),
            None => term,
        });
    }
    let n_total: f64 = n.iter().map(|&v| v as f64).sum();
    ponder = ponder
        .add(&r.sum_all().unwrap().add_scalar(n_total).unwrap())
        .unwrap();
    cross_entropy(&out.unwrap(), &block.u, y)
        .add(&ponder.mul_scalar(tau).unwrap())
        .unwrap()
}

pub fn assert_close(what: &str, a: &Tensor, b: &Tensor, tol: f64) {
    let (a, b) = (a.to_f64_vec(), b.to_f64_vec());
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

pub fn assert_same_grads(what: &str, block: &Block, g1: &GradStore, g2: &GradStore, tol: f64) {
    for (k, v) in block.vars().iter().enumerate() {
        // A unit that no example reached has no gradient where it never ran: zero.
        let zero = v.zeros_like();
        let (a, b) = (g1.get(v).unwrap_or(&zero), g2.get(v).unwrap_or(&zero));
        assert_close(&format!("{what}: grad {k}"), a, b, tol);
    }
}

pub fn one_hot(y: &Tensor) -> Tensor {
    let labels = y.to_f64_vec();
    let mut hot = vec![0.0; labels.len() * CLASSES];
    for (i, &c) in labels.iter().enumerate() {
        hot[i * CLASSES + c as usize] = 1.0;
    }
    Tensor::from_f64_vec(hot, [labels.len(), CLASSES], CPU).unwrap()
}

/// `block` on `x` as the reference adaptive block runs it under ACT with `ACT_EPSILON`
/// (streaming: the weighted sum accumulates as the units run).
pub fn reference_act(block: &Block, x: &Tensor) -> super::reference::BlockOutput {
    super::reference::run_block(
        block.units(),
        x,
        |l, s, _| block.unit(l, s),
        |l, s| block.head(l, s),
        &super::reference::HaltingMode::Act {
            eps: pact_models::halting::ACT_EPSILON,
        },
        &mut Rng::seed(0),
    )
    .unwrap()
}
