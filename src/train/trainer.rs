//! One run of an experiment, stepped synchronously: the same code serves the app's
//! worker thread, the command line and the tests.

use candle_core::{D, DType, Device, Tensor, Var};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

use std::collections::HashMap;

use super::checkpoint::{Checkpoint, TrainerState};
use super::norm::{HostSlice, scaled_norm, tensor_norm, with_host_slice};
use super::optim::{OptimizerState, clip_gradients, learning_rate};
use super::probes::{moments, saturation};
use super::record::StepRecord;
use crate::config::{Clip, Config, ConfigError, Precision};
use crate::data::{BatchSampler, DataError, Dataset};
use crate::model::{Mlp, Mode, Trace};
use crate::rng::{Stream, stream_rng};

/// Why a run could not be built or stepped.
#[derive(Debug, Error)]
pub enum TrainError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("tensor operation failed: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("the saved training state does not fit: {0}")]
    Checkpoint(String),
}

/// A model, its data and its optimiser state, ready to take steps.
pub struct Trainer {
    config: Config,
    dataset: Dataset,
    model: Mlp,
    optimizer: OptimizerState,
    sampler: BatchSampler,
    dropout_rng: ChaCha8Rng,
    dtype: DType,
    steps_done: u64,
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    /// Zero-valued variables added to each layer's output so that ∂L/∂h can be read.
    probes: Vec<Var>,
}

impl Trainer {
    /// Validates `config` and builds the task, the model and the batch order from its
    /// seed.
    pub fn new(config: &Config) -> Result<Self, TrainError> {
        config.validate()?;
        let dtype = match config.train.dtype {
            Precision::F32 => DType::F32,
            Precision::F64 => DType::F64,
        };

        let dataset = Dataset::load(&config.task, config.seed)?;
        let mut weight_rng = stream_rng(config.seed, Stream::Weights);
        let model = Mlp::new(
            &config.model,
            dataset.num_features,
            dataset.num_classes,
            dtype,
            &mut weight_rng,
        )?;

        let features = |x: &[f32]| -> Result<Tensor, TrainError> {
            let rows = x.len() / dataset.num_features;
            let t = Tensor::from_slice(x, (rows, dataset.num_features), &Device::Cpu)?;
            Ok(t.to_dtype(dtype)?)
        };
        let labels = |y: &[u32]| Tensor::from_slice(y, y.len(), &Device::Cpu);
        let train_x = features(&dataset.train_x)?;
        let test_x = features(&dataset.test_x)?;
        let train_y = labels(&dataset.train_y)?;
        let test_y = labels(&dataset.test_y)?;

        let batch_size = config.train.batch_size;
        let probes = model
            .layer_widths()
            .into_iter()
            .map(|width| Var::zeros((batch_size, width), dtype, &Device::Cpu))
            .collect::<candle_core::Result<Vec<_>>>()?;

        Ok(Self {
            sampler: BatchSampler::new(dataset.num_train(), config.seed),
            dropout_rng: stream_rng(config.seed, Stream::Dropout),
            optimizer: OptimizerState::new(&config.train, model.parameters().len()),
            config: config.clone(),
            dataset,
            model,
            dtype,
            steps_done: 0,
            train_x,
            train_y,
            test_x,
            test_y,
            probes,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn model(&self) -> &Mlp {
        &self.model
    }

    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    pub fn steps_done(&self) -> u64 {
        self.steps_done
    }

    /// Hidden layers plus the output layer: the rows of every per-layer metric.
    pub fn num_layers(&self) -> usize {
        self.model.num_layers()
    }

    /// True once the configured number of steps has been taken.
    pub fn is_finished(&self) -> bool {
        self.steps_done >= self.config.train.steps
    }

    /// Takes one step: a batch forward, the loss, the backward pass, the probes,
    /// clipping and the update. Test accuracy is measured after the update every
    /// `eval_every` steps and at the last step.
    pub fn step(&mut self) -> Result<StepRecord, TrainError> {
        let batch_size = self.config.train.batch_size;
        let batch: Vec<u32> = self
            .sampler
            .next_batch(batch_size)
            .into_iter()
            .map(|i| i as u32)
            .collect();
        let index = Tensor::from_vec(batch, batch_size, &Device::Cpu)?;
        let x = self.train_x.index_select(&index, 0)?;
        let y = self.train_y.index_select(&index, 0)?;

        let masks = self.dropout_masks()?;
        let (logits, trace) =
            self.model
                .forward(&x, Mode::Train, Some(&self.probes), masks.as_deref())?;
        let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
        let grads = loss.backward()?;
        let mut record = StepRecord {
            step: self.steps_done + 1,
            loss: loss.to_dtype(DType::F64)?.to_scalar::<f64>()?,
            accuracy: accuracy(&logits, &y)?,
            lr: learning_rate(&self.config.train, self.steps_done + 1),
            ..StepRecord::default()
        };

        // Probes, all taken before clipping and the update. A parameter that took no
        // part in the loss has a gradient of exactly zero.
        let params = self.model.parameters();
        let mut param_grads: Vec<Option<Tensor>> = params
            .iter()
            .map(|p| grads.get(p.var.as_tensor()).cloned())
            .collect();
        let param_norms = grad_norms(&param_grads)?;
        // Parameters come weight, bias, weight, bias… for the layers first.
        record.weight_grad_norm = param_norms
            .iter()
            .step_by(2)
            .take(self.num_layers())
            .copied()
            .collect();
        for probe in &self.probes {
            let norm = grads.get(probe.as_tensor()).map_or(Ok(0.0), tensor_norm)?;
            record.activation_grad_norm.push(norm);
        }
        self.record_activations(&trace, &mut record)?;

        // Clipping, with the global norm before and after.
        record.grad_norm_total = scaled_norm(param_norms.iter().copied());
        let train = &self.config.train;
        clip_gradients(
            &mut param_grads,
            train.clip,
            train.clip_threshold,
            record.grad_norm_total,
        )?;
        record.grad_norm_clipped = if train.clip == Clip::None {
            record.grad_norm_total
        } else {
            scaled_norm(grad_norms(&param_grads)?.into_iter())
        };

        // The update, and how far it moved each weight matrix relative to its size.
        let weights_before = self
            .model
            .layers()
            .iter()
            .map(|l| l.weight.as_tensor().copy())
            .collect::<candle_core::Result<Vec<_>>>()?;
        self.optimizer.step(&params, &param_grads, record.lr)?;
        for (layer, before) in self.model.layers().iter().zip(&weights_before) {
            let change = tensor_norm(&(layer.weight.as_tensor() - before)?)?;
            record.update_ratio.push(change / tensor_norm(before)?);
        }
        record.prelu_slope = self.model.prelu_slopes()?;
        self.steps_done += 1;

        if self.steps_done.is_multiple_of(self.config.train.eval_every) || self.is_finished() {
            record.test_accuracy = Some(self.test_accuracy()?);
        }
        Ok(record)
    }

    /// Saturation, dead units and output moments of every layer.
    fn record_activations(&self, trace: &Trace, record: &mut StepRecord) -> Result<(), TrainError> {
        let activation = self.model.activation();
        for (index, pre_activation) in trace.pre_activations.iter().enumerate() {
            let slope = self.model.negative_slope(index)?;
            let units = pre_activation.dim(1)?;
            let (saturated, dead) = with_host_slice(pre_activation, |z| match z {
                HostSlice::F32(z) => saturation(z, units, activation, slope),
                HostSlice::F64(z) => saturation(z, units, activation, slope),
            })?;
            record.saturated_fraction.push(saturated);
            record.dead_fraction.push(dead);
        }
        // The output layer is linear: its derivative is 1 everywhere.
        record.saturated_fraction.push(0.0);
        record.dead_fraction.push(0.0);
        for output in &trace.outputs {
            let (mean, std) = with_host_slice(output, |h| match h {
                HostSlice::F32(h) => moments(h),
                HostSlice::F64(h) => moments(h),
            })?;
            record.activation_mean.push(mean);
            record.activation_std.push(std);
        }
        Ok(())
    }

    /// Inverted-dropout masks for this step, drawn from the run's own generator:
    /// each entry is 0 with probability `rate`, else 1/(1 − rate).
    fn dropout_masks(&mut self) -> Result<Option<Vec<Tensor>>, TrainError> {
        let rate = self.config.model.dropout;
        if rate <= 0.0 {
            return Ok(None);
        }
        let keep = 1.0 / (1.0 - rate);
        let (batch, width) = (self.config.train.batch_size, self.config.model.width);
        let masks = (0..self.config.model.depth)
            .map(|_| {
                let values: Vec<f64> = (0..batch * width)
                    .map(|_| {
                        if self.dropout_rng.random_bool(rate) {
                            0.0
                        } else {
                            keep
                        }
                    })
                    .collect();
                Tensor::from_vec(values, (batch, width), &Device::Cpu)?.to_dtype(self.dtype)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Some(masks))
    }

    /// The complete state, to continue this run later exactly where it is now.
    pub fn checkpoint(&self) -> Result<Checkpoint, TrainError> {
        let mut tensors = HashMap::new();
        for (name, var) in self.model.named_state() {
            tensors.insert(name, var.as_tensor().copy()?);
        }
        let (optimizer_steps, optimizer_tensors) = self.optimizer.export();
        for (name, tensor) in optimizer_tensors {
            tensors.insert(name, tensor.copy()?);
        }
        Ok(Checkpoint {
            state: TrainerState {
                steps_done: self.steps_done,
                sampler: self.sampler.clone(),
                dropout_rng: self.dropout_rng.clone(),
                optimizer_steps,
            },
            tensors,
        })
    }

    /// Rebuilds a run of `config` from a checkpoint. Every tensor must be there with the
    /// shape and precision the configuration gives it; anything else is refused with a
    /// message naming the tensor.
    pub fn from_checkpoint(config: &Config, checkpoint: Checkpoint) -> Result<Self, TrainError> {
        let mut trainer = Self::new(config)?;
        let Checkpoint { state, mut tensors } = checkpoint;
        if !state.sampler.is_consistent(trainer.dataset.num_train()) {
            return Err(TrainError::Checkpoint(
                "the batch order does not fit the data set".into(),
            ));
        }
        if state.optimizer_steps < 0 {
            return Err(TrainError::Checkpoint(
                "the optimiser's step count is negative".into(),
            ));
        }

        for (name, var) in trainer.model.named_state() {
            let tensor = take_tensor(&mut tensors, &name, var.as_tensor())?;
            var.set(&tensor)?;
        }
        let params: Vec<Tensor> = trainer
            .model
            .parameters()
            .iter()
            .map(|p| p.var.as_tensor().clone())
            .collect();
        let mut optimizer_tensors = HashMap::new();
        for name in tensors.keys().cloned().collect::<Vec<_>>() {
            let index = name
                .strip_prefix("opt")
                .and_then(|rest| rest.split_once('.'))
                .and_then(|(i, _)| i.parse::<usize>().ok())
                .filter(|&i| i < params.len())
                .ok_or_else(|| TrainError::Checkpoint(format!("unexpected tensor {name}")))?;
            let tensor = take_tensor(&mut tensors, &name, &params[index])?;
            optimizer_tensors.insert(name, tensor);
        }
        trainer
            .optimizer
            .import(state.optimizer_steps, |name| optimizer_tensors.remove(name));

        trainer.steps_done = state.steps_done;
        trainer.sampler = state.sampler;
        trainer.dropout_rng = state.dropout_rng;
        Ok(trainer)
    }

    /// Fraction of the held-out test set the model classifies correctly now.
    pub fn test_accuracy(&self) -> Result<f64, TrainError> {
        let (logits, _) = self.model.forward(&self.test_x, Mode::Eval, None, None)?;
        Ok(accuracy(&logits, &self.test_y)?)
    }

    /// The logits of `x` in evaluation mode (no dropout, running batch statistics).
    pub fn predict(&self, x: &Tensor) -> Result<Tensor, TrainError> {
        Ok(self.model.forward(x, Mode::Eval, None, None)?.0)
    }
}

/// Removes tensor `name` from `tensors`, checking that it is shaped and typed like `like`.
fn take_tensor(
    tensors: &mut HashMap<String, Tensor>,
    name: &str,
    like: &Tensor,
) -> Result<Tensor, TrainError> {
    let tensor = tensors
        .remove(name)
        .ok_or_else(|| TrainError::Checkpoint(format!("{name} is missing")))?;
    if tensor.dims() != like.dims() || tensor.dtype() != like.dtype() {
        return Err(TrainError::Checkpoint(format!(
            "{name} is {:?} {:?}; this configuration needs {:?} {:?}",
            tensor.dtype(),
            tensor.dims(),
            like.dtype(),
            like.dims()
        )));
    }
    Ok(tensor)
}

fn grad_norms(grads: &[Option<Tensor>]) -> candle_core::Result<Vec<f64>> {
    grads
        .iter()
        .map(|g| g.as_ref().map_or(Ok(0.0), tensor_norm))
        .collect()
}

fn accuracy(logits: &Tensor, labels: &Tensor) -> candle_core::Result<f64> {
    let predicted = logits.argmax(D::Minus1)?;
    let correct = predicted.eq(labels)?.to_dtype(DType::F64)?.sum_all()?;
    Ok(correct.to_scalar::<f64>()? / labels.dim(0)? as f64)
}
