//! The NaN guard: finds the first non-finite value in the loss or a gradient.

use pact::nn::Param;
use pact::GradStore;

/// The global L2 norm of the gradients of `params`, or the name of the first gradient
/// (in name order) holding a NaN or an infinity.
pub(crate) fn grad_norm(grads: &GradStore, params: &[(String, Param)]) -> Result<f64, String> {
    let mut total = 0.0;
    for (name, p) in params {
        let Some(g) = grads.get(&p.tensor()) else {
            continue;
        };
        for v in g.to_f64_vec() {
            if !v.is_finite() {
                return Err(format!("gradient of {name}"));
            }
            total += v * v;
        }
    }
    Ok(total.sqrt())
}
