//! Checkpoint bytes at the edges of the safetensors format, kept as regression tests for the
//! `checkpoint` fuzz target (fuzz/, docs/guide/fuzzing.md): each is read or refused with
//! an error naming the file, never a panic or an allocation sized by the header.

use pact::nn::{checkpoint, Linear, ParamStore};
use pact::{DType, Device, Rng};
use std::path::Path;

/// A safetensors file: the header length, the JSON header, then `data`.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

#[test]
fn malformed_checkpoint_bytes_are_errors_naming_the_file() {
    let p = Path::new("edge.safetensors");
    let mut huge_len = u64::MAX.to_le_bytes().to_vec();
    huge_len.extend_from_slice(b"{}");
    let cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0; 7],
        huge_len,
        file("", b""),
        file("{", b""),
        file(
            r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            &[0; 4],
        ),
        file(
            r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#,
            &[0; 4],
        ),
        file(
            r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#,
            &[0; 4],
        ),
        file(
            r#"{"w":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}}"#,
            &[0; 4],
        ),
        file(r#"{"__metadata__":{"a":1}}"#, b""),
    ];
    for bytes in cases {
        let err = checkpoint::from_bytes(&bytes, p, Device::Cpu).unwrap_err();
        assert!(
            err.to_string().contains("edge.safetensors"),
            "{bytes:?}: {err}"
        );
    }
}

#[test]
fn a_valid_file_with_no_tensors_is_read_and_then_refused_by_the_model() {
    let p = Path::new("empty.safetensors");
    let ckpt = checkpoint::from_bytes(&file("{}", b""), p, Device::Cpu).unwrap();
    assert!(ckpt.tensors.is_empty());
    let store = ParamStore::new(DType::F32, Device::Cpu);
    Linear::new(&store.pp("fc"), 2, 2, &mut Rng::seed(0)).unwrap();
    let err = checkpoint::restore_store(&store, ckpt, p)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("empty.safetensors") && err.contains("missing tensor fc.weight"),
        "{err}"
    );
}
