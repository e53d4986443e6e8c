//! Which instruction set the CPU backend's kernels use: the best one this CPU has, detected
//! once, or the one the `PACT_CPU` environment variable names (`avx512`, `avx2` or
//! `generic`), so that every path can be run and tested on one machine.
//!
//! A value that is not one of those, or names a path this CPU cannot run, is refused, never
//! replaced by another path: [`selected`] returns the error (the `pact` tool checks it at
//! start-up and exits with it), and a kernel that runs while the value is invalid panics with
//! the same message.
//!
//! What the choice covers: the direct `f32` convolution kernels (AVX-512 tiles, AVX2 tiles,
//! or none, i.e. im2col + GEMM) and the `gemm` crate's microkernels (its AVX-512, FMA or
//! scalar ones; see [`super::matmul`]). What it does not: loops the compiler vectorises
//! (element-wise maps, batch norm, pooling), which are built for the baseline x86-64 target
//! (SSE2) and run the same on every path.

use crate::{Error, Result};
use std::sync::OnceLock;

/// An instruction-set path of the CPU kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// AVX-512F and AVX-512VL (with AVX2 and FMA): direct convolutions with tiles for 32
    /// vector registers, `gemm`'s AVX-512 kernels.
    Avx512,
    /// AVX2 and FMA: direct convolutions with tiles for 16 vector registers, `gemm`'s FMA
    /// kernels.
    Avx2,
    /// No SIMD kernels of the backend's own: convolutions as im2col + GEMM, `gemm`'s scalar
    /// kernels. Runs on every CPU.
    Generic,
}

/// The environment variable that forces a path.
pub const ENV_VAR: &str = "PACT_CPU";

impl Isa {
    /// Every path, fastest first.
    pub const ALL: [Isa; 3] = [Isa::Avx512, Isa::Avx2, Isa::Generic];

    /// The name `PACT_CPU` takes and `pact bench --json` reports.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Generic => "generic",
        }
    }

    /// The path called `name`, if any.
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|isa| isa.name() == name)
    }

    /// Whether this CPU has the instructions of the path.
    pub fn supported(self) -> bool {
        match self {
            Isa::Generic => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.supported()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest path this CPU has.
    pub fn detected() -> Isa {
        Isa::ALL
            .into_iter()
            .find(|isa| isa.supported())
            .unwrap_or(Isa::Generic)
    }

    /// The path a value of `PACT_CPU` asks for (`None` or empty: the detected one), or why
    /// it cannot be used.
    pub fn from_env_value(value: Option<&str>) -> std::result::Result<Isa, String> {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Ok(Isa::detected());
        };
        let names = Isa::ALL.map(Isa::name).join(", ");
        let isa = Isa::from_name(value)
            .ok_or_else(|| format!("{ENV_VAR}={value:?} is not one of {names}"))?;
        if !isa.supported() {
            return Err(format!(
                "{ENV_VAR}={value}: this CPU lacks the instructions of that path (it has {})",
                Isa::detected().name()
            ));
        }
        Ok(isa)
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The path of this process: `PACT_CPU` when set (read once), else the detected one; an
/// error when `PACT_CPU` is invalid or names a path this CPU lacks.
pub fn selected() -> Result<Isa> {
    static SELECTED: OnceLock<std::result::Result<Isa, String>> = OnceLock::new();
    SELECTED
        .get_or_init(|| match std::env::var(ENV_VAR) {
            Ok(value) => Isa::from_env_value(Some(&value)),
            Err(std::env::VarError::NotPresent) => Isa::from_env_value(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!("{ENV_VAR} is not UTF-8")),
        })
        .clone()
        .map_err(|message| Error::InvalidArgument {
            op: ENV_VAR,
            message,
        })
}

/// [`selected`] for the kernels, which have no error path.
///
/// # Panics
/// When `PACT_CPU` is invalid, with the message of [`selected`]'s error (a process
/// configuration error; programs that want to report it themselves call [`selected`] first).
pub fn current() -> Isa {
    match selected() {
        Ok(isa) => isa,
        Err(e) => panic!("{e}"),
    }
}

/// This CPU as it names itself (CPUID's brand string) with its family and model numbers, e.g.
/// `AMD EPYC (family 25, model 1)`, for benchmark records: a virtual machine may report a
/// brand string that hides the generation, the numbers do not (a Zen 3 EPYC is family 25
/// model 1, a Zen 4 EPYC family 25 model 17). `unknown` off x86-64.
///
/// ```
/// let cpu = pact::backend::cpu::isa::cpu_description();
/// println!("timed on {cpu}");
/// # #[cfg(target_arch = "x86_64")]
/// assert!(cpu.contains("(family "));
/// ```
pub fn cpu_description() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        // `__cpuid` is a safe function since Rust 1.87 and `unsafe` before (the crate builds
        // from 1.85): CPUID exists on every x86-64 CPU, and the leaves read here are ones it
        // reports.
        #[allow(unused_unsafe)]
        fn cpuid(leaf: u32) -> std::arch::x86_64::CpuidResult {
            // SAFETY: CPUID is part of x86-64.
            unsafe { std::arch::x86_64::__cpuid(leaf) }
        }
        let signature = cpuid(1).eax;
        // The brand string's leaves 0x8000_0002..=4, where the highest extended leaf (leaf
        // 0x8000_0000) says they exist.
        let brand: Vec<u8> = if cpuid(0x8000_0000).eax >= 0x8000_0004 {
            (0x8000_0002..=0x8000_0004u32)
                .flat_map(|leaf| {
                    let r = cpuid(leaf);
                    [r.eax, r.ebx, r.ecx, r.edx].map(u32::to_le_bytes)
                })
                .flatten()
                .collect()
        } else {
            Vec::new()
        };
        let brand = String::from_utf8_lossy(&brand);
        let brand = brand.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        let (family, model) = family_and_model(signature);
        let name = if brand.is_empty() { "x86-64" } else { brand };
        format!("{name} (family {family}, model {model})")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        "unknown".to_string()
    }
}

/// The display family and model of a CPUID leaf-1 signature (`EAX`): the extended family is
/// added to base family 15, and the extended model prefixed to the model of families 6
/// and 15, as Intel's and AMD's manuals define them.
///
/// ```
/// use pact::backend::cpu::isa::family_and_model;
/// assert_eq!(family_and_model(0x00A0_0F11), (25, 1)); // an EPYC of the Zen 3 generation
/// ```
pub fn family_and_model(signature: u32) -> (u32, u32) {
    let base_family = (signature >> 8) & 0xf;
    let base_model = (signature >> 4) & 0xf;
    let family = match base_family {
        0xf => base_family + ((signature >> 20) & 0xff),
        f => f,
    };
    let model = match base_family {
        0x6 | 0xf => base_model | (((signature >> 16) & 0xf) << 4),
        _ => base_model,
    };
    (family, model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuid_signatures_decode_to_the_manuals_family_and_model() {
        // Zen 3 (EPYC 7003), Zen 4 (EPYC 9004), Skylake-SP, a family-6 model below 16.
        assert_eq!(family_and_model(0x00A0_0F11), (25, 1));
        assert_eq!(family_and_model(0x00A1_0F11), (25, 17));
        assert_eq!(family_and_model(0x0005_0654), (6, 85));
        assert_eq!(family_and_model(0x0000_0665), (6, 6));
        // Extended fields are ignored for a base family other than 6 and 15.
        assert_eq!(family_and_model(0x0FF0_0521), (5, 2));
    }

    #[test]
    fn the_cpu_describes_itself() {
        let cpu = cpu_description();
        assert!(!cpu.is_empty());
        if cfg!(target_arch = "x86_64") {
            assert!(
                cpu.contains("(family ") && cpu.contains(", model "),
                "{cpu}"
            );
            assert!(!cpu.contains('\0'), "{cpu:?}");
        }
    }

    #[test]
    fn names_round_trip() {
        for isa in Isa::ALL {
            assert_eq!(Isa::from_name(isa.name()), Some(isa));
            assert_eq!(isa.to_string(), isa.name());
        }
        assert_eq!(Isa::from_name("AVX2"), None);
    }

    #[test]
    fn env_values() {
        assert_eq!(Isa::from_env_value(None), Ok(Isa::detected()));
        assert_eq!(Isa::from_env_value(Some("")), Ok(Isa::detected()));
        assert_eq!(Isa::from_env_value(Some("generic")), Ok(Isa::Generic));
        let bad = Isa::from_env_value(Some("sse")).unwrap_err();
        assert!(
            bad.contains("\"sse\" is not one of avx512, avx2, generic"),
            "{bad}"
        );
        for isa in Isa::ALL {
            let got = Isa::from_env_value(Some(isa.name()));
            if isa.supported() {
                assert_eq!(got, Ok(isa));
            } else {
                assert!(got.unwrap_err().contains("lacks"));
            }
        }
        assert!(Isa::detected().supported());
    }
}
