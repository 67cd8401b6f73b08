//! Each remedy shows its published effect: a brief run through the library, with the
//! direction the literature reports and a margin measured on this code.
//!
//! Every test states the values it measured (seeds, steps, extremes over them), the
//! bound it asserts and why that bound, and the source. The bounds sit well clear of
//! the measured values, so a change of summation order cannot trip them, yet a remedy
//! that stopped working would.

mod common;

use common::config_with;

use gradlab::config::Config;
use gradlab::train::{StepRecord, TrainError, Trainer, tensor_norm};

/// The records of the first `steps` steps of a fresh run.
fn run(config: &Config, steps: usize) -> Result<Vec<StepRecord>, TrainError> {
    let mut trainer = Trainer::new(config)?;
    (0..steps).map(|_| trainer.step()).collect()
}

fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, count) = values
        .into_iter()
        .fold((0.0, 0usize), |(sum, count), v| (sum + v, count + 1));
    sum / count as f64
}

fn mean_loss(records: &[StepRecord]) -> f64 {
    mean(records.iter().map(|r| r.loss))
}

/// The mean of a per-layer metric over the hidden layers (the output layer is last).
fn hidden_mean(values: &[f64]) -> f64 {
    mean(values[..values.len() - 1].iter().copied())
}

/// Largest over smallest value.
fn spread(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    max / min
}

/// |∂L/∂W_1| / |∂L/∂W_out|: how fast layer 1 learns next to the output layer.
fn layer_1_to_output(record: &StepRecord) -> f64 {
    let norms = &record.weight_grad_norm;
    norms[0] / norms[norms.len() - 1]
}

/// The Frobenius norm of all weight matrices together.
fn total_weight_norm(trainer: &Trainer) -> Result<f64, TrainError> {
    let mut squares = 0.0;
    for layer in trainer.mlp().expect("an mlp").layers() {
        squares += tensor_norm(layer.weight.as_tensor())?.powi(2);
    }
    Ok(squares.sqrt())
}

// ---------------------------------------------------------------------------
// Initialisation

/// Glorot & Bengio 2010 ("Understanding the difficulty of training deep feedforward
/// neural networks", §4.2.1 and fig. 7): with the "standard" U(±1/√fan_in) init the
/// back-propagated gradient of a deep tanh net shrinks layer after layer toward the
/// input; the normalised (Xavier) init keeps it about the same in every layer.
///
/// Net: 20 tanh layers of 64 on digits, lr 0.1 SGD. Metric: spread (max/min over the
/// 20 hidden layers) of |∂L/∂h_l|, at each of steps 1–5, seeds 1–3.
/// Measured: standard 2.5e4–4.8e4; xavier_uniform 1.7–3.6; xavier_normal 1.6–8.2. A
/// rough estimate agrees: standard init scales the gradient by σ_w·√64 ≈ 0.58 per
/// layer, and 0.58¹⁹ ≈ 3e-5. Bounds: standard above 1e3 (25× below its smallest
/// value), Xavier below 30 (nearly 4× above its largest), so the two stay more than
/// 30× apart at every step.
#[test]
fn xavier_keeps_the_backpropagated_gradient_even_in_a_deep_tanh_net() -> Result<(), TrainError> {
    for seed in 1..=3 {
        for init in ["standard", "xavier_uniform", "xavier_normal"] {
            let config = config_with(&[
                "model.activation=tanh",
                &format!("model.init={init}"),
                &format!("seed={seed}"),
            ]);
            let depth = config.model.depth;
            for record in run(&config, 5)? {
                let hidden_spread = spread(&record.activation_grad_norm[..depth]);
                let even = hidden_spread < 30.0;
                let uneven = hidden_spread > 1e3;
                assert!(
                    if init == "standard" { uneven } else { even },
                    "seed {seed}, {init}, step {}: |∂L/∂h| spread {hidden_spread:.3e} across \
                     the hidden layers",
                    record.step
                );
            }
        }
    }
    Ok(())
}

/// He et al. 2015 ("Delving deep into rectifiers", §2.2 and fig. 3): a 30-layer ReLU
/// net with N(0, 2/fan_in) init trains, while with Xavier init it stalls; He init
/// keeps the gradient's scale the same in every layer.
///
/// Net: 30 ReLU layers of 64 on digits, SGD with momentum 0.9 at lr 0.003 (the paper
/// used momentum SGD), 200 steps, seeds 1–2 (seed 3 measured too).
/// Measured mean loss of steps 181–200: He 1.37–1.50 (from 2.30–2.34 over steps
/// 1–20); Xavier 2.301–2.303, within 0.002 of ln 10 = 2.303, chance on ten classes.
/// Bounds: He below 2.0 (a fall of at least 0.3 nats; measured falls are 0.8–0.95),
/// Xavier above 2.25 (fifty times its measured movement).
/// Measured |∂L/∂W_1|/|∂L/∂W_out| over steps 1–10: He 0.61–4.5, Xavier down to
/// 2e-3–1.5e-2. Bounds: He within 10× of 1 either way; Xavier's smallest below 0.05.
#[test]
fn he_init_trains_a_30_layer_relu_net_where_xavier_stalls() -> Result<(), TrainError> {
    const STEPS: usize = 200;
    for seed in 1..=2 {
        let config = |init: &str| {
            config_with(&[
                "model.activation=relu",
                "model.depth=30",
                &format!("model.init={init}"),
                "train.optimizer=momentum",
                "train.lr=0.003",
                &format!("seed={seed}"),
            ])
        };
        let he = run(&config("he_normal"), STEPS)?;
        let xavier = run(&config("xavier_normal"), STEPS)?;

        let he_loss = mean_loss(&he[STEPS - 20..]);
        let xavier_loss = mean_loss(&xavier[STEPS - 20..]);
        assert!(
            he_loss < 2.0,
            "seed {seed}: He loss over the last 20 steps {he_loss:.3}, expected below 2.0"
        );
        assert!(
            xavier_loss > 2.25,
            "seed {seed}: Xavier loss over the last 20 steps {xavier_loss:.3}, expected to \
             stay above 2.25"
        );

        for record in &he[..10] {
            let ratio = layer_1_to_output(record);
            assert!(
                (0.1..=10.0).contains(&ratio),
                "seed {seed}, He, step {}: |∂L/∂W_1|/|∂L/∂W_out| = {ratio:.3e}",
                record.step
            );
        }
        let xavier_smallest = xavier[..10]
            .iter()
            .map(layer_1_to_output)
            .fold(f64::INFINITY, f64::min);
        assert!(
            xavier_smallest < 0.05,
            "seed {seed}: Xavier's smallest layer-1/output ratio {xavier_smallest:.3e}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Architecture

/// Ioffe & Szegedy 2015 ("Batch normalization", §3.3): normalising each layer's
/// pre-activations keeps sigmoid units out of their flat tails, so the gradient
/// reaches the first layers.
///
/// Net: the default 20 sigmoid layers of 64, standard init, digits, steps 1–10, seeds
/// 1–3. Measured |∂L/∂W_1|/|∂L/∂W_out|: without batch norm 4.7e-18–1.9e-17; with it
/// 0.34–1.4. Bounds: without below 1e-12 (five decades above its largest), with above
/// 1e-3 (2.5 decades below its smallest, and at the diagnosis's vanishing threshold),
/// so the two differ by at least nine orders of magnitude at every step.
#[test]
fn batch_norm_lifts_the_layer_1_gradient_by_orders_of_magnitude() -> Result<(), TrainError> {
    for seed in 1..=3 {
        let seed = format!("seed={seed}");
        let plain = run(&config_with(&[&seed]), 10)?;
        let normalised = run(&config_with(&[&seed, "model.batch_norm=true"]), 10)?;
        for (p, n) in plain.iter().zip(&normalised) {
            let (without, with) = (layer_1_to_output(p), layer_1_to_output(n));
            assert!(
                without < 1e-12 && with > 1e-3,
                "{seed}, step {}: layer-1/output ratio {without:.2e} without batch norm, \
                 {with:.2e} with it",
                p.step
            );
        }
    }
    Ok(())
}

/// He et al. 2016 ("Deep residual learning for image recognition", §3.1–3.2; the
/// identity path argument of "Identity mappings in deep residual networks", 2016):
/// an identity skip carries the gradient past the layers that would shrink it.
///
/// Net: the default 20 sigmoid layers of 64 with a skip every 2 layers, digits, steps
/// 1–10, seeds 1–3. Measured |∂L/∂W_1|/|∂L/∂W_out|: plain 4.7e-18–1.9e-17; residual
/// 7.1e-3–1.5e-2 (every 1 layer: 5.9e-3–5.0e-2, but its loss grows from ~9 to ~40 as
/// the sum of 20 sigmoid outputs swamps the logits). Bounds: plain below 1e-12,
/// residual above 1e-4 (almost two decades below its smallest value).
#[test]
fn residual_skips_lift_the_layer_1_gradient_by_orders_of_magnitude() -> Result<(), TrainError> {
    for seed in 1..=3 {
        let seed = format!("seed={seed}");
        let plain = run(&config_with(&[&seed]), 10)?;
        let residual = run(&config_with(&[&seed, "model.residual_every=2"]), 10)?;
        for (p, r) in plain.iter().zip(&residual) {
            let (without, with) = (layer_1_to_output(p), layer_1_to_output(r));
            assert!(
                without < 1e-12 && with > 1e-4,
                "{seed}, step {}: layer-1/output ratio {without:.2e} plain, {with:.2e} \
                 with residual skips",
                p.step
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Exploding gradients and clipping

/// Pascanu, Mikolov & Bengio 2013 ("On the difficulty of training recurrent neural
/// networks", §3.2): rescaling the gradient when its global norm exceeds a threshold
/// keeps exploding steps bounded.
///
/// Net: 10 ReLU layers of 64 with weights N(0, 1) (σ√(64/2) ≈ 5.7 per layer), digits,
/// lr 0.1 SGD, 30 steps, seeds 1–3.
/// Measured without clipping: grad_norm_total 1.3e8–3.6e8 at step 1, then NaN from
/// step 2 on. With norm clipping at 1: grad_norm_total 3.5e7–3.6e8 (never below 3.5e7),
/// grad_norm_clipped within −5.5e-8…+5.1e-8 of 1 (f32 rounding), every loss finite
/// (at most 3.3e8). Bounds: unclipped step-1 norm above 1e6, a non-finite norm or
/// loss within 30 steps; clipped norm within 1e-6 of the threshold (20× the measured
/// rounding; it must equal the threshold since every total exceeds it), every total
/// above the threshold, every loss finite.
#[test]
fn norm_clipping_bounds_every_step_of_an_exploding_net() -> Result<(), TrainError> {
    const THRESHOLD: f64 = 1.0;
    for seed in 1..=3 {
        let exploding = [
            "model.activation=relu",
            "model.depth=10",
            "model.init=normal",
            "model.init_scale=1",
            &format!("seed={seed}"),
        ];
        let unclipped = run(&config_with(&exploding), 30)?;
        assert!(
            unclipped[0].grad_norm_total > 1e6,
            "seed {seed}: unclipped step-1 norm {:.3e}",
            unclipped[0].grad_norm_total
        );
        assert!(
            unclipped
                .iter()
                .any(|r| !r.grad_norm_total.is_finite() || !r.loss.is_finite()),
            "seed {seed}: the unclipped run stayed finite for 30 steps"
        );

        let mut clipped_config = exploding.to_vec();
        clipped_config.extend(["train.clip=norm", "train.clip_threshold=1"]);
        for record in run(&config_with(&clipped_config), 30)? {
            let step = record.step;
            assert!(
                record.grad_norm_total > THRESHOLD,
                "seed {seed}, step {step}: total norm {:.3e} no longer above the threshold",
                record.grad_norm_total
            );
            assert!(
                (record.grad_norm_clipped / THRESHOLD - 1.0).abs() <= 1e-6,
                "seed {seed}, step {step}: clipped norm {:.9}",
                record.grad_norm_clipped
            );
            assert!(
                record.loss.is_finite(),
                "seed {seed}, step {step}: loss {}",
                record.loss
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Learned slopes and regularisation

/// He et al. 2015 ("Delving deep into rectifiers", §2.1 and table 1): PReLU's slope is
/// learned, starting at 0.25, and moves away from it during training.
///
/// Net: 5 PReLU layers of 32, He init, digits, lr 0.1 SGD, 100 steps, seeds 1–3.
/// Measured largest |slope − 0.25| over the layers after step 100: 0.40–0.54 (slopes
/// 0.20–0.79). Bound: above 0.1, four times below the smallest measured move.
#[test]
fn prelu_slopes_move_away_from_their_initial_value() -> Result<(), TrainError> {
    for seed in 1..=3 {
        let config = config_with(&[
            "model.activation=prelu",
            "model.depth=5",
            "model.width=32",
            "model.init=he_normal",
            &format!("seed={seed}"),
        ]);
        let records = run(&config, 100)?;
        let slopes = &records[records.len() - 1].prelu_slope;
        assert_eq!(slopes.len(), config.model.depth);
        assert!(slopes.iter().all(|s| s.is_finite()), "{slopes:?}");
        let largest_move = slopes.iter().map(|s| (s - 0.25).abs()).fold(0.0, f64::max);
        assert!(
            largest_move > 0.1,
            "seed {seed}: slopes {slopes:?} moved at most {largest_move:.3}"
        );
    }
    Ok(())
}

/// Srivastava et al. 2014 ("Dropout", §1 and fig. 2): units are dropped in training
/// only; at test time the full net is used. With inverted dropout (scaled by
/// 1/(1 − rate) in training) the test-time net is the plain net, unscaled.
///
/// Two nets with the same seed, one with dropout 0.5, start from identical weights
/// (dropout draws from its own generator): their evaluation-mode logits must agree
/// bit for bit. Their first training losses differ: measured 3.67, 3.68, 6.96 with
/// dropout against 2.38, 2.31, 2.43 without (seeds 1–3), differences 1.3–4.5; bound
/// 0.1. After 20 steps, predicting the same input twice gives the same logits.
#[test]
fn dropout_is_off_at_test_time() -> Result<(), TrainError> {
    for seed in 1..=3 {
        let config = |dropout: &str| {
            config_with(&[
                "model.activation=relu",
                "model.depth=5",
                "model.width=32",
                "model.init=he_normal",
                &format!("model.dropout={dropout}"),
                &format!("seed={seed}"),
            ])
        };
        let mut dropped = Trainer::new(&config("0.5"))?;
        let mut plain = Trainer::new(&config("0"))?;
        let dataset = dropped.dataset();
        let rows = dataset.test_x.len() / dataset.num_features;
        let x = candle_core::Tensor::from_slice(
            &dataset.test_x,
            (rows, dataset.num_features),
            &candle_core::Device::Cpu,
        )?;

        let logits = |t: &Trainer| -> Result<Vec<Vec<f32>>, TrainError> {
            Ok(t.predict(&x)?.to_vec2::<f32>()?)
        };
        assert_eq!(
            logits(&dropped)?,
            logits(&plain)?,
            "seed {seed}: dropout changed the evaluation-mode output"
        );

        let (with, without) = (dropped.step()?.loss, plain.step()?.loss);
        assert!(
            (with - without).abs() > 0.1,
            "seed {seed}: first training loss {with} with dropout, {without} without"
        );

        for _ in 0..19 {
            dropped.step()?;
        }
        assert_eq!(logits(&dropped)?, logits(&dropped)?, "seed {seed}");
    }
    Ok(())
}

/// Krogh & Hertz 1992 ("A simple weight decay can improve generalization"): an L2
/// penalty λ‖W‖²/2 adds λW to the gradient and so shrinks the weights.
///
/// Net: 5 ReLU layers of 32, He init, digits, lr 0.1 SGD, 200 steps, seeds 1–3, same
/// batches with and without decay. Measured total weight norm: 18.0–18.4 at start,
/// 19.2–19.6 after training without decay, 16.2–16.5 with λ = 0.01; ratio with/without
/// 0.844–0.846 (pure decay alone would give (1 − 0.1·0.01)²⁰⁰ ≈ 0.82). Bound: ratio
/// below 0.95, so the shrinkage must be at least a third of what was measured.
#[test]
fn weight_decay_shrinks_the_weights() -> Result<(), TrainError> {
    for seed in 1..=3 {
        let norm_after = |decay: &str| -> Result<f64, TrainError> {
            let mut trainer = Trainer::new(&config_with(&[
                "model.activation=relu",
                "model.depth=5",
                "model.width=32",
                "model.init=he_normal",
                &format!("train.weight_decay={decay}"),
                &format!("seed={seed}"),
            ]))?;
            for _ in 0..200 {
                trainer.step()?;
            }
            total_weight_norm(&trainer)
        };
        let (with, without) = (norm_after("0.01")?, norm_after("0")?);
        assert!(
            with / without < 0.95,
            "seed {seed}: weight norm {with:.3} with decay, {without:.3} without"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Saturated and dead units

/// LeCun et al. 1998 ("Efficient backprop", §4.4) and Glorot & Bengio 2010 (§3.1):
/// large weights drive sigmoid units into their flat tails.
///
/// Net: 10 sigmoid layers of 32 on digits, weights N(0, 5²), steps 1–20, seeds 1–3.
/// Measured mean saturated fraction over the hidden layers: 0.805–0.886 at every step;
/// with Xavier init 0.000. Bounds: above 0.6 with the large init (the diagnosis's
/// threshold is 0.5), below 0.05 with Xavier.
#[test]
fn large_init_saturates_most_sigmoid_units() -> Result<(), TrainError> {
    for seed in 1..=3 {
        let config = |init: &str| {
            config_with(&[
                "model.depth=10",
                "model.width=32",
                init,
                "model.init_scale=5",
                &format!("seed={seed}"),
            ])
        };
        for record in run(&config("model.init=normal"), 20)? {
            let saturated = hidden_mean(&record.saturated_fraction);
            assert!(
                saturated > 0.6,
                "seed {seed}, step {}: {saturated:.3} of the units saturated",
                record.step
            );
        }
        for record in run(&config("model.init=xavier_uniform"), 20)? {
            let saturated = hidden_mean(&record.saturated_fraction);
            assert!(
                saturated < 0.05,
                "seed {seed}, step {}, Xavier: {saturated:.3} of the units saturated",
                record.step
            );
        }
    }
    Ok(())
}

/// Maas, Hannun & Ng 2013 ("Rectifier nonlinearities improve neural network acoustic
/// models", §3) and Lu et al. 2020 ("Dying ReLU and initialization"): a ReLU unit
/// pushed to the negative side for every input passes no gradient again; a too-large
/// learning rate does that to most units.
///
/// Net: 5 ReLU layers of 32, He init, digits, SGD, 100 steps, seeds 1–3. Measured
/// mean dead fraction over the hidden layers, averaged over steps 91–100: lr 1
/// 0.73–0.88 (losses stay finite); lr 0.1 0.086–0.154. Bounds: above 0.5 at lr 1
/// (0.23 below the smallest), below 0.3 at lr 0.1 (twice the largest).
#[test]
fn a_destructive_learning_rate_kills_relu_units() -> Result<(), TrainError> {
    for seed in 1..=3 {
        let dead_at_the_end = |lr: &str| -> Result<f64, TrainError> {
            let records = run(
                &config_with(&[
                    "model.activation=relu",
                    "model.depth=5",
                    "model.width=32",
                    "model.init=he_normal",
                    &format!("train.lr={lr}"),
                    &format!("seed={seed}"),
                ]),
                100,
            )?;
            assert!(records.iter().all(|r| r.loss.is_finite()), "lr {lr}");
            Ok(mean(
                records[90..].iter().map(|r| hidden_mean(&r.dead_fraction)),
            ))
        };
        let destroyed = dead_at_the_end("1")?;
        let sane = dead_at_the_end("0.1")?;
        assert!(
            destroyed > 0.5 && sane < 0.3,
            "seed {seed}: dead fraction {destroyed:.3} at lr 1, {sane:.3} at lr 0.1"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Optimisers

/// Every optimiser trains end to end: Polyak 1964 (momentum), Nesterov 1983 /
/// Sutskever et al. 2013, Kingma & Ba 2015 (Adam), Loshchilov & Hutter 2019 (AdamW),
/// Tieleman & Hinton 2012 (RMSprop).
///
/// Net: 2 tanh layers of 16, Xavier init, the xor task, 300 steps, seeds 1–2.
/// Measured mean loss of steps 1–20: 0.57–0.71 (ln 2 = 0.69 is chance); of steps
/// 281–300: sgd (lr 0.1) 0.155–0.207, momentum (0.05) 0.084–0.174, nesterov (0.05)
/// 0.084–0.155, adam and adamw (0.01) 0.088–0.141, rmsprop (0.01) 0.086–0.131.
/// Bounds: the last 20 steps below 0.35 (1.7× the worst measured) and below half the
/// first 20 (largest measured ratio 0.30).
#[test]
fn every_optimizer_lowers_the_loss_on_xor() -> Result<(), TrainError> {
    let optimizers = [
        ("sgd", "0.1"),
        ("momentum", "0.05"),
        ("nesterov", "0.05"),
        ("adam", "0.01"),
        ("adamw", "0.01"),
        ("rmsprop", "0.01"),
    ];
    for seed in 1..=2 {
        for (optimizer, lr) in optimizers {
            let records = run(
                &config_with(&[
                    "task.kind=xor",
                    "model.activation=tanh",
                    "model.depth=2",
                    "model.width=16",
                    "model.init=xavier_uniform",
                    &format!("train.optimizer={optimizer}"),
                    &format!("train.lr={lr}"),
                    &format!("seed={seed}"),
                ]),
                300,
            )?;
            let first = mean_loss(&records[..20]);
            let last = mean_loss(&records[280..]);
            assert!(
                last < 0.35 && last < 0.5 * first,
                "seed {seed}, {optimizer} at lr {lr}: loss {first:.3} over steps 1–20, \
                 {last:.3} over steps 281–300"
            );
        }
    }
    Ok(())
}
