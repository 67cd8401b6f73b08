//! Seeded 2-D toy sets with two classes, each point in roughly [−1, 1]².

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::config::TaskKind;

/// `num_points` points of `kind` (half of each class) with Gaussian noise of σ = `noise`.
pub fn generate(
    kind: TaskKind,
    num_points: usize,
    noise: f64,
    rng: &mut ChaCha8Rng,
) -> (Vec<f32>, Vec<u32>) {
    let mut x = Vec::with_capacity(num_points * 2);
    let mut y = Vec::with_capacity(num_points);
    for i in 0..num_points {
        let class = (i % 2) as u32;
        let (px, py) = match kind {
            TaskKind::Spirals => spiral_point(class, rng),
            TaskKind::Moons => moon_point(class, rng),
            TaskKind::Circles => circle_point(class, rng),
            _ => xor_point(class, rng),
        };
        let nx: f64 = rng.sample(StandardNormal);
        let ny: f64 = rng.sample(StandardNormal);
        x.push((px + noise * nx) as f32);
        x.push((py + noise * ny) as f32);
        y.push(class);
    }
    (x, y)
}

/// Two arms winding 1.75 turns out from the centre, the second turned by π.
fn spiral_point(class: u32, rng: &mut ChaCha8Rng) -> (f64, f64) {
    let t: f64 = rng.random_range(0.0..1.0);
    let radius = 0.05 + 0.95 * t;
    let angle = 1.75 * std::f64::consts::TAU * t + f64::from(class) * std::f64::consts::PI;
    (radius * angle.cos(), radius * angle.sin())
}

/// Two interleaving half circles, centred on the origin.
fn moon_point(class: u32, rng: &mut ChaCha8Rng) -> (f64, f64) {
    let angle: f64 = rng.random_range(0.0..std::f64::consts::PI);
    let (x, y) = if class == 0 {
        (angle.cos(), angle.sin())
    } else {
        (1.0 - angle.cos(), 0.5 - angle.sin())
    };
    ((x - 0.5) * 0.8, (y - 0.25) * 0.8)
}

/// Class 0 on a circle of radius 0.5, class 1 on a ring of radius 1.
fn circle_point(class: u32, rng: &mut ChaCha8Rng) -> (f64, f64) {
    let angle: f64 = rng.random_range(0.0..std::f64::consts::TAU);
    let radius = if class == 0 { 0.5 } else { 1.0 };
    (radius * angle.cos(), radius * angle.sin())
}

/// Uniform in the square; class 1 where x·y > 0, class 0 where x·y < 0.
fn xor_point(class: u32, rng: &mut ChaCha8Rng) -> (f64, f64) {
    let a: f64 = rng.random_range(0.05..1.0);
    let b: f64 = rng.random_range(0.05..1.0);
    let flip = if rng.random_bool(0.5) { -1.0 } else { 1.0 };
    if class == 1 {
        (flip * a, flip * b)
    } else {
        (flip * a, -flip * b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, stream_rng};

    #[test]
    fn noiseless_sets_follow_their_definitions() {
        let mut rng = stream_rng(1, Stream::Data);
        let (x, y) = generate(TaskKind::Circles, 200, 0.0, &mut rng);
        for (point, &class) in x.chunks(2).zip(&y) {
            let radius = f64::from(point[0]).hypot(f64::from(point[1]));
            let expected = if class == 0 { 0.5 } else { 1.0 };
            assert!(
                (radius - expected).abs() < 1e-6,
                "radius {radius} for class {class}"
            );
        }

        let (x, y) = generate(TaskKind::Xor, 200, 0.0, &mut rng);
        for (point, &class) in x.chunks(2).zip(&y) {
            assert_eq!(point[0] * point[1] > 0.0, class == 1);
        }
    }

    #[test]
    fn classes_are_balanced() {
        let mut rng = stream_rng(1, Stream::Data);
        let (_, y) = generate(TaskKind::Spirals, 101, 0.1, &mut rng);
        let ones = y.iter().filter(|&&c| c == 1).count();
        assert_eq!(ones, 50);
    }
}
