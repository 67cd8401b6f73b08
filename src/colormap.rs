//! The heatmap's colours, shared by the app and the exported figures: a perceptual
//! colormap for log10 of a value, and colours of their own for what has no logarithm.

use crate::history::{ColorRange, DisplayValue};

/// Viridis: perceptually uniform, readable in greyscale and by most colour-blind eyes.
const GRADIENT: colorous::Gradient = colorous::VIRIDIS;

/// NaN: a red that viridis never reaches.
pub const NAN_RGB: [u8; 3] = [228, 26, 28];
/// ±Inf: magenta, also outside viridis.
pub const INF_RGB: [u8; 3] = [247, 104, 161];
/// An exact zero: light grey, neither end of the scale.
pub const ZERO_RGB: [u8; 3] = [200, 200, 200];
/// A cell with no step recorded yet.
pub const MISSING_RGB: [u8; 3] = [40, 40, 40];

/// The colour at position `t` in [0, 1] of the gradient (0 = the smallest decade).
pub fn gradient_rgb(t: f64) -> [u8; 3] {
    let c = GRADIENT.eval_continuous(t.clamp(0.0, 1.0));
    [c.r, c.g, c.b]
}

/// The colour of a heatmap cell on a colour scale.
pub fn cell_rgb(value: DisplayValue, range: &ColorRange) -> [u8; 3] {
    match value {
        DisplayValue::Missing => MISSING_RGB,
        DisplayValue::Nan => NAN_RGB,
        DisplayValue::Inf => INF_RGB,
        DisplayValue::Zero => ZERO_RGB,
        DisplayValue::Value(value) => gradient_rgb(range.position(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_colours_are_not_on_the_gradient() {
        let on_gradient = |rgb: [u8; 3]| {
            (0..=1000).any(|i| {
                let g = gradient_rgb(f64::from(i) / 1000.0);
                g.iter().zip(rgb).all(|(&a, b)| a.abs_diff(b) < 30)
            })
        };
        for special in [NAN_RGB, INF_RGB, ZERO_RGB] {
            assert!(!on_gradient(special), "{special:?}");
        }
    }

    #[test]
    fn scale_ends_map_to_gradient_ends() {
        let range = ColorRange {
            scale: crate::train::Scale::Log,
            low: -8.0,
            high: 0.0,
        };
        assert_eq!(
            cell_rgb(DisplayValue::Value(-9.0), &range),
            gradient_rgb(0.0)
        );
        assert_eq!(
            cell_rgb(DisplayValue::Value(0.0), &range),
            gradient_rgb(1.0)
        );
        assert_eq!(cell_rgb(DisplayValue::Zero, &range), ZERO_RGB);
    }
}
