//! `--backend`: where the commands compute.

use pact::Device;

/// The answer to a request for ArrayFire from a pact built without it.
pub const NOT_BUILT: &str = "this pact was built without ArrayFire; rebuild with \
     `cargo build --release --features arrayfire` (see docs/gpu.md)";

/// Parses the value of `--backend` (a clap value parser): `cpu`, or
/// `arrayfire[:cuda|opencl|cpu][:INDEX]`, checked to be usable here (and with ArrayFire's
/// default backend resolved to the one it picks).
pub fn parse(value: &str) -> Result<Device, String> {
    let device: Device = value.parse().map_err(|e| match e {
        pact::Error::BackendUnavailable(_) if !pact::backend::ARRAYFIRE_COMPILED => {
            NOT_BUILT.to_string()
        }
        pact::Error::InvalidArgument { message, .. } => message,
        other => other.to_string(),
    })?;
    device.resolve().map_err(|e| match e {
        pact::Error::BackendUnavailable(reason) => {
            format!("ArrayFire is not usable here: {reason}")
        }
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_parses() {
        assert_eq!(parse("cpu"), Ok(Device::Cpu));
        assert_eq!(parse(" CPU "), Ok(Device::Cpu));
    }

    #[test]
    fn unknown_backends_are_named() {
        let e = parse("gpu").unwrap_err();
        assert!(e.contains("gpu") && e.contains("arrayfire"), "{e}");
    }

    #[cfg(not(feature = "arrayfire"))]
    #[test]
    fn arrayfire_without_the_feature_says_how_to_enable_it() {
        if pact::backend::ARRAYFIRE_COMPILED {
            return; // pact itself was built with ArrayFire (feature unification)
        }
        for v in [
            "arrayfire",
            "arrayfire:cuda",
            "arrayfire:opencl:1",
            "arrayfire:cpu",
        ] {
            assert_eq!(parse(v), Err(NOT_BUILT.to_string()), "{v}");
        }
    }
}
