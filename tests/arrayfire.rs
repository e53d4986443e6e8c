//! The ArrayFire backend beyond the per-primitive conformance suite: device names and
//! selection, failures reported as errors, moving tensors between devices, and a whole
//! ResNet training step agreeing with the CPU.
//!
//! Runs with `--features arrayfire` where ArrayFire is installed (each test prints
//! `skipped: …` with the reason where it has no usable device; `PACT_REQUIRE_ARRAYFIRE=1`
//! makes that a failure), and with `--features arrayfire-emulator` anywhere.

#![cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]

use pact::backend::arrayfire;
use pact::backend::{AfBackend, AfDevice};
use pact::nn::ParamStore;
use pact::{DType, Device, Error, Rng, Tensor};
use pact_models::resnet::{ResNet, ResNetConfig};

/// The device to test on, or `None` after reporting why there is none.
fn device(test: &str) -> Option<Device> {
    match Device::arrayfire(AfBackend::Default, 0) {
        Ok(d) => Some(d),
        Err(e) => {
            let required =
                std::env::var("PACT_REQUIRE_ARRAYFIRE").is_ok_and(|v| !v.is_empty() && v != "0");
            assert!(!required, "{test}: {e}");
            use std::io::Write;
            let line = format!("skipped: arrayfire::{test}: {e}\n");
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
    }
}

#[test]
fn device_names_parse_and_display() {
    for (text, backend, index) in [
        ("arrayfire", AfBackend::Default, 0),
        ("arrayfire:cuda", AfBackend::Cuda, 0),
        ("ArrayFire:OpenCL:2", AfBackend::OpenCl, 2),
        ("arrayfire:cpu:1", AfBackend::Cpu, 1),
        ("arrayfire:3", AfBackend::Default, 3),
    ] {
        let d: Device = text.parse().unwrap();
        assert_eq!(d, Device::ArrayFire(AfDevice { backend, index }), "{text}");
        assert_eq!(d.to_string().parse::<Device>().unwrap(), d, "{text}");
    }
    assert_eq!(
        Device::ArrayFire(AfDevice {
            backend: AfBackend::Cuda,
            index: 1
        })
        .to_string(),
        "arrayfire:cuda:1"
    );
    for bad in [
        "arrayfire:tpu",
        "arrayfire:cuda:x",
        "arrayfire:cuda:0:1",
        "gpu",
        "cpu:0",
    ] {
        assert!(bad.parse::<Device>().is_err(), "{bad}");
    }
}

#[test]
fn selection_resolves_or_says_why_not() {
    let Some(dev) = device("selection_resolves_or_says_why_not") else {
        return;
    };
    let Device::ArrayFire(d) = dev else {
        panic!("{dev}")
    };
    assert_ne!(
        d.backend,
        AfBackend::Default,
        "resolved to a concrete backend"
    );
    assert!(arrayfire::available().is_ok());
    assert!(!arrayfire::devices().unwrap().is_empty());
    let (major, minor, _) = arrayfire::version().unwrap();
    assert_eq!((major, minor), (3, 8), "the crate binds ArrayFire 3.8");
    // No backend has ten thousand devices.
    match Device::arrayfire(d.backend, 9999) {
        Err(Error::BackendUnavailable(reason)) => assert!(reason.contains("9999"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn failures_are_errors_not_panics() {
    let Some(_) = device("failures_are_errors_not_panics") else {
        return;
    };
    // A device that does not exist, made without the checking constructor.
    let missing = Device::ArrayFire(AfDevice {
        backend: AfBackend::Cpu,
        index: 9999,
    });
    match Tensor::from_f64_slice(&[1.0, 2.0], [2], DType::F32, missing) {
        Err(Error::Backend(m)) => assert!(m.contains("9999"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Infallible constructors remember the failure; every later use reports it.
    let z = Tensor::zeros([3], DType::F64, missing);
    assert_eq!((z.dims(), z.device()), (&[3][..], missing));
    assert!(matches!(z.try_to_f64_vec(), Err(Error::Backend(_))));
    assert!(matches!(z.exp(), Err(Error::Backend(_))));
    assert!(matches!(z.sum_all(), Err(Error::Backend(_))));
    let s = Tensor::scalar(1.0, DType::F32, missing);
    assert!(matches!(s.to_scalar(), Err(Error::Backend(_))));
}

#[test]
fn tensors_move_between_devices_with_gradients() {
    let Some(dev) = device("tensors_move_between_devices_with_gradients") else {
        return;
    };
    let x = Tensor::var_from_f64(&[1.0, -2.0, 3.0], [3], Device::Cpu).unwrap();
    let on_dev = x.to_device(dev).unwrap();
    assert_eq!(on_dev.device(), dev);
    assert_eq!(on_dev.to_f64_vec(), vec![1.0, -2.0, 3.0]);
    // Mixing devices is an error.
    assert!(matches!(on_dev.add(&x), Err(Error::DeviceMismatch { .. })));
    let y = on_dev.square().unwrap().sum_all().unwrap();
    assert_eq!(y.to_scalar().unwrap(), 14.0);
    let grads = y.backward().unwrap();
    let g = grads.get(&x).expect("gradient reaches the CPU variable");
    assert_eq!(g.device(), Device::Cpu);
    assert_eq!(g.to_f64_vec(), vec![2.0, -4.0, 6.0]);
    // And back.
    let back = on_dev.to_device(Device::Cpu).unwrap();
    assert_eq!(
        (back.device(), back.to_f64_vec()),
        (Device::Cpu, vec![1.0, -2.0, 3.0])
    );
}

/// Loss and parameter gradients of one training step of a small ResNet (convolutions, batch
/// norm, pooling, a linear head, cross-entropy) on `device`.
fn resnet_step(device: Device) -> (f64, Vec<(String, Vec<f64>)>) {
    let store = ParamStore::new(DType::F64, device);
    let config = ResNetConfig {
        units_per_stage: 1,
        widths: [4, 8, 8],
        in_channels: 3,
        num_classes: 5,
        halting_bias: None,
    };
    // The same seed gives the same weights on every device: draws are made on the host.
    let mut rng = Rng::seed(7);
    let net = ResNet::new(&store, config, &mut rng).unwrap();
    let x = Tensor::randn([3, 3, 12, 12], DType::F64, device, &mut rng).unwrap();
    let loss = net
        .forward(&x, true)
        .unwrap()
        .cross_entropy(&[0, 3, 4])
        .unwrap();
    let grads = loss.backward().unwrap();
    let params = store
        .trainable()
        .into_iter()
        .map(|(name, p)| {
            let g = grads
                .get(&p.tensor())
                .expect("every parameter gets a gradient");
            assert_eq!(g.device(), device, "{name}");
            (name, g.to_f64_vec())
        })
        .collect();
    (loss.to_scalar().unwrap(), params)
}

#[test]
fn a_resnet_training_step_matches_the_cpu() {
    let Some(dev) = device("a_resnet_training_step_matches_the_cpu") else {
        return;
    };
    let (loss_cpu, grads_cpu) = resnet_step(Device::Cpu);
    let (loss_dev, grads_dev) = resnet_step(dev);
    assert!(
        (loss_cpu - loss_dev).abs() <= 1e-10 * (1.0 + loss_cpu.abs()),
        "loss {loss_cpu} on the CPU, {loss_dev} on {dev}"
    );
    assert_eq!(grads_cpu.len(), grads_dev.len());
    for ((name, a), (name_dev, b)) in grads_cpu.iter().zip(&grads_dev) {
        assert_eq!(name, name_dev);
        for (i, (u, v)) in a.iter().zip(b).enumerate() {
            assert!(
                (u - v).abs() <= 1e-9 * (1.0 + u.abs()),
                "{name}[{i}]: {u} on the CPU, {v} on {dev}"
            );
        }
    }
}
