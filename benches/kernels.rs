//! Kernel benchmarks: GEMM (the `gemm` crate against ndarray's matrixmultiply), conv2d
//! forward and backward on ResNet-32's layer shapes, and a ResNet-32 training step.
//!
//! `cargo bench --bench kernels` (add `-- gemm` or `-- conv` to select). Thread count:
//! `RAYON_NUM_THREADS`. Results and the machine are recorded in `docs/BENCHMARKS.md`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pact::backend::cpu::matmul::{gemm_into, MatRef, Threads};
use pact::nn::{Optimizer, ParamStore, Sgd, SgdConfig};
use pact::{DType, Device, Rng, Tensor};
use pact_models::resnet::{ResNet, ResNetConfig};
use std::time::Duration;

fn gemm_shapes() -> Vec<(usize, usize, usize)> {
    // (m, k, n): conv-as-GEMM shapes of ResNet-32 per image (C_out × C_in·9 · H·W), and squares.
    vec![
        (16, 144, 1024),
        (32, 288, 256),
        (64, 576, 64),
        (256, 256, 256),
        (512, 512, 512),
    ]
}

fn bench_gemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    let mut rng = Rng::seed(0);
    for (m, k, n) in gemm_shapes() {
        let a = Tensor::randn([m, k], DType::F32, Device::Cpu, &mut rng)
            .unwrap()
            .to_f32_vec();
        let b = Tensor::randn([k, n], DType::F32, Device::Cpu, &mut rng)
            .unwrap()
            .to_f32_vec();
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        let id = format!("{m}x{k}x{n}");
        group.bench_function(BenchmarkId::new("gemm-crate", &id), |bench| {
            let mut out = vec![0f32; m * n];
            bench.iter(|| {
                gemm_into(
                    &mut out,
                    false,
                    MatRef::new(&a, m, k, false),
                    MatRef::new(&b, k, n, false),
                    Threads::All,
                )
            })
        });
        let a2 = ndarray::Array2::from_shape_vec((m, k), a.clone()).unwrap();
        let b2 = ndarray::Array2::from_shape_vec((k, n), b.clone()).unwrap();
        group.bench_function(BenchmarkId::new("matrixmultiply", &id), |bench| {
            bench.iter(|| a2.dot(&b2))
        });
    }
    group.finish();
}

/// ResNet-32's convolution shapes at batch 128: (C_in, C_out, H, stride).
fn conv_shapes() -> Vec<(usize, usize, usize, usize)> {
    vec![
        (16, 16, 32, 1),
        (16, 32, 32, 2),
        (32, 32, 16, 1),
        (32, 64, 16, 2),
        (64, 64, 8, 1),
    ]
}

fn bench_conv(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv2d");
    let mut rng = Rng::seed(0);
    let batch = 128;
    for (cin, cout, h, stride) in conv_shapes() {
        let x = Tensor::randn([batch, cin, h, h], DType::F32, Device::Cpu, &mut rng).unwrap();
        let w = Tensor::randn([cout, cin, 3, 3], DType::F32, Device::Cpu, &mut rng).unwrap();
        let ho = h / stride;
        let flops = 2 * 9 * cin * cout * ho * ho * batch;
        group.throughput(Throughput::Elements(flops as u64));
        let id = format!("{cin}->{cout}@{h}s{stride}");
        group.bench_function(BenchmarkId::new("forward", &id), |bench| {
            bench.iter(|| pact::no_grad(|| x.conv2d(&w, None, stride, 1).unwrap()))
        });
        let wv = w.to_var();
        let xv = x.to_var();
        group.throughput(Throughput::Elements(2 * flops as u64));
        group.bench_function(BenchmarkId::new("backward", &id), |bench| {
            bench.iter(|| {
                xv.conv2d(&wv, None, stride, 1)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap()
            })
        });
    }
    group.finish();
}

fn bench_resnet_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("resnet32");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let mut rng = Rng::seed(0);
    let store = ParamStore::new(DType::F32, Device::Cpu);
    let net = ResNet::new(&store, ResNetConfig::cifar(5), &mut rng).unwrap();
    let batch = 128;
    let x = Tensor::randn([batch, 3, 32, 32], DType::F32, Device::Cpu, &mut rng).unwrap();
    let labels: Vec<usize> = (0..batch).map(|_| rng.below(10)).collect();
    let mut opt = Sgd::new(
        store.trainable(),
        SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 1e-4,
        },
    );
    group.throughput(Throughput::Elements(batch as u64));
    group.bench_function("train_step_batch128", |bench| {
        bench.iter(|| {
            let loss = net
                .forward(&x, true)
                .unwrap()
                .cross_entropy(&labels)
                .unwrap();
            opt.step(&loss.backward().unwrap()).unwrap();
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench_gemm, bench_conv, bench_resnet_step
}
criterion_main!(benches);
