//! Seeded sequence tasks for recurrent nets: the adding problem and the copy-memory
//! task. Each example is stored flat, time step by time step.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Symbols of the copy task are 1 to `COPY_SYMBOLS`; 0 is the blank and
/// `COPY_SYMBOLS + 1` the marker that asks for recall.
pub const COPY_SYMBOLS: usize = 8;

/// Inputs per time step of the copy task: a one-hot code of blank, symbols and marker.
pub const COPY_INPUTS: usize = COPY_SYMBOLS + 2;

/// The adding problem (Hochreiter & Schmidhuber 1997, in the form of Le, Jaitly &
/// Hinton 2015): each of `seq_len` steps carries a value drawn from U(−1, 1) and a
/// marker; one marker falls in the first half, one in the second, and the target is
/// the sum of the two marked values.
pub fn adding(num_examples: usize, seq_len: usize, rng: &mut ChaCha8Rng) -> (Vec<f32>, Vec<f32>) {
    let mut x = Vec::with_capacity(num_examples * seq_len * 2);
    let mut target = Vec::with_capacity(num_examples);
    let half = seq_len / 2;
    for _ in 0..num_examples {
        let first = rng.random_range(0..half);
        let second = rng.random_range(half..seq_len);
        let mut sum = 0.0;
        for t in 0..seq_len {
            let value: f32 = rng.random_range(-1.0..=1.0);
            let marked = t == first || t == second;
            if marked {
                sum += value;
            }
            x.push(value);
            x.push(if marked { 1.0 } else { 0.0 });
        }
        target.push(sum);
    }
    (x, target)
}

/// The copy-memory task (after Hochreiter & Schmidhuber 1997 and Arjovsky, Shah &
/// Bengio 2016): `copy_length` random symbols, `delay` blanks, then `copy_length`
/// markers during which the net must output the symbols in order. Returns one-hot
/// inputs over `2·copy_length + delay` steps and the symbols as classes 0 to 7.
pub fn copy(
    num_examples: usize,
    copy_length: usize,
    delay: usize,
    rng: &mut ChaCha8Rng,
) -> (Vec<f32>, Vec<u32>) {
    let steps = 2 * copy_length + delay;
    let mut x = vec![0.0; num_examples * steps * COPY_INPUTS];
    let mut labels = Vec::with_capacity(num_examples * copy_length);
    for (example, sequence) in x.chunks_exact_mut(steps * COPY_INPUTS).enumerate() {
        debug_assert!(example < num_examples);
        for (t, step) in sequence.chunks_exact_mut(COPY_INPUTS).enumerate() {
            let code = if t < copy_length {
                let symbol = rng.random_range(1..=COPY_SYMBOLS);
                labels.push((symbol - 1) as u32);
                symbol
            } else if t < copy_length + delay {
                0
            } else {
                COPY_SYMBOLS + 1
            };
            step[code] = 1.0;
        }
    }
    (x, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, stream_rng};

    #[test]
    fn adding_marks_one_value_in_each_half_and_sums_them() {
        let mut rng = stream_rng(5, Stream::Data);
        let (x, target) = adding(50, 20, &mut rng);
        assert_eq!(x.len(), 50 * 20 * 2);
        for (sequence, &sum) in x.chunks_exact(40).zip(&target) {
            let marked: Vec<usize> = (0..20).filter(|&t| sequence[2 * t + 1] == 1.0).collect();
            assert_eq!(marked.len(), 2);
            assert!(marked[0] < 10 && marked[1] >= 10);
            let expected: f32 = marked.iter().map(|&t| sequence[2 * t]).sum();
            assert!((expected - sum).abs() < 1e-6);
            assert!((0..20).all(|t| sequence[2 * t].abs() <= 1.0));
        }
    }

    #[test]
    fn copy_recalls_the_first_symbols_after_the_delay() {
        let mut rng = stream_rng(5, Stream::Data);
        let (k, delay) = (3, 4);
        let (x, labels) = copy(10, k, delay, &mut rng);
        let steps = 2 * k + delay;
        assert_eq!(x.len(), 10 * steps * COPY_INPUTS);
        assert_eq!(labels.len(), 10 * k);
        for (example, sequence) in x.chunks_exact(steps * COPY_INPUTS).enumerate() {
            let code = |t: usize| {
                let step = &sequence[t * COPY_INPUTS..(t + 1) * COPY_INPUTS];
                assert_eq!(step.iter().sum::<f32>(), 1.0);
                step.iter().position(|&v| v == 1.0).unwrap_or(usize::MAX)
            };
            for t in 0..k {
                assert_eq!(code(t), labels[example * k + t] as usize + 1);
            }
            assert!((k..k + delay).all(|t| code(t) == 0));
            assert!((k + delay..steps).all(|t| code(t) == COPY_SYMBOLS + 1));
        }
    }
}
