//! One run of an experiment, stepped synchronously: the same code serves the app's
//! worker thread, the command line and the tests.

use candle_core::{D, DType, Device, Tensor, Var};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

use std::collections::HashMap;
use std::time::Instant;

use super::checkpoint::{Checkpoint, TrainerState};
use super::norm::{HostSlice, scaled_norm, tensor_norm, with_host_slice};
use super::optim::{OptimizerState, clip_gradients, learning_rate};
use super::probes::{gate_stats, moments, saturation, top_singular_value};
use super::record::StepRecord;
use super::rows::row_counts;
use crate::config::{Activation, Clip, Config, ConfigError, Precision};
use crate::data::{BatchSampler, DataError, Dataset, Objective};
use crate::history::RunHistory;
use crate::model::fused::SPLIT_MIN_WORK;
use crate::model::{Mlp, Mode, Parameter, PassProbes, RecurrentNet, RecurrentTrace, Trace};
use crate::parallel::{self, ComputePool, Tuner};
use crate::rng::{Stream, stream_rng};

/// The adding problem counts an answer as right within this distance of the target,
/// the criterion of Hochreiter & Schmidhuber 1997.
pub const ADDING_TOLERANCE: f64 = 0.04;

/// Power-iteration budget for the recurrent weights' largest singular value: from a
/// cold start, and warm from the previous step's vector (the weights move little).
const SIGMA_COLD_ITERATIONS: usize = 500;
const SIGMA_WARM_ITERATIONS: usize = 50;

/// The network a trainer trains.
enum Network {
    Mlp(Mlp),
    Recurrent(RecurrentNet),
}

impl Network {
    fn parameters(&self) -> Vec<Parameter<'_>> {
        match self {
            Self::Mlp(m) => m.parameters(),
            Self::Recurrent(r) => r.parameters(),
        }
    }

    fn named_state(&self) -> Vec<(String, &Var)> {
        match self {
            Self::Mlp(m) => m.named_state(),
            Self::Recurrent(r) => r.named_state(),
        }
    }

    /// Positions in `parameters()` of the weight matrices, input side first: the rows
    /// of `weight_grad_norm` and `update_ratio`.
    fn weight_indices(&self) -> Vec<usize> {
        match self {
            // weight, bias of each layer first.
            Self::Mlp(m) => (0..m.num_layers()).map(|l| 2 * l).collect(),
            // input weight, recurrent weight, bias of each layer, then the read-out's.
            Self::Recurrent(r) => {
                let depth = r.layers().len();
                let mut indices: Vec<usize> = (0..depth).flat_map(|l| [3 * l, 3 * l + 1]).collect();
                indices.push(3 * depth);
                indices
            }
        }
    }
}

/// The batch's mean loss: softmax cross-entropy over the read-out positions, or the
/// squared error of the adding problem.
fn loss_of(objective: Objective, output: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
    match objective {
        Objective::Classify { .. } => candle_nn::loss::cross_entropy(output, y),
        Objective::Regress => (output.flatten_all()? - y)?.sqr()?.mean_all(),
    }
}

/// The threads a trainer steps on: a fixed setting, or one chosen by timing.
#[derive(Clone, Debug)]
enum Compute {
    Fixed(ComputePool),
    Tuned(Tuner),
}

/// A new trainer's first steps fill fresh memory and run slower on any setting: timing
/// them made two threads look slower than one and kept one for a whole turn.
const UNTIMED_FIRST_STEPS: u32 = 3;

impl Compute {
    fn current(&self) -> &ComputePool {
        match self {
            Self::Fixed(pool) => pool,
            Self::Tuned(tuner) => tuner.current(),
        }
    }
}

/// Whether a step gains from a second compute thread: an MLP trained by its written-out
/// pass whose hidden products are large enough to split (w2's 256 × 256 at batch 256
/// runs 1.6× faster on two threads; w1's 64 × 64 at batch 128 and the recurrent nets
/// lose more to handing work over than they gain).
fn splits_well(config: &Config, model: &Network) -> bool {
    let width = config.model.width;
    matches!(model, Network::Mlp(mlp) if mlp.trains_directly())
        && config.train.batch_size * width * width >= SPLIT_MIN_WORK
}

/// Where a step's parameter gradients are: candle's store after its autograd, or the
/// MLP's written-out pass, in the order of the model's parameters, with the probes it
/// took.
enum Grads {
    Store(candle_core::backprop::GradStore),
    Direct(Vec<Option<Tensor>>, Option<PassProbes>),
}

/// Records an MLP's (saturated, dead) fractions of every hidden layer and
/// (mean, standard deviation) of every layer's output.
fn push_activations(saturation: &[(f64, f64)], moments: &[(f64, f64)], record: &mut StepRecord) {
    for &(saturated, dead) in saturation {
        record.saturated_fraction.push(saturated);
        record.dead_fraction.push(dead);
    }
    // The output layer is linear: its derivative is 1 everywhere.
    record.saturated_fraction.push(0.0);
    record.dead_fraction.push(0.0);
    push_moment_pairs(moments, record);
}

/// Records (mean, standard deviation) of each layer's output.
fn push_moment_pairs(moments: &[(f64, f64)], record: &mut StepRecord) {
    for &(mean, std) in moments {
        record.activation_mean.push(mean);
        record.activation_std.push(std);
    }
}

/// What a training forward pass kept.
enum Kept {
    Mlp(Trace),
    Recurrent(RecurrentTrace),
}

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
    model: Network,
    optimizer: OptimizerState,
    sampler: BatchSampler,
    dropout_rng: ChaCha8Rng,
    dtype: DType,
    steps_done: u64,
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    /// For recurrent nets, zero-valued variables added to each layer's state at each
    /// time step, then to the read-out, so that ∂L/∂h can be read.
    probes: Vec<Var>,
    /// The left singular vector of each recurrent weight matrix from the last step,
    /// where the next power iteration starts.
    sigma_vectors: Vec<Vec<f64>>,
    /// The threads a step runs on (the numbers do not depend on them).
    compute: Compute,
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
        let batch_size = config.train.batch_size;
        let zeros = |shape: (usize, usize)| Var::zeros(shape, dtype, &Device::Cpu);
        let (model, probes) = if config.model.kind.is_recurrent() {
            let positions = match dataset.objective {
                Objective::Classify { positions, .. } => positions,
                Objective::Regress => 1,
            };
            let net = RecurrentNet::new(
                &config.model,
                dataset.seq_len,
                dataset.step_inputs(),
                positions,
                dataset.num_outputs(),
                dtype,
                &mut weight_rng,
            )?;
            // The hidden states' gradients come from the recurrence's own backward
            // pass; only the read-out needs a probe.
            let probes = vec![zeros((batch_size * positions, dataset.num_outputs()))?];
            (Network::Recurrent(net), probes)
        } else {
            let mlp = Mlp::new(
                &config.model,
                dataset.num_features,
                dataset.num_outputs(),
                dtype,
                &mut weight_rng,
            )?;
            // The MLP's fused ops hand over ∂L/∂h themselves (see `Mlp::forward`).
            (Network::Mlp(mlp), Vec::new())
        };

        let features = |x: &[f32]| -> Result<Tensor, TrainError> {
            let rows = x.len() / dataset.num_features;
            let t = Tensor::from_slice(x, (rows, dataset.num_features), &Device::Cpu)?;
            Ok(t.to_dtype(dtype)?)
        };
        let targets = |labels: &[u32], values: &[f32], rows: usize| -> Result<Tensor, TrainError> {
            Ok(match dataset.objective {
                Objective::Classify { positions, .. } => {
                    Tensor::from_slice(labels, (rows, positions), &Device::Cpu)?
                }
                Objective::Regress => {
                    Tensor::from_slice(values, rows, &Device::Cpu)?.to_dtype(dtype)?
                }
            })
        };
        let train_x = features(&dataset.train_x)?;
        let test_x = features(&dataset.test_x)?;
        let train_y = targets(&dataset.train_y, &dataset.train_values, dataset.num_train())?;
        let test_y = targets(&dataset.test_y, &dataset.test_values, dataset.num_test())?;

        let compute = if splits_well(config, &model) && ComputePool::shared().threads() > 1 {
            Compute::Tuned(Tuner::new(
                ComputePool::single(),
                ComputePool::shared(),
                UNTIMED_FIRST_STEPS,
            ))
        } else {
            Compute::Fixed(ComputePool::single())
        };
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
            sigma_vectors: Vec::new(),
            compute,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The network, when it is an MLP.
    pub fn mlp(&self) -> Option<&Mlp> {
        match &self.model {
            Network::Mlp(m) => Some(m),
            Network::Recurrent(_) => None,
        }
    }

    /// The network, when it is recurrent.
    pub fn recurrent(&self) -> Option<&RecurrentNet> {
        match &self.model {
            Network::Recurrent(r) => Some(r),
            Network::Mlp(_) => None,
        }
    }

    /// An empty history shaped for this run's records, with the task's baseline loss.
    pub fn new_history(&self) -> RunHistory {
        let rows = row_counts(&self.config);
        let mut history = RunHistory::with_rows(self.num_layers(), &rows);
        history.set_baseline_loss(Some(self.dataset.baseline_loss()));
        history
    }

    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    pub fn steps_done(&self) -> u64 {
        self.steps_done
    }

    /// Hidden (recurrent) layers plus the output layer.
    pub fn num_layers(&self) -> usize {
        self.config.model.depth + 1
    }

    /// True once the configured number of steps has been taken.
    pub fn is_finished(&self) -> bool {
        self.steps_done >= self.config.train.steps
    }

    /// Takes one step: a batch forward, the loss, the backward pass, the probes,
    /// clipping and the update. Test accuracy is measured after the update every
    /// `eval_every` steps and at the last step.
    pub fn step(&mut self) -> Result<StepRecord, TrainError> {
        let pool = self.compute.current().clone();
        let start = Instant::now();
        let record = pool.run(|| self.step_here());
        if let Compute::Tuned(tuner) = &mut self.compute {
            tuner.record(start.elapsed().as_secs_f64());
        }
        record
    }

    /// How many threads the next step runs on.
    pub fn compute_threads(&self) -> usize {
        self.compute.current().threads()
    }

    /// Whether the thread count is chosen by timing steps (see [`Tuner`]).
    pub fn compute_tuned(&self) -> bool {
        matches!(self.compute, Compute::Tuned(_))
    }

    /// Steps on `threads` threads from now on (1 for the calling thread alone); the
    /// numbers stay the same.
    pub fn set_compute_threads(&mut self, threads: usize) {
        self.compute = Compute::Fixed(ComputePool::with_threads(threads));
    }

    fn step_here(&mut self) -> Result<StepRecord, TrainError> {
        let batch_size = self.config.train.batch_size;
        let batch: Vec<u32> = self
            .sampler
            .next_batch(batch_size)
            .into_iter()
            .map(|i| i as u32)
            .collect();
        let index = Tensor::from_vec(batch, batch_size, &Device::Cpu)?;
        let x = self.train_x.index_select(&index, 0)?;
        let y = self.train_y.index_select(&index, 0)?.flatten_all()?;

        let masks = self.dropout_masks()?;
        let objective = self.dataset.objective;
        let (output, kept, loss, grads) = match &self.model {
            Network::Mlp(mlp) if mlp.trains_directly() => {
                let mut loss = None;
                let pass = mlp.train_pass(&x, masks.as_deref(), true, |logits| {
                    let logits = Var::from_tensor(logits)?;
                    let value = loss_of(objective, logits.as_tensor(), &y)?;
                    let grad = value.backward()?.remove(logits.as_tensor());
                    loss = Some(value);
                    grad.ok_or_else(|| {
                        candle_core::Error::Msg("the loss left the logits no gradient".into())
                    })
                })?;
                let Some(loss) = loss else {
                    return Err(candle_core::Error::Msg("the pass computed no loss".into()).into());
                };
                (
                    pass.logits,
                    Kept::Mlp(pass.trace),
                    loss,
                    Grads::Direct(pass.param_grads, pass.probes),
                )
            }
            Network::Mlp(mlp) => {
                let (logits, trace) = mlp.forward(&x, Mode::Train, true, masks.as_deref())?;
                let loss = loss_of(objective, &logits, &y)?;
                let grads = loss.backward()?;
                (logits, Kept::Mlp(trace), loss, Grads::Store(grads))
            }
            Network::Recurrent(net) => {
                let (output, trace) = net.forward(&x, self.probes.first())?;
                let loss = loss_of(objective, &output, &y)?;
                let grads = loss.backward()?;
                (output, Kept::Recurrent(trace), loss, Grads::Store(grads))
            }
        };
        let mut record = StepRecord {
            step: self.steps_done + 1,
            loss: loss.to_dtype(DType::F64)?.to_scalar::<f64>()?,
            accuracy: self.accuracy(&output, &y)?,
            lr: learning_rate(&self.config.train, self.steps_done + 1),
            ..StepRecord::default()
        };

        // Probes, all taken before clipping and the update. A parameter that took no
        // part in the loss has a gradient of exactly zero.
        let params = self.model.parameters();
        let mut param_grads: Vec<Option<Tensor>> = match &grads {
            Grads::Store(store) => params
                .iter()
                .map(|p| store.get(p.var.as_tensor()).cloned())
                .collect(),
            Grads::Direct(direct, _) => direct.clone(),
        };
        // The written-out pass took the MLP's probes itself, while the values were in
        // cache, by the same functions as below.
        let taken = match &grads {
            Grads::Direct(_, taken) => taken.as_ref(),
            Grads::Store(_) => None,
        };
        let param_norms = match taken {
            Some(taken) => taken.param_grad_norms.clone(),
            None => grad_norms(&param_grads)?,
        };
        let weight_indices = self.model.weight_indices();
        record.weight_grad_norm = weight_indices.iter().map(|&i| param_norms[i]).collect();
        let probe_grads: Vec<Option<&Tensor>> = match &kept {
            Kept::Mlp(trace) => trace.output_grads.iter().map(|slot| slot.get()).collect(),
            Kept::Recurrent(_) => self
                .probes
                .iter()
                .map(|probe| match &grads {
                    Grads::Store(store) => store.get(probe.as_tensor()),
                    Grads::Direct(..) => None,
                })
                .collect(),
        };
        let probe_norms = match taken {
            Some(taken) => taken.output_grad_norms.clone(),
            None => parallel::map(&probe_grads, |grad| grad.map_or(Ok(0.0), tensor_norm))
                .into_iter()
                .collect::<candle_core::Result<Vec<f64>>>()?,
        };
        match &kept {
            Kept::Mlp(trace) => {
                record.activation_grad_norm = probe_norms;
                match taken {
                    Some(taken) => push_activations(&taken.saturation, &taken.moments, &mut record),
                    None => self.record_activations(trace, &mut record)?,
                }
            }
            Kept::Recurrent(trace) => {
                let per_layer: Vec<Vec<f64>> = trace
                    .time_gradients
                    .iter()
                    .map(|layer| layer.norms())
                    .collect();
                record.hidden_grad_norm = per_layer.first().cloned().unwrap_or_default();
                record.activation_grad_norm = per_layer
                    .iter()
                    .map(|layer| scaled_norm(layer.iter().copied()))
                    .chain(probe_norms)
                    .collect();
                self.record_recurrent(trace, &mut record)?;
            }
        }

        // The recurrent weights that carried this step's gradient back through time.
        record.recurrent_sigma = recurrent_sigmas(&self.model, &mut self.sigma_vectors)?;

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
        let moved = self.optimizer.step(&params, &param_grads, record.lr)?;
        for &i in &weight_indices {
            let ratio = match moved[i] {
                Some(norms) => norms.change / norms.before,
                // Without a gradient the weights stay where they were.
                None => 0.0 / tensor_norm(params[i].var.as_tensor())?,
            };
            record.update_ratio.push(ratio);
        }
        if let Network::Mlp(mlp) = &self.model {
            record.prelu_slope = mlp.prelu_slopes()?;
        }
        self.steps_done += 1;

        if self.steps_done.is_multiple_of(self.config.train.eval_every) || self.is_finished() {
            record.test_accuracy = Some(self.test_accuracy()?);
        }
        Ok(record)
    }

    /// The batch's mean loss (see [`loss_of`]).
    fn loss(&self, output: &Tensor, y: &Tensor) -> Result<Tensor, TrainError> {
        Ok(loss_of(self.dataset.objective, output, y)?)
    }

    /// Fraction of examples (of read-out positions) answered right: the class with the
    /// largest logit, or within [`ADDING_TOLERANCE`] of the target.
    fn accuracy(&self, output: &Tensor, y: &Tensor) -> Result<f64, TrainError> {
        Ok(match self.dataset.objective {
            Objective::Classify { .. } => accuracy(output, y)?,
            Objective::Regress => {
                let error = (output.flatten_all()? - y)?.abs()?.to_dtype(DType::F64)?;
                let close = error
                    .lt(ADDING_TOLERANCE)?
                    .to_dtype(DType::F64)?
                    .sum_all()?;
                close.to_scalar::<f64>()? / y.dim(0)? as f64
            }
        })
    }

    /// Saturation, dead units, output moments and gate values of every recurrent
    /// layer, the read-out last.
    fn record_recurrent(
        &self,
        trace: &RecurrentTrace,
        record: &mut StepRecord,
    ) -> Result<(), TrainError> {
        let Network::Recurrent(net) = &self.model else {
            return Ok(());
        };
        let activation = self.config.model.probed_activation();
        for pre_activation in &trace.pre_activations {
            let (saturated, dead) = saturation_of(pre_activation, activation, net.leaky_slope())?;
            record.saturated_fraction.push(saturated);
            record.dead_fraction.push(dead);
        }
        record.saturated_fraction.push(0.0);
        record.dead_fraction.push(0.0);
        push_moment_pairs(&moments_of(&trace.outputs)?, record);
        for gate in &trace.gates {
            let (mean, saturated) = with_host_slice(gate, |s| match s {
                HostSlice::F32(s) => gate_stats(s),
                HostSlice::F64(s) => gate_stats(s),
            })?;
            record.gate_mean.push(mean);
            record.gate_saturation.push(saturated);
        }
        Ok(())
    }

    /// Saturation, dead units and output moments of every layer.
    fn record_activations(&self, trace: &Trace, record: &mut StepRecord) -> Result<(), TrainError> {
        let Network::Mlp(mlp) = &self.model else {
            return Ok(());
        };
        let activation = mlp.activation();
        let layers: Vec<(&Tensor, f64)> = trace
            .pre_activations
            .iter()
            .enumerate()
            .map(|(index, z)| Ok((z, mlp.negative_slope(index)?)))
            .collect::<candle_core::Result<_>>()?;
        let saturation = parallel::map(&layers, |&(z, slope)| saturation_of(z, activation, slope))
            .into_iter()
            .collect::<candle_core::Result<Vec<_>>>()?;
        push_activations(&saturation, &moments_of(&trace.outputs)?, record);
        Ok(())
    }

    /// Inverted-dropout masks for this step, drawn from the run's own generator:
    /// each entry is 0 with probability `rate`, else 1/(1 − rate).
    fn dropout_masks(&mut self) -> Result<Option<Vec<Tensor>>, TrainError> {
        let rate = self.config.model.dropout;
        if rate <= 0.0 || self.config.model.kind.is_recurrent() {
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
        for (i, vector) in self.sigma_vectors.iter().enumerate() {
            let tensor = Tensor::from_slice(vector, vector.len(), &Device::Cpu)?;
            tensors.insert(format!("sigma{}.vector", i + 1), tensor);
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
        if let Some(net) = trainer.recurrent() {
            let hidden = net.hidden();
            let layers = net.layers().len();
            let vectors = (0..layers)
                .map(|i| {
                    let name = format!("sigma{}.vector", i + 1);
                    let like = Tensor::zeros(hidden, DType::F64, &Device::Cpu)?;
                    match tensors.contains_key(&name) {
                        true => Ok(Some(
                            take_tensor(&mut tensors, &name, &like)?.to_vec1::<f64>()?,
                        )),
                        false => Ok(None),
                    }
                })
                .collect::<Result<Vec<_>, TrainError>>()?;
            // Written after the first step only: a run saved before it has none.
            if vectors.iter().all(Option::is_some) {
                trainer.sigma_vectors = vectors.into_iter().flatten().collect();
            }
        }
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

    /// Fraction of the held-out test set the model answers right now.
    pub fn test_accuracy(&self) -> Result<f64, TrainError> {
        let output = self.predict(&self.test_x)?;
        let y = self.test_y.flatten_all()?;
        self.accuracy(&output, &y)
    }

    /// The loss on the held-out test set now.
    pub fn test_loss(&self) -> Result<f64, TrainError> {
        let output = self.predict(&self.test_x)?;
        let y = self.test_y.flatten_all()?;
        let loss = self.loss(&output, &y)?;
        Ok(loss.to_dtype(DType::F64)?.to_scalar::<f64>()?)
    }

    /// The network's output for `x` in evaluation mode (no dropout, running batch
    /// statistics): logits, or the prediction of the adding problem.
    pub fn predict(&self, x: &Tensor) -> Result<Tensor, TrainError> {
        Ok(match &self.model {
            Network::Mlp(mlp) => mlp.forward(x, Mode::Eval, false, None)?.0,
            Network::Recurrent(net) => net.forward(x, None)?.0,
        })
    }

    /// The nonlinearity the probes watch (for the diagnosis).
    pub fn activation(&self) -> Activation {
        self.config.model.probed_activation()
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

/// The largest singular value of each layer's recurrent weights, warm-started from
/// the previous step's singular vector.
fn recurrent_sigmas(model: &Network, vectors: &mut Vec<Vec<f64>>) -> Result<Vec<f64>, TrainError> {
    let Network::Recurrent(net) = model else {
        return Ok(Vec::new());
    };
    let layers = net.layers();
    let cold = vectors.len() != layers.len();
    if cold {
        *vectors = vec![Vec::new(); layers.len()];
    }
    let iterations = if cold {
        SIGMA_COLD_ITERATIONS
    } else {
        SIGMA_WARM_ITERATIONS
    };
    let mut sigmas = Vec::with_capacity(layers.len());
    for (layer, start) in layers.iter().zip(vectors.iter_mut()) {
        let w = layer.recurrent_weight.as_tensor();
        let (rows, cols) = w.dims2()?;
        let values = super::norm::host_values(w)?;
        sigmas.push(top_singular_value(&values, rows, cols, start, iterations));
    }
    Ok(sigmas)
}

/// The saturated and dead fractions of one layer's pre-activations.
/// (saturated fraction, dead fraction) of one layer's pre-activations.
fn saturation_of(
    pre_activation: &Tensor,
    activation: Activation,
    slope: f64,
) -> candle_core::Result<(f64, f64)> {
    let units = pre_activation.dim(1)?;
    with_host_slice(pre_activation, |z| match z {
        HostSlice::F32(z) => saturation(z, units, activation, slope),
        HostSlice::F64(z) => saturation(z, units, activation, slope),
    })
}

/// (mean, standard deviation) of each layer's output.
fn moments_of(outputs: &[Tensor]) -> candle_core::Result<Vec<(f64, f64)>> {
    parallel::map(outputs, |output| {
        with_host_slice(output, |h| match h {
            HostSlice::F32(h) => moments(h),
            HostSlice::F64(h) => moments(h),
        })
    })
    .into_iter()
    .collect()
}

fn grad_norms(grads: &[Option<Tensor>]) -> candle_core::Result<Vec<f64>> {
    parallel::map(grads, |g| g.as_ref().map_or(Ok(0.0), tensor_norm))
        .into_iter()
        .collect()
}

fn accuracy(logits: &Tensor, labels: &Tensor) -> candle_core::Result<f64> {
    let predicted = logits.argmax(D::Minus1)?;
    let correct = predicted.eq(labels)?.to_dtype(DType::F64)?.sum_all()?;
    Ok(correct.to_scalar::<f64>()? / labels.dim(0)? as f64)
}
