//! Gradient Lab: watch gradients vanish and explode, and test every remedy.
//!
//! The core (everything but [`ui`]) never touches the GUI, so an experiment runs the
//! same in the app, on the command line and in the tests.

pub mod bench;
pub mod colormap;
pub mod config;
pub mod data;
pub mod diagnosis;
pub mod export;
pub mod history;
pub mod model;
pub mod parallel;
pub mod presets;
pub mod rng;
pub mod run;
pub mod session;
pub mod sweep;
pub mod sweep_queue;
pub mod theory;
pub mod train;
pub mod ui;
