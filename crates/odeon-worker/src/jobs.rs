//! Running a cell's training job outside the cell, asynchronously (see
//! `odeon_notebook::runtime::Compute::Deferred`).
//!
//! [`drive_job`] queues training steps on the backend and reads their losses
//! in batches through an asynchronous `read` (on the web:
//! `Wgpu::read_f32_async`, which completes only once the worker's event loop
//! runs). Between batches it reports progress and the loss curve exactly as
//! a cell on the CPU would, stops when asked, and ends with one read of the
//! trained parameters. It is generic over the backend and the read, so the
//! native tests run the very same driver on the CPU and on lavapipe.

use std::future::Future;

use odeon_methods::MethodError;
use odeon_notebook::events::Event;
use odeon_notebook::runtime::{Job, JobOutput, TrainingProgress};
use odeon_tensor::{Backend, Tensor, TensorError};

/// Steps queued between two reads of the losses: about twenty reads per
/// run (each is a round trip to the GPU), at most 50 steps apart.
pub fn read_every(steps: usize) -> usize {
    (steps / 20).clamp(1, 50)
}

/// Runs `job` on `backend`, reading with `read`; progress events go to
/// `sink`, and `should_stop` is asked after every read.
///
/// # Errors
///
/// Bad settings, divergence (at the first non-finite loss, as on the CPU),
/// or the device failing (then `odeon_notebook::runtime::is_device_failure`
/// holds and the caller may run the job on the CPU instead).
pub async fn drive_job<B, R, F>(
    backend: &B,
    job: &Job,
    read: R,
    sink: &mut dyn FnMut(Event),
    should_stop: &dyn Fn() -> bool,
) -> Result<JobOutput, MethodError>
where
    B: Backend,
    R: Fn(Tensor<B>) -> F,
    F: Future<Output = Result<Vec<f32>, TensorError>>,
{
    let mut trainer = job.trainer(backend)?;
    let total = job.steps();
    let chunk = read_every(total);
    let mut progress = TrainingProgress::new(total);
    let mut losses = Vec::with_capacity(total);
    let mut queued: Vec<Tensor<B>> = Vec::with_capacity(chunk);
    let mut stopped = None;
    while trainer.steps_done() < total {
        queued.push(trainer.step()?.reshape(&[1])?);
        if queued.len() < chunk && trainer.steps_done() < total {
            continue;
        }
        let parts: Vec<&Tensor<B>> = queued.iter().collect();
        let values = read(Tensor::concat(&parts, 0)?).await?;
        queued.clear();
        for loss in values {
            let step = losses.len();
            if !loss.is_finite() {
                return Err(MethodError::Diverged { step, loss });
            }
            losses.push(loss);
            progress.observe(step + 1, total, loss, sink);
        }
        if should_stop() {
            stopped = Some(MethodError::Stopped { step: losses.len(), total });
            break;
        }
    }
    let params = trainer.final_parameters();
    let flat = params.iter().map(|p| p.reshape(&[p.len()])).collect::<Result<Vec<_>, _>>()?;
    let parts: Vec<&Tensor<B>> = flat.iter().collect();
    let values = read(Tensor::concat(&parts, 0)?).await?;
    let mut split = Vec::with_capacity(params.len());
    let mut at = 0;
    for p in &params {
        split.push(values.get(at..at + p.len()).map(<[f32]>::to_vec).ok_or_else(|| TensorError::Device("the GPU returned too few parameters".into()))?);
        at += p.len();
    }
    Ok(JobOutput::Trained { parameters: split, losses, stopped })
}

#[cfg(test)]
mod tests {
    use super::*;
    use odeon_methods::data::RingMixture;
    use odeon_methods::rectified_flow::{Coupling, Objective, Pairs, TrainConfig, VelocityModel};
    use odeon_nn::Activation;
    use odeon_notebook::runtime::run_on;
    use odeon_tensor::Cpu;

    fn job(steps: usize) -> Job {
        Job::TrainRectifiedFlow {
            model: VelocityModel::new(2, 16, 2, Activation::Silu, 1).expect("sizes"),
            coupling: RingMixture::eight_gaussians().into(),
            objective: Objective::default(),
            config: TrainConfig { steps, batch: 32, lr: 3e-3, seed: 2 },
        }
    }

    /// A reflow job with the "++" objective: fixed pairs, U-shaped times, pseudo-Huber.
    fn reflow_job(steps: usize) -> Job {
        let Job::TrainRectifiedFlow { model, config, .. } = job(steps) else { unreachable!("a rectified-flow job") };
        let mut rng = odeon_tensor::SeedStream::new(5, "test/pairs");
        let noise = rng.normal_tensor(&[64, 2]);
        let data = RingMixture::eight_gaussians().sample(64, &mut rng).expect("draw");
        let coupling = Coupling::Pairs(Pairs::new(&noise, &data).expect("pairs"));
        Job::TrainRectifiedFlow { model, coupling, objective: Objective::plus_plus(), config }
    }

    /// One small job of every other method: a score-parameterised diffusion
    /// model (its loss scales the output), an interpolant velocity
    /// (antithetic batches), a class-conditional noise predictor and a
    /// PFGM++ denoiser (D = 16).
    fn other_jobs(steps: usize) -> Vec<Job> {
        use odeon_methods::adjoint_dpm::ConditionalDiffusion;
        use odeon_methods::diffusion::{DiffusionModel, Parameterisation};
        use odeon_methods::gmm::Gmm;
        use odeon_methods::interpolants::{Field, Interpolant, InterpolantModel};
        use odeon_methods::gauge::{Manifold, ManifoldData, ScoreKind, ScoreModel};
        let data = Gmm::ring(4, 3.0, 0.3).expect("ring");
        let manifold = ManifoldData::new(Manifold::Circle, 3, 1.0, 0.0, 7).expect("circle");
        let config = TrainConfig { steps, batch: 32, lr: 3e-3, seed: 3 };
        let net = || VelocityModel::new(2, 16, 2, Activation::Silu, 4).expect("sizes");
        vec![
            Job::TrainDiffusion { model: DiffusionModel::new(net(), Parameterisation::Score, 1.0), data: data.clone(), config },
            Job::TrainInterpolant {
                model: InterpolantModel { net: net(), field: Field::Velocity, interpolant: Interpolant::new(1.0).expect("c"), source: None },
                data: data.clone(),
                config,
            },
            Job::TrainConditional { model: ConditionalDiffusion::new(2, 4, 16, 2, Activation::Silu, 5).expect("sizes"), data: data.clone(), config },
            Job::TrainPfgm {
                model: odeon_methods::pfgm::PfgmModel::new(net(), odeon_methods::pfgm::Augmentation::Finite(16.0), data.coordinate_std()).expect("model"),
                data,
                config,
            },
            Job::TrainScore {
                model: ScoreModel::new(ScoreKind::Conservative, 3, 16, 2, Activation::Silu, Parameterisation::Eps, manifold.coordinate_std(), 6).expect("model"),
                data: manifold,
                config,
            },
        ]
    }

    #[test]
    fn the_async_driver_reproduces_the_in_cell_run_bit_for_bit() {
        for job in [job(45), reflow_job(45)].into_iter().chain(other_jobs(45)) {
            let want = run_on(&Cpu, &job, &mut |_, _, _| true).expect("inline");
            let mut events = Vec::new();
            let got = pollster::block_on(drive_job(&Cpu, &job, |t: Tensor| async move { t.to_f32_vec() }, &mut |e| events.push(e), &|| false))
                .expect("driven");
            assert_eq!(got, want);
            let progress = events.iter().filter(|e| matches!(e, Event::Progress { .. })).count();
            assert_eq!(progress, 45, "one progress event per step, as in a cell");
        }
        let (JobOutput::Trained { losses: a, .. }, JobOutput::Trained { losses: b, .. }) =
            (run_on(&Cpu, &job(20), &mut |_, _, _| true).expect("1-RF"), run_on(&Cpu, &reflow_job(20), &mut |_, _, _| true).expect("reflow"))
        else {
            panic!("both train")
        };
        assert_ne!(a, b, "the reflow job trains on its pairs with its own loss");
    }

    #[test]
    fn stop_divergence_and_device_failures_are_reported() {
        let job = job(40);
        let reads = std::cell::Cell::new(0);
        let stop = || reads.get() >= 2;
        let out = pollster::block_on(drive_job(
            &Cpu,
            &job,
            |t: Tensor| {
                reads.set(reads.get() + 1);
                async move { t.to_f32_vec() }
            },
            &mut |_| {},
            &stop,
        ))
        .expect("stopped cleanly");
        let JobOutput::Trained { losses, stopped, .. } = out else { panic!("{out:?}") };
        assert_eq!(losses.len(), 2 * read_every(40));
        assert_eq!(stopped, Some(MethodError::Stopped { step: 4, total: 40 }));

        let lost = pollster::block_on(drive_job(
            &Cpu,
            &job,
            |_t: Tensor| async { Err::<Vec<f32>, _>(TensorError::Device("the GPU device was lost".into())) },
            &mut |_| {},
            &|| false,
        ))
        .expect_err("device lost");
        assert!(odeon_notebook::runtime::is_device_failure(&lost), "{lost:?}");

        let Job::TrainRectifiedFlow { model, config, .. } = job else { unreachable!("a rectified-flow job") };
        let far = Job::TrainRectifiedFlow {
            model,
            coupling: RingMixture { radius: 1e30, ..RingMixture::eight_gaussians() }.into(),
            objective: Objective::default(),
            config,
        };
        let err = pollster::block_on(drive_job(&Cpu, &far, |t: Tensor| async move { t.to_f32_vec() }, &mut |_| {}, &|| false))
            .expect_err("diverges");
        assert!(matches!(err, MethodError::Diverged { step: 0, .. }), "{err:?}");
    }

    /// The same driver on the GPU backend (lavapipe in CI) matches the CPU.
    #[test]
    fn the_async_driver_on_the_gpu_matches_the_cpu() {
        let backend = match pollster::block_on(odeon_gpu::Wgpu::request()) {
            Ok(b) => b,
            Err(err) => {
                assert!(std::env::var("ODEON_REQUIRE_GPU").as_deref() != Ok("1"), "ODEON_REQUIRE_GPU=1 but no GPU: {err}");
                return;
            }
        };
        // The reflow job's pseudo-Huber loss runs row sums and square roots on the GPU too.
        for job in [job(30), reflow_job(30)].into_iter().chain(other_jobs(30)) {
        let Ok(JobOutput::Trained { losses: want, parameters: cpu_params, .. }) = run_on(&Cpu, &job, &mut |_, _, _| true) else { panic!("cpu run") };
        let reader = backend.clone();
        let out = pollster::block_on(drive_job(
            &backend,
            &job,
            move |t| {
                let reader = reader.clone();
                async move { reader.read_f32_async(t.storage()).await }
            },
            &mut |_| {},
            &|| false,
        ))
        .expect("gpu");
        let JobOutput::Trained { losses, parameters, .. } = out else { panic!("{out:?}") };
        let worst = losses.iter().zip(&want).map(|(a, b)| ((a - b) / b).abs()).fold(0.0f32, f32::max);
        assert!(losses.len() == 30 && worst < 1e-4, "losses differ by {worst:e}");
        let (a, b) = (parameters.concat(), cpu_params.concat());
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-4 * scale, "parameters differ by {diff:e} (scale {scale})");
        }
    }
}
