//! The textbook effect, measured on digits over the first steps of training.
//!
//! Glorot & Bengio (2010, "Understanding the difficulty of training deep feedforward
//! neural networks") showed the back-propagated gradient of a deep sigmoid net with the
//! "standard" U(±1/√fan_in) init shrinking layer after layer toward the input; He et
//! al. (2015, "Delving deep into rectifiers") chose the init N(0, 2/fan_in) so that a
//! ReLU net keeps the gradient's variance the same in every layer.

mod common;

use common::config_with;

use gradlab::config::Config;
use gradlab::train::{TrainError, Trainer};

/// The first steps of a run, every one checked.
const STEPS: usize = 20;

/// Seeds tried for each net: the effect must not hang on one draw of the weights.
const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];

/// weight_grad_norm of layer 1 divided by that of the output layer, for each of the
/// first `STEPS` steps.
fn layer_1_to_output_ratios(config: &Config) -> Result<Vec<f64>, TrainError> {
    let mut trainer = Trainer::new(config)?;
    assert_eq!(trainer.num_layers(), config.model.depth + 1);
    (0..STEPS)
        .map(|_| {
            let record = trainer.step()?;
            let norms = &record.weight_grad_norm;
            Ok(norms[0] / norms[norms.len() - 1])
        })
        .collect()
}

/// The default experiment: 20 sigmoid layers of 64, standard init, f32.
///
/// Measured ratios over steps 1–20, seeds 1–10: between 4.7e-18 and 2.8e-17. A rough
/// estimate agrees: each layer scales the gradient by about σ'·σ_w·√width ≈
/// 0.25 · (1/(8√3)) · 8 ≈ 0.14, and 0.14¹⁹ ≈ 6e-17. The bound 1e-12 sits more than
/// four decades above every measured value, so a change of seed or of summation order
/// cannot reach it, and twelve decades below the ReLU net's ratio of about 1.
#[test]
fn deep_sigmoid_gradient_vanishes_toward_the_input() -> Result<(), TrainError> {
    for seed in SEEDS {
        let config = config_with(&[&format!("seed={seed}")]);
        for (step, ratio) in layer_1_to_output_ratios(&config)?.into_iter().enumerate() {
            assert!(
                ratio > 0.0 && ratio < 1e-12,
                "seed {seed}, step {}: layer 1 / output layer = {ratio:e}, expected a \
                 finite ratio below 1e-12",
                step + 1
            );
        }
    }
    Ok(())
}

/// 20 ReLU layers of 64 with He-normal init, SGD with lr 0.01 (the `deep_relu_he`
/// preset).
///
/// Measured ratios over steps 1–20, seeds 1–10: between 0.66 and 5.99 (seeds 1–5:
/// 0.66 to 3.91). "Within an order of magnitude" is the claim, so the bounds are
/// [0.1, 10]; the measured values stay inside with a factor of 1.7 to spare at the top
/// and 6 at the bottom. (With lr 0.1 instead, seeds 1–3 measured 0.54 to 2.6: over
/// these first steps the band comes from the init, not from the step size.)
#[test]
fn deep_he_relu_keeps_the_gradient_within_an_order_of_magnitude() -> Result<(), TrainError> {
    for seed in SEEDS {
        let config = config_with(&[
            &format!("seed={seed}"),
            "model.activation=relu",
            "model.init=he_normal",
            "train.lr=0.01",
        ]);
        for (step, ratio) in layer_1_to_output_ratios(&config)?.into_iter().enumerate() {
            assert!(
                (0.1..=10.0).contains(&ratio),
                "seed {seed}, step {}: layer 1 / output layer = {ratio:e}, expected 0.1 to 10",
                step + 1
            );
        }
    }
    Ok(())
}
