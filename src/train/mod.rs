//! Training: one step at a time through [`Trainer`], optimisers and clipping, probes,
//! norms that survive underflow, and the worker thread that runs a trainer for the app.

pub mod checkpoint;
pub(crate) mod norm;
pub mod optim;
pub mod probes;
mod record;
pub mod rows;
mod sgd;
mod trainer;
mod worker;

pub use norm::{host_values, scaled_norm, tensor_norm};
pub(crate) use norm::{norm_f32, norm_f64};
pub use record::{LayerMetric, Scale, StepRecord};
pub use trainer::{TrainError, Trainer};
pub use worker::{Command, OpenedRun, RunState, RunToSave, Worker, WorkerEvent, WorkerUnavailable};
