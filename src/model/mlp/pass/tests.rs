//! The written-out pass against the same net under candle's autograd (whose fused ops
//! are themselves checked against unfused candle ops and finite differences): logits,
//! every parameter's gradient, every layer output's gradient, the trace and batch
//! norm's running statistics, for each fused activation with batch norm, residual
//! connections and dropout, in f32 and f64.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::config::{Activation, ModelConfig};
use crate::model::Mode;

const BATCH: usize = 24;
const INPUTS: usize = 5;
const CLASSES: usize = 3;

fn net(config: &ModelConfig, dtype: DType) -> Result<Mlp> {
    Mlp::new(
        config,
        INPUTS,
        CLASSES,
        dtype,
        &mut ChaCha8Rng::seed_from_u64(11),
    )
}

fn inputs(dtype: DType) -> Result<(Tensor, Tensor)> {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let x: Vec<f64> = (0..BATCH * INPUTS)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let y: Vec<u32> = (0..BATCH).map(|i| (i % CLASSES) as u32).collect();
    Ok((
        Tensor::from_vec(x, (BATCH, INPUTS), &Device::Cpu)?.to_dtype(dtype)?,
        Tensor::from_vec(y, BATCH, &Device::Cpu)?,
    ))
}

fn masks(config: &ModelConfig, dtype: DType) -> Result<Option<Vec<Tensor>>> {
    if config.dropout == 0.0 {
        return Ok(None);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let keep = 1.0 / (1.0 - config.dropout);
    (0..config.depth)
        .map(|_| {
            let m: Vec<f64> = (0..BATCH * config.width)
                .map(|_| {
                    if rng.random_bool(config.dropout) {
                        0.0
                    } else {
                        keep
                    }
                })
                .collect();
            Tensor::from_vec(m, (BATCH, config.width), &Device::Cpu)?.to_dtype(dtype)
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn bits(t: &Tensor) -> Result<Vec<u64>> {
    let v = t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    Ok(v.into_iter().map(f64::to_bits).collect())
}

/// Equal values; a zero's sign is not compared (the autograd path adds gradients to
/// a zero tensor, which turns −0 into +0).
fn assert_same(what: &str, a: &Tensor, b: &Tensor) -> Result<()> {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    let (a, b) = (bits(a)?, bits(b)?);
    let differ = a
        .iter()
        .zip(&b)
        .filter(|&(&x, &y)| x != y && f64::from_bits(x) != f64::from_bits(y))
        .count();
    assert_eq!(differ, 0, "{what}: {differ} of {} values differ", a.len());
    Ok(())
}

fn check(config: &ModelConfig, dtype: DType) -> Result<()> {
    let name = format!("{config:?} {dtype:?}");
    let (x, y) = inputs(dtype)?;
    let masks = masks(config, dtype)?;

    // candle's autograd over the fused ops.
    let reference = net(config, dtype)?;
    let (logits, trace) = reference.forward(&x, Mode::Train, true, masks.as_deref())?;
    let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
    let grads = loss.backward()?;

    // The written-out pass, with ∂L/∂logits from the same loss.
    let direct = net(config, dtype)?;
    let pass = direct.train_pass(&x, masks.as_deref(), true, |logits| {
        let logits = Var::from_tensor(logits)?;
        let loss = candle_nn::loss::cross_entropy(logits.as_tensor(), &y)?;
        let grads = loss.backward()?;
        match grads.get(logits.as_tensor()) {
            Some(grad) => Ok(grad.clone()),
            None => candle_core::bail!("no gradient for the logits"),
        }
    })?;

    assert_same(&format!("{name}: logits"), &pass.logits, &logits)?;
    let params = reference.parameters();
    assert_eq!(pass.param_grads.len(), params.len(), "{name}");
    for (i, (got, param)) in pass.param_grads.iter().zip(&params).enumerate() {
        let (Some(got), Some(want)) = (got, grads.get(param.var.as_tensor())) else {
            panic!("{name}: parameter {i} has no gradient on one path");
        };
        assert_same(&format!("{name}: parameter {i}"), got, want)?;
    }
    assert_eq!(pass.trace.output_grads.len(), trace.output_grads.len());
    for (i, (got, want)) in pass
        .trace
        .output_grads
        .iter()
        .zip(&trace.output_grads)
        .enumerate()
    {
        let (Some(got), Some(want)) = (got.get(), want.get()) else {
            panic!("{name}: layer {} output gradient missing", i + 1);
        };
        assert_same(&format!("{name}: ∂L/∂h_{}", i + 1), got, want)?;
    }
    for (i, (got, want)) in pass.trace.outputs.iter().zip(&trace.outputs).enumerate() {
        assert_same(&format!("{name}: h_{}", i + 1), got, want)?;
    }
    for (i, (got, want)) in pass
        .trace
        .pre_activations
        .iter()
        .zip(&trace.pre_activations)
        .enumerate()
    {
        assert_same(&format!("{name}: z_{}", i + 1), got, want)?;
    }
    // The probes the pass took, against the trainer's functions on the reference.
    let Some(taken) = &pass.probes else {
        panic!("{name}: a probed pass took no probes");
    };
    let norm = |t: &Tensor| crate::train::tensor_norm(t);
    let want_params = params
        .iter()
        .map(|p| grads.get(p.var.as_tensor()).map_or(Ok(0.0), norm))
        .collect::<Result<Vec<f64>>>()?;
    assert_eq!(
        taken.param_grad_norms, want_params,
        "{name}: parameter norms"
    );
    let want_outputs = trace
        .output_grads
        .iter()
        .map(|slot| slot.get().map_or(Ok(0.0), norm))
        .collect::<Result<Vec<f64>>>()?;
    assert_eq!(
        taken.output_grad_norms, want_outputs,
        "{name}: output norms"
    );
    let host = |t: &Tensor| t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>();
    for (i, z) in trace.pre_activations.iter().enumerate() {
        let want = probes::saturation(
            &host(z)?,
            config.width,
            config.activation,
            config.leaky_slope,
        );
        assert_eq!(
            taken.saturation[i],
            want,
            "{name}: saturation of layer {}",
            i + 1
        );
    }
    assert_eq!(taken.saturation.len(), trace.pre_activations.len());
    let want_moments = trace
        .outputs
        .iter()
        .map(|h| Ok(probes::moments(&host(h)?)))
        .collect::<Result<Vec<_>>>()?;
    assert_eq!(taken.moments, want_moments, "{name}: moments");
    for (got, want) in direct.batch_norms().iter().zip(reference.batch_norms()) {
        assert_same(
            &name,
            got.running_mean.as_tensor(),
            want.running_mean.as_tensor(),
        )?;
        assert_same(
            &name,
            got.running_var.as_tensor(),
            want.running_var.as_tensor(),
        )?;
    }
    Ok(())
}

fn config(
    activation: Activation,
    batch_norm: bool,
    residual_every: usize,
    dropout: f64,
) -> ModelConfig {
    ModelConfig {
        depth: 5,
        width: 7,
        activation,
        batch_norm,
        residual_every,
        dropout,
        ..ModelConfig::default()
    }
}

#[test]
fn same_numbers_as_candles_autograd() -> Result<()> {
    for activation in [Activation::Relu, Activation::Sigmoid, Activation::Tanh] {
        for (batch_norm, residual_every, dropout) in [
            (false, 0, 0.0),
            (true, 0, 0.0),
            (false, 2, 0.0),
            (false, 1, 0.0),
            (false, 0, 0.3),
            (true, 2, 0.3),
        ] {
            let config = config(activation, batch_norm, residual_every, dropout);
            for dtype in [DType::F32, DType::F64] {
                check(&config, dtype)?;
            }
        }
    }
    Ok(())
}

/// The pass at the sizes the reference workloads use, where gemm takes its blocked
/// kernels: a 4 × 256 ReLU net with batch norm, batch 256.
#[test]
fn same_numbers_at_a_workload_size() -> Result<()> {
    let config = ModelConfig {
        depth: 4,
        width: 256,
        activation: Activation::Relu,
        batch_norm: true,
        ..ModelConfig::default()
    };
    // The batch is fixed by `inputs`; widths are what reach gemm's blocking.
    check(&config, DType::F32)
}

#[test]
fn other_activations_are_refused() -> Result<()> {
    for activation in [Activation::Prelu, Activation::Gelu] {
        let mlp = net(&config(activation, false, 0, 0.0), DType::F32)?;
        assert!(!mlp.trains_directly(), "{activation:?}");
        let (x, _) = inputs(DType::F32)?;
        assert!(mlp.train_pass(&x, None, false, |l| Ok(l.clone())).is_err());
    }
    let mlp = net(&config(Activation::Tanh, false, 0, 0.0), DType::F32)?;
    assert!(mlp.trains_directly());
    Ok(())
}
