//! Experiment configuration: plain serde data with defaults, dotted-key overrides and
//! validation in one place.
//!
//! The JSON form nests exactly as the dotted keys that `gradlab run --set` accepts:
//! `{"seed": 1, "task": {"kind": "digits"}, "model": {"depth": 20}}`. Missing fields
//! take their defaults; unknown fields are refused so that a typo never goes unnoticed.

mod diff;
mod overrides;
mod validate;

pub use diff::{Difference, differences, setting_value, short_key};
pub use overrides::{apply_override, settable_keys};
pub use validate::ConfigError;

use serde::{Deserialize, Serialize};

/// One complete experiment: what to learn, with what network, trained how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Seeds every random choice of a run: the data split, the weights and the batches.
    pub seed: u64,
    pub task: TaskConfig,
    pub model: ModelConfig,
    pub train: TrainConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: 1,
            task: TaskConfig::default(),
            model: ModelConfig::default(),
            train: TrainConfig::default(),
        }
    }
}

impl Config {
    /// Parses a config from JSON text, fills defaults and validates it. Errors name the
    /// dotted key at fault.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let tree: serde_json::Value =
            serde_json::from_str(text).map_err(|err| ConfigError::Parse(err.to_string()))?;
        if !tree.is_object() {
            return Err(ConfigError::Parse(
                "expected a JSON object such as {\"model\": {\"depth\": 20}}".into(),
            ));
        }
        let config: Self =
            serde_path_to_error::deserialize(tree).map_err(|err| ConfigError::Field {
                key: err.path().to_string(),
                reason: overrides::plain_type_names(&err.inner().to_string()),
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Makes the network fit the task after one of them changed, as the app does when
    /// a user picks a sequence task for an MLP or a flat one for a recurrent net: the
    /// other family is chosen with settings that suit it, the MLP-only options are
    /// turned off for recurrent nets, and the sequence length is brought into the
    /// task's range.
    pub fn fit_model_to_task(&mut self) {
        let m = &mut self.model;
        let t = &mut self.task;
        if t.kind.is_sequence() && !m.kind.is_recurrent() {
            m.kind = ModelKind::Rnn;
            m.activation = Activation::Tanh;
            m.depth = 1;
        } else if !t.kind.is_sequence() && m.kind.is_recurrent() {
            let defaults = ModelConfig::default();
            m.kind = ModelKind::Mlp;
            m.depth = defaults.depth;
        }
        if m.kind.is_recurrent() {
            m.depth = m.depth.clamp(1, 4);
            m.batch_norm = false;
            m.residual_every = 0;
            m.dropout = 0.0;
            if m.activation == Activation::Prelu {
                m.activation = Activation::Tanh;
            }
        }
        t.seq_len = match t.kind {
            TaskKind::Adding => t.seq_len.clamp(10, 500),
            TaskKind::Copy => t.seq_len.clamp(1, 500),
            TaskKind::SeqDigits if t.seq_len != 8 => 64,
            _ => t.seq_len,
        };
    }

    /// A one-line summary for captions, titles and lists.
    pub fn summary(&self) -> String {
        let m = &self.model;
        let t = &self.train;
        let mut extras = Vec::new();
        if m.init_gain != 1.0 {
            extras.push(format!("gain {}", m.init_gain));
        }
        if m.batch_norm {
            extras.push("batch norm".to_owned());
        }
        if m.residual_every > 0 {
            extras.push(format!("residual every {}", m.residual_every));
        }
        if m.dropout > 0.0 {
            extras.push(format!("dropout {}", m.dropout));
        }
        if t.weight_decay > 0.0 {
            extras.push(format!("weight decay {}", t.weight_decay));
        }
        if t.clip != Clip::None {
            extras.push(format!("clip {} {}", t.clip.label(), t.clip_threshold));
        }
        if t.schedule != Schedule::Constant {
            extras.push(format!("{} schedule", t.schedule.label()));
        }
        if t.dtype == Precision::F64 {
            extras.push("f64".to_owned());
        }
        let extras: String = extras.iter().map(|e| format!(" · {e}")).collect();
        let init_scale = |init: Init| {
            if matches!(init, Init::Normal | Init::Uniform) {
                format!(" {}", m.init_scale)
            } else {
                String::new()
            }
        };
        let network = if m.kind.is_recurrent() {
            let cell = match m.kind {
                ModelKind::Rnn => format!("{} rnn", m.activation.label()),
                kind => kind.label().to_owned(),
            };
            let forget = if m.kind == ModelKind::Lstm {
                format!(" · forget bias {}", m.forget_bias)
            } else {
                String::new()
            };
            let gain = if m.recurrent_gain == 1.0 {
                String::new()
            } else {
                format!(" gain {}", m.recurrent_gain)
            };
            format!(
                "{}×{} {cell} · {}{} init, recurrent {}{}{gain}{forget}",
                m.depth,
                m.width,
                m.init.label(),
                init_scale(m.init),
                m.recurrent_init.label(),
                init_scale(m.recurrent_init),
            )
        } else {
            format!(
                "{}×{} {} · {}{} init",
                m.depth,
                m.width,
                m.activation.label(),
                m.init.label(),
                init_scale(m.init),
            )
        };
        let task = match self.task.kind {
            TaskKind::Adding | TaskKind::SeqDigits => {
                format!("{} T={}", self.task.kind.label(), self.task.seq_len)
            }
            TaskKind::Copy => format!(
                "copy {} symbols over {} steps",
                self.task.copy_length, self.task.seq_len
            ),
            kind => kind.label().to_owned(),
        };
        format!(
            "{task} · {network}{extras} · {} lr {} · batch {} · seed {}",
            self.train.optimizer.label(),
            self.train.lr,
            self.train.batch_size,
            self.seed,
        )
    }
}

// ---------------------------------------------------------------------------
// Task

/// What the network learns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskConfig {
    pub kind: TaskKind,
    /// Sequence length of `adding`, the delay of `copy`, and 64 (pixels) or 8 (rows)
    /// for `seq_digits`. Unused by the other tasks.
    pub seq_len: usize,
    /// Symbols to remember in `copy`.
    pub copy_length: usize,
    /// Standard deviation of the Gaussian noise added to 2-D toy sets.
    pub noise: f64,
    /// Number of examples drawn for a 2-D toy set or a synthetic sequence task (train
    /// and test together).
    pub num_points: usize,
    /// Fraction of the examples held out for the test accuracy.
    pub test_fraction: f64,
}

impl Default for TaskConfig {
    fn default() -> Self {
        Self {
            kind: TaskKind::Digits,
            seq_len: 64,
            copy_length: 5,
            noise: 0.1,
            num_points: 2000,
            test_fraction: 0.2,
        }
    }
}

impl TaskConfig {
    /// Time steps of one example: T for `adding` and `seq_digits`, 2·k + T for `copy`
    /// (k symbols in, T blanks, k recalled); 1 for the flat tasks.
    pub fn time_steps(&self) -> usize {
        match self.kind {
            TaskKind::Adding | TaskKind::SeqDigits => self.seq_len,
            TaskKind::Copy => 2 * self.copy_length + self.seq_len,
            _ => 1,
        }
    }
}

/// The data sets the lab ships or generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// 8×8 handwritten digits, ten classes.
    Digits,
    /// Two interleaved spirals.
    Spirals,
    /// Two interleaving half circles.
    Moons,
    /// A circle inside a ring.
    Circles,
    /// Points in the square labelled by the sign of x·y.
    Xor,
    /// Hochreiter & Schmidhuber 1997: a sequence of (value, marker) pairs; the target
    /// is the sum of the two marked values.
    Adding,
    /// Remember `copy_length` symbols, wait `seq_len` blank steps, then recall them.
    Copy,
    /// The digits read as a sequence: one pixel per step (64 steps) or one row per
    /// step (8 steps).
    SeqDigits,
}

impl TaskKind {
    pub const ALL: [Self; 8] = [
        Self::Digits,
        Self::Spirals,
        Self::Moons,
        Self::Circles,
        Self::Xor,
        Self::Adding,
        Self::Copy,
        Self::SeqDigits,
    ];

    /// True for the tasks whose examples are sequences, which recurrent nets read.
    pub fn is_sequence(self) -> bool {
        matches!(self, Self::Adding | Self::Copy | Self::SeqDigits)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Digits => "digits",
            Self::Spirals => "spirals",
            Self::Moons => "moons",
            Self::Circles => "circles",
            Self::Xor => "xor",
            Self::Adding => "adding",
            Self::Copy => "copy",
            Self::SeqDigits => "seq_digits",
        }
    }
}

// ---------------------------------------------------------------------------
// Model

/// The network: a multilayer perceptron of `depth` hidden layers, or a recurrent net of
/// `depth` stacked recurrent layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub kind: ModelKind,
    /// Number of hidden layers (stacked recurrent layers); the output layer comes on
    /// top of these.
    pub depth: usize,
    /// Units per hidden layer (hidden size of a recurrent layer).
    pub width: usize,
    /// The hidden nonlinearity of an MLP or a vanilla RNN. LSTM and GRU cells have
    /// their own fixed sigmoid gates and tanh.
    pub activation: Activation,
    /// Slope of Leaky ReLU for negative inputs.
    pub leaky_slope: f64,
    pub init: Init,
    /// σ of `normal` or a of `uniform`.
    pub init_scale: f64,
    /// A multiplier on the weights drawn by any scheme.
    pub init_gain: f64,
    /// The scheme of a recurrent net's hidden-to-hidden weights (each gate's block
    /// drawn on its own); `init` then covers the input weights.
    pub recurrent_init: Init,
    /// A multiplier on the recurrent weights.
    pub recurrent_gain: f64,
    /// LSTM forget-gate bias at initialisation (Gers et al. 2000; Jozefowicz et al. 2015).
    pub forget_bias: f64,
    /// Batch normalisation after each hidden linear layer (Ioffe & Szegedy 2015).
    pub batch_norm: bool,
    /// An identity skip connection around every k hidden layers; 0 for none.
    pub residual_every: usize,
    /// Dropout rate after each hidden layer's activation, in training only.
    pub dropout: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            kind: ModelKind::Mlp,
            depth: 20,
            width: 64,
            activation: Activation::Sigmoid,
            leaky_slope: 0.01,
            init: Init::Standard,
            init_scale: 0.1,
            init_gain: 1.0,
            recurrent_init: Init::Standard,
            recurrent_gain: 1.0,
            forget_bias: 1.0,
            batch_norm: false,
            residual_every: 0,
            dropout: 0.0,
        }
    }
}

impl ModelConfig {
    /// The nonlinearity the probes watch: the hidden activation of an MLP or an RNN,
    /// the tanh candidate of an LSTM or a GRU.
    pub fn probed_activation(&self) -> Activation {
        match self.kind {
            ModelKind::Mlp | ModelKind::Rnn => self.activation,
            ModelKind::Lstm | ModelKind::Gru => Activation::Tanh,
        }
    }
}

/// Network families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Mlp,
    /// Elman's recurrent net: h_t = φ(x_t·W_x + h_{t−1}·W_h + b).
    Rnn,
    /// Long short-term memory (Hochreiter & Schmidhuber 1997, with the forget gate of
    /// Gers et al. 2000).
    Lstm,
    /// Gated recurrent unit (Cho et al. 2014).
    Gru,
}

impl ModelKind {
    pub const ALL: [Self; 4] = [Self::Mlp, Self::Rnn, Self::Lstm, Self::Gru];

    pub fn is_recurrent(self) -> bool {
        self != Self::Mlp
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Mlp => "mlp",
            Self::Rnn => "rnn",
            Self::Lstm => "lstm",
            Self::Gru => "gru",
        }
    }
}

/// Hidden-layer nonlinearities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Sigmoid,
    Tanh,
    Softsign,
    Relu,
    LeakyRelu,
    /// Leaky ReLU whose slope is learned, one per layer, starting at 0.25 (He et al. 2015).
    Prelu,
    Elu,
    /// Self-normalising ELU (Klambauer et al. 2017).
    Selu,
    /// Gaussian error linear unit, exact (erf) form.
    Gelu,
    /// x·σ(x), also called Swish.
    Silu,
}

impl Activation {
    pub const ALL: [Self; 10] = [
        Self::Sigmoid,
        Self::Tanh,
        Self::Softsign,
        Self::Relu,
        Self::LeakyRelu,
        Self::Prelu,
        Self::Elu,
        Self::Selu,
        Self::Gelu,
        Self::Silu,
    ];

    /// True for activations with flat tails, where a small derivative means a unit is
    /// stuck. The piecewise-linear ReLU kinds have no tails: their small-derivative side
    /// is simply inactive, and the dead-unit probe is the one that matters for them.
    pub fn saturates(self) -> bool {
        !matches!(self, Self::Relu | Self::LeakyRelu | Self::Prelu)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Sigmoid => "sigmoid",
            Self::Tanh => "tanh",
            Self::Softsign => "softsign",
            Self::Relu => "relu",
            Self::LeakyRelu => "leaky_relu",
            Self::Prelu => "prelu",
            Self::Elu => "elu",
            Self::Selu => "selu",
            Self::Gelu => "gelu",
            Self::Silu => "silu",
        }
    }
}

/// Weight initialisation schemes. Biases always start at zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// U(−1/√fan_in, 1/√fan_in), the classic default of older toolkits.
    Standard,
    /// Glorot & Bengio 2010: U(±√(6/(fan_in+fan_out))).
    XavierUniform,
    /// Glorot & Bengio 2010: N(0, 2/(fan_in+fan_out)).
    XavierNormal,
    /// He et al. 2015: U(±√(6/fan_in)).
    HeUniform,
    /// He et al. 2015: N(0, 2/fan_in).
    HeNormal,
    /// LeCun et al. 1998: N(0, 1/fan_in), the partner of SELU.
    LecunNormal,
    /// Saxe et al. 2014: a random orthogonal matrix (all singular values 1).
    Orthogonal,
    /// The identity matrix (ones on the diagonal of a rectangular one), as in the
    /// IRNN of Le, Jaitly & Hinton 2015.
    Identity,
    /// N(0, σ²) with σ = `init_scale`.
    Normal,
    /// U(−a, a) with a = `init_scale`.
    Uniform,
}

impl Init {
    pub const ALL: [Self; 10] = [
        Self::Standard,
        Self::XavierUniform,
        Self::XavierNormal,
        Self::HeUniform,
        Self::HeNormal,
        Self::LecunNormal,
        Self::Orthogonal,
        Self::Identity,
        Self::Normal,
        Self::Uniform,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::XavierUniform => "xavier_uniform",
            Self::XavierNormal => "xavier_normal",
            Self::HeUniform => "he_uniform",
            Self::HeNormal => "he_normal",
            Self::LecunNormal => "lecun_normal",
            Self::Orthogonal => "orthogonal",
            Self::Identity => "identity",
            Self::Normal => "normal",
            Self::Uniform => "uniform",
        }
    }
}

// ---------------------------------------------------------------------------
// Training

/// How the network is trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub optimizer: Optimizer,
    pub lr: f64,
    pub batch_size: usize,
    /// Steps a run takes before it finishes by itself.
    pub steps: u64,
    /// Test accuracy is measured every this many steps (and at the last step).
    pub eval_every: u64,
    pub dtype: Precision,
    /// Momentum coefficient of `momentum` and `nesterov`.
    pub momentum: f64,
    /// L2 penalty: added to the gradient (coupled) for every optimiser but `adamw`,
    /// which decays the weights directly (decoupled, Loshchilov & Hutter 2019).
    pub weight_decay: f64,
    pub clip: Clip,
    /// Global-norm bound of `norm` clipping, or element bound of `value` clipping.
    pub clip_threshold: f64,
    pub schedule: Schedule,
    /// Steps of linear warm-up from lr/warmup_steps to lr; 0 for none.
    pub warmup_steps: u64,
    /// `step` schedule: multiply the learning rate by `decay_factor` every
    /// `decay_every` steps.
    pub decay_every: u64,
    pub decay_factor: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            optimizer: Optimizer::Sgd,
            lr: 0.1,
            batch_size: 32,
            steps: 20_000,
            eval_every: 100,
            dtype: Precision::F32,
            momentum: 0.9,
            weight_decay: 0.0,
            clip: Clip::None,
            clip_threshold: 1.0,
            schedule: Schedule::Constant,
            warmup_steps: 0,
            decay_every: 5000,
            decay_factor: 0.5,
        }
    }
}

/// Optimisers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    Sgd,
    Momentum,
    Nesterov,
    Adam,
    Adamw,
    Rmsprop,
}

impl Optimizer {
    pub const ALL: [Self; 6] = [
        Self::Sgd,
        Self::Momentum,
        Self::Nesterov,
        Self::Adam,
        Self::Adamw,
        Self::Rmsprop,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Sgd => "sgd",
            Self::Momentum => "momentum",
            Self::Nesterov => "nesterov",
            Self::Adam => "adam",
            Self::Adamw => "adamw",
            Self::Rmsprop => "rmsprop",
        }
    }
}

/// Gradient clipping, applied after the probes and before the optimiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clip {
    None,
    /// Scale all gradients together so that their global norm is at most the threshold.
    Norm,
    /// Clamp every gradient element to [−threshold, threshold].
    Value,
}

impl Clip {
    pub const ALL: [Self; 3] = [Self::None, Self::Norm, Self::Value];

    pub fn label(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Norm => "norm",
            Self::Value => "value",
        }
    }
}

/// How the learning rate changes over a run (after any warm-up).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Constant,
    /// Multiplied by `decay_factor` every `decay_every` steps.
    Step,
    /// Half a cosine from lr down to 0 over the run's steps.
    Cosine,
}

impl Schedule {
    pub const ALL: [Self; 3] = [Self::Constant, Self::Step, Self::Cosine];

    pub fn label(self) -> &'static str {
        match self {
            Self::Constant => "constant",
            Self::Step => "step",
            Self::Cosine => "cosine",
        }
    }
}

/// Floating-point precision of weights, activations and gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    F32,
    /// Shows how far a vanishing gradient really falls: f32 stops near 1e-45.
    F64,
}

impl Precision {
    pub fn label(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F64 => "f64",
        }
    }
}
