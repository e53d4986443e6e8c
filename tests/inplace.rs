//! The in-place evaluation ops give the ordinary ops' values bit for bit, write in place
//! only into storage nobody else sees, and stay differentiable where a graph is recorded.

use pact::nn::ParamStore;
use pact::tensor::ScaleShiftLeaky;
use pact::{DType, Device, Rng, Tensor};

fn data_ptr(t: &Tensor) -> usize {
    let cpu = t.storage().as_cpu().unwrap();
    match (cpu.as_f32(), cpu.as_f64()) {
        (Some(v), _) => v.as_ptr() as usize,
        (_, Some(v)) => v.as_ptr() as usize,
        _ => unreachable!(),
    }
}

fn reference(x: &Tensor, scale: &Tensor, shift: &Tensor, slope: f64) -> Tensor {
    let mut shape = vec![1; x.rank()];
    shape[1] = x.dims()[1];
    x.mul(&scale.reshape(shape.clone()).unwrap())
        .unwrap()
        .add(&shift.reshape(shape).unwrap())
        .unwrap()
        .leaky_relu(slope)
        .unwrap()
}

#[test]
fn scale_shift_leaky_relu_is_the_composed_ops_bit_for_bit_and_in_place() {
    let mut rng = Rng::seed(0);
    for dtype in [DType::F32, DType::F64] {
        // Small tensors run on one thread; the last two are above the parallel threshold
        // (2^15 elements), in groups of planes that do not start at channel 0.
        for shape in [
            vec![3, 4, 5, 6],
            vec![5, 4],
            vec![3, 4, 70, 50],
            vec![3000, 4, 3],
        ] {
            let x = Tensor::randn(shape.clone(), dtype, Device::Cpu, &mut rng).unwrap();
            let scale = Tensor::randn([4], dtype, Device::Cpu, &mut rng).unwrap();
            let shift = Tensor::randn([4], dtype, Device::Cpu, &mut rng).unwrap();
            let expected = reference(&x, &scale, &shift, 0.1);
            // A private copy: written in place.
            let own = x.mul_scalar(1.0).unwrap();
            let ptr = data_ptr(&own);
            let y = own.scale_shift_leaky_relu(&scale, &shift, 0.1).unwrap();
            assert_eq!(data_ptr(&y), ptr);
            assert_eq!(y.to_f64_vec(), expected.to_f64_vec());
            // Shared with `x` (a clone, a reshaped view): computed out of place.
            let before = x.to_f64_vec();
            let y = x
                .clone()
                .scale_shift_leaky_relu(&scale, &shift, 0.1)
                .unwrap();
            assert_eq!(y.to_f64_vec(), expected.to_f64_vec());
            let view = x.reshape(shape.clone()).unwrap();
            drop(view.scale_shift_leaky_relu(&scale, &shift, 0.1).unwrap());
            assert_eq!(x.to_f64_vec(), before);
        }
    }
}

#[test]
fn scale_shift_leaky_relu_checks_shapes_and_keeps_gradients() {
    let x = Tensor::var_from_f64(&[1.0, -2.0, 3.0, -4.0], [2, 2], Device::Cpu).unwrap();
    let scale = Tensor::from_f64_vec(vec![2.0, 3.0], [2], Device::Cpu).unwrap();
    let shift = Tensor::from_f64_vec(vec![0.5, 0.0], [2], Device::Cpu).unwrap();
    let bad = Tensor::from_f64_vec(vec![1.0; 3], [3], Device::Cpu).unwrap();
    assert!(x.clone().scale_shift_leaky_relu(&bad, &shift, 0.1).is_err());
    // A variable records a graph: the ordinary ops run, and gradients flow.
    let y = x
        .clone()
        .scale_shift_leaky_relu(&scale, &shift, 0.1)
        .unwrap();
    let grads = y.sum_all().unwrap().backward().unwrap();
    let g = grads.get(&x).unwrap().to_f64_vec();
    // d/dx leaky(2x + 0.5) at 1: 2; leaky(3x) at −2: 0.3; at 3: 2; leaky(3x) at −4: 0.3.
    let expected = [2.0, 0.3, 2.0, 0.3];
    for (a, b) in g.iter().zip(expected) {
        assert!((a - b).abs() < 1e-12, "{g:?}");
    }
}

#[test]
fn add_scaled_row_in_place_adds_one_row_bit_for_bit() {
    let mut rng = Rng::seed(1);
    // The second size is above the parallel threshold (2^15 elements).
    for (dtype, plane) in [
        (DType::F32, 5),
        (DType::F64, 5),
        (DType::F32, 20_000),
        (DType::F64, 20_000),
    ] {
        let src = Tensor::randn([3, 2, plane], dtype, Device::Cpu, &mut rng).unwrap();
        let x = Tensor::randn([1, 2, plane], dtype, Device::Cpu, &mut rng).unwrap();
        let expected = x
            .add(&src.narrow(0, 2, 1).unwrap().mul_scalar(0.3).unwrap())
            .unwrap();
        let mut own = x.mul_scalar(1.0).unwrap();
        let ptr = data_ptr(&own);
        own.add_scaled_row_in_place(&src, 2, 0.3).unwrap();
        assert_eq!(data_ptr(&own), ptr);
        assert_eq!(own.to_f64_vec(), expected.to_f64_vec());
        // Shared: the other owner keeps its values.
        let before = x.to_f64_vec();
        let mut shared = x.clone();
        shared.add_scaled_row_in_place(&src, 2, 0.3).unwrap();
        assert_eq!(shared.to_f64_vec(), expected.to_f64_vec());
        assert_eq!(x.to_f64_vec(), before);
        // Out of range and mismatched sizes are errors.
        assert!(shared.add_scaled_row_in_place(&src, 3, 1.0).is_err());
        let wide = Tensor::zeros([3, 11], dtype, Device::Cpu);
        assert!(shared.add_scaled_row_in_place(&wide, 0, 1.0).is_err());
    }
}

/// `scale_shift_leaky_relu_conv2d` is the batch norm and the convolution composed, bit for
/// bit: in `f32` and `f64`, with the weight a variable under `no_grad` (as evaluation runs it),
/// and with a graph recorded, where it stays differentiable.
#[test]
fn scale_shift_leaky_relu_conv2d_is_the_composed_ops_bit_for_bit() {
    let mut rng = Rng::seed(5);
    for dtype in [DType::F32, DType::F64] {
        for (h, w, stride, padding) in [(8, 8, 1, 1), (7, 28, 1, 1), (16, 16, 2, 1), (9, 11, 1, 0)]
        {
            let x = Tensor::randn([3, 4, h, w], dtype, Device::Cpu, &mut rng).unwrap();
            // A parameter: a variable of `dtype`, as the networks' weights are.
            let store = ParamStore::new(dtype, Device::Cpu);
            let value = Tensor::randn([5, 4, 3, 3], dtype, Device::Cpu, &mut rng).unwrap();
            let weight = store.create("w", value).unwrap().tensor();
            assert!(weight.tracks());
            let scale = Tensor::randn([4], dtype, Device::Cpu, &mut rng).unwrap();
            let shift = Tensor::randn([4], dtype, Device::Cpu, &mut rng).unwrap();
            let composed = |x: &Tensor| {
                reference(x, &scale, &shift, 0.1)
                    .conv2d(&weight, None, stride, padding)
                    .unwrap()
            };
            let what = format!("{dtype:?} {h}x{w} stride {stride} padding {padding}");
            let (fused, expected) = pact::no_grad(|| {
                let fused = x
                    .scale_shift_leaky_relu_conv2d(&scale, &shift, 0.1, &weight, stride, padding)
                    .unwrap();
                (fused, composed(&x))
            });
            assert!(!fused.tracks(), "{what}");
            assert_eq!(fused.to_f64_vec(), expected.to_f64_vec(), "{what}");
            // With a graph: the composed ops, and a gradient for the weight.
            let y = x
                .scale_shift_leaky_relu_conv2d(&scale, &shift, 0.1, &weight, stride, padding)
                .unwrap();
            assert_eq!(y.to_f64_vec(), expected.to_f64_vec(), "{what}: graph");
            let grads = y.sum_all().unwrap().backward().unwrap();
            assert!(grads.get(&weight).is_some(), "{what}: no weight gradient");
        }
    }
    let x = Tensor::zeros([1, 4, 5, 5], DType::F32, Device::Cpu);
    let w = Tensor::zeros([2, 4, 3, 3], DType::F32, Device::Cpu);
    let three = Tensor::ones([3], DType::F32, Device::Cpu);
    let err = x
        .scale_shift_leaky_relu_conv2d(&three, &three, 0.1, &w, 1, 1)
        .unwrap_err();
    assert!(
        err.to_string().contains("scale_shift_leaky_relu_conv2d"),
        "{err}"
    );
}

/// `add_conv2d_in_place` is `self + conv2d(map(input))` bit for bit, written into `self`'s
/// storage when it may be (widths that are whole vectors and not, stride 1 and 2, with and
/// without the batch-norm map), out of place for shared storage, and with the ordinary,
/// differentiable ops where a graph is recorded.
#[test]
fn add_conv2d_in_place_is_the_composed_ops_bit_for_bit_and_in_place() {
    let mut rng = Rng::seed(3);
    let store = ParamStore::new(DType::F32, Device::Cpu);
    let cases = [(8, 8, 1, 1), (7, 28, 1, 1), (16, 16, 2, 1), (9, 11, 1, 0)];
    for (k, (h, w, stride, padding)) in cases.into_iter().enumerate() {
        let input = Tensor::randn([3, 4, h, w], DType::F32, Device::Cpu, &mut rng).unwrap();
        let value = Tensor::randn([5, 4, 3, 3], DType::F32, Device::Cpu, &mut rng).unwrap();
        let weight = store.create(&format!("w{k}"), value).unwrap().tensor();
        let scale = Tensor::randn([4], DType::F32, Device::Cpu, &mut rng).unwrap();
        let shift = Tensor::randn([4], DType::F32, Device::Cpu, &mut rng).unwrap();
        let normed = reference(&input, &scale, &shift, 0.1);
        let maps = [
            (None, input.clone()),
            (
                Some(ScaleShiftLeaky {
                    scale: &scale,
                    shift: &shift,
                    slope: 0.1,
                }),
                normed,
            ),
        ];
        for (map, mapped) in maps {
            let what = format!("{h}x{w} stride {stride} map {}", map.is_some());
            let out = mapped.conv2d(&weight, None, stride, padding).unwrap();
            let x = Tensor::randn(out.shape().clone(), DType::F32, Device::Cpu, &mut rng).unwrap();
            let expected = x.add(&out).unwrap().to_f64_vec();
            pact::no_grad(|| {
                let mut own = x.mul_scalar(1.0).unwrap();
                let ptr = data_ptr(&own);
                own.add_conv2d_in_place(&input, map, &weight, stride, padding)
                    .unwrap();
                if pact::backend::cpu::conv::direct::enabled() {
                    assert_eq!(data_ptr(&own), ptr, "{what}: not in place");
                }
                assert_eq!(own.to_f64_vec(), expected, "{what}");
                // Shared with `x`: `x` keeps its values.
                let before = x.to_f64_vec();
                let mut shared = x.clone();
                shared
                    .add_conv2d_in_place(&input, map, &weight, stride, padding)
                    .unwrap();
                assert_eq!(shared.to_f64_vec(), expected, "{what}: shared");
                assert_eq!(x.to_f64_vec(), before, "{what}: shared");
            });
            // With a graph: the ordinary ops, and a gradient for the weight.
            let mut y = x.mul_scalar(1.0).unwrap();
            y.add_conv2d_in_place(&input, map, &weight, stride, padding)
                .unwrap();
            assert_eq!(y.to_f64_vec(), expected, "{what}: graph");
            let grads = y.sum_all().unwrap().backward().unwrap();
            assert!(grads.get(&weight).is_some(), "{what}: no weight gradient");
        }
    }
}
