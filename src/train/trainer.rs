//! One run of an experiment, stepped synchronously: the same code serves the app's
//! worker thread, the command line and the tests.

use candle_core::{D, DType, Device, Tensor, Var};
use thiserror::Error;

use super::norm::tensor_norm;
use super::record::StepRecord;
use crate::config::{Config, ConfigError, Precision};
use crate::data::{BatchSampler, DataError, Dataset};
use crate::model::Mlp;
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
}

/// A model, its data and its optimiser state, ready to take steps.
pub struct Trainer {
    config: Config,
    dataset: Dataset,
    model: Mlp,
    sampler: BatchSampler,
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
            config: config.clone(),
            dataset,
            model,
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

    /// Takes one step: a batch forward, the loss, the backward pass, the probes and
    /// the update. Test accuracy is measured after the update every `eval_every`
    /// steps and at the last step.
    pub fn step(&mut self) -> Result<StepRecord, TrainError> {
        let batch = self.sampler.next_batch(self.config.train.batch_size);
        let batch: Vec<u32> = batch.into_iter().map(|i| i as u32).collect();
        let index = Tensor::from_vec(batch, self.config.train.batch_size, &Device::Cpu)?;
        let x = self.train_x.index_select(&index, 0)?;
        let y = self.train_y.index_select(&index, 0)?;

        let logits = self.model.forward(&x, Some(&self.probes))?;
        let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
        let grads = loss.backward()?;

        let norm_of = |var: &Var| -> Result<f64, TrainError> {
            // A variable that took no part in the loss has a gradient of exactly zero.
            Ok(match grads.get(var.as_tensor()) {
                Some(grad) => tensor_norm(grad)?,
                None => 0.0,
            })
        };
        let weight_grad_norm = self
            .model
            .layers()
            .iter()
            .map(|layer| norm_of(&layer.weight))
            .collect::<Result<Vec<_>, _>>()?;
        let activation_grad_norm = self
            .probes
            .iter()
            .map(norm_of)
            .collect::<Result<Vec<_>, _>>()?;

        let lr = self.config.train.lr;
        for layer in self.model.layers() {
            for var in [&layer.weight, &layer.bias] {
                if let Some(grad) = grads.get(var.as_tensor()) {
                    var.set(&var.as_tensor().sub(&(grad * lr)?)?)?;
                }
            }
        }
        self.steps_done += 1;

        let test_accuracy = if self.steps_done.is_multiple_of(self.config.train.eval_every)
            || self.steps_done == self.config.train.steps
        {
            Some(self.test_accuracy()?)
        } else {
            None
        };

        Ok(StepRecord {
            step: self.steps_done,
            loss: loss.to_dtype(DType::F64)?.to_scalar::<f64>()?,
            accuracy: accuracy(&logits, &y)?,
            test_accuracy,
            weight_grad_norm,
            activation_grad_norm,
        })
    }

    /// Fraction of the held-out test set the model classifies correctly now.
    pub fn test_accuracy(&self) -> Result<f64, TrainError> {
        let logits = self.model.forward(&self.test_x, None)?;
        Ok(accuracy(&logits, &self.test_y)?)
    }
}

fn accuracy(logits: &Tensor, labels: &Tensor) -> candle_core::Result<f64> {
    let predicted = logits.argmax(D::Minus1)?;
    let correct = predicted.eq(labels)?.to_dtype(DType::F64)?.sum_all()?;
    Ok(correct.to_scalar::<f64>()? / labels.dim(0)? as f64)
}
