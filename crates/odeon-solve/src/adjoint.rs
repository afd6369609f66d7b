//! # Gradients through an ODE solve
//!
//! Three ways to get `dL/dy0` and `dL/dtheta` for a loss `L(y(t1))` of the
//! solution of `dy/dt = f(t, y, theta)`, all with the same arguments:
//!
//! * [`discretise_then_optimise`]: solve with [`Var`] states and let the
//!   tape differentiate the steps that were taken. Exact gradient of the
//!   discrete solution (step sizes are constants); memory grows with the
//!   number of steps (rejected trial steps are recorded as well).
//! * [`backsolve_adjoint`]: the continuous adjoint of Chen, Rubanova,
//!   Bettencourt & Duvenaud, *Neural Ordinary Differential Equations*
//!   (NeurIPS 2018): integrate the augmented state `[y, a, g]` backwards from
//!   `t1` to `t0`, with `dy/dt = f`, `da/dt = -a^T df/dy`,
//!   `dg/dt = -a^T df/dtheta`, `a(t1) = dL/dy(t1)`, `g(t1) = 0`; then
//!   `dL/dy0 = a(t0)` and `dL/dtheta = g(t0)`. Constant memory, but `y` is
//!   recomputed backwards, which is inaccurate for dynamics that are
//!   unstable in reverse time (strongly contracting forward).
//! * [`interpolating_adjoint`]: the same adjoint equations, with `y(t)` read
//!   from the dense output of the forward solve (cubic Hermite per step,
//!   third order) instead of being integrated backwards: robust where
//!   backsolve is not, at the cost of storing the forward steps.
//!
//! Every evaluation of the adjoint vector field builds a fresh [`Tape`],
//! makes `y` and the parameters leaves, calls `f` and takes one
//! vector-Jacobian product ([`Tape::vjp`]); the states themselves are plain
//! `f64` vectors, so the solver's error control covers `y`, `a` and `g`
//! alike. The continuous adjoints are gradients of the exact solution, so
//! they agree with [`discretise_then_optimise`] to about the solver
//! tolerance: use tight tolerances (`1e-8` to `1e-10`) for gradient checks.
//!
//! **Conditioning inputs** (a context vector, a control signal's
//! coefficients) are simply more entries of `params`: their gradients come
//! back in [`AdjointGradients::grad_params`] in the same order.
//!
//! The vector field has the signature
//! `Fn(t: f64, y: &Var, params: &[Var]) -> Result<Var, SolveError>` with
//! `y` of shape `[n]` (`f64`, CPU) and must return shape `[n]`; build
//! constants with `y.tape().constant(...)` or `y.constant_like(...)`.

use odeon_autodiff::{Tape, Var};
use odeon_tensor::{DType, Tensor};

use crate::ode::{Controller, OdeOptions, OdeStats, SaveAt, SolveError, Solver, solve_ode};

/// Gradients of a loss of `y(t1)`.
#[derive(Debug, Clone)]
pub struct AdjointGradients {
    /// The loss at the forward solution.
    pub loss: f64,
    /// The forward solution `y(t1)`.
    pub y1: Vec<f64>,
    /// `dL/dy0`.
    pub grad_y0: Vec<f64>,
    /// `dL/dtheta` for each parameter (same shapes, `f64`).
    pub grad_params: Vec<Tensor>,
    /// Statistics of the forward solve.
    pub forward: OdeStats,
    /// Statistics of the backward (adjoint) solve; `None` for
    /// discretise-then-optimise.
    pub backward: Option<OdeStats>,
}

fn vector(values: &[f64]) -> Result<Tensor, SolveError> {
    Ok(Tensor::from_f64(&[values.len()], values.to_vec())?)
}

fn params_f64(params: &[Tensor]) -> Result<Vec<Tensor>, SolveError> {
    params.iter().map(|p| Ok(p.cast(DType::F64)?)).collect()
}

fn check_output(out: &Var, n: usize) -> Result<(), SolveError> {
    if out.value().shape() != [n] {
        return Err(SolveError::BadArgument(format!(
            "the vector field must return shape [{n}] for a state of shape [{n}], got {:?}",
            out.value().shape()
        )));
    }
    Ok(())
}

/// `f(t, y, theta)` on plain values (no gradient).
fn eval_plain<F>(f: &F, params: &[Tensor], t: f64, y: &[f64]) -> Result<Vec<f64>, SolveError>
where
    F: Fn(f64, &Var, &[Var]) -> Result<Var, SolveError>,
{
    let tape = Tape::new();
    let yv = tape.constant(vector(y)?);
    let pv: Vec<Var> = params.iter().map(|p| tape.constant(p.clone())).collect();
    let out = f(t, &yv, &pv)?;
    check_output(&out, y.len())?;
    Ok(out.value().to_f64_vec()?)
}

/// `f(t, y, theta)`, `a^T df/dy` and `[a^T df/dtheta_i]` flattened.
type VjpParts = (Vec<f64>, Vec<f64>, Vec<f64>);

/// `(f(t, y, theta), a^T df/dy, [a^T df/dtheta_i])`, flattened.
fn eval_vjp<F>(
    f: &F,
    params: &[Tensor],
    t: f64,
    y: &[f64],
    a: &[f64],
) -> Result<VjpParts, SolveError>
where
    F: Fn(f64, &Var, &[Var]) -> Result<Var, SolveError>,
{
    let tape = Tape::new();
    let yv = tape.leaf(vector(y)?);
    let pv: Vec<Var> = params.iter().map(|p| tape.leaf(p.clone())).collect();
    let out = f(t, &yv, &pv)?;
    check_output(&out, y.len())?;
    let cot = tape.constant(vector(a)?);
    let mut wrt: Vec<&Var> = vec![&yv];
    wrt.extend(pv.iter());
    let grads = tape.vjp(&out, &wrt, &cot, false)?;
    let mut it = grads.iter();
    let gy = match it.next() {
        Some(g) => g.value().to_f64_vec()?,
        None => vec![0.0; y.len()],
    };
    let mut gp = Vec::new();
    for g in it {
        gp.extend(g.value().to_f64_vec()?);
    }
    Ok((out.value().to_f64_vec()?, gy, gp))
}

/// The loss and its gradient at `y1`.
fn loss_and_grad<L>(loss: &L, y1: &[f64]) -> Result<(f64, Vec<f64>), SolveError>
where
    L: Fn(&Var) -> Result<Var, SolveError>,
{
    let tape = Tape::new();
    let y = tape.leaf(vector(y1)?);
    let l = loss(&y)?;
    let g = tape.grad(&l, &[&y], false)?;
    let g = match g.first() {
        Some(g) => g.value().to_f64_vec()?,
        None => vec![0.0; y1.len()],
    };
    Ok((l.value().item()?, g))
}

/// Splits a flat gradient into tensors shaped like `params`.
fn unflatten(flat: &[f64], params: &[Tensor]) -> Result<Vec<Tensor>, SolveError> {
    let mut out = Vec::with_capacity(params.len());
    let mut at = 0;
    for p in params {
        let n = p.len();
        let part = flat
            .get(at..at + n)
            .ok_or_else(|| SolveError::BadArgument("parameter gradient size mismatch".into()))?;
        out.push(Tensor::from_f64(p.shape(), part.to_vec())?);
        at += n;
    }
    Ok(out)
}

fn check_y0(y0: &[f64]) -> Result<(), SolveError> {
    if y0.is_empty() {
        return Err(SolveError::BadArgument("y0 is empty".into()));
    }
    Ok(())
}

/// Forward solve with plain vectors: `y(t1)` and the solution (with dense
/// output when `dense`).
#[allow(clippy::too_many_arguments)]
fn forward<F>(
    f: &F,
    params: &[Tensor],
    solver: Solver,
    t0: f64,
    t1: f64,
    dt0: Option<f64>,
    y0: &[f64],
    options: &OdeOptions,
    dense: bool,
) -> Result<(Vec<f64>, crate::ode::OdeSolution<Vec<f64>>), SolveError>
where
    F: Fn(f64, &Var, &[Var]) -> Result<Var, SolveError>,
{
    let opts = OdeOptions {
        save_at: SaveAt::Final,
        dense,
        ..options.clone()
    };
    let sol = solve_ode(
        |t, y: &Vec<f64>| eval_plain(f, params, t, y),
        solver,
        t0,
        t1,
        dt0,
        &y0.to_vec(),
        &opts,
    )?;
    let y1 = sol
        .last()
        .cloned()
        .ok_or_else(|| SolveError::BadArgument("the forward solve saved nothing".into()))?;
    Ok((y1, sol))
}

/// Discretise-then-optimise: solves with [`Var`] states on one tape and
/// differentiates `loss(y(t1))` through the accepted steps.
///
/// `options.save_at` is ignored (only `y(t1)` is needed).
#[allow(clippy::too_many_arguments)]
pub fn discretise_then_optimise<F, L>(
    f: &F,
    params: &[Tensor],
    loss: &L,
    solver: Solver,
    t0: f64,
    t1: f64,
    dt0: Option<f64>,
    y0: &[f64],
    options: &OdeOptions,
) -> Result<AdjointGradients, SolveError>
where
    F: Fn(f64, &Var, &[Var]) -> Result<Var, SolveError>,
    L: Fn(&Var) -> Result<Var, SolveError>,
{
    check_y0(y0)?;
    let params = params_f64(params)?;
    let tape = Tape::new();
    let yv = tape.leaf(vector(y0)?);
    let pv: Vec<Var> = params.iter().map(|p| tape.leaf(p.clone())).collect();
    let n = y0.len();
    let opts = OdeOptions {
        save_at: SaveAt::Final,
        dense: false,
        ..options.clone()
    };
    let sol = solve_ode(
        |t, y: &Var| {
            let out = f(t, y, &pv)?;
            check_output(&out, n)?;
            Ok(out)
        },
        solver,
        t0,
        t1,
        dt0,
        &yv,
        &opts,
    )?;
    let y1 = sol
        .last()
        .ok_or_else(|| SolveError::BadArgument("the solve saved nothing".into()))?;
    let l = loss(y1)?;
    let mut wrt: Vec<&Var> = vec![&yv];
    wrt.extend(pv.iter());
    let grads = tape.grad(&l, &wrt, false)?;
    let mut it = grads.into_iter();
    let grad_y0 = match it.next() {
        Some(g) => g.value().to_f64_vec()?,
        None => vec![0.0; n],
    };
    let grad_params = it.map(|g| g.value().clone()).collect();
    Ok(AdjointGradients {
        loss: l.value().item()?,
        y1: y1.value().to_f64_vec()?,
        grad_y0,
        grad_params,
        forward: sol.stats,
        backward: None,
    })
}

/// First step of the backward solve: `-dt0` for constant steps, automatic
/// for the adaptive controller.
fn backward_dt0(options: &OdeOptions, dt0: Option<f64>) -> Option<f64> {
    match options.controller {
        Controller::Constant => dt0.map(|d| -d),
        Controller::Pid(_) => None,
    }
}

/// Integrates an adjoint system `field` backwards from `z1` at `t1` to `t0`
/// (same solver and controller as the forward solve, final state only).
/// Returns `z(t0)` and the backward statistics.
#[allow(clippy::too_many_arguments)]
fn solve_backward(
    field: impl FnMut(f64, &Vec<f64>) -> Result<Vec<f64>, SolveError>,
    solver: Solver,
    t0: f64,
    t1: f64,
    dt0: Option<f64>,
    z1: &Vec<f64>,
    options: &OdeOptions,
) -> Result<(Vec<f64>, OdeStats), SolveError> {
    let opts = OdeOptions { save_at: SaveAt::Final, dense: false, ..options.clone() };
    let back = solve_ode(field, solver, t1, t0, backward_dt0(options, dt0), z1, &opts)?;
    let z0 = back
        .ys
        .last()
        .cloned()
        .ok_or_else(|| SolveError::BadArgument("the backward solve saved nothing".into()))?;
    Ok((z0, back.stats))
}

/// Optimise-then-discretise, backsolve: the continuous adjoint of Chen et
/// al. (2018), integrating `[y, a, g]` backwards from `t1` to `t0` (see the
/// module docs). `dt0` is the forward first step (negated for constant
/// steps; the adaptive backward solve picks its own).
#[allow(clippy::too_many_arguments)]
pub fn backsolve_adjoint<F, L>(
    f: &F,
    params: &[Tensor],
    loss: &L,
    solver: Solver,
    t0: f64,
    t1: f64,
    dt0: Option<f64>,
    y0: &[f64],
    options: &OdeOptions,
) -> Result<AdjointGradients, SolveError>
where
    F: Fn(f64, &Var, &[Var]) -> Result<Var, SolveError>,
    L: Fn(&Var) -> Result<Var, SolveError>,
{
    check_y0(y0)?;
    let params = params_f64(params)?;
    let n = y0.len();
    let (y1, fwd) = forward(f, &params, solver, t0, t1, dt0, y0, options, false)?;
    let (loss_value, a1) = loss_and_grad(loss, &y1)?;
    let n_params: usize = params.iter().map(Tensor::len).sum();
    let mut z1 = y1.clone();
    z1.extend_from_slice(&a1);
    z1.extend(std::iter::repeat_n(0.0, n_params));
    let (z0, back) = solve_backward(
        |t, z: &Vec<f64>| {
            let (y, a) = (&z[..n], &z[n..2 * n]);
            let (fy, gy, gp) = eval_vjp(f, &params, t, y, a)?;
            let mut dz = fy;
            dz.extend(gy.iter().map(|g| -g));
            dz.extend(gp.iter().map(|g| -g));
            Ok(dz)
        },
        solver,
        t0,
        t1,
        dt0,
        &z1,
        options,
    )?;
    Ok(AdjointGradients {
        loss: loss_value,
        y1,
        grad_y0: z0[n..2 * n].to_vec(),
        grad_params: unflatten(&z0[2 * n..], &params)?,
        forward: fwd.stats,
        backward: Some(back),
    })
}

/// Optimise-then-discretise, interpolating: the adjoint equations for
/// `[a, g]` integrated backwards with `y(t)` from the forward solve's dense
/// output (see the module docs).
#[allow(clippy::too_many_arguments)]
pub fn interpolating_adjoint<F, L>(
    f: &F,
    params: &[Tensor],
    loss: &L,
    solver: Solver,
    t0: f64,
    t1: f64,
    dt0: Option<f64>,
    y0: &[f64],
    options: &OdeOptions,
) -> Result<AdjointGradients, SolveError>
where
    F: Fn(f64, &Var, &[Var]) -> Result<Var, SolveError>,
    L: Fn(&Var) -> Result<Var, SolveError>,
{
    check_y0(y0)?;
    let params = params_f64(params)?;
    let n = y0.len();
    let (y1, fwd) = forward(f, &params, solver, t0, t1, dt0, y0, options, true)?;
    let dense = fwd
        .dense
        .as_ref()
        .ok_or_else(|| SolveError::BadArgument("the forward solve kept no dense output".into()))?;
    let (loss_value, a1) = loss_and_grad(loss, &y1)?;
    let n_params: usize = params.iter().map(Tensor::len).sum();
    let mut z1 = a1;
    z1.extend(std::iter::repeat_n(0.0, n_params));
    let (lo, hi) = (t0.min(t1), t0.max(t1));
    let (z0, back) = solve_backward(
        |t, z: &Vec<f64>| {
            let y = dense.evaluate(t.clamp(lo, hi))?;
            let (_, gy, gp) = eval_vjp(f, &params, t, &y, &z[..n])?;
            let mut dz: Vec<f64> = gy.iter().map(|g| -g).collect();
            dz.extend(gp.iter().map(|g| -g));
            Ok(dz)
        },
        solver,
        t0,
        t1,
        dt0,
        &z1,
        options,
    )?;
    Ok(AdjointGradients {
        loss: loss_value,
        y1,
        grad_y0: z0[..n].to_vec(),
        grad_params: unflatten(&z0[n..], &params)?,
        forward: fwd.stats,
        backward: Some(back),
    })
}
