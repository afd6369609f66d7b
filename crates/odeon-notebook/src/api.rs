//! The script API reference: one entry per function a cell can call.
//!
//! This table is the source of the playground's reference page (`#/api`)
//! and of `odeon api` on the command line. A runtime test compares it with
//! the functions the Rhai engine actually registers, so a function cannot
//! be added, renamed or removed without its entry following.
//!
//! Plain data with no Rhai dependency, so the page can show it without
//! shipping the runtime.

/// One documented script function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiEntry {
    /// Section heading it is listed under.
    pub section: &'static str,
    /// Function name as scripts call it.
    pub name: &'static str,
    /// Call forms, e.g. `sample(target, n, seed) -> Points`.
    pub signatures: &'static [&'static str],
    /// What it does, its options and its errors.
    pub doc: &'static str,
    /// A short example.
    pub example: &'static str,
}

/// Sections in display order, each with an introduction.
pub const SECTIONS: &[(&str, &str)] = &[
    ("Notebook", "Every cell sees the notebook's `seed` and the chosen `profile` (`ci`, `default` or `big`); variables a cell defines stay visible to later cells, like a notebook kernel. Functions that take a map of options (`#{ key: value }`) reject unknown keys, so typos are caught."),
    ("Data", "Toy data sets and noise as point clouds (`Points`, an `n` x `d` array of 32-bit floats). The same seed always gives the same points, on every machine and in every browser."),
    ("Models and training", "Models live on the engine; training loops run in Rust and report progress, the live loss curve and divergence. Stop ends them within a step."),
    ("Sampling and solvers", "Samplers integrate a learned field with fixed-step or adaptive ODE solvers from odeon-solve."),
    ("Metrics", "Numbers that go into the cell's metrics table, and the notebook's success criteria with pass or fail."),
    ("Plots and tables", "Every plot can be downloaded as SVG, PNG or CSV. A plot or table with the same title in the same cell replaces the earlier one, so a loop can update it live."),
];

/// Limits every cell runs under.
pub const LIMITS: &[(&str, &str)] = &[
    ("script steps per cell", "200 million (an endless loop ends with a message; built-in functions count as one step)"),
    ("function call depth", "64"),
    ("text", "1 MB per string"),
    ("arrays", "4 million items"),
    ("maps", "65 536 keys"),
    ("points per plot series", "200 000"),
    ("heat map cells", "16 384 (e.g. 128 x 128)"),
    ("numbers in one set of points", "16 777 216 (64 MB)"),
    ("memory of the compute worker", "what the browser gives WebAssembly (at most 4 GB); if a cell runs out, the worker is restarted and the page says so"),
];

/// Every documented function, in display order within its section.
pub const API: &[ApiEntry] = &[
    ApiEntry {
        section: "Notebook",
        name: "print",
        signatures: &["print(value)"],
        doc: "Writes a line of text under the cell. Template strings format values: print(`loss ${l}`).",
        example: "print(`seed is ${seed}, profile ${profile}`);",
    },
    ApiEntry {
        section: "Notebook",
        name: "clock",
        signatures: &["clock() -> float"],
        doc: "Seconds on a monotonic clock, to time part of a cell: take clock() before and after. Wall time changes from run to run and machine to machine, so show it in a table, not as a metric a share link should reproduce.",
        example: "let t0 = clock(); let losses = train_pfgm(model, data, #{}); print(`took ${clock() - t0} s`);",
    },
    ApiEntry {
        section: "Data",
        name: "eight_gaussians",
        signatures: &["eight_gaussians() -> Target"],
        doc: "The 8-Gaussians toy: eight equal modes with standard deviation 0.3 on a circle of radius 4.",
        example: "let target = eight_gaussians();",
    },
    ApiEntry {
        section: "Data",
        name: "ring_mixture",
        signatures: &["ring_mixture(modes, radius, std) -> Target"],
        doc: "A mixture of `modes` equal isotropic Gaussians whose centres are evenly spaced on a circle.",
        example: "let target = ring_mixture(5, 3.0, 0.2);",
    },
    ApiEntry {
        section: "Data",
        name: "sample",
        signatures: &["target.sample(n, seed) -> Points", "mixture.sample(n, seed) -> Points", "manifold_data.sample(n, seed) -> Points"],
        doc: "`n` (1 to 1 000 000) independent draws from the target (a ring mixture, a Gaussian mixture or manifold data).",
        example: "let data = target.sample(2000, seed + 1);",
    },
    ApiEntry {
        section: "Data",
        name: "log_density_grid",
        signatures: &["target.log_density_grid(#{ extent, n }) -> #{ values, x_range, y_range }", "mixture.log_density_grid(#{ extent, n }) -> #{ values, x_range, y_range }"],
        doc: "The exact log-density on an `n` x `n` grid (n from 2 to 128, default 48) over [-extent, extent]² (default 6), ready for `heatmap`.",
        example: "let g = target.log_density_grid(#{ extent: 6.0, n: 48 });\nheatmap(\"log p(x)\", g.values, #{ x_range: g.x_range, y_range: g.y_range });",
    },
    ApiEntry {
        section: "Data",
        name: "gaussian_noise",
        signatures: &["gaussian_noise(n, dim, seed) -> Points"],
        doc: "`n` draws of standard normal noise in `dim` dimensions (1 to 1024; at most 16 777 216 numbers in all).",
        example: "let noise = gaussian_noise(2000, 2, seed + 4);",
    },
    ApiEntry {
        section: "Data",
        name: "len",
        signatures: &["points.len() -> int"],
        doc: "The number of points.",
        example: "print(samples.len());",
    },
    ApiEntry {
        section: "Models and training",
        name: "velocity_mlp",
        signatures: &["velocity_mlp(#{ hidden, layers, activation, seed }) -> Model"],
        doc: "An MLP velocity field v(x, t) on 2-D points with sinusoidal time features. `hidden` width (default 128), `layers` hidden layers (default 3), `activation` one of silu, relu, tanh, gelu, softplus, sigmoid (default silu), `seed` for the initial weights.",
        example: "let model = velocity_mlp(#{ hidden: 128, layers: 3, activation: \"silu\", seed: seed + 2 });",
    },
    ApiEntry {
        section: "Models and training",
        name: "train_rectified_flow",
        signatures: &[
            "train_rectified_flow(model, target, #{ steps, batch, lr, seed, time, a, loss }) -> array of losses",
            "train_rectified_flow(model, pairs, #{ steps, batch, lr, seed, time, a, loss }) -> array of losses",
        ],
        doc: "Trains the model in place with the rectified-flow loss and Adam: on independent noise and target draws (1-rectified flow), or on fixed `pairs` from `reflow_pairs` (reflow). `steps` (default 1000), `batch` (default 256), learning rate `lr` (default 0.003, cosine-decayed to a tenth), `seed` for the batches. `time`: `\"uniform\"` (default) or `\"u-shaped\"`, the density a (e^{at} + e^{a(1-t)}) / (2 (e^a - 1)) of rectified flow++ with `a` (default 4). `loss`: `\"squared\"` (default) or `\"pseudo-huber\"`, (sqrt(|d|² + c²) - c) / dim with c = 0.00054 dim. Shows progress and a live loss curve; stops with a clear message if the loss becomes NaN or infinite. Runs on WebGPU when the notebook's compute setting picks it.",
        example: "let losses = train_rectified_flow(model, target, #{ steps: 2000, batch: 256, lr: 0.003, seed: seed + 3 });",
    },
    ApiEntry {
        section: "Models and training",
        name: "copy",
        signatures: &["model.copy() -> Model"],
        doc: "An independent copy of a model: training the copy leaves the original as it was (plain `let b = a;` shares one model).",
        example: "let rf2 = model.copy();",
    },
    ApiEntry {
        section: "Models and training",
        name: "reflow_pairs",
        signatures: &["reflow_pairs(model, noise, steps) -> Pairs"],
        doc: "Pairs each noise point with where the flow takes it (`steps` Euler steps), for reflow. `pairs.noise` and `pairs.data` are the two ends as Points; `len(pairs)` their number.",
        example: "let pairs = reflow_pairs(model, gaussian_noise(10000, 2, seed + 7), 100);",
    },
    ApiEntry {
        section: "Models and training",
        name: "noise",
        signatures: &["pairs.noise -> Points"],
        doc: "The noise ends of reflow pairs.",
        example: "scatter(\"pair ends\", #{ noise: pairs.noise, data: pairs.data });",
    },
    ApiEntry {
        section: "Models and training",
        name: "data",
        signatures: &["pairs.data -> Points"],
        doc: "The data ends of reflow pairs: where the flow took each noise point.",
        example: "scatter(\"where the flow lands\", #{ data: pairs.data });",
    },
    ApiEntry {
        section: "Models and training",
        name: "velocity_field",
        signatures: &["model.velocity_field(t, #{ extent, n }) -> #{ x, y, u, v }"],
        doc: "The model's velocity at time `t` (0 to 1) on an `n` x `n` grid (2 to 64, default 16) over [-extent, extent]², ready for `vector_field`.",
        example: "vector_field(\"v at t = 0.5\", model.velocity_field(0.5, #{ extent: 6.0, n: 15 }));",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "sample_rectified_flow",
        signatures: &["sample_rectified_flow(model, noise, steps) -> Points"],
        doc: "Integrates dx/dt = v(x, t) from t = 0 to 1 with `steps` Euler steps, starting at `noise`.",
        example: "let samples = sample_rectified_flow(model, noise, 20);",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "sample_rectified_flow_adaptive",
        signatures: &["sample_rectified_flow_adaptive(model, noise, #{ solver, rtol, atol }) -> #{ samples, nfe, accepted, rejected, ts, step_sizes, errors, stiffness }"],
        doc: "Integrates with an adaptive Runge-Kutta solver (`dopri5` default, `tsit5`, `bosh3`) at the given tolerances (default 1e-3), returning the samples and per-step statistics.",
        example: "let run = sample_rectified_flow_adaptive(model, noise, #{ solver: \"dopri5\", rtol: 1e-4, atol: 1e-4 });",
    },
    ApiEntry {
        section: "Models and training",
        name: "interpolant_mlp",
        signatures: &["interpolant_mlp(#{ field, c, from, hidden, layers, activation, seed }) -> InterpolantModel"],
        doc: "A network for one field of the stochastic interpolant x_t = (1 - t) x0 + t x1 + gamma(t) z with gamma = sqrt(c t (1 - t)) (`c` default 1; 0 is the straight line) and x0 ~ N(0, I), or x0 from the mixture `from` (a bridge between two mixtures): `field` \"velocity\" (b = E[x1 - x0 + gamma' z | x_t], default) or \"denoiser\" (eta = E[z | x_t], whose score is -eta / gamma). MLP settings as in `velocity_mlp`.",
        example: "let b = interpolant_mlp(#{ field: \"velocity\", c: 1.0, seed: seed + 5 });",
    },
    ApiEntry {
        section: "Models and training",
        name: "train_interpolant",
        signatures: &["train_interpolant(model, mixture, #{ steps, batch, lr, seed }) -> array of losses"],
        doc: "Trains the model on its field's regression (squared error to x1 - x0 + gamma' z, or to z) for data from the mixture, times uniform on [0.001, 0.999], with Adam and a moving average of the weights. The velocity loss uses each draw twice, with +z and -z (antithetic), so it sees 2 x batch points per step. `steps` default 2000, `batch` 256, `lr` 0.003.",
        example: "let losses = train_interpolant(b, data, #{ steps: 3000, batch: 128, seed: seed + 6 });",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "sample_interpolant",
        signatures: &["sample_interpolant(velocity, noise, #{ steps })", "sample_interpolant(velocity, denoiser, noise, #{ eps, steps, seed }) -> Points"],
        doc: "Integrates dX = (b + eps s) dt + sqrt(2 eps) dW from t = 0 (noise) to 1 with `steps` Euler-Maruyama steps (default 200), the fields taken at each step's midpoint; `eps` 0 (default) is the probability-flow ODE and needs no denoiser. `seed` draws the Brownian increments.",
        example: "let xs = sample_interpolant(b, eta, noise, #{ eps: 1.0, steps: 200, seed: seed + 10 });",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "sample_interpolant_exact",
        signatures: &["sample_interpolant_exact(mixture, start, #{ c, from, eps, steps, seed }) -> Points"],
        doc: "As `sample_interpolant`, with the exact velocity and score of the interpolant from N(0, I), or from the mixture `from`, to the mixture (closed forms); `start` are draws of the source.",
        example: "let xs = sample_interpolant_exact(data, noise, #{ c: 1.0, eps: 0.5, steps: 200, seed: 3 });",
    },
    ApiEntry {
        section: "Metrics",
        name: "field_error",
        signatures: &["field_error(model, mixture, #{ times, n, seed }) -> array"],
        doc: "The relative RMS error sqrt(E|f - f*|² / E|f*|²) of a learned interpolant field against the exact one, over `n` points (default 2000) drawn from p_t, at each of `times` (default [0.25, 0.5, 0.75]). A denoiser is compared as its score -eta / gamma.",
        example: "let errors = field_error(b, data, #{ times: [0.25, 0.5, 0.75], n: 2000, seed: 9 });",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "field_grid",
        signatures: &["model.field_grid(#{ t, extent, n }) -> #{ x, y, u, v }"],
        doc: "An interpolant model's field at time `t` (default 0.5) on an `n` x `n` grid over [-extent, extent]², ready for `vector_field` (a denoiser shows its score).",
        example: "vector_field(\"b at t = 0.5\", b.field_grid(#{ t: 0.5, extent: 6.0, n: 15 }));",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "exact_field_grid",
        signatures: &["exact_field_grid(mixture, #{ c, from, field, t, extent, n }) -> #{ x, y, u, v }"],
        doc: "The exact velocity (`field` \"velocity\", default) or score (\"denoiser\") of the interpolant to the mixture on a grid, like `field_grid`.",
        example: "vector_field(\"exact b\", exact_field_grid(data, #{ c: 1.0, t: 0.5, extent: 6.0, n: 15 }));",
    },
    ApiEntry {
        section: "Models and training",
        name: "conditional_diffusion_mlp",
        signatures: &["conditional_diffusion_mlp(#{ classes, hidden, layers, activation, seed }) -> ConditionalModel"],
        doc: "A class-conditional noise predictor on 2-D points (VP schedule): an MLP on the scaled point, sinusoidal time features and a condition c of `classes` numbers (default 8), predicting the noise as a residual over sigma_t x. Classes enter as one-hot conditions, so any other vector is a new embedding.",
        example: "let model = conditional_diffusion_mlp(#{ classes: 8, seed: seed + 2 });",
    },
    ApiEntry {
        section: "Models and training",
        name: "train_conditional_diffusion",
        signatures: &["train_conditional_diffusion(model, mixture, #{ steps, batch, lr, seed }) -> array of losses"],
        doc: "Trains the conditional model on labelled draws of the mixture (class = component) with the noise-prediction loss, Adam and a moving average of the weights. `steps` default 2000.",
        example: "let losses = train_conditional_diffusion(model, data, #{ steps: 3000, seed: seed + 3 });",
    },
    ApiEntry {
        section: "Models and training",
        name: "class_condition",
        signatures: &["model.class_condition(k) -> array"],
        doc: "The one-hot condition of class `k`.",
        example: "let c = model.class_condition(7);",
    },
    ApiEntry {
        section: "Data",
        name: "mean",
        signatures: &["mixture.mean(k) -> array"],
        doc: "The centre of component `k` of a mixture.",
        example: "let target = data.mean(3);",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "sample_conditional",
        signatures: &["sample_conditional(model, noise, condition, #{ steps }) -> Points"],
        doc: "DDIM (Euler steps of the probability-flow ODE in y = x / alpha, rho = sigma / alpha) from `noise` under `condition` (an array), `steps` default 20.",
        example: "let xs = sample_conditional(model, noise, model.class_condition(2), #{ steps: 20 });",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "sample_gradient",
        signatures: &["sample_gradient(model, noise, condition, #{ steps, target, method, iterations }) -> #{ loss, condition, noise, nfe, tape }"],
        doc: "The gradient of L = mean |x_0 - target|² over the DDIM samples from `noise`, with respect to the condition and the starting noise: `method` \"adjoint\" (default; the ODE and its adjoint integrated back together, each step's start recovered by one Euler step back, refined by `iterations` fixed-point iterations, default 0) or \"backprop\" (the whole sampler on one tape). `tape` is the largest tape recorded, in operations; `nfe` the network evaluations.",
        example: "let g = sample_gradient(model, noise, c, #{ steps: 50, target: data.mean(3), method: \"adjoint\" });",
    },
    ApiEntry {
        section: "Metrics",
        name: "cosine",
        signatures: &["cosine(a, b) -> float"],
        doc: "The cosine similarity of two arrays of numbers.",
        example: "let c = cosine(bp.condition, adj.condition);",
    },
    ApiEntry {
        section: "Models and training",
        name: "optimise_condition",
        signatures: &["optimise_condition(model, start, #{ target, steps, batch, lr, seed, sampler_steps }) -> #{ condition, losses }"],
        doc: "Optimises a condition, from `start`, so that DDIM samples land near `target`: Adam on the condition with adjoint gradients of mean |x_0 - target|², a fresh batch of `batch` noise points per step. `steps` default 60, `sampler_steps` default 20. Shows progress and the loss.",
        example: "let r = optimise_condition(model, model.class_condition(7), #{ target: data.mean(3), steps: 80, lr: 0.1 });",
    },
    ApiEntry {
        section: "Models and training",
        name: "pfgm_mlp",
        signatures: &["pfgm_mlp(mixture, #{ D, hidden, layers, activation, seed }) -> PfgmModel"],
        doc: "A PFGM++ model for the mixture's data with `D` augmented dimensions (a positive number, or \"inf\" for EDM): EDM's preconditioned denoiser around an MLP (default 3x128 SiLU), with EDM's noise levels scaled to the data's standard deviation. `model.D` and `model.sigma_max` read its settings.",
        example: "let model = pfgm_mlp(data, #{ D: 128, hidden: 64, seed: 1 });",
    },
    ApiEntry {
        section: "Models and training",
        name: "D",
        signatures: &["model.D -> float"],
        doc: "The number of augmented dimensions of a PFGM++ model (infinite for EDM).",
        example: "print(`D = ${model.D}`);",
    },
    ApiEntry {
        section: "Models and training",
        name: "sigma_max",
        signatures: &["model.sigma_max -> float"],
        doc: "The noise level of a PFGM++ model's prior (EDM's 80, scaled to the data).",
        example: "let ks = radius_ks(pfgm_radii(model.D, model.sigma_max, 4000, 1), model.D, model.sigma_max);",
    },
    ApiEntry {
        section: "Models and training",
        name: "train_pfgm",
        signatures: &["train_pfgm(model, mixture, #{ steps, batch, lr, seed }) -> losses"],
        doc: "Trains a PFGM++ model in place as in the official code: sigma log-normal, r = sigma sqrt(D), radius r sqrt(B/(1-B)) with B ~ Beta(1, D/2) in a uniform direction (Gaussian noise for D = inf), EDM's weighted denoiser loss. `steps` default 3000, `batch` 256, `lr` 0.003 (cosine-decayed), `seed` for the draws; the same seed gives every D the same data, sigmas and directions. Ends with the moving average of the weights. Runs on WebGPU when the notebook's compute setting picks it.",
        example: "let losses = train_pfgm(model, data, #{ steps: 3000, seed: 3 });",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "sample_pfgm",
        signatures: &["sample_pfgm(model, noise, #{ steps, alpha, seed }) -> Points"],
        doc: "Samples with EDM's Heun sampler (`steps` default 18, 2 steps - 1 evaluations) from the prior: the model's perturbation kernel at sigma_max, built from the Gaussian `noise` and radial draws from `seed`. `alpha` > 0 adds alpha sigma_{i+1} times fresh Gaussian noise after every step (the robustness test).",
        example: "let xs = sample_pfgm(model, gaussian_noise(2000, 2, 9), #{ steps: 18 });",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "heun_nfe",
        signatures: &["heun_nfe(steps) -> int"],
        doc: "Network evaluations of `sample_pfgm` with `steps` Heun steps: 2 steps - 1.",
        example: "let nfe = heun_nfe(18);",
    },
    ApiEntry {
        section: "Data",
        name: "pfgm_radii",
        signatures: &["pfgm_radii(D, sigma, n, seed) -> array"],
        doc: "`n` draws of the PFGM++ perturbation's radius |x - y| for 2-D data at noise level `sigma`, made by the training code's own sampler.",
        example: "let radii = pfgm_radii(16, 1.0, 4000, 7);",
    },
    ApiEntry {
        section: "Metrics",
        name: "pfgm_radius_cdf",
        signatures: &["pfgm_radius_cdf(D, sigma, r) -> float"],
        doc: "The analytic CDF of the perturbation radius for 2-D data: 1 - (r_D^2 / (r^2 + r_D^2))^{D/2} with r_D = sigma sqrt(D), and the Rayleigh law 1 - exp(-r^2 / (2 sigma^2)) for D = \"inf\".",
        example: "let f = pfgm_radius_cdf(16, 1.0, 2.0);",
    },
    ApiEntry {
        section: "Metrics",
        name: "radius_ks",
        signatures: &["radius_ks(radii, D, sigma) -> #{ statistic, p_value }"],
        doc: "The Kolmogorov-Smirnov test of radii against `pfgm_radius_cdf(D, sigma, .)`: a small p-value rejects the law.",
        example: "let ks = radius_ks(pfgm_radii(16, 1.0, 4000, 7), 16, 1.0);",
    },
    ApiEntry {
        section: "Metrics",
        name: "paired_rms",
        signatures: &["paired_rms(a, b) -> float"],
        doc: "The root-mean-square distance between the rows of two point sets of one shape, row i with row i (samples from the same noise).",
        example: "let gap = paired_rms(xs_d, xs_edm);",
    },
    ApiEntry {
        section: "Metrics",
        name: "fraction_near_modes",
        signatures: &["fraction_near_modes(mixture, points, k) -> float"],
        doc: "The fraction of the points within `k` standard deviations of the mean of some component of the mixture.",
        example: "let near = fraction_near_modes(data, xs, 3.0);",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "gauge_demo",
        signatures: &["gauge_demo(#{ strength, samples, likelihood_points, null_pairs, modes, radius, std, tol, seed }) -> map"],
        doc: "The exact gauge demo on a 2-D ring of Gaussians (default 8 modes, radius 4, std 0.3) under the VP schedule: the same prior draws go through the probability-flow ODE with the exact score and with the gauged score (I + J) grad log p_t, J = strength [[0, -1], [1, 0]] (default 2), by Dormand-Prince at `tol` (1e-8). Returns `plain` and `gauged` (Points, `samples` each, default 500), `mean_pair_distance`, the unbiased `mmd2` between them with its noise level `mmd2_noise` (the standard deviation of MMD² between `null_pairs` pairs of data draws), `mmd2_plain_to_data`, `mmd2_gauged_to_data`, `bandwidth`, the exact `log_density` and both fields' probability-flow log-likelihoods at `likelihood_points` data points (default 16), `max_dnll`, `max_error_to_exact`, `nfe_plain`, `nfe_gauged`, and `rows` ([name, value] pairs for a table).",
        example: "let demo = gauge_demo(#{ strength: 2.0, samples: 500, seed: seed });\nmetric(\"max |dNLL|\", demo.max_dnll);",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "gauge_paths",
        signatures: &["gauge_paths(#{ points, frames, strength, ..., seed }) -> #{ times, plain, gauged }"],
        doc: "The probability-flow paths of the first `points` (default 4) prior draws of `gauge_demo` (same settings) under the plain and the gauged field, saved at `frames` (default 101) times from 1 down to 0: `plain[i]` and `gauged[i]` are `#{ x, y }` maps, ready for `lines`.",
        example: "let p = gauge_paths(#{ points: 3, seed: seed });\nlines(\"paths\", [#{ name: \"plain\", x: p.plain[0].x, y: p.plain[0].y }]);",
    },
    ApiEntry {
        section: "Data",
        name: "manifold_data",
        signatures: &["manifold_data(#{ manifold, ambient, radius, thickness, seed }) -> ManifoldData"],
        doc: "Points on a `manifold` (\"circle\", the default, or \"sphere\") of `radius` (default 1) in a random plane of R^`ambient` (default 3; it must leave a normal direction: at least 3 for a circle, 4 for a sphere, at most 64) drawn from `seed`, plus optional Gaussian `thickness` (default 0). `data.sample(n, seed)` draws points; `data.intrinsic_dim` and `data.ambient` read its dimensions.",
        example: "let data = manifold_data(#{ manifold: \"circle\", ambient: 3, seed: seed });",
    },
    ApiEntry {
        section: "Data",
        name: "plane_coordinates",
        signatures: &["data.plane_coordinates(points) -> Points"],
        doc: "The coordinates of points of R^D in the manifold's plane (k + 1 numbers per point): a circle embedded in R^3 shows as a circle in a scatter plot.",
        example: "scatter(\"in its plane\", #{ data: data.plane_coordinates(data.sample(500, 1)) });",
    },
    ApiEntry {
        section: "Data",
        name: "intrinsic_dim",
        signatures: &["data.intrinsic_dim -> int"],
        doc: "The manifold's dimension (1 for a circle, 2 for a sphere).",
        example: "print(`k = ${data.intrinsic_dim}`);",
    },
    ApiEntry {
        section: "Data",
        name: "ambient",
        signatures: &["data.ambient -> int"],
        doc: "The dimension of the space the manifold sits in.",
        example: "print(`D = ${data.ambient}`);",
    },
    ApiEntry {
        section: "Models and training",
        name: "score_mlp",
        signatures: &["score_mlp(data, #{ kind, parameterisation, hidden, layers, activation, seed }) -> ScoreModel"],
        doc: "A time-conditioned score model for manifold data under the VP schedule: `kind` \"free\" (an MLP with one output per coordinate) or \"conservative\" (the input gradient of a scalar MLP, a gradient field by construction). `parameterisation` \"eps\" (default: the network predicts the noise) or \"score\"; MLP settings as `velocity_mlp` (default 3x128 SiLU; use a smooth activation for a conservative model). `model.kind` reads the kind.",
        example: "let model = score_mlp(data, #{ kind: \"conservative\", hidden: 64, layers: 3, seed: 2 });",
    },
    ApiEntry {
        section: "Models and training",
        name: "kind",
        signatures: &["model.kind -> string"],
        doc: "\"free\" or \"conservative\": the kind of a score model.",
        example: "print(model.kind);",
    },
    ApiEntry {
        section: "Models and training",
        name: "train_score",
        signatures: &["train_score(model, data, #{ steps, batch, lr, seed }) -> losses"],
        doc: "Trains a score model in place by denoising score matching on the manifold data (t uniform in [0.001, 1]); a conservative model is trained through its input gradient (a gradient of a gradient). `steps` default 1500, `batch` 256, `lr` 0.003 (cosine-decayed), `seed` for the draws: the same seed gives both kinds the same data, noise and times. Ends with the moving average of the weights. Runs on WebGPU when the notebook's compute setting picks it.",
        example: "let losses = train_score(model, data, #{ steps: 1500, seed: 3 });",
    },
    ApiEntry {
        section: "Metrics",
        name: "intrinsic_dimensions",
        signatures: &["intrinsic_dimensions(model, data, #{ points, seed, t_min, gap_ratio, steps, tol, trace_points, trace_times }) -> map"],
        doc: "Integrates the model's probability-flow ODE from `points` Gaussian draws (default 128, from `seed`) at t = 1 down to `t_min` (default 0.001) with its variational equation, and estimates each point's intrinsic dimension from the singular values of the flow-map Jacobian: the largest drop between consecutive values (with 1 before the first), if at least `gap_ratio` (default 4), else the full dimension. `steps` > 0 (default 64): that many Runge-Kutta steps of equal size in log t; 0: adaptive Dormand-Prince at `tol` (1e-5). Returns `dims`, `counts` (points per dimension 0..D), `true_dim`, `fraction_correct`, `mean_gap` (decades between the values either side of the true dimension), `mean_log10_tangent`, `mean_log10_normal`, `nfe`, `singular_values` (per point, at t_min), `times` and `trace` (`trace[p][i]`: the i-th singular value of point p at each time; `trace_points` points, default 4, at `trace_times` times, default 24).",
        example: "let est = intrinsic_dimensions(model, data, #{ points: 128, seed: 5 });\nmetric(\"fraction correct\", est.fraction_correct);",
    },
    ApiEntry {
        section: "Data",
        name: "spiral_data",
        signatures: &["spiral_data(#{ points, t_end, damping, frequency, y0 }) -> SpiralData"],
        doc: "Observations of the damped rotation dy/dt = [[-damping, frequency], [-frequency, -damping]] y from `y0` (default [2, 0]) at `points` (default 40) equally spaced times on [0, `t_end`] (default 10), exact (closed form). Defaults: damping 0.1, frequency 1 (clockwise). `data.times`, `data.points` and `data.observations` read them.",
        example: "let data = spiral_data(#{ points: 40, t_end: 10.0 });",
    },
    ApiEntry {
        section: "Data",
        name: "times",
        signatures: &["data.times -> array"],
        doc: "The observation times of a spiral.",
        example: "print(data.times[1]);",
    },
    ApiEntry {
        section: "Data",
        name: "observations",
        signatures: &["data.observations -> #{ t, x, y }"],
        doc: "The observation times and coordinates of a spiral as arrays (for `lines`).",
        example: "lines(\"spiral\", [#{ name: \"data\", x: data.observations.x, y: data.observations.y, points: true }]);",
    },
    ApiEntry {
        section: "Data",
        name: "points",
        signatures: &["data.points -> Points"],
        doc: "The observed states of a spiral as 2-D points (for `scatter`).",
        example: "scatter(\"spiral\", #{ observations: data.points });",
    },
    ApiEntry {
        section: "Models and training",
        name: "neural_ode",
        signatures: &["neural_ode(#{ width, seed }) -> NeuralOde"],
        doc: "A neural ODE dy/dt = MLP(y) on R^2: one tanh hidden layer of `width` units (default 32), in 64-bit floats, initialised from `seed`.",
        example: "let model = neural_ode(#{ width: 32, seed: seed });",
    },
    ApiEntry {
        section: "Models and training",
        name: "ode_gradient",
        signatures: &["ode_gradient(model, data, #{ method, tol, dt, window }) -> #{ loss, grad, tape, nfe_forward, nfe_backward, nfe, steps }"],
        doc: "The gradient of the mean squared error between the model's solve from the first observation and the first `window` observations (default all) with respect to the parameters. `method`: \"backprop\" (default: backpropagation through the solver's recorded steps), \"backsolve\" (continuous adjoint, the state solved backwards with it) or \"interpolating\" (continuous adjoint, the state read from the forward solve). `tol` solves by Tsit5 with adaptive steps at rtol = atol = tol (default 1e-9); `dt` by RK4 with constant steps. Returns the `loss`, the flat gradient `grad`, the peak `tape` length (recorded operations: the memory proxy), the vector-field evaluations forward and backward and their sum `nfe`, and the forward solver's accepted `steps`.",
        example: "let bp = ode_gradient(model, data, #{ method: \"backprop\", tol: 1e-9 });\nlet adj = ode_gradient(model, data, #{ method: \"interpolating\", tol: 1e-9 });",
    },
    ApiEntry {
        section: "Metrics",
        name: "relative_difference",
        signatures: &["relative_difference(a, b) -> float"],
        doc: "|a - b| / |b| for two arrays of numbers of the same length (Euclidean norms; |a - b| when b is zero).",
        example: "let rel = relative_difference(adj.grad, bp.grad);",
    },
    ApiEntry {
        section: "Models and training",
        name: "train_neural_ode",
        signatures: &["train_neural_ode(model, data, #{ steps, lr, batch, window, method, tol, dt, eval_every, seed }) -> map"],
        doc: "Fits the neural ODE to the spiral in place with Adam (`lr` default 0.02, cosine-decayed to 10%): each of `steps` (default 300) takes `batch` (default 16) random windows of `window` (default 10) observations, each solved from its observed first point, with gradients by `method` (as `ode_gradient`, default \"backprop\") and the solver given by `tol` or `dt` (default RK4 with dt = 0.05). Shows progress and the live loss; Stop leaves the model untrained. Returns `losses`, the fit error (RMS distance of the whole solve from y0 to the observations) as `fit_steps` / `fit_errors` every `eval_every` steps (default 25), `initial_fit_error`, `final_fit_error`, `fitted` (#{ x, y } at the observation times), the peak `tape` and `nfe_per_step`.",
        example: "let run = train_neural_ode(model, data, #{ steps: 300, method: \"backprop\", seed: seed });",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "ode_trajectory",
        signatures: &["ode_trajectory(model, data, #{ points, tol, dt }) -> #{ t, x, y }"],
        doc: "The model's solve from the spiral's first observation over its whole time span, at `points` (default 200) equally spaced times; `tol` (default 1e-6, Tsit5) or `dt` (RK4) as `ode_gradient`.",
        example: "let path = ode_trajectory(model, data, #{ points: 200 });",
    },
    ApiEntry {
        section: "Data",
        name: "cde_spirals",
        signatures: &["cde_spirals(#{ series, points, drop, noise, path_points, seed }) -> array of maps"],
        doc: "The irregularly sampled spirals of `train_neural_cde` (the same `seed` gives its training series): `series` (default 128) 2-D spirals, half clockwise, observed at `points` (default 40) equally spaced times in [0, 1] with Gaussian `noise` (default 0.05), a random `drop` fraction (default 0.3) of each series' times removed. Each map holds the kept `times`, `x`, `y`, `counter_clockwise`, the `dropped_times` with the natural cubic spline's values there (`dropped_x`, `dropped_y`), and the spline at `path_points` (default 100) times (`path_x`, `path_y`).",
        example: "let series = cde_spirals(#{ series: 128, drop: 0.3, seed: seed });",
    },
    ApiEntry {
        section: "Models and training",
        name: "train_neural_cde",
        signatures: &["train_neural_cde(#{ train_series, test_series, points, drop, noise, hidden, width, solver_steps, steps, lr, seed }) -> map"],
        doc: "Draws `train_series` (default 128) and `test_series` (default 256) spirals as `cde_spirals` and trains a neural CDE classifier (clockwise or not): z(0) = linear(X(0)), dz = tanh(MLP(z)) dX(t) with X the natural cubic spline through (t, x, y), logit linear(z(1)); `hidden` channels (default 8), an MLP of `width` (default 32), RK4 with `solver_steps` (default 10) fixed steps, Adam on the full training batch for `steps` (default 150) with `lr` (default 0.02, cosine-decayed). Shows progress and the live loss. Returns `losses`, `initial_test_accuracy`, `test_accuracy`, `train_accuracy`, `kept_points` per series, `nfe_per_solve` and the peak `tape`.",
        example: "let run = train_neural_cde(#{ drop: 0.3, steps: 150, seed: seed });\nmetric(\"test accuracy\", run.test_accuracy);",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "reversible_heun",
        signatures: &["reversible_heun(#{ dim, noise_dim, width, t_end, steps, diffusion_scale, seed }) -> map"],
        doc: "Solves a Stratonovich SDE with a random neural drift MLP(y, t) and diffusion `diffusion_scale` tanh(MLP(y, t)) (default 0.5; `dim` x `noise_dim`, default 2 x 2, hidden `width` 16) by reversible Heun on a Brownian interval with `steps` (default 1000) on [0, `t_end`] (default 1), then runs the solver backwards from its final state. Returns the forward `times` and `path` (one array per component), `y0`, `y1`, `y0_reconstructed`, `abs_error` and `rel_error` of the reconstruction, evaluations per step (`drift_evals_per_step`, `diffusion_evals_per_step`), `steps` and the reverse pass's `reverse_drift_evals`, `reverse_diffusion_evals`.",
        example: "let r = reversible_heun(#{ steps: 1000, seed: seed });\nmetric(\"reconstruction error\", r.rel_error);",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "brownian_orders",
        signatures: &["brownian_orders(#{ queries, dim, t_end, seed }) -> map"],
        doc: "Queries one Brownian interval (dimension `dim`, default 1, on [0, `t_end`], default 1) at `queries` (default 200) random times in increasing, decreasing and random order, each on a fresh interval from the same seed. Returns `reverse_identical`, `random_identical`, `increments_identical` (increments read backwards equal differences of values) and `identical` (all three) as true or false, `max_difference`, the sorted `times` and `values` (one array per component).",
        example: "let q = brownian_orders(#{ queries: 200, seed: seed });\nmetric(\"identical\", if q.identical { 1 } else { 0 });",
    },
    ApiEntry {
        section: "Metrics",
        name: "brownian_bridge",
        signatures: &["brownian_bridge(#{ t_end, a, b, points, samples, seed }) -> map"],
        doc: "Estimates Var[W(s) | W(a), W(b)] at `points` (default 7) times s inside (a, b) (defaults 0.3 and 1.7, on [0, `t_end`] = [0, 2]) from `samples` (default 4000) independent Brownian intervals, each queried at s (last first), then b, then a. Returns `s`, the `empirical` variances, the `theoretical` (s - a)(b - s)/(b - a), their `standard_error`, the `mean` residuals, `max_z` (largest |empirical - theoretical| / standard error) and `samples`.",
        example: "let br = brownian_bridge(#{ samples: 4000, seed: seed });\ncriterion(\"bridge variance within 4 standard errors\", br.max_z, \"<\", 4.0);",
    },
    ApiEntry {
        section: "Metrics",
        name: "fraction_in_mode",
        signatures: &["fraction_in_mode(mixture, points, k) -> float"],
        doc: "The fraction of the points whose most probable component of the mixture is `k`.",
        example: "let hit = fraction_in_mode(data, xs, 3);",
    },
    ApiEntry {
        section: "Data",
        name: "circles_data",
        signatures: &["circles_data(#{ train, test, seed }) -> #{ train_inner, train_outer, test_inner, test_outer }"],
        doc: "The concentric circles that `train_augmented_node` trains and tests on with the same settings: half the points in the disc r <= 0.5 (class 0, `inner`), half in the annulus 1 <= r <= 1.5 (class 1, `outer`), uniform in area. `train` default 1024 points, `test` 512.",
        example: "let c = circles_data(#{ seed: 1 });\nscatter(\"Circles\", #{ inner: c.train_inner, outer: c.train_outer });",
    },
    ApiEntry {
        section: "Models and training",
        name: "train_augmented_node",
        signatures: &["train_augmented_node(#{ mode, lambda, steps, batch, lr, hidden, tol, train, test, eval_every, seed }) -> map"],
        doc: "Trains an augmented neural ODE classifier on the concentric circles (state [x, 0, 0] in 4-D, dy/dt = MLP(y) with two tanh layers of `hidden` units (32), t in [0, 1], Tsit5 at rtol = atol = `tol` (1e-5), linear readout, cross-entropy, Adam at `lr` 0.01, backpropagation through the accepted steps). `mode`: \"vanilla\", \"global-error\" (mean E|dt| over the accepted steps), \"global-stiffness\" (mean stiffness estimate x |dt|), \"local-unbiased\" or \"local-biased\" (one extra step's E|dt| at a random time, uniform or at an accepted step). `lambda`: a number or [start, end], decayed exponentially over the run (defaults: error [100, 10], stiffness [1, 0.1], local [1e4, 1e3]). `steps` 200, `batch` 128, `train`/`test` points 1024/512, `eval_every` (0) adds test checkpoints. Runs on the CPU in the call, with live progress; Stop ends it. Returns #{ mode, lambda, nfe (per step, extra local step included), train_nfe (their sum), losses, penalties, test_accuracy, test_nfe (mean per solve of a test batch), checkpoints: #{ steps, accuracy, test_nfe }, model }.",
        example: "let run = train_augmented_node(#{ mode: \"global-error\", steps: 200, seed: 1 });\nmetric(\"test NFE\", run.test_nfe);",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "classifier_grid",
        signatures: &["classifier_grid(model, #{ extent, n, tol }) -> #{ values, x_range, y_range, nfe }"],
        doc: "The trained classifier's probability of the outer class on an `n` x `n` grid (40) over [-extent, extent]^2 (2), all points in one solve at `tol` (the training's by default), ready for `heatmap`; `nfe` is that solve's.",
        example: "let g = classifier_grid(run.model, #{ extent: 2.0 });\nheatmap(\"Decision function\", g.values, #{ x_range: g.x_range, y_range: g.y_range });",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "straightness",
        signatures: &["straightness(model, noise, steps) -> number"],
        doc: "How far the flow's paths from `noise` are from straight lines: the mean over points and Euler steps of |(x_1 - x_0) - v(x_t, t)|² (Liu et al., 2022). Zero exactly when one Euler step is exact.",
        example: "let s = straightness(model, noise, 100);",
    },
    ApiEntry {
        section: "Data",
        name: "gaussian_ring",
        signatures: &["gaussian_ring(modes, radius, std) -> Mixture"],
        doc: "A Gaussian mixture with `modes` equal components (1 to 64) of standard deviation `std` on a circle of `radius`. Its noised marginals, scores and log-densities are exact, so samplers and likelihoods can be checked against the truth.",
        example: "let data = gaussian_ring(8, 4.0, 0.3);",
    },
    ApiEntry {
        section: "Models and training",
        name: "diffusion_mlp",
        signatures: &["diffusion_mlp(#{ parameterisation, hidden, layers, activation, seed }) -> Diffusion"],
        doc: "A 2-D diffusion model on the variance-preserving schedule (beta from 0.1 to 20): an MLP with sinusoidal time features that predicts the noise (`\"eps\"`, default), the score (`\"score\"`) or the velocity of the noising path (`\"velocity\"`), each as a residual over the exact answer for Gaussian data. `hidden` (default 128), `layers` (default 3), activation (default silu).",
        example: "let eps_model = diffusion_mlp(#{ parameterisation: \"eps\", seed: seed + 2 });",
    },
    ApiEntry {
        section: "Models and training",
        name: "train_diffusion",
        signatures: &["train_diffusion(model, mixture, #{ steps, batch, lr, seed }) -> array of losses"],
        doc: "Trains the model in place with its parameterisation's denoising loss (times uniform on [0.001, 1]) and Adam (`lr` default 0.003, cosine-decayed to 10%), `steps` (default 2000) of `batch` (default 256); the model then samples with the moving average of its weights. Progress and a live loss curve; stops with a clear message on divergence.",
        example: "let losses = train_diffusion(eps_model, data, #{ steps: 3000, seed: seed + 3 });",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "sample_diffusion",
        signatures: &["sample_diffusion(model, noise, #{ sampler, steps }) -> Points"],
        doc: "Runs the reverse process from `noise` (standard normal points at t = 1) to t = 0.001 on a grid uniform in log-SNR: `sampler` euler, heun (probability-flow ODE), ddim, or dpm2 (DPM-Solver-2, default); `steps` (default 10). Heun and DPM-Solver-2 take two network evaluations per step (see `sampler_nfe`).",
        example: "let xs = sample_diffusion(eps_model, gaussian_noise(2000, 2, seed + 4), #{ sampler: \"dpm2\", steps: 10 });",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "sample_exact_score",
        signatures: &["sample_exact_score(mixture, noise, #{ sampler, steps }) -> Points"],
        doc: "The same samplers driven by the mixture's exact score instead of a network: what a perfect model would give, so sampler error and model error can be told apart.",
        example: "let xs = sample_exact_score(data, noise, #{ sampler: \"euler\", steps: 200 });",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "sampler_nfe",
        signatures: &["sampler_nfe(sampler, steps) -> int"],
        doc: "Network evaluations a sampler takes for `steps` steps (steps for euler and ddim, twice that for heun and dpm2).",
        example: "metric(\"NFE\", sampler_nfe(\"dpm2\", 10));",
    },
    ApiEntry {
        section: "Metrics",
        name: "fresh_draw_w2",
        signatures: &["fresh_draw_w2(points, mixture, seed) -> #{ w2, floor }", "fresh_draw_w2(points, target, seed) -> #{ w2, floor }"],
        doc: "The catalogue's \"at the level of a fresh target draw\" test with its noise averaged out: the sliced W2 of `points` against 8 fresh reference draws of the mixture or target (`w2`), and of 8 other fresh draws of the same size against the same references (`floor`), each averaged, with the same 128 directions.",
        example: "let q = fresh_draw_w2(xs, data, seed + 6);\ncriterion(\"at the level of a fresh draw\", q.w2, \"<=\", 1.5 * q.floor);",
    },
    ApiEntry {
        section: "Metrics",
        name: "exact_score_nll",
        signatures: &["exact_score_nll(mixture, points) -> #{ pf_ode, exact }"],
        doc: "Negative log-likelihoods in nats of up to 1000 points: by integrating the probability-flow ODE with the mixture's exact score and the divergence (instantaneous change of variables, Dormand-Prince at 1e-8), and the mixture's exact values.",
        example: "let nll = exact_score_nll(data, data.sample(20, seed + 7));",
    },
    ApiEntry {
        section: "Sampling and solvers",
        name: "solve_ode",
        signatures: &["solve_ode(|t, y| [...], y0, #{ t0, t1, solver, rtol, atol, dt, save, max_steps }) -> #{ t, y, nfe, accepted, rejected, step_sizes, errors, stiffness }"],
        doc: "Solves dy/dt = f(t, y) for a vector field written in the cell (a closure taking t and the state array, returning an array of the same length) from `t0` (default 0) to `t1` (default 1). `solver`: euler, heun or rk4 with a fixed step `dt`, or bosh3, dopri5, tsit5 (default) with adaptive steps at `rtol`/`atol` (default 1e-6; give `dt` without tolerances for fixed steps). `save`: \"steps\" (default), \"final\" or an array of times (dense output). The field runs as script code, so keep systems small; errors in it are reported at their line.",
        example: "let run = solve_ode(|t, y| [y[1], -y[0]], [1.0, 0.0], #{ t1: 6.283, solver: \"dopri5\", rtol: 1e-8, atol: 1e-8 });\nprint(run.y[run.y.len() - 1]);",
    },
    ApiEntry {
        section: "Metrics",
        name: "sliced_w2",
        signatures: &["sliced_w2(a, b, seed) -> float"],
        doc: "Sliced 2-Wasserstein distance between two point sets of the same dimension, over 64 random directions drawn from `seed`.",
        example: "metric(\"sliced W2\", sliced_w2(samples, reference, seed + 6));",
    },
    ApiEntry {
        section: "Metrics",
        name: "exact_w2",
        signatures: &["exact_w2(a, b) -> float"],
        doc: "The exact 2-Wasserstein distance between two point sets of the same size (at most 2500 points each): the cheapest one-to-one matching, found by solving the assignment problem (Jonker-Volgenant). Its cost grows like n³: 1000 points take about a second in the browser, 2000 several.",
        example: "metric(\"W2 (1 step)\", exact_w2(sample_rectified_flow(model, noise, 1), reference));",
    },
    ApiEntry {
        section: "Metrics",
        name: "mode_counts",
        signatures: &["mode_counts(target, points) -> array of int"],
        doc: "How many points lie nearest to each mode centre of a ring mixture.",
        example: "print(mode_counts(target, samples));",
    },
    ApiEntry {
        section: "Metrics",
        name: "metric",
        signatures: &["metric(name, value)"],
        doc: "Adds a named number to the cell's metrics table (and to the CLI's output).",
        example: "metric(\"final loss\", losses[losses.len() - 1]);",
    },
    ApiEntry {
        section: "Metrics",
        name: "criterion",
        signatures: &["criterion(name, value, op, bound) -> bool"],
        doc: "Checks a success criterion: `op` is \"<=\", \">=\", \"<\" or \">\". The page shows pass or fail next to the metrics, `odeon run` exits with an error when one fails, and NaN never passes. Returns whether it passed.",
        example: "criterion(\"sliced W2 <= 1.5 x noise floor\", w2, \"<=\", 1.5 * floor);",
    },
    ApiEntry {
        section: "Plots and tables",
        name: "scatter",
        signatures: &["scatter(title, #{ name: points, ... })", "scatter(title, [#{ name, points }, ...])"],
        doc: "A scatter plot of one or more point sets (first two coordinates), with equal axes. Sets given as a map are drawn in the order of their names; given as an array, in the array's order (the first underneath).",
        example: "scatter(\"Samples over the target\", #{ target: reference, samples: samples });",
    },
    ApiEntry {
        section: "Plots and tables",
        name: "line_plot",
        signatures: &["line_plot(title, values)"],
        doc: "A curve of `values` against their index on a log y axis (long series are averaged down to about 400 points), e.g. a loss.",
        example: "line_plot(\"loss\", losses);",
    },
    ApiEntry {
        section: "Plots and tables",
        name: "line_plot_xy",
        signatures: &["line_plot_xy(title, xs, ys)"],
        doc: "One curve through the points (xs[i], ys[i]).",
        example: "line_plot_xy(\"step size\", run.ts, run.step_sizes);",
    },
    ApiEntry {
        section: "Plots and tables",
        name: "lines",
        signatures: &["lines(title, #{ name: #{ x, y }, ... })", "lines(title, [#{ name, x, y, points }, ...])", "lines(title, series, #{ log_x, log_y, x_label, y_label, equal_axes })"],
        doc: "Several named curves in one plot, with optional log axes and axis labels: the plot for convergence studies. Curves given as a map are listed in the legend by name; given as an array, in the array's order, and a curve with `points: true` is drawn as unjoined markers (observations over a fitted curve).",
        example: "lines(\"error vs steps\", #{ euler: #{ x: steps, y: errors } }, #{ log_x: true, log_y: true, x_label: \"steps\" });",
    },
    ApiEntry {
        section: "Plots and tables",
        name: "heatmap",
        signatures: &["heatmap(title, rows)", "heatmap(title, rows, #{ x_range, y_range, label })"],
        doc: "A scalar field as a heat map with a colour bar. `rows` is an array of equally long rows of numbers; row 0 is at the bottom. Ranges default to cell indices.",
        example: "heatmap(\"u(x, y)\", rows, #{ x_range: [0, 1], y_range: [0, 1], label: \"u\" });",
    },
    ApiEntry {
        section: "Plots and tables",
        name: "vector_field",
        signatures: &["vector_field(title, #{ x, y, u, v })", "vector_field(title, field, background_rows, #{ x_range, y_range, label })"],
        doc: "Arrows (u, v) at the points (x, y), scaled so the longest is about one grid spacing; optionally over a heat map.",
        example: "vector_field(\"velocity over log p\", field, g.values, #{ x_range: g.x_range, y_range: g.y_range });",
    },
    ApiEntry {
        section: "Plots and tables",
        name: "table",
        signatures: &["table(title, columns, rows)"],
        doc: "A table: `columns` is an array of headings, `rows` an array of rows as long as `columns` (numbers or text).",
        example: "table(\"NFE vs quality\", [\"steps\", \"W2\"], [[1, w1], [4, w4]]);",
    },
];

/// The entry for `name`, if documented.
pub fn entry(name: &str) -> Option<&'static ApiEntry> {
    API.iter().find(|e| e.name == name)
}

/// The reference as Markdown (for `odeon api` and documentation sites).
pub fn markdown() -> String {
    let mut out = String::from("# Odeon script API\n\nCells are [Rhai](https://rhai.rs) scripts. This reference is generated from the table in `odeon-notebook/src/api.rs`, which a test keeps equal to the functions the runtime registers.\n");
    for (section, intro) in SECTIONS {
        out.push_str(&format!("\n## {section}\n\n{intro}\n"));
        for e in API.iter().filter(|e| e.section == *section) {
            out.push_str(&format!("\n### `{}`\n\n", e.name));
            for s in e.signatures {
                out.push_str(&format!("    {s}\n"));
            }
            out.push_str(&format!("\n{}\n\n```rhai\n{}\n```\n", e.doc, e.example));
        }
    }
    out.push_str("\n## Limits\n\n| limit | value |\n|---|---|\n");
    for (what, value) in LIMITS {
        out.push_str(&format!("| {what} | {value} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_in_a_known_section_once() {
        for e in API {
            assert!(SECTIONS.iter().any(|(s, _)| *s == e.section), "{} is in an unknown section", e.name);
            assert_eq!(API.iter().filter(|x| x.name == e.name).count(), 1, "{} listed twice", e.name);
            assert!(!e.signatures.is_empty() && !e.doc.is_empty() && !e.example.is_empty(), "{} is incomplete", e.name);
        }
        assert!(markdown().contains("### `criterion`"));
    }
}
