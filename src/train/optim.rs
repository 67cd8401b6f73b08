//! Optimisers, learning-rate schedules and gradient clipping, written out on candle
//! tensors so that each rule reads as in its paper.

use candle_core::{Result, Tensor};

use super::norm::tensor_norm;
use super::sgd::{UpdateNorms, sgd_in_place};
use crate::config::{Clip, Optimizer, Schedule, TrainConfig};
use crate::model::Parameter;
use crate::parallel;

const ADAM_BETA1: f64 = 0.9;
const ADAM_BETA2: f64 = 0.999;
const ADAM_EPSILON: f64 = 1e-8;
const RMSPROP_ALPHA: f64 = 0.99;
const RMSPROP_EPSILON: f64 = 1e-8;

/// The learning rate of step `step` (1-based): linear warm-up, then the schedule.
pub fn learning_rate(train: &TrainConfig, step: u64) -> f64 {
    let warmup = train.warmup_steps;
    if step <= warmup {
        return train.lr * step as f64 / warmup as f64;
    }
    let after = (step - warmup - 1) as f64;
    match train.schedule {
        Schedule::Constant => train.lr,
        Schedule::Step => {
            train.lr
                * train
                    .decay_factor
                    .powf((after / train.decay_every as f64).floor())
        }
        Schedule::Cosine => {
            let span = train.steps.saturating_sub(warmup).max(1) as f64;
            train.lr * 0.5 * (1.0 + (std::f64::consts::PI * (after / span).min(1.0)).cos())
        }
    }
}

/// Clips `grads` in place as configured. Returns nothing: the caller measures the
/// norm after clipping from the clipped tensors themselves.
pub fn clip_gradients(
    grads: &mut [Option<Tensor>],
    clip: Clip,
    threshold: f64,
    total_norm: f64,
) -> Result<()> {
    match clip {
        Clip::None => {}
        Clip::Norm => {
            if total_norm > threshold {
                let factor = threshold / total_norm;
                for grad in grads.iter_mut().flatten() {
                    *grad = (&*grad * factor)?;
                }
            }
        }
        Clip::Value => {
            for grad in grads.iter_mut().flatten() {
                *grad = grad.clamp(-threshold, threshold)?;
            }
        }
    }
    Ok(())
}

/// Per-parameter state of the optimiser.
#[derive(Clone, Debug)]
enum Slot {
    Empty,
    Velocity(Tensor),
    Moments { first: Tensor, second: Tensor },
    Square(Tensor),
}

/// An optimiser with its state for every parameter of one model.
#[derive(Debug)]
pub struct OptimizerState {
    kind: Optimizer,
    momentum: f64,
    weight_decay: f64,
    slots: Vec<Slot>,
    steps_taken: i32,
}

impl OptimizerState {
    pub fn new(train: &TrainConfig, num_parameters: usize) -> Self {
        Self {
            kind: train.optimizer,
            momentum: train.momentum,
            weight_decay: train.weight_decay,
            slots: vec![Slot::Empty; num_parameters],
            steps_taken: 0,
        }
    }

    /// The optimiser's tensors by a stable name (`opt3.velocity`, `opt3.m`, …), and the
    /// number of steps taken (Adam's bias correction depends on it).
    pub fn export(&self) -> (i32, Vec<(String, Tensor)>) {
        let mut tensors = Vec::new();
        for (index, slot) in self.slots.iter().enumerate() {
            match slot {
                Slot::Empty => {}
                Slot::Velocity(v) => tensors.push((format!("opt{index}.velocity"), v.clone())),
                Slot::Moments { first, second } => {
                    tensors.push((format!("opt{index}.m"), first.clone()));
                    tensors.push((format!("opt{index}.v"), second.clone()));
                }
                Slot::Square(s) => tensors.push((format!("opt{index}.s"), s.clone())),
            }
        }
        (self.steps_taken, tensors)
    }

    /// Restores what [`Self::export`] gave. `get` returns the tensor of a name, if saved;
    /// a slot is restored only when all of its tensors are there.
    pub fn import(&mut self, steps_taken: i32, mut get: impl FnMut(&str) -> Option<Tensor>) {
        self.steps_taken = steps_taken;
        for (index, slot) in self.slots.iter_mut().enumerate() {
            *slot = match self.kind {
                Optimizer::Sgd => Slot::Empty,
                Optimizer::Momentum | Optimizer::Nesterov => {
                    get(&format!("opt{index}.velocity")).map_or(Slot::Empty, Slot::Velocity)
                }
                Optimizer::Adam | Optimizer::Adamw => {
                    match (get(&format!("opt{index}.m")), get(&format!("opt{index}.v"))) {
                        (Some(first), Some(second)) => Slot::Moments { first, second },
                        _ => Slot::Empty,
                    }
                }
                Optimizer::Rmsprop => {
                    get(&format!("opt{index}.s")).map_or(Slot::Empty, Slot::Square)
                }
            };
        }
    }

    /// Updates every parameter from its gradient (a missing gradient is zero) and
    /// returns how far each parameter with a gradient moved, and its norm before.
    pub fn step(
        &mut self,
        params: &[Parameter<'_>],
        grads: &[Option<Tensor>],
        lr: f64,
    ) -> Result<Vec<Option<UpdateNorms>>> {
        self.steps_taken = self.steps_taken.saturating_add(1);
        // Plain SGD on f32 weights updates each in place, every parameter on its own
        // (spread over the compute threads); the rest take the tensor path below.
        let weight_decay = self.weight_decay;
        let decay_of = move |param: &Parameter<'_>| {
            if param.decays { weight_decay } else { 0.0 }
        };
        let in_place: Vec<Option<UpdateNorms>> = if self.kind == Optimizer::Sgd {
            let pairs: Vec<(&Parameter<'_>, &Option<Tensor>)> = params.iter().zip(grads).collect();
            parallel::map(&pairs, |&(param, grad)| match grad {
                Some(grad) => sgd_in_place(param.var.as_tensor(), grad, lr, decay_of(param)),
                None => Ok(None),
            })
            .into_iter()
            .collect::<Result<_>>()?
        } else {
            vec![None; params.len()]
        };
        let mut moved = Vec::with_capacity(params.len());
        for (index, (param, grad)) in params.iter().zip(grads).enumerate() {
            let Some(grad) = grad else {
                moved.push(None);
                continue;
            };
            if let Some(norms) = in_place[index] {
                moved.push(Some(norms));
                continue;
            }
            let weight = param.var.as_tensor();
            let decay = decay_of(param);
            // Coupled L2: the penalty's gradient joins the loss's (all but AdamW).
            let grad = if decay > 0.0 && self.kind != Optimizer::Adamw {
                (grad + (weight * decay)?)?
            } else {
                grad.clone()
            };
            let update = self.update(index, &grad)?;
            let mut next = (weight - (update * lr)?)?;
            if decay > 0.0 && self.kind == Optimizer::Adamw {
                // Decoupled decay (Loshchilov & Hutter 2019): shrink the weights directly.
                next = (next - (weight * (lr * decay))?)?;
            }
            moved.push(Some(UpdateNorms {
                change: tensor_norm(&(&next - weight)?)?,
                before: tensor_norm(weight)?,
            }));
            param.var.set(&next)?;
        }
        Ok(moved)
    }

    /// The direction to step in, before the learning rate.
    fn update(&mut self, index: usize, grad: &Tensor) -> Result<Tensor> {
        let mu = self.momentum;
        let t = self.steps_taken;
        let slot = &mut self.slots[index];
        match self.kind {
            Optimizer::Sgd => Ok(grad.clone()),
            Optimizer::Momentum | Optimizer::Nesterov => {
                let velocity = match slot {
                    Slot::Velocity(v) => ((&*v * mu)? + grad)?,
                    _ => grad.clone(),
                };
                let update = if self.kind == Optimizer::Nesterov {
                    (grad + (&velocity * mu)?)?
                } else {
                    velocity.clone()
                };
                *slot = Slot::Velocity(velocity);
                Ok(update)
            }
            Optimizer::Adam | Optimizer::Adamw => {
                let (first, second) = match slot {
                    Slot::Moments { first, second } => (
                        ((&*first * ADAM_BETA1)? + (grad * (1.0 - ADAM_BETA1))?)?,
                        ((&*second * ADAM_BETA2)? + (grad.sqr()? * (1.0 - ADAM_BETA2))?)?,
                    ),
                    _ => (
                        (grad * (1.0 - ADAM_BETA1))?,
                        (grad.sqr()? * (1.0 - ADAM_BETA2))?,
                    ),
                };
                let first_hat = (&first / (1.0 - ADAM_BETA1.powi(t)))?;
                let second_hat = (&second / (1.0 - ADAM_BETA2.powi(t)))?;
                let update = first_hat.div(&(second_hat.sqrt()? + ADAM_EPSILON)?)?;
                *slot = Slot::Moments { first, second };
                Ok(update)
            }
            Optimizer::Rmsprop => {
                let square = match slot {
                    Slot::Square(s) => {
                        ((&*s * RMSPROP_ALPHA)? + (grad.sqr()? * (1.0 - RMSPROP_ALPHA))?)?
                    }
                    _ => (grad.sqr()? * (1.0 - RMSPROP_ALPHA))?,
                };
                let update = grad.div(&(square.sqrt()? + RMSPROP_EPSILON)?)?;
                *slot = Slot::Square(square);
                Ok(update)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn train(optimizer: Optimizer) -> TrainConfig {
        TrainConfig {
            optimizer,
            ..TrainConfig::default()
        }
    }

    /// Two steps of each optimiser on w = [1, −2] with gradients g1 = [0.5, 0.1] and
    /// g2 = [−0.2, 0.4], against the update rules worked out by hand.
    #[test]
    fn two_steps_match_hand_computed_updates() -> Result<()> {
        let lr = 0.1;
        let g = [[0.5, 0.1], [-0.2, 0.4]];
        let expected: [(Optimizer, [f64; 2]); 6] = [
            // w − lr(g1 + g2)
            (Optimizer::Sgd, [1.0 - 0.1 * 0.3, -2.0 - 0.1 * 0.5]),
            // v1 = g1, v2 = 0.9 g1 + g2; w − lr(v1 + v2)
            (
                Optimizer::Momentum,
                [1.0 - 0.1 * (0.5 + 0.25), -2.0 - 0.1 * (0.1 + 0.49)],
            ),
            // u1 = g1 + 0.9 v1, u2 = g2 + 0.9 v2
            (
                Optimizer::Nesterov,
                [
                    1.0 - 0.1 * (0.95 + (-0.2 + 0.9 * 0.25)),
                    -2.0 - 0.1 * (0.19 + (0.4 + 0.9 * 0.49)),
                ],
            ),
            // Adam's bias-corrected first step is g/(|g| + ε); the second, worked out below.
            (
                Optimizer::Adam,
                [
                    1.0 - 0.1 * adam_first(0.5) - 0.1 * adam_second(0.5, -0.2),
                    -2.0 - 0.1 * adam_first(0.1) - 0.1 * adam_second(0.1, 0.4),
                ],
            ),
            (
                Optimizer::Adamw,
                [
                    1.0 - 0.1 * adam_first(0.5) - 0.1 * adam_second(0.5, -0.2),
                    -2.0 - 0.1 * adam_first(0.1) - 0.1 * adam_second(0.1, 0.4),
                ],
            ),
            (
                Optimizer::Rmsprop,
                [
                    1.0 - 0.1 * (rms(0.5, None) + rms(-0.2, Some(0.5))),
                    -2.0 - 0.1 * (rms(0.1, None) + rms(0.4, Some(0.1))),
                ],
            ),
        ];
        for (kind, want) in expected {
            let w = Var::new(&[1.0f64, -2.0], &Device::Cpu)?;
            let params = [Parameter {
                var: &w,
                decays: true,
            }];
            let mut state = OptimizerState::new(&train(kind), 1);
            for grad in g {
                state.step(&params, &[Some(Tensor::new(&grad, &Device::Cpu)?)], lr)?;
            }
            let got = w.as_tensor().to_vec1::<f64>()?;
            for i in 0..2 {
                assert!(
                    (got[i] - want[i]).abs() < 1e-9,
                    "{kind:?}[{i}]: {} vs {}",
                    got[i],
                    want[i]
                );
            }
        }
        Ok(())
    }

    fn adam_first(g: f64) -> f64 {
        g / (g.abs() + 1e-8)
    }

    fn adam_second(g1: f64, g2: f64) -> f64 {
        let m = 0.9 * 0.1 * g1 + 0.1 * g2;
        let v = 0.999 * 0.001 * g1 * g1 + 0.001 * g2 * g2;
        let m_hat = m / (1.0 - 0.81);
        let v_hat = v / (1.0 - 0.999f64.powi(2));
        m_hat / (v_hat.sqrt() + 1e-8)
    }

    fn rms(g: f64, previous: Option<f64>) -> f64 {
        let s = match previous {
            None => 0.01 * g * g,
            Some(p) => 0.99 * 0.01 * p * p + 0.01 * g * g,
        };
        g / (s.sqrt() + 1e-8)
    }

    #[test]
    fn weight_decay_is_coupled_except_for_adamw() -> Result<()> {
        let (lr, decay, w0, g) = (0.1, 0.5, 2.0, 0.3);
        let cases = [
            // Coupled: the gradient becomes g + decay·w.
            (Optimizer::Sgd, w0 - lr * (g + decay * w0)),
            (Optimizer::Adam, w0 - lr * adam_first(g + decay * w0)),
            // Decoupled: Adam on g alone, then w shrinks by lr·decay·w.
            (Optimizer::Adamw, w0 - lr * adam_first(g) - lr * decay * w0),
        ];
        for (kind, want) in cases {
            let w = Var::new(&[w0], &Device::Cpu)?;
            let params = [Parameter {
                var: &w,
                decays: true,
            }];
            let config = TrainConfig {
                weight_decay: decay,
                ..train(kind)
            };
            let mut state = OptimizerState::new(&config, 1);
            state.step(&params, &[Some(Tensor::new(&[g], &Device::Cpu)?)], lr)?;
            let got = w.as_tensor().to_vec1::<f64>()?[0];
            assert!((got - want).abs() < 1e-12, "{kind:?}: {got} vs {want}");
        }
        Ok(())
    }

    #[test]
    fn schedules_follow_their_formulas() {
        let mut config = TrainConfig {
            lr: 1.0,
            steps: 100,
            warmup_steps: 10,
            ..TrainConfig::default()
        };
        assert!((learning_rate(&config, 1) - 0.1).abs() < 1e-12);
        assert!((learning_rate(&config, 10) - 1.0).abs() < 1e-12);
        assert!((learning_rate(&config, 50) - 1.0).abs() < 1e-12);

        config.schedule = Schedule::Step;
        config.decay_every = 20;
        config.decay_factor = 0.5;
        assert!((learning_rate(&config, 30) - 1.0).abs() < 1e-12);
        assert!((learning_rate(&config, 31) - 0.5).abs() < 1e-12);
        assert!((learning_rate(&config, 71) - 0.125).abs() < 1e-12);

        config.schedule = Schedule::Cosine;
        // Half-way through the 90 steps after warm-up: cos(π/2) = 0, so lr/2.
        assert!((learning_rate(&config, 56) - 0.5).abs() < 1e-12);
        assert!(learning_rate(&config, 100) < 0.001);
    }

    #[test]
    fn clipping_by_norm_and_by_value() -> Result<()> {
        let dev = Device::Cpu;
        let mut grads = vec![
            Some(Tensor::new(&[3.0f64, 0.0], &dev)?),
            Some(Tensor::new(&[4.0f64], &dev)?),
        ];
        clip_gradients(&mut grads, Clip::Norm, 1.0, 5.0)?;
        let a = grads[0]
            .as_ref()
            .map(|g| g.to_vec1::<f64>())
            .transpose()?
            .unwrap_or_default();
        let b = grads[1]
            .as_ref()
            .map(|g| g.to_vec1::<f64>())
            .transpose()?
            .unwrap_or_default();
        // Scaled by 1/5: the global norm becomes exactly the threshold (up to rounding).
        assert!((a[0] - 0.6).abs() < 1e-15 && a[1] == 0.0 && (b[0] - 0.8).abs() < 1e-15);

        let mut grads = vec![Some(Tensor::new(&[3.0f64, -0.5, -7.0], &dev)?)];
        clip_gradients(&mut grads, Clip::Value, 1.0, f64::NAN)?;
        let a = grads[0].as_ref().map(|g| g.to_vec1::<f64>()).transpose()?;
        assert_eq!(a, Some(vec![1.0, -0.5, -1.0]));
        Ok(())
    }
}
