//! Models small enough to enumerate: three binary latents per input, an observed
//! 4-vector `x ~ N(W z, I)`, and an amortised guide `q(z | x)` from one linear layer; and
//! one binary latent with a one-parameter guide (the gradient and baseline tests).

use pact::dist::{Bernoulli, Independent, Normal};
use pact::nn::{Linear, ParamStore};
use pact::ppl::Ctx;
use pact::{DType, Device, Result, Rng, Tensor};

pub const CPU: Device = Device::Cpu;
pub const BITS: usize = 3;
pub const DIM: usize = 4;
/// Prior logits of the three bits.
pub const PRIOR: [f64; BITS] = [-0.5, 0.0, 0.5];
/// The loadings: orthogonal rows, so the MAP of each bit is linear in `x`.
pub const W: [[f64; DIM]; BITS] = [
    [2.2, 2.2, 0.0, 0.0],
    [2.2, -2.2, 0.0, 0.0],
    [0.0, 0.0, 2.2, 2.2],
];

pub fn data(n: usize, rng: &mut Rng) -> Result<Tensor> {
    let noise = Tensor::randn([n, DIM], DType::F64, CPU, rng)?.to_f64_vec();
    let mut x = noise;
    for i in 0..n {
        for j in 0..BITS {
            let p = 1.0 / (1.0 + (-PRIOR[j]).exp());
            if rng.uniform() < p {
                for d in 0..DIM {
                    x[i * DIM + d] += W[j][d];
                }
            }
        }
    }
    Tensor::from_f64_vec(x, [n, DIM], CPU)
}

pub fn model(x: Tensor) -> impl Fn(&mut Ctx) -> Result<()> {
    let n = x.dims()[0];
    move |ctx: &mut Ctx| {
        ctx.plate("data", n, |ctx| {
            let mut loc = Tensor::zeros([n, DIM], DType::F64, CPU);
            for (j, row) in W.iter().enumerate() {
                let prior = Bernoulli::new(Tensor::scalar(PRIOR[j], DType::F64, CPU))?;
                let z = ctx.sample(&format!("z{j}"), prior)?;
                let w = Tensor::from_f64_vec(row.to_vec(), [1, DIM], CPU)?;
                loc = loc.add(&z.reshape([n, 1])?.matmul(&w)?)?;
            }
            let scale = Tensor::scalar(1.0, DType::F64, CPU);
            ctx.observe("x", Independent::new(Normal::new(loc, scale)?, 1)?, &x)?;
            Ok(())
        })
    }
}

pub fn guide(x: Tensor, layer: Linear) -> impl Fn(&mut Ctx) -> Result<Tensor> {
    let n = x.dims()[0];
    move |ctx: &mut Ctx| {
        let logits = layer.forward(&x)?;
        ctx.plate("data", n, |ctx| {
            for j in 0..BITS {
                let l = logits.narrow(1, j, 1)?.squeeze(1)?;
                ctx.sample(&format!("z{j}"), Bernoulli::new(l)?)?;
            }
            Ok(())
        })?;
        Ok(logits)
    }
}

pub fn new_guide(
    params: &ParamStore,
    x: &Tensor,
    seed: u64,
) -> Result<impl Fn(&mut Ctx) -> Result<Tensor>> {
    let layer = Linear::new(&params.pp("guide"), DIM, BITS, &mut Rng::seed(seed))?;
    Ok(guide(x.clone(), layer))
}

/// The exact MAP configuration of each input, by enumerating the 8 configurations.
pub fn exact_map(x: &Tensor) -> Vec<[bool; BITS]> {
    let v = x.to_f64_vec();
    v.chunks(DIM)
        .map(|xi| {
            let mut best = ([false; BITS], f64::NEG_INFINITY);
            for c in 0..(1 << BITS) {
                let z: [bool; BITS] = std::array::from_fn(|j| c >> j & 1 == 1);
                let mut lp = 0.0;
                for j in 0..BITS {
                    let l = PRIOR[j];
                    // log σ(l) or log σ(−l)
                    let s = if z[j] { l } else { -l };
                    lp -= (1.0 + (-s).exp()).ln();
                }
                for d in 0..DIM {
                    let loc: f64 = (0..BITS).filter(|&j| z[j]).map(|j| W[j][d]).sum();
                    lp -= 0.5 * (xi[d] - loc).powi(2);
                }
                if lp > best.1 {
                    best = (z, lp);
                }
            }
            best.0
        })
        .collect()
}

/// A rank-0 `f64` tensor.
pub fn s(v: f64) -> Tensor {
    Tensor::scalar(v, DType::F64, CPU)
}

/// One latent: `z ~ Bernoulli(1/2)`, `x | z ~ N(3z, 1)`, observed `x = 1`.
pub fn one_latent_model(ctx: &mut Ctx) -> Result<()> {
    let z = ctx.sample("z", Bernoulli::new(s(0.0))?)?;
    ctx.observe("x", Normal::new(z.mul_scalar(3.0)?, s(1.0))?, &s(1.0))?;
    Ok(())
}

/// `q(z) = Bernoulli(σ(φ))`, the parameter `phi` created at 0.2.
pub fn one_latent_guide(ctx: &mut Ctx) -> Result<()> {
    let phi = ctx.param("phi", || Ok(s(0.2)))?;
    ctx.sample("z", Bernoulli::new(phi)?).map(|_| ())
}

/// (mean, sample variance) of `v`.
pub fn mean_var(v: &[f64]) -> (f64, f64) {
    let m = v.len() as f64;
    let mean = v.iter().sum::<f64>() / m;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (m - 1.0);
    (mean, var)
}
