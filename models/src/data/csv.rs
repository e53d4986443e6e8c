//! Images from a CSV file.
//!
//! One row per image: the `C·H·W` pixel values in CHW row-major order, then the class label in
//! the last column. Cells are separated by commas; spaces around a cell are ignored, and so are
//! empty lines. There is **no header row**: every non-empty line must be an image. Pixels are
//! taken as they are (no scaling) and must be finite numbers; labels must be integers (`3` or
//! `3.0`) in `0..MAX_CLASSES` ([`MAX_CLASSES`]). The number of classes is the largest label
//! plus one.
//!
//! The image shape is given separately as `CxHxW`, e.g. `1x8x8` (see [`parse_chw`]).

use crate::data::ImageSet;
use crate::{Error, Result};
use std::path::Path;

/// The most classes a CSV file may have: labels lie in `0..MAX_CLASSES`. A larger label is
/// almost certainly a mistake (a pixel in the label column, a shifted row), and would size
/// the classifier by it.
pub const MAX_CLASSES: usize = 1 << 16;

/// Parses an image shape `CxHxW` (e.g. `1x8x8`, `3x32x32`) into `[C, H, W]`; every part must be
/// a positive integer.
///
/// ```
/// use pact_models::data::csv::parse_chw;
/// assert_eq!(parse_chw("3x32x32")?, [3, 32, 32]);
/// assert!(parse_chw("8x8").is_err());
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn parse_chw(spec: &str) -> Result<[usize; 3]> {
    let bad = |why: &str| {
        Err(Error::InvalidInput(format!(
            "image shape {spec:?} {why}; expected CxHxW with positive integers, e.g. 1x8x8"
        )))
    };
    let parts: Vec<&str> = spec.trim().split(['x', 'X']).collect();
    if parts.len() != 3 {
        return bad(&format!("has {} parts", parts.len()));
    }
    let mut dims = [0; 3];
    for (d, p) in dims.iter_mut().zip(&parts) {
        match p.trim().parse::<usize>() {
            Ok(v) if v > 0 => *d = v,
            Ok(_) => return bad("has a zero dimension"),
            Err(_) => return bad(&format!("has a part {p:?} that is not a positive integer")),
        }
    }
    if pixel_count(dims).is_none() {
        return bad("is too large");
    }
    Ok(dims)
}

/// Loads images of shape `[C, H, W]` from a CSV file (format in the module docs); the set is
/// named after the file.
///
/// ```
/// use pact_models::data::csv;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("two.csv");
/// std::fs::write(&path, "0,0.5,1,0.25,1\n1,1,0,0,0\n")?;
/// let set = csv::load(&path, csv::parse_chw("1x2x2")?)?;
/// assert_eq!((set.len(), set.num_classes, set.labels.clone()), (2, 2, vec![1, 0]));
/// assert_eq!(set.image(0), &[0.0, 0.5, 1.0, 0.25]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load(path: impl AsRef<Path>, shape: [usize; 3]) -> Result<ImageSet> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::MissingData(format!(
            "CSV file {} not found (one row per image: C·H·W pixels, then the label)",
            path.display()
        )),
        _ => Error::io(path, e),
    })?;
    let (images, labels) = parse(path, &text, shape)?;
    if labels.is_empty() {
        return Err(Error::data(path, "no rows: the file has no images"));
    }
    let num_classes = labels.iter().max().map_or(0, |&m| m + 1);
    let name = path
        .file_stem()
        .map_or_else(|| "csv".to_string(), |s| s.to_string_lossy().into_owned());
    ImageSet::new(name, images, labels, shape, num_classes)
}

/// Parses CSV text (`path` is only used in messages) into pixels and labels.
pub fn parse(path: &Path, text: &str, shape: [usize; 3]) -> Result<(Vec<f32>, Vec<usize>)> {
    let pixels_per_row = pixel_count(shape).ok_or_else(|| {
        Error::InvalidInput(format!(
            "image shape {}x{}x{} is too large",
            shape[0], shape[1], shape[2]
        ))
    })?;
    let columns = pixels_per_row + 1;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (l, line) in text.lines().enumerate() {
        let line_no = l + 1;
        if line.trim().is_empty() {
            continue;
        }
        let at = |col: usize, msg: String| {
            Error::data(path, format!("line {line_no}, column {col}: {msg}"))
        };
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != columns {
            return Err(Error::data(
                path,
                format!(
                    "line {line_no}: {} columns, but shape {}x{}x{} needs {columns} \
                     ({pixels_per_row} pixels and a label)",
                    cells.len(),
                    shape[0],
                    shape[1],
                    shape[2]
                ),
            ));
        }
        for (c, cell) in cells[..pixels_per_row].iter().enumerate() {
            let v: f32 = cell
                .parse()
                .map_err(|_| at(c + 1, format!("pixel {cell:?} is not a number")))?;
            if !v.is_finite() {
                return Err(at(c + 1, format!("pixel {cell:?} is not finite")));
            }
            images.push(v);
        }
        labels.push(parse_label(cells[pixels_per_row]).map_err(|m| at(columns, m))?);
    }
    Ok((images, labels))
}

/// `C·H·W`, or `None` on overflow.
fn pixel_count(shape: [usize; 3]) -> Option<usize> {
    shape[0].checked_mul(shape[1])?.checked_mul(shape[2])
}

fn parse_label(cell: &str) -> std::result::Result<usize, String> {
    let too_large = || format!("label {cell:?} is out of range 0..{MAX_CLASSES}");
    if let Ok(v) = cell.parse::<usize>() {
        return if v < MAX_CLASSES {
            Ok(v)
        } else {
            Err(too_large())
        };
    }
    match cell.parse::<f64>() {
        Ok(v) if !v.is_finite() => Err(format!("label {cell:?} is not finite")),
        Ok(v) if v < 0.0 => Err(format!("label {cell:?} is negative")),
        Ok(v) if v.fract() != 0.0 => Err(format!("label {cell:?} is not an integer")),
        Ok(v) if v < MAX_CLASSES as f64 => Ok(v as usize),
        Ok(_) => Err(too_large()),
        Err(_) => Err(format!("label {cell:?} is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, shape: &str) -> Result<ImageSet> {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("digits.csv");
        std::fs::write(&path, text).unwrap();
        load(&path, parse_chw(shape)?)
    }

    #[test]
    fn parse_chw_accepts_and_rejects() {
        assert_eq!(parse_chw("1x8x8").unwrap(), [1, 8, 8]);
        assert_eq!(parse_chw(" 3X4x5 ").unwrap(), [3, 4, 5]);
        let huge = format!("{0}x{0}x{0}", usize::MAX / 2);
        for bad in [
            "", "8x8", "1x8x8x1", "0x8x8", "1x-8x8", "ax8x8", "1x8x", "1.5x8x8", &huge,
        ] {
            let err = parse_chw(bad).unwrap_err();
            assert!(err.to_string().contains("CxHxW"), "{bad}: {err}");
        }
    }

    #[test]
    fn loads_values_exactly() {
        let set = load_text("0,1,2,3,4,5,2\n\n-1.5, 2.25,1e-3,0,0,0, 4.0\r\n", "1x2x3").unwrap();
        assert_eq!(set.name, "digits");
        assert_eq!(set.shape(), [1, 2, 3]);
        assert_eq!(set.labels, vec![2, 4]);
        assert_eq!(set.num_classes, 5);
        assert_eq!(set.image(0), &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(set.image(1), &[-1.5, 2.25, 1e-3, 0.0, 0.0, 0.0]);
    }

    fn err_of(text: &str) -> String {
        load_text(text, "1x1x2").unwrap_err().to_string()
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let msg = err_of("1,2,0\n1,x,1\n");
        assert!(
            msg.contains("digits.csv") && msg.contains("line 2, column 2"),
            "{msg}"
        );
        assert!(msg.contains("\"x\" is not a number"), "{msg}");
        let msg = err_of("1,2,0\n1,2\n");
        assert!(
            msg.contains("line 2: 2 columns") && msg.contains("needs 3"),
            "{msg}"
        );
        let msg = err_of("1,2,0,4\n");
        assert!(msg.contains("line 1: 4 columns"), "{msg}");
        let msg = err_of("1,2,1.5\n");
        assert!(
            msg.contains("line 1, column 3") && msg.contains("not an integer"),
            "{msg}"
        );
        let msg = err_of("1,2,-1\n");
        assert!(
            msg.contains("column 3") && msg.contains("negative"),
            "{msg}"
        );
        let msg = err_of("1,NaN,1\n");
        assert!(
            msg.contains("column 2") && msg.contains("not finite"),
            "{msg}"
        );
        let msg = err_of("inf,1,1\n");
        assert!(
            msg.contains("column 1") && msg.contains("not finite"),
            "{msg}"
        );
        for big in ["65536", "1e9", "99999999999999999999999"] {
            let msg = err_of(&format!("1,1,{big}\n"));
            assert!(
                msg.contains("column 3") && msg.contains("out of range 0..65536"),
                "{msg}"
            );
        }
        let msg = err_of("1,1,cat\n");
        assert!(msg.contains("label \"cat\" is not a number"), "{msg}");
        let msg = err_of("\n\n");
        assert!(msg.contains("no rows"), "{msg}");
        // A header row is not supported: it is reported like any bad row.
        let msg = err_of("p0,p1,label\n1,2,0\n");
        assert!(msg.contains("line 1, column 1"), "{msg}");
    }

    #[test]
    fn a_missing_file_is_reported_by_name() {
        let err = load("/definitely/not/here.csv", [1, 1, 1]).unwrap_err();
        assert!(matches!(err, Error::MissingData(_)));
        assert!(err.to_string().contains("/definitely/not/here.csv"));
    }
}
