//! The handwritten digits bundled with the lab (see the README for their source):
//! 1,797 images of 8×8 pixels with values 0–16, scaled here to [0, 1].

use std::io::Read;

use flate2::read::GzDecoder;

use super::DataError;

/// Pixels per image.
pub const NUM_PIXELS: usize = 64;

const DIGITS_GZ: &[u8] = include_bytes!("../../assets/digits.csv.gz");

/// Decodes the bundled file into row-major pixels in [0, 1] and labels 0–9.
pub fn load() -> Result<(Vec<f32>, Vec<u32>), DataError> {
    let mut text = String::new();
    GzDecoder::new(DIGITS_GZ)
        .read_to_string(&mut text)
        .map_err(|e| DataError::CorruptDigits(e.to_string()))?;
    parse(&text)
}

fn parse(text: &str) -> Result<(Vec<f32>, Vec<u32>), DataError> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (line_index, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |what: &str| DataError::CorruptDigits(format!("line {}: {what}", line_index + 1));
        let values: Vec<u32> = line
            .split(',')
            .map(|field| field.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("a field is not a whole number"))?;
        let [image @ .., label] = values.as_slice() else {
            return Err(bad("empty line"));
        };
        if image.len() != NUM_PIXELS || *label > 9 || image.iter().any(|&p| p > 16) {
            return Err(bad("expected 64 pixels in 0..=16 and a label in 0..=9"));
        }
        pixels.extend(image.iter().map(|&p| p as f32 / 16.0));
        labels.push(*label);
    }
    Ok((pixels, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_file_has_every_digit_in_balance() -> Result<(), DataError> {
        let (pixels, labels) = load()?;
        assert_eq!(labels.len(), 1797);
        assert_eq!(pixels.len(), 1797 * NUM_PIXELS);
        for digit in 0..10 {
            let count = labels.iter().filter(|&&l| l == digit).count();
            // The UCI test set holds between 174 and 183 examples of each digit.
            assert!((170..=190).contains(&count), "digit {digit}: {count}");
        }
        Ok(())
    }

    #[test]
    fn damaged_lines_are_reported_with_their_number() {
        let err = parse("1,2,3\n").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
