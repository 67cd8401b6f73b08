//! Networks on candle: the multilayer perceptron, its activations and initialisers.

pub mod activation;
pub mod init;
mod mlp;

pub use activation::apply_activation;
pub use mlp::{BatchNorm, Linear, Mlp, Mode, Parameter, Trace};
