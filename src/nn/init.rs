//! Weight initialisers (He / Kaiming and Xavier / Glorot, as in PyTorch).

use crate::{DType, Device, Result, Rng, Shape, Tensor};

/// Fan-in and fan-out of a weight: `[out, in]` for linear layers, `[out, in, kh, kw]` for
/// convolutions.
pub fn fans(shape: &Shape) -> (usize, usize) {
    let d = shape.dims();
    match d.len() {
        0 => (1, 1),
        1 => (d[0], d[0]),
        _ => {
            let receptive: usize = d[2..].iter().product();
            (d[1] * receptive, d[0] * receptive)
        }
    }
}

/// He (Kaiming) normal initialisation for ReLU-like layers: `N(0, 2 / fan_in)`, scaled for a
/// leaky ReLU slope `a` by `2 / (1 + a²)`.
pub fn he_normal(
    shape: impl Into<Shape>,
    slope: f64,
    dtype: DType,
    device: Device,
    rng: &mut Rng,
) -> Result<Tensor> {
    let shape = shape.into();
    let (fan_in, _) = fans(&shape);
    let std = (2.0 / ((1.0 + slope * slope) * fan_in.max(1) as f64)).sqrt();
    Tensor::rand_normal(shape, 0.0, std, dtype, device, rng)
}

/// Xavier (Glorot) uniform initialisation: `U(−a, a)` with `a = √(6 / (fan_in + fan_out))`.
pub fn xavier_uniform(
    shape: impl Into<Shape>,
    dtype: DType,
    device: Device,
    rng: &mut Rng,
) -> Result<Tensor> {
    let shape = shape.into();
    let (fan_in, fan_out) = fans(&shape);
    let a = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt();
    Tensor::rand_uniform(shape, -a, a, dtype, device, rng)
}

/// Xavier (Glorot) normal initialisation: `N(0, 2 / (fan_in + fan_out))`.
pub fn xavier_normal(
    shape: impl Into<Shape>,
    dtype: DType,
    device: Device,
    rng: &mut Rng,
) -> Result<Tensor> {
    let shape = shape.into();
    let (fan_in, fan_out) = fans(&shape);
    let std = (2.0 / (fan_in + fan_out).max(1) as f64).sqrt();
    Tensor::rand_normal(shape, 0.0, std, dtype, device, rng)
}

/// PyTorch's default for linear and recurrent layers: `U(−1/√fan, 1/√fan)`.
pub fn uniform_fan(
    shape: impl Into<Shape>,
    fan: usize,
    dtype: DType,
    device: Device,
    rng: &mut Rng,
) -> Result<Tensor> {
    let a = 1.0 / (fan.max(1) as f64).sqrt();
    Tensor::rand_uniform(shape, -a, a, dtype, device, rng)
}
