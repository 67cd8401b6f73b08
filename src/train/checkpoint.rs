//! Everything needed to continue a run exactly where it stopped: the model's and the
//! optimiser's tensors (stored as safetensors) and the small state that is plain data
//! (step count, batch order, random generators).

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::BatchSampler;

/// The plain-data part of a trainer's state, stored in the session JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainerState {
    pub steps_done: u64,
    pub sampler: BatchSampler,
    pub dropout_rng: ChaCha8Rng,
    /// Optimiser steps taken (Adam's bias correction counts them).
    pub optimizer_steps: i32,
}

/// A trainer's complete state.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub state: TrainerState,
    /// Model tensors (`layer3.weight`, `bn2.running_mean`, …) and optimiser tensors
    /// (`opt5.velocity`, …).
    pub tensors: HashMap<String, Tensor>,
}

/// The tensors as a safetensors file's bytes.
pub fn tensors_to_bytes(tensors: &HashMap<String, Tensor>) -> candle_core::Result<Vec<u8>> {
    safetensors::tensor::serialize(tensors, None).map_err(candle_core::Error::wrap)
}

/// Tensors from a safetensors file's bytes; malformed bytes are an error, never a panic.
pub fn tensors_from_bytes(bytes: &[u8]) -> candle_core::Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_round_trip_bit_for_bit() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let mut tensors = HashMap::new();
        tensors.insert(
            "a".to_owned(),
            Tensor::new(&[[1.5f32, -0.0], [1e-42, f32::MAX]], &dev)?,
        );
        tensors.insert("b".to_owned(), Tensor::new(&[3e-300f64], &dev)?);
        let back = tensors_from_bytes(&tensors_to_bytes(&tensors)?)?;
        let a: Vec<u32> = back["a"]
            .flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .map(|v| v.to_bits())
            .collect();
        let want: Vec<u32> = [1.5f32, -0.0, 1e-42, f32::MAX]
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(a, want);
        assert_eq!(back["b"].to_vec1::<f64>()?, vec![3e-300]);
        Ok(())
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(tensors_from_bytes(b"not safetensors at all").is_err());
        assert!(tensors_from_bytes(&[255; 16]).is_err());
    }
}
