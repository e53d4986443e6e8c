//! Inputs at the edges of the data readers, kept as regression tests for the fuzz targets
//! (fuzz/, docs/guide/fuzzing.md): each must give an error naming the file, never a panic,
//! an overflow or an allocation sized by a header. Fuzzing has found no crash so far; when
//! it does, the crashing bytes go here, inline, with the fix.

use pact_models::data::{cifar10, csv, mnist, DataSpec};
use std::path::Path;

fn be(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

#[test]
fn idx_headers_whose_sizes_overflow_are_refused() {
    let p = Path::new("edge-idx3-ubyte");
    for header in [
        be(&[2051, u32::MAX, u32::MAX, u32::MAX]),
        be(&[2051, u32::MAX, 65536, 65536]),
        be(&[2051, 1, 0, 5]),
        be(&[2051, 0, 5, 0]),
    ] {
        let err = mnist::parse_images(p, &header).unwrap_err().to_string();
        assert!(err.starts_with("edge-idx3-ubyte: "), "{err}");
    }
    // Zero images of a valid size is a valid (empty) file.
    let empty = mnist::parse_images(p, &be(&[2051, 0, 2, 2])).unwrap();
    assert_eq!(empty.count, 0);
    let err = mnist::parse_labels(p, &be(&[2049, u32::MAX])).unwrap_err();
    assert!(err.to_string().contains("4294967295 labels"), "{err}");
    for short in [&[][..], &[0, 0, 8][..], &[0, 0, 8, 3, 0][..]] {
        assert!(mnist::parse_images(p, short).is_err());
        assert!(mnist::parse_labels(p, short).is_err());
    }
}

#[test]
fn gzip_that_is_cut_or_wrong_is_a_data_error() {
    let p = Path::new("edge.gz");
    for raw in [
        &[0x1f, 0x8b][..],
        &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3][..],
        &[
            0x1f, 0x8b, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ][..],
    ] {
        let err = mnist::gunzip(p, raw).unwrap_err().to_string();
        assert!(
            err.starts_with("edge.gz: cannot decompress as gzip"),
            "{err}"
        );
    }
}

#[test]
fn cifar10_records_at_the_edges() {
    let p = Path::new("edge.bin");
    for len in [1, cifar10::RECORD_BYTES - 1, cifar10::RECORD_BYTES + 1] {
        let err = cifar10::parse(p, &vec![0; len]).unwrap_err().to_string();
        assert!(err.starts_with("edge.bin: "), "{err}");
    }
    let mut record = vec![255u8; cifar10::RECORD_BYTES];
    let err = cifar10::parse(p, &record).unwrap_err().to_string();
    assert!(err.contains("label 255"), "{err}");
    record[0] = 9;
    let (images, labels) = cifar10::parse(p, &record).unwrap();
    assert_eq!((images.len(), labels), (3072, vec![9]));
}

#[test]
fn csv_cells_and_shapes_at_the_edges() {
    let p = Path::new("edge.csv");
    let cases: &[(&str, &str)] = &[
        ("0,4294967296\n", "out of range"),
        ("0,18446744073709551616\n", "out of range"),
        ("0,1e308\n", "out of range"),
        ("0,nan\n", "not finite"),
        ("3.5e38,0\n", "not finite"),
        ("\u{feff}0,0\n", "not a number"),
        ("0,0,\n", "3 columns"),
        (",\n", "not a number"),
    ];
    for (text, needle) in cases {
        let err = csv::parse(p, text, [1, 1, 1]).unwrap_err().to_string();
        assert!(
            err.starts_with("edge.csv: line 1") && err.contains(needle),
            "{text:?}: {err}"
        );
    }
    let huge = format!("{0}x{0}x{0}", u32::MAX);
    for shape in [&huge[..], "1x1x", "x", "1x1x1x", "-1x1x1", "1 x 1 x 1"] {
        let _ = csv::parse_chw(shape);
        let _ = DataSpec::parse(&format!("csv:f.csv:{shape}"));
    }
    assert!(csv::parse_chw(&huge).is_err());
    let err = csv::parse(p, "0\n", [usize::MAX, 2, 1])
        .unwrap_err()
        .to_string();
    assert!(err.contains("too large"), "{err}");
    for spec in ["shapes:0", "shapes:1:99999", "csv:", "csv::", "mnist:", ":"] {
        assert!(DataSpec::parse(spec).is_err(), "{spec}");
    }
}
