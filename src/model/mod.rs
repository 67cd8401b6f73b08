//! Networks on candle: the multilayer perceptron, its activations and initialisers.

pub mod activation;
pub mod fused;
pub mod init;
mod mlp;
mod recurrence;
mod recurrent;

pub use activation::apply_activation;
pub use mlp::{BatchNorm, Linear, Mlp, Mode, Parameter, PassProbes, Trace, TrainPass};
pub use recurrent::{RecurrentLayer, RecurrentNet, RecurrentTrace, num_blocks};
