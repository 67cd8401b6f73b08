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
        Init::LecunNormal => (1.0 / fan_in).sqrt(),
        // An orthogonal matrix's entries have mean square 1/max(fan_in, fan_out).
        Init::Orthogonal => (1.0 / fan_in.max(fan_out as f64)).sqrt(),
        // min(fan_in, fan_out) ones among fan_in·fan_out entries.
        Init::Identity => (1.0 / fan_in.max(fan_out as f64)).sqrt(),
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
    if init == Init::Orthogonal {
        return orthogonal(fan_in, fan_out, rng)
            .into_iter()
            .map(|w| gain * w)
            .collect();
    }
    if init == Init::Identity {
        let mut matrix = vec![0.0; fan_in * fan_out];
        for i in 0..fan_in.min(fan_out) {
            matrix[i * fan_out + i] = gain;
        }
        return matrix;
    }
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

/// Draws a `fan_in × (blocks · fan_out)` matrix whose `blocks` column blocks (one per
/// gate of a recurrent cell) are each drawn on their own as a `fan_in × fan_out`
/// matrix, so that every gate sees the scheme's spread, orthogonality or identity.
pub fn draw_blocks(
    init: Init,
    fan_in: usize,
    fan_out: usize,
    blocks: usize,
    scale: f64,
    gain: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let width = blocks * fan_out;
    let mut matrix = vec![0.0; fan_in * width];
    for block in 0..blocks {
        let part = draw_weights(init, fan_in, fan_out, scale, gain, rng);
        for (row, values) in part.chunks_exact(fan_out).enumerate() {
            let start = row * width + block * fan_out;
            matrix[start..start + fan_out].copy_from_slice(values);
        }
    }
    matrix
}

/// A `rows × cols` matrix (row-major) with orthonormal columns (rows ≥ cols) or
/// orthonormal rows (rows < cols): modified Gram–Schmidt on a Gaussian matrix, which
/// gives a matrix distributed uniformly over the orthogonal ones (Saxe et al. 2014).
fn orthogonal(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    // Orthonormalise the `k` vectors of length `n` of the shorter side.
    let (n, k) = (rows.max(cols), rows.min(cols));
    let mut vectors: Vec<Vec<f64>> = (0..k)
        .map(|_| {
            (0..n)
                .map(|_| rng.sample::<f64, _>(StandardNormal))
                .collect()
        })
        .collect();
    for i in 0..k {
        for j in 0..i {
            let (done, rest) = vectors.split_at_mut(i);
            let dot: f64 = done[j].iter().zip(&rest[0]).map(|(a, b)| a * b).sum();
            for (v, q) in rest[0].iter_mut().zip(&done[j]) {
                *v -= dot * q;
            }
        }
        let norm = vectors[i].iter().map(|v| v * v).sum::<f64>().sqrt();
        // A Gaussian vector lies in the span of the others with probability zero.
        let norm = if norm > 0.0 { norm } else { 1.0 };
        vectors[i].iter_mut().for_each(|v| *v /= norm);
    }

    let mut matrix = vec![0.0; rows * cols];
    for (index, vector) in vectors.iter().enumerate() {
        for (position, &value) in vector.iter().enumerate() {
            let (r, c) = if rows >= cols {
                (position, index)
            } else {
                (index, position)
            };
            matrix[r * cols + c] = value;
        }
    }
    matrix
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
            (Init::LecunNormal, (1.0f64 / 200.0).sqrt()),
            (Init::Orthogonal, (1.0f64 / 200.0).sqrt()),
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

    #[test]
    fn identity_is_a_scaled_rectangular_eye_and_blocks_are_drawn_apart() {
        let mut rng = stream_rng(3, Stream::Weights);
        let w = draw_weights(Init::Identity, 3, 4, 0.0, 0.5, &mut rng);
        let expected = [
            0.5, 0.0, 0.0, 0.0, //
            0.0, 0.5, 0.0, 0.0, //
            0.0, 0.0, 0.5, 0.0,
        ];
        assert_eq!(w, expected);
        let gates = draw_blocks(Init::Identity, 2, 2, 3, 0.0, 1.0, &mut rng);
        assert_eq!(
            gates,
            [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
        );
    }

    #[test]
    fn orthogonal_is_orthogonal_both_ways() {
        let mut rng = stream_rng(3, Stream::Weights);
        for (rows, cols) in [(12, 5), (5, 12), (8, 8)] {
            let w = draw_weights(Init::Orthogonal, rows, cols, 0.0, 2.0, &mut rng);
            // Gram matrix of the shorter side must be gain² · I.
            let k = rows.min(cols);
            for a in 0..k {
                for b in 0..k {
                    let dot: f64 = if rows >= cols {
                        (0..rows).map(|r| w[r * cols + a] * w[r * cols + b]).sum()
                    } else {
                        (0..cols).map(|c| w[a * cols + c] * w[b * cols + c]).sum()
                    };
                    let expected = if a == b { 4.0 } else { 0.0 };
                    assert!(
                        (dot - expected).abs() < 1e-10,
                        "{rows}×{cols}: ({a},{b}) = {dot}"
                    );
                }
            }
        }
    }
}
