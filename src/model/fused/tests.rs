//! Each fused op against the composition of candle ops it replaces (values and
//! gradients), and batch norm's hand-written backward against finite differences.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::model::apply_activation;

const ALL: [FusedActivation; 4] = [
    FusedActivation::Identity,
    FusedActivation::Relu,
    FusedActivation::Sigmoid,
    FusedActivation::Tanh,
];

fn random(rows: usize, cols: usize, dtype: DType, seed: u64) -> Result<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values: Vec<f64> = (0..rows * cols)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    Tensor::from_vec(values, (rows, cols), &Device::Cpu)?.to_dtype(dtype)
}

fn var(rows: usize, cols: usize, dtype: DType, seed: u64) -> Result<Var> {
    Var::from_tensor(&random(rows, cols, dtype, seed)?.squeeze(0)?)
}

/// The activation as the candle ops the MLP used before fusing.
fn unfused(z: &Tensor, activation: FusedActivation) -> Result<Tensor> {
    let activation = match activation {
        FusedActivation::Identity => return Ok(z.clone()),
        FusedActivation::Relu => Activation::Relu,
        FusedActivation::Sigmoid => Activation::Sigmoid,
        FusedActivation::Tanh => Activation::Tanh,
    };
    apply_activation(z, activation, 0.0, None)
}

/// The largest difference between two tensors relative to the largest magnitude of
/// the second.
fn relative_difference(a: &Tensor, b: &Tensor) -> Result<f64> {
    let a = a.to_dtype(DType::F64)?.flatten_all()?;
    let b = b.to_dtype(DType::F64)?.flatten_all()?;
    let scale = b.abs()?.max(0)?.to_scalar::<f64>()?.max(1e-300);
    Ok((a - b)?.abs()?.max(0)?.to_scalar::<f64>()? / scale)
}

fn assert_close(what: &str, a: &Tensor, b: &Tensor, tolerance: f64) -> Result<()> {
    let diff = relative_difference(a, b)?;
    assert!(
        diff <= tolerance,
        "{what}: relative difference {diff:e} > {tolerance:e}"
    );
    Ok(())
}

/// A weighting of the output so that every element has its own gradient.
fn weighted_sum(out: &Tensor, weights: &Tensor) -> Result<Tensor> {
    out.mul(weights)?.sum_all()
}

/// The composition of candle ops a fused op replaces, with a zero-valued variable added
/// to its output to read ∂L/∂output.
struct Reference<'a> {
    output: &'a Tensor,
    pre_activation: &'a Tensor,
    probe: &'a Var,
}

/// A fused op's (output, pre-activation, kept ∂L/∂output) agree with `reference` in
/// value, and in the gradients of `vars` and of the output, for the loss
/// Σ weights ⊙ output.
fn assert_same(
    label: &str,
    tolerance: f64,
    (output, pre_activation, output_grad): (&Tensor, &Tensor, Option<&Slot>),
    reference: Reference<'_>,
    weights: &Tensor,
    vars: &[(&str, &Var)],
) -> Result<()> {
    let fused_grads = weighted_sum(output, weights)?.backward()?;
    let grads = weighted_sum(reference.output, weights)?.backward()?;
    let what = |name: &str| format!("{label} {name}");
    assert_close(&what("output"), output, reference.output, tolerance)?;
    assert_close(
        &what("pre-activation"),
        pre_activation,
        reference.pre_activation,
        tolerance,
    )?;
    for &(name, var) in vars {
        let (Some(got), Some(want)) = (fused_grads.get(var), grads.get(var)) else {
            panic!("{}: missing gradient", what(name));
        };
        assert_close(&what(name), got, want, tolerance)?;
    }
    let kept = output_grad.and_then(|slot| slot.get());
    match (kept, grads.get(reference.probe.as_tensor())) {
        (Some(kept), Some(want)) => assert_close(&what("∂L/∂output"), kept, want, 0.0),
        _ => panic!("{}: output gradient missing", what("∂L/∂output")),
    }
}

/// Dense layers agree with matmul, broadcast_add and the activation as candle ops, in
/// values and in the gradients of h, W and b; the kept output gradient equals the one
/// a zero-valued variable added to the output receives. The arithmetic is the same,
/// element for element, so the tolerance is a few roundings.
#[test]
fn dense_matches_the_candle_composition() -> Result<()> {
    for (dtype, tolerance) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
        for activation in ALL {
            let (batch, fan_in, fan_out) = (7, 5, 6);
            let h = var(batch, fan_in, dtype, 1)?;
            let w = var(fan_in, fan_out, dtype, 2)?;
            let b = var(1, fan_out, dtype, 3)?;
            let weights = random(batch, fan_out, dtype, 4)?;

            let fused = dense(
                h.as_tensor(),
                w.as_tensor(),
                b.as_tensor(),
                activation,
                true,
            )?;
            let probe = Var::zeros((batch, fan_out), dtype, &Device::Cpu)?;
            let z = h
                .as_tensor()
                .matmul(w.as_tensor())?
                .broadcast_add(b.as_tensor())?;
            let out = (unfused(&z, activation)? + probe.as_tensor())?;
            let label = format!("dense {activation:?} {dtype:?}");
            let reference = Reference {
                output: &out,
                pre_activation: &z,
                probe: &probe,
            };
            let vars = [("dh", &h), ("dW", &w), ("db", &b)];
            let fused = (
                &fused.output,
                &fused.pre_activation,
                fused.output_grad.as_ref(),
            );
            assert_same(&label, tolerance, fused, reference, &weights, &vars)?;
        }
    }
    Ok(())
}

/// Batch normalisation as the MLP computed it before fusing, from candle ops.
fn unfused_batch_norm(u: &Tensor, gamma: &Tensor, beta: &Tensor) -> Result<Tensor> {
    let mean = u.mean_keepdim(0)?;
    let centred = u.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(0)?;
    centred
        .broadcast_div(&(var + 1e-5)?.sqrt()?)?
        .broadcast_mul(gamma)?
        .broadcast_add(beta)
}

/// The fused batch norm (and activation) agrees with the candle composition in values,
/// statistics and gradients: to 1e-10 in f64 and 1e-4 of the largest value in f32
/// (the fused op accumulates in f64, candle in f32; the gradient of u is a difference
/// of sums of 64 terms).
#[test]
fn batch_norm_matches_the_candle_composition() -> Result<()> {
    for (dtype, tolerance) in [(DType::F32, 1e-4), (DType::F64, 1e-10)] {
        for activation in ALL {
            let (batch, units) = (64, 5);
            let u = Var::from_tensor(&random(batch, units, dtype, 5)?.affine(3.0, 1.5)?)?;
            let gamma = var(1, units, dtype, 6)?;
            let beta = var(1, units, dtype, 7)?;
            let weights = random(batch, units, dtype, 8)?;
            let (g, b) = (gamma.as_tensor(), beta.as_tensor());

            let fused = batch_norm_train(u.as_tensor(), g, b, 1e-5, activation, true)?;
            let probe = Var::zeros((batch, units), dtype, &Device::Cpu)?;
            let y = unfused_batch_norm(u.as_tensor(), g, b)?;
            let out = (unfused(&y, activation)? + probe.as_tensor())?;
            let label = format!("batch norm {activation:?} {dtype:?}");
            let mean = u.as_tensor().mean_keepdim(0)?;
            let var = u.as_tensor().broadcast_sub(&mean)?.sqr()?.mean_keepdim(0)?;
            assert_close(
                &format!("{label} mean"),
                &fused.stats.mean,
                &mean,
                tolerance,
            )?;
            assert_close(
                &format!("{label} variance"),
                &fused.stats.var,
                &var,
                tolerance,
            )?;
            let reference = Reference {
                output: &out,
                pre_activation: &y,
                probe: &probe,
            };
            let vars = [("du", &u), ("dγ", &gamma), ("dβ", &beta)];
            let fused = (
                &fused.output,
                &fused.pre_activation,
                fused.output_grad.as_ref(),
            );
            assert_same(&label, tolerance, fused, reference, &weights, &vars)?;
        }
    }
    Ok(())
}

/// Batch norm's backward against central finite differences of the forward in f64,
/// for a smooth activation (tanh) and the identity: every element of u, γ and β, to
/// 1e-6 of the largest gradient (the differences' error is about h² = 1e-10 times
/// the third derivative, plus rounding of 1e-16/h).
#[test]
fn batch_norm_gradients_match_finite_differences() -> Result<()> {
    let (batch, units) = (6, 3);
    let weights = random(batch, units, DType::F64, 9)?;
    for activation in [FusedActivation::Identity, FusedActivation::Tanh] {
        let u = random(batch, units, DType::F64, 10)?;
        let gamma = random(1, units, DType::F64, 11)?.squeeze(0)?;
        let beta = random(1, units, DType::F64, 12)?.squeeze(0)?;
        let loss = |u: &Tensor, g: &Tensor, b: &Tensor| -> Result<f64> {
            let out = batch_norm_train(u, g, b, 1e-5, activation, false)?.output;
            weighted_sum(&out, &weights)?.to_scalar::<f64>()
        };
        let vars = [
            Var::from_tensor(&u)?,
            Var::from_tensor(&gamma)?,
            Var::from_tensor(&beta)?,
        ];
        let [u_var, g_var, b_var] = &vars;
        let out = batch_norm_train(
            u_var.as_tensor(),
            g_var.as_tensor(),
            b_var.as_tensor(),
            1e-5,
            activation,
            false,
        )?;
        let grads = weighted_sum(&out.output, &weights)?.backward()?;

        let step = 1e-5;
        let inputs = [u, gamma, beta];
        for (which, var) in vars.iter().enumerate() {
            let Some(analytic) = grads.get(var) else {
                panic!("{activation:?}: no gradient for input {which}");
            };
            let analytic = analytic.flatten_all()?.to_vec1::<f64>()?;
            let base = inputs[which].flatten_all()?.to_vec1::<f64>()?;
            let scale = analytic.iter().fold(0.0f64, |m, g| m.max(g.abs()));
            for (i, &want) in analytic.iter().enumerate() {
                let shifted = |delta: f64| -> Result<f64> {
                    let mut values = base.clone();
                    values[i] += delta;
                    let mut args = inputs.clone();
                    args[which] = Tensor::from_vec(values, inputs[which].shape(), &Device::Cpu)?;
                    loss(&args[0], &args[1], &args[2])
                };
                let numeric = (shifted(step)? - shifted(-step)?) / (2.0 * step);
                assert!(
                    (numeric - want).abs() <= 1e-6 * scale,
                    "{activation:?} input {which}[{i}]: finite difference {numeric}, backward {want}"
                );
            }
        }
    }
    Ok(())
}

/// A tap returns its input and passes the gradient through unchanged, keeping a copy.
#[test]
fn tap_keeps_the_gradient_it_passes() -> Result<()> {
    let x = var(3, 4, DType::F32, 13)?;
    let weights = random(3, 4, DType::F32, 14)?;
    let (tapped, slot) = tap(&x.as_tensor().tanh()?)?;
    assert_close("value", &tapped, &x.as_tensor().tanh()?, 0.0)?;
    let grads = weighted_sum(&tapped, &weights)?.backward()?;
    let Some(kept) = slot.get() else {
        panic!("the tap kept no gradient");
    };
    assert_close("kept gradient", kept, &weights, 0.0)?;
    let reference = weighted_sum(&x.as_tensor().tanh()?, &weights)?.backward()?;
    match (grads.get(&x), reference.get(&x)) {
        (Some(got), Some(want)) => assert_close("dx", got, want, 0.0),
        _ => panic!("missing gradient"),
    }
}
