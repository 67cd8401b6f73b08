//! Weight initialisers. They draw from the lab's own seeded generator (candle's CPU
//! generator cannot be seeded) and return plain numbers for the model to load.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::config::Init;

/// The standard deviation of the weights a scheme draws for a layer, before the gain.
/// Uniform schemes U(−a, a) have σ = a/√3.
pub fn init_std(init: Init, fan_in: usize, fan_out: usize, scale: f64) -> f64 {
    let fan_in = fan_in as f64;
    let fan_avg = (fan_in + fan_out as f64) / 2.0;
    match init {
        Init::Standard => 1.0 / fan_in.sqrt() / 3f64.sqrt(),
        Init::XavierUniform | Init::XavierNormal => (1.0 / fan_avg).sqrt(),
        Init::HeUniform | Init::HeNormal => (2.0 / fan_in).sqrt(),
        Init::Normal => scale,
        Init::Uniform => scale / 3f64.sqrt(),
    }
}

/// Draws a `fan_in × fan_out` weight matrix, row-major, multiplied by `gain`.
pub fn draw_weights(
    init: Init,
    fan_in: usize,
    fan_out: usize,
    scale: f64,
    gain: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let count = fan_in * fan_out;
    let std = init_std(init, fan_in, fan_out, scale);
    let uniform = matches!(
        init,
        Init::Standard | Init::XavierUniform | Init::HeUniform | Init::Uniform
    );
    if uniform {
        let bound = std * 3f64.sqrt();
        (0..count)
            .map(|_| gain * rng.random_range(-bound..=bound))
            .collect()
    } else {
        (0..count)
            .map(|_| gain * std * rng.sample::<f64, _>(StandardNormal))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, stream_rng};

    fn sample_std(values: &[f64]) -> f64 {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
        var.sqrt()
    }

    #[test]
    fn each_scheme_has_its_published_spread() {
        let mut rng = stream_rng(9, Stream::Weights);
        let (fan_in, fan_out) = (200, 100);
        // Expected σ written out from the papers' formulas, independently of init_std.
        let cases = [
            (Init::Standard, (1.0f64 / 200.0).sqrt() / 3f64.sqrt()),
            (Init::XavierUniform, (2.0f64 / 300.0).sqrt()),
            (Init::XavierNormal, (2.0f64 / 300.0).sqrt()),
            (Init::HeUniform, (2.0f64 / 200.0).sqrt()),
            (Init::HeNormal, (2.0f64 / 200.0).sqrt()),
            (Init::Normal, 0.3),
            (Init::Uniform, 0.3 / 3f64.sqrt()),
        ];
        for (init, expected) in cases {
            let w = draw_weights(init, fan_in, fan_out, 0.3, 1.0, &mut rng);
            let measured = sample_std(&w);
            // 20,000 draws: the sample σ is within about 1% of the true one.
            assert!(
                (measured / expected - 1.0).abs() < 0.03,
                "{init:?}: σ {measured} against {expected}"
            );
        }
    }

    #[test]
    fn uniform_schemes_stay_in_bounds_and_gain_scales() {
        let mut rng = stream_rng(9, Stream::Weights);
        let w = draw_weights(Init::HeUniform, 50, 50, 0.0, 2.0, &mut rng);
        let bound = 2.0 * (6.0f64 / 50.0).sqrt();
        assert!(w.iter().all(|v| v.abs() <= bound));
        assert!(w.iter().any(|v| v.abs() > 0.9 * bound));
    }
}
