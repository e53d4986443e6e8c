//! Convolution throughput on ResNet-32's layer shapes against the machine's measured peak.
//!
//! `cargo bench --bench conv` prints, for every shape at batch 128, the best of `REPS` runs of
//! the forward pass, the input gradient and the weight gradient (and the weight gradient by
//! the `avx2` path's kernel with channels in the lanes, which an AVX-512 CPU does not run
//! otherwise), both by the direct kernels and by im2col + GEMM, in GFLOP/s and as a share of
//! the peak FP32 FLOP/s that an FMA loop reaches on the same threads (measured first). Threads: the rayon pool
//! (`RAYON_NUM_THREADS`, default all cores). Best-of-N keeps the figures usable on a machine
//! that is not idle; the machine load is printed with them. The "% of peak, CPU time" column
//! divides FLOPs by the CPU time every thread of the process spent (Linux `schedstat`) and
//! compares that with the FMA loop's FLOPs per CPU second: it does not count time the process
//! waited for a core, so it stays meaningful on a loaded machine (best with
//! `RAYON_NUM_THREADS=1`: idle worker threads spinning count as CPU time). `PACT_CPU=avx2` (or `generic`)
//! times that instruction set's kernels, GEMM included, on a CPU that has AVX-512.

use pact::backend::cpu::conv::{self, direct};
use pact::backend::Conv2dParams;
use pact::Rng;
use std::hint::black_box;
use std::time::Instant;

const REPS: usize = 15;

/// A pass by name: the direct kernel (`None` where it does not apply) and im2col + GEMM.
type Pass<'a> = (
    &'static str,
    Box<dyn Fn() -> Option<Vec<f32>> + 'a>,
    Box<dyn Fn() -> Vec<f32> + 'a>,
);

/// FLOP/s of independent FMA chains on every rayon thread (8 lanes × 2 FLOP per FMA), per
/// wall-clock second and per CPU second.
fn peak_flops() -> (f64, f64) {
    let threads = rayon::current_num_threads();
    let iters = 50_000_000u64;
    let (wall, cpu) = (0..5)
        .map(|_| {
            let (start, cpu) = (Instant::now(), cpu_seconds());
            let sum: f32 = rayon::broadcast(|ctx| fma_chains(iters, ctx.index() as f32))
                .iter()
                .sum();
            black_box(sum);
            (start.elapsed().as_secs_f64(), cpu_seconds() - cpu)
        })
        .fold((f64::INFINITY, f64::INFINITY), |(w, c), (a, b)| {
            (w.min(a), c.min(b))
        });
    let flops = (threads as u64 * iters * 12 * 16) as f64;
    (flops / wall, flops / cpu)
}

/// Twelve independent chains of `a = a·b + c` on 8 lanes, `iters` times.
fn fma_chains(iters: u64, seed: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has FMA (checked above).
        return unsafe { fma_chains_avx(iters, seed) };
    }
    let mut acc = [[seed * 1e-3; 8]; 12];
    let (b, c) = (black_box(0.9999f32), black_box(1e-4f32));
    for _ in 0..iters {
        for chain in acc.iter_mut() {
            for lane in chain.iter_mut() {
                *lane = lane.mul_add(b, c);
            }
        }
    }
    acc.iter().flatten().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_chains_avx(iters: u64, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let (b, c) = (
        _mm256_set1_ps(black_box(0.9999)),
        _mm256_set1_ps(black_box(1e-4)),
    );
    let start = _mm256_set1_ps(seed * 1e-3);
    let (mut a0, mut a1, mut a2, mut a3, mut a4, mut a5) =
        (start, start, start, start, start, start);
    let (mut a6, mut a7, mut a8, mut a9, mut a10, mut a11) =
        (start, start, start, start, start, start);
    for _ in 0..iters {
        a0 = _mm256_fmadd_ps(a0, b, c);
        a1 = _mm256_fmadd_ps(a1, b, c);
        a2 = _mm256_fmadd_ps(a2, b, c);
        a3 = _mm256_fmadd_ps(a3, b, c);
        a4 = _mm256_fmadd_ps(a4, b, c);
        a5 = _mm256_fmadd_ps(a5, b, c);
        a6 = _mm256_fmadd_ps(a6, b, c);
        a7 = _mm256_fmadd_ps(a7, b, c);
        a8 = _mm256_fmadd_ps(a8, b, c);
        a9 = _mm256_fmadd_ps(a9, b, c);
        a10 = _mm256_fmadd_ps(a10, b, c);
        a11 = _mm256_fmadd_ps(a11, b, c);
    }
    let total = [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11]
        .iter()
        .fold(_mm256_setzero_ps(), |s, &a| _mm256_add_ps(s, a));
    let mut lanes = [0.0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), total);
    lanes.iter().sum()
}

/// Seconds every thread of this process has spent on a CPU (Linux; 0 elsewhere): the sum of
/// the first fields of `/proc/self/task/*/schedstat`, in nanoseconds.
fn cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e9
}

/// The best wall-clock and the best CPU time (all threads) of `REPS` runs of `f`, in seconds.
fn best_of(mut f: impl FnMut()) -> (f64, f64) {
    f();
    (0..REPS)
        .map(|_| {
            let (start, cpu) = (Instant::now(), cpu_seconds());
            f();
            (start.elapsed().as_secs_f64(), cpu_seconds() - cpu)
        })
        .fold((f64::INFINITY, f64::INFINITY), |(w, c), (a, b)| {
            (w.min(a), c.min(b))
        })
}

fn main() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let (peak, peak_cpu) = peak_flops();
    println!(
        "threads {}, instruction set {} (PACT_CPU), direct kernels {}, load average {}",
        rayon::current_num_threads(),
        pact::backend::cpu::isa::current(),
        if direct::enabled() { "on" } else { "off" },
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "measured peak FP32: {:.1} GFLOP/s, {:.1} GFLOP per CPU-second",
        peak / 1e9,
        peak_cpu / 1e9
    );
    println!("| C_in → C_out @ H, stride | pass | direct ms | GFLOP/s | % of peak | % of peak, CPU time | im2col ms | speed-up |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut rng = Rng::seed(0);
    let batch = 128;
    // The first stage's input size: 32 (CIFAR), or CONV_SIZE=28 for Fashion-MNIST's shapes.
    let size: usize = std::env::var("CONV_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let half = size.div_ceil(2);
    for (c_in, c_out, h, stride) in [
        (16, 16, size, 1),
        (16, 32, size, 2),
        (32, 32, half, 1),
        (32, 64, half, 2),
        (64, 64, half.div_ceil(2), 1),
    ] {
        let p = Conv2dParams {
            batch,
            c_in,
            h_in: h,
            w_in: h,
            c_out,
            k_h: 3,
            k_w: 3,
            stride,
            padding: 1,
        };
        let mut random =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.uniform() as f32 - 0.5).collect() };
        let x = random(batch * c_in * h * h);
        let w = random(c_out * c_in * 9);
        let dy = random(batch * c_out * p.h_out() * p.w_out());
        let flops = p.flops() as f64;
        let passes: [Pass; 4] = [
            (
                "forward",
                Box::new(|| direct::forward(&x, &w, p)),
                Box::new(|| conv::im2col_forward(&x, &w, p)),
            ),
            (
                "input grad",
                Box::new(|| direct::backward_input(&dy, &w, p)),
                Box::new(|| conv::im2col_backward_input(&dy, &w, p)),
            ),
            (
                "weight grad",
                Box::new(|| direct::backward_weight(&x, &dy, p)),
                Box::new(|| conv::im2col_backward_weight(&x, &dy, p)),
            ),
            // The `avx2` path's weight-gradient kernel (channels in the lanes) on any path:
            // the same as the row above there, a comparison on an AVX-512 CPU.
            (
                "weight grad, lanes",
                Box::new(|| direct::backward_weight_in_lanes(&x, &dy, p)),
                Box::new(|| conv::im2col_backward_weight(&x, &dy, p)),
            ),
        ];
        for (name, fast, slow) in &passes {
            let (slow_s, slow_cpu) = best_of(|| {
                black_box(slow());
            });
            let label = format!("{c_in} → {c_out} @ {h}, {stride}");
            if fast().is_none() {
                println!(
                    "| {label} | {name} | (im2col) | {:.1} | {:.0}% | {:.0}% | {:.2} | 1.00× |",
                    flops / slow_s / 1e9,
                    100.0 * flops / slow_s / peak,
                    100.0 * flops / slow_cpu / peak_cpu,
                    slow_s * 1e3
                );
                continue;
            }
            let (fast_s, fast_cpu) = best_of(|| {
                black_box(fast());
            });
            println!(
                "| {label} | {name} | {:.2} | {:.1} | {:.0}% | {:.0}% | {:.2} | {:.2}× |",
                fast_s * 1e3,
                flops / fast_s / 1e9,
                100.0 * flops / fast_s / peak,
                100.0 * flops / fast_cpu / peak_cpu,
                slow_s * 1e3,
                slow_s / fast_s
            );
        }
    }
}
