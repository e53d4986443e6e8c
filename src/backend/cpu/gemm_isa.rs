//! The `gemm` crate's matrix products on a forced instruction set.
//!
//! `gemm::gemm` picks its microkernels itself, once per process: AVX-512 where the CPU has
//! AVX-512F, else FMA, else scalar, with no way to choose from outside. When `PACT_CPU`
//! forces a path below the CPU's best, [`gemm()`] makes the call that `gemm::gemm` makes after
//! choosing — the same crate's generic driver (`gemm_common::gemm::gemm_basic_generic`) with
//! the microkernels of the forced path (`gemm_f32` and `gemm_f64`'s `fma` or `scalar`
//! modules) — so only the choice differs; otherwise it calls `gemm::gemm` itself.

use super::isa::{self, Isa};
use crate::Element;
use gemm::Parallelism;
use std::any::TypeId;

/// `dst (m × n) = [dst +] a (m × k) · b (k × n)` with strides in elements (`cs` between
/// columns, `rs` between rows), `accumulate` adding to `dst`.
///
/// # Safety
/// As `gemm::gemm`: every element the sizes and strides reach is inside its allocation, and
/// `dst` aliases neither operand.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm<T: Element>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_cs: isize,
    dst_rs: isize,
    accumulate: bool,
    a: *const T,
    a_cs: isize,
    a_rs: isize,
    b: *const T,
    b_cs: isize,
    b_rs: isize,
    parallelism: Parallelism,
) {
    let forced = isa::current();
    if forced == Isa::detected() || !cfg!(target_arch = "x86_64") {
        // SAFETY: the caller's guarantees.
        return unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst,
                dst_cs,
                dst_rs,
                accumulate,
                a,
                a_cs,
                a_rs,
                b,
                b_cs,
                b_rs,
                T::one(),
                T::one(),
                false,
                false,
                false,
                parallelism,
            )
        };
    }
    // `gemm::gemm` first makes the destination column-major (its kernels' preference):
    // `dstᵀ = bᵀ · aᵀ` when the rows of `dst` are contiguous. The strides here are positive.
    let (m, n, dst_cs, dst_rs, a, a_cs, a_rs, b, b_cs, b_rs) = if dst_cs.abs() < dst_rs.abs() {
        (n, m, dst_rs, dst_cs, b, b_rs, b_cs, a, a_rs, a_cs)
    } else {
        (m, n, dst_cs, dst_rs, a, a_cs, a_rs, b, b_cs, b_rs)
    };
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! call {
            // The arguments of `gemm_common::__inject_mod!` for this type and path.
            ($ty:ident, $krate:ident, $module:ident, $simd:ident, $n:literal) => {{
                use gemm_common::simd::MixedSimd;
                use $krate::microkernel::$module::$ty::{H_M, H_N, H_UKR, MR_DIV_N, NR, UKR};
                const N: usize = $n;
                let simd = <gemm_common::simd::$simd as MixedSimd<$ty, $ty, $ty, $ty>>::try_new()
                    .expect("the CPU has the forced instruction set (checked by isa)");
                // SAFETY: `T` is `$ty` (checked by the caller's `TypeId` match); the caller's
                // guarantees cover the pointers.
                unsafe {
                    gemm_common::gemm::gemm_basic_generic::<
                        _,
                        $ty,
                        N,
                        { MR_DIV_N * N },
                        NR,
                        MR_DIV_N,
                        H_M,
                        H_N,
                    >(
                        simd,
                        m,
                        n,
                        k,
                        dst.cast::<$ty>(),
                        dst_cs,
                        dst_rs,
                        accumulate,
                        a.cast::<$ty>(),
                        a_cs,
                        a_rs,
                        b.cast::<$ty>(),
                        b_cs,
                        b_rs,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        |x, y, z| x * y + z,
                        &UKR,
                        &H_UKR,
                        false,
                        parallelism,
                    )
                }
            }};
        }
        // `Element` is `f32` or `f64`.
        let is_f32 = TypeId::of::<T>() == TypeId::of::<f32>();
        match (forced, is_f32) {
            (Isa::Avx2, true) => call!(f32, gemm_f32, fma, V3, 8),
            (Isa::Avx2, false) => call!(f64, gemm_f64, fma, V3, 4),
            (Isa::Generic, true) => call!(f32, gemm_f32, scalar, Scalar, 1),
            (Isa::Generic, false) => call!(f64, gemm_f64, scalar, Scalar, 1),
            (Isa::Avx512, _) => unreachable!("AVX-512, when supported, is the detected path"),
        }
    }
}
