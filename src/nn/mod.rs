//! Neural-network building blocks: named parameters, layers, initialisers, optimisers,
//! learning-rate schedules, gradient clipping and safetensors checkpoints.
//!
//! Parameters live in a [`ParamStore`]; each layer registers its tensors under a dotted path
//! (`stage1.unit0.conv1.weight`), the same names PyTorch's `state_dict` uses, so checkpoints
//! move between `pact` and PyTorch.
//!
//! ```
//! use pact::nn::{Linear, Optimizer, ParamStore, Sgd, SgdConfig};
//! use pact::{DType, Device, Rng, Tensor};
//! let store = ParamStore::new(DType::F32, Device::Cpu);
//! let mut rng = Rng::seed(0);
//! let layer = Linear::new(&store.pp("fc"), 3, 2, &mut rng)?;
//! let x = Tensor::ones([4, 3], DType::F32, Device::Cpu);
//! let loss = layer.forward(&x)?.square()?.mean_all()?;
//! let mut opt = Sgd::new(store.trainable(), SgdConfig { lr: 0.1, ..Default::default() });
//! opt.step(&loss.backward()?)?;
//! assert_eq!(store.names(), vec!["fc.bias", "fc.weight"]);
//! # Ok::<(), pact::Error>(())
//! ```

mod batch_norm;
mod batch_norm_sync;
pub mod checkpoint;
mod conv;
pub mod init;
mod linear;
pub mod optim;
mod params;
mod rnn;

pub use batch_norm::BatchNorm;
pub use conv::{Conv2d, Conv2dConfig};
pub use linear::Linear;
pub use optim::{clip_grad_norm, Adam, AdamConfig, LrSchedule, Optimizer, Sgd, SgdConfig};
pub use params::{Param, ParamStore};
pub use rnn::{LstmCell, LstmState, RnnCell};
