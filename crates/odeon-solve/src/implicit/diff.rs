//! Implicit differentiation through a root or fixed point.

use std::rc::Rc;

use odeon_autodiff::{AutodiffError, Tape, Var};
use odeon_tensor::{Backend, Tensor};

use crate::linalg::{KrylovOptions, try_gmres};

use super::ImplicitError;

/// An implicit vector-Jacobian product.
#[derive(Debug, Clone)]
pub struct ImplicitVjp<B: Backend> {
    /// `∂L/∂θ` for each parameter, in the order given (same shapes).
    pub grads: Vec<Tensor<B>>,
    /// The adjoint `w` solving `(∂F/∂x)ᵀ w = v` (shape of `x*`).
    pub adjoint: Tensor<B>,
    /// GMRES iterations spent on the adjoint system.
    pub iterations: usize,
    /// GMRES residual history of the adjoint system.
    pub residuals: Vec<f64>,
}

fn first<B: Backend>(v: Vec<Var<B>>) -> Result<Var<B>, ImplicitError> {
    v.into_iter().next().ok_or_else(|| AutodiffError::Shape("no gradient was returned".into()).into())
}

/// The gradient `∂L/∂θ` of a loss through a root `x*(θ)` of `F(x, θ) = 0`,
/// by the implicit function theorem.
///
/// `residual(x, params)` computes `F` with odeon-autodiff ops and must
/// return a value of the shape of `x`. `x_star` is the root (found by any
/// solver), `params` the values of `θ`, `cotangent` is `v = ∂L/∂x*`. The
/// adjoint system `(∂F/∂x)ᵀ w = v` is solved by GMRES with `options`
/// (matrix-free: each product is one reverse pass over a tape recorded
/// once), then `∂L/∂θ = -wᵀ ∂F/∂θ`. An adjoint solve that does not reach
/// the tolerance is an error.
pub fn implicit_vjp<B: Backend>(
    residual: impl Fn(&Var<B>, &[Var<B>]) -> Result<Var<B>, AutodiffError>,
    x_star: &Tensor<B>,
    params: &[Tensor<B>],
    cotangent: &Tensor<B>,
    options: &KrylovOptions,
) -> Result<ImplicitVjp<B>, ImplicitError> {
    if cotangent.shape() != x_star.shape() {
        return Err(ImplicitError::Parameter(format!(
            "the cotangent has shape {:?} but x* has shape {:?}",
            cotangent.shape(),
            x_star.shape()
        )));
    }
    let tape: Rc<Tape<B>> = Tape::new();
    let x = tape.leaf(x_star.clone());
    let thetas: Vec<Var<B>> = params.iter().map(|p| tape.leaf(p.clone())).collect();
    let f = residual(&x, &thetas)?;
    if f.value().shape() != x_star.shape() {
        return Err(ImplicitError::Function(format!(
            "F(x, θ) has shape {:?} but x has shape {:?}; the implicit function theorem needs a square system",
            f.value().shape(),
            x_star.shape()
        )));
    }
    let shape = f.value().shape().to_vec();
    let dtype = f.value().dtype();
    let backend = x_star.backend().clone();
    let as_var = |w: &[f64]| -> Result<Var<B>, ImplicitError> {
        Ok(tape.constant(Tensor::from_f64_in(&backend, &shape, w, dtype)?))
    };
    // w ↦ (∂F/∂x)ᵀ w: one reverse pass, nothing recorded.
    let apply_transpose = |w: &[f64]| -> Result<Vec<f64>, ImplicitError> {
        let jt_w = first(tape.vjp(&f, &[&x], &as_var(w)?, false)?)?;
        Ok(jt_w.value().to_f64_vec()?)
    };
    let v = cotangent.to_f64_vec()?;
    let solve = try_gmres(apply_transpose, &v, None, options)?;
    if !solve.converged {
        return Err(ImplicitError::AdjointNotConverged {
            residual: solve.residuals.last().copied().unwrap_or(f64::NAN),
            iterations: solve.iterations,
        });
    }
    let w = as_var(&solve.x)?;
    let theta_refs: Vec<&Var<B>> = thetas.iter().collect();
    let grads = tape
        .vjp(&f, &theta_refs, &w, false)?
        .into_iter()
        .map(|g| Ok(g.value().scale(-1.0)?))
        .collect::<Result<Vec<_>, ImplicitError>>()?;
    Ok(ImplicitVjp { grads, adjoint: w.value().clone(), iterations: solve.iterations, residuals: solve.residuals })
}

/// The gradient `∂L/∂θ` through a fixed point `x* = g(x*, θ)`: the same as
/// [`implicit_vjp`] with `F(x, θ) = x - g(x, θ)`, i.e. it solves
/// `(I - ∂g/∂x)ᵀ w = v` and returns `wᵀ ∂g/∂θ`.
pub fn fixed_point_vjp<B: Backend>(
    g: impl Fn(&Var<B>, &[Var<B>]) -> Result<Var<B>, AutodiffError>,
    x_star: &Tensor<B>,
    params: &[Tensor<B>],
    cotangent: &Tensor<B>,
    options: &KrylovOptions,
) -> Result<ImplicitVjp<B>, ImplicitError> {
    implicit_vjp(|x, p| x.sub(&g(x, p)?), x_star, params, cotangent, options)
}
