//! Writes an initialised ResNet (with halting heads) as a safetensors checkpoint, plus a fixed
//! input batch and the logits `pact` computes for it in evaluation mode, so that another
//! framework can load the same weights and compare (see `scripts/check_torch_interop.py`).
//!
//! `cargo run --release --example export_resnet -- OUT_DIR [UNITS]`

use pact::nn::{checkpoint, ParamStore};
use pact::{DType, Device, Rng, Tensor};
use pact_models::resnet::{ResNet, ResNetConfig};
use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().unwrap_or_else(|| "interop".into()));
    let units: usize = args.next().map(|u| u.parse()).transpose()?.unwrap_or(5);
    std::fs::create_dir_all(&out)?;
    let mut rng = Rng::seed(42);
    let store = ParamStore::new(DType::F32, Device::Cpu);
    let net = ResNet::new(&store, ResNetConfig::cifar(units), &mut rng)?;
    // Non-trivial batch-norm statistics, so the evaluation path is really exercised.
    for (name, p) in store.all() {
        if name.ends_with("running_mean")
            || name.ends_with("running_var")
            || name.ends_with("b1.weight")
        {
            let t = p.tensor();
            let noise =
                Tensor::rand_uniform(t.shape().clone(), 0.5, 1.5, t.dtype(), t.device(), &mut rng)?;
            p.set(noise)?;
        }
    }
    checkpoint::save_store(&store, out.join("model.safetensors"), &BTreeMap::new())?;
    let x = Tensor::randn([4, 3, 32, 32], DType::F32, Device::Cpu, &mut rng)?;
    let logits = pact::no_grad(|| net.forward(&x, false))?;
    checkpoint::save(
        out.join("io.safetensors"),
        &[("input".into(), x), ("logits".into(), logits)],
        &BTreeMap::new(),
    )?;
    println!("wrote {}", out.display());
    Ok(())
}
