//! Diffusion-model numerics shared by the generative notebooks: noise
//! schedules and the probability-flow ODE with exact likelihoods.
//!
//! With the variance-preserving (VP) SDE `dx = -beta(t)/2 x dt + sqrt(beta(t)) dW`
//! the marginal at time `t` is `x_t = a(t) x_0 + s(t) z` with
//! `a(t) = exp(-1/2 int_0^t beta)` and `s(t) = sqrt(1 - a(t)^2)`. Its
//! probability-flow ODE `dx/dt = -beta(t)/2 (x + grad log p_t(x))` moves
//! samples along the same marginals, and the instantaneous change of
//! variables `d/dt log p_t(x_t) = -div f(x_t, t)` turns one solve into an
//! exact log-likelihood when the score is exact (a Gaussian mixture's).

use odeon_solve::ode::{OdeOptions, Solver, solve_ode};

use crate::MethodError;
use crate::gmm::Gmm;

/// The VP schedule with `beta(t) = beta_min + t (beta_max - beta_min)` on `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VpSchedule {
    /// `beta(0)`.
    pub beta_min: f64,
    /// `beta(1)`.
    pub beta_max: f64,
}

impl Default for VpSchedule {
    /// The common choice `beta_min = 0.1`, `beta_max = 20`.
    fn default() -> Self {
        VpSchedule { beta_min: 0.1, beta_max: 20.0 }
    }
}

impl VpSchedule {
    /// `beta(t)`.
    pub fn beta(&self, t: f64) -> f64 {
        self.beta_min + t * (self.beta_max - self.beta_min)
    }

    /// The signal scale `a(t)`.
    pub fn alpha(&self, t: f64) -> f64 {
        libm::exp(-0.5 * (self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t))
    }

    /// The noise scale `s(t) = sqrt(1 - a(t)^2)`.
    pub fn sigma(&self, t: f64) -> f64 {
        (1.0 - self.alpha(t).powi(2)).max(0.0).sqrt()
    }

    /// The data law noised to time `t`.
    pub fn marginal(&self, data: &Gmm, t: f64) -> Gmm {
        data.noised(self.alpha(t), self.sigma(t))
    }
}

/// A probability-flow likelihood: the value and what the solve cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Likelihood {
    /// `log p_0(x_0)` from the ODE.
    pub log_likelihood: f64,
    /// The endpoint `x_1` reached, as `log p_1(x_1)`.
    pub prior_log_density: f64,
    /// Vector-field evaluations of the solve.
    pub nfe: usize,
}

/// `log p_0(x0)` by integrating the probability-flow ODE with the exact
/// score of `data` from `t = 0` to `t = 1` (Dormand-Prince at `rtol = atol =
/// tol`) together with the divergence integral, then adding the exact
/// `log p_1` at the endpoint.
pub fn pf_ode_log_likelihood(data: &Gmm, schedule: &VpSchedule, x0: &[f64], tol: f64) -> Result<Likelihood, MethodError> {
    let d = data.dim();
    if x0.len() != d {
        return Err(MethodError::Config(format!("the data are {d}-D but the point has {} coordinates", x0.len())));
    }
    let mut failure: Option<MethodError> = None;
    let mut field = |t: f64, state: &Vec<f64>| -> Result<Vec<f64>, odeon_solve::ode::SolveError> {
        let marginal = schedule.marginal(data, t);
        let x = &state[..d];
        let beta = schedule.beta(t);
        let result = marginal.score(x).and_then(|score| Ok((score, marginal.laplacian_log_density(x)?)));
        let (score, laplacian) = result.map_err(|e| {
            let message = e.to_string();
            failure = Some(e);
            odeon_solve::ode::SolveError::VectorField(message)
        })?;
        let mut out: Vec<f64> = x.iter().zip(&score).map(|(xi, si)| -0.5 * beta * (xi + si)).collect();
        // d/dt of the accumulated divergence.
        out.push(-0.5 * beta * (d as f64 + laplacian));
        Ok(out)
    };
    let mut y0 = x0.to_vec();
    y0.push(0.0);
    let solution = solve_ode(&mut field, Solver::Dopri5, 0.0, 1.0, None, &y0, &OdeOptions::tolerances(tol, tol));
    if let Some(err) = failure {
        return Err(err);
    }
    let solution = solution?;
    let end = solution.last().ok_or_else(|| MethodError::Config("the solve saved no state".into()))?;
    let prior = schedule.marginal(data, 1.0).log_density(&end[..d])?;
    Ok(Likelihood { log_likelihood: prior + end[d], prior_log_density: prior, nfe: solution.stats.nfe })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_runs_from_data_to_noise() {
        let s = VpSchedule::default();
        assert_eq!(s.alpha(0.0), 1.0);
        assert_eq!(s.sigma(0.0), 0.0);
        assert!(s.alpha(1.0) < 7e-3 && (s.sigma(1.0) - 1.0).abs() < 1e-4);
        // a' = -beta a / 2.
        let (t, h) = (0.3, 1e-6);
        let da = (s.alpha(t + h) - s.alpha(t - h)) / (2.0 * h);
        assert!((da + 0.5 * s.beta(t) * s.alpha(t)).abs() < 1e-7);
    }

    /// With the exact score the probability-flow ODE gives the exact
    /// log-likelihood (here to 1e-5 at tolerance 1e-9), in and far outside
    /// the modes.
    #[test]
    fn exact_score_gives_exact_likelihoods() {
        let data = Gmm::ring(8, 4.0, 0.3).expect("ring");
        let schedule = VpSchedule::default();
        for x0 in [[4.0, 0.1], [2.9, 2.7], [0.0, 0.0], [-1.0, 3.0]] {
            let run = pf_ode_log_likelihood(&data, &schedule, &x0, 1e-9).expect("solves");
            let exact = data.log_density(&x0).expect("density");
            assert!((run.log_likelihood - exact).abs() < 1e-5 * (1.0 + exact.abs()), "{x0:?}: ODE {} vs exact {exact} ({} NFE)", run.log_likelihood, run.nfe);
        }
        assert!(pf_ode_log_likelihood(&data, &schedule, &[1.0], 1e-6).is_err());
    }
}
