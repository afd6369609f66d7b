use super::*;

fn collect_host(events: Rc<RefCell<Vec<Event>>>, stop_after: Option<usize>) -> Host {
    let counter = Rc::new(RefCell::new(0usize));
    let sink = Rc::clone(&events);
    Host {
        emit: Box::new(move |e| sink.borrow_mut().push(e)),
        should_stop: Box::new(move || {
            *counter.borrow_mut() += 1;
            stop_after.is_some_and(|n| *counter.borrow() > n)
        }),
    }
}

#[test]
fn cells_share_a_scope_and_report_events() {
    let events = Rc::new(RefCell::new(Vec::new()));
    let mut session = Session::new(3, "ci");
    session.run_cell("let a = seed * 2; print(`a is ${a}`);", collect_host(Rc::clone(&events), None)).expect("runs");
    session.run_cell("metric(\"twice\", a + 0.5);", collect_host(Rc::clone(&events), None)).expect("runs");
    let events = events.borrow();
    assert_eq!(events[0], Event::Log { text: "a is 6".into() });
    assert_eq!(events[1], Event::Metric { name: "twice".into(), value: 6.5 });
}

#[test]
fn errors_name_the_line_and_the_problem() {
    let events = Rc::new(RefCell::new(Vec::new()));
    let mut session = Session::new(0, "ci");
    let err = session.run_cell("let x = 1;\nlet y = nope(x);", collect_host(Rc::clone(&events), None)).expect_err("unknown fn");
    assert_eq!(err.line, Some(2));
    assert!(err.to_string().contains("nope"), "{err}");
    let err = session
        .run_cell("let m = velocity_mlp(#{ hidden: 0 });", collect_host(Rc::clone(&events), None))
        .expect_err("bad size");
    assert!(err.to_string().contains("`hidden` must be between 1 and 4096"), "{err}");
    let err = session
        .run_cell("let m = velocity_mlp(#{ hiden: 8 });", collect_host(Rc::clone(&events), None))
        .expect_err("typo");
    assert!(err.to_string().contains("unknown setting `hiden`"), "{err}");
}

#[test]
fn runaway_loops_stop_when_asked() {
    let events = Rc::new(RefCell::new(Vec::new()));
    let mut session = Session::new(0, "ci");
    let err = session.run_cell("let i = 0; loop { i += 1; }", collect_host(events, Some(5))).expect_err("stopped");
    assert!(err.stopped);
}

#[test]
fn training_streams_progress_and_can_be_stopped() {
    let events = Rc::new(RefCell::new(Vec::new()));
    let mut session = Session::new(0, "ci");
    let script = "let target = eight_gaussians();\nlet model = velocity_mlp(#{ hidden: 16, layers: 2, seed: 1 });\nlet losses = train_rectified_flow(model, target, #{ steps: 40, batch: 32, seed: 2 });\nlet xs = sample_rectified_flow(model, gaussian_noise(100, 2, 3), 8);\nscatter(\"samples\", #{ model: xs, target: target.sample(100, 4) });\nmetric(\"sw2\", sliced_w2(xs, target.sample(100, 5), 6));";
    session.run_cell(script, collect_host(Rc::clone(&events), None)).expect("runs");
    let evs = events.borrow();
    let progress = evs.iter().filter(|e| matches!(e, Event::Progress { .. })).count();
    assert_eq!(progress, 40);
    assert!(evs.iter().any(|e| matches!(e, Event::Plot(p) if p.key == "samples" && p.series.len() == 2)));
    assert!(evs.iter().any(|e| matches!(e, Event::Metric { name, value } if name == "sw2" && value.is_finite())));
    drop(evs);

    let stop_events = Rc::new(RefCell::new(Vec::new()));
    let err = session
        .run_cell("train_rectified_flow(model, eight_gaussians(), #{ steps: 100000, batch: 8 });", collect_host(stop_events, Some(10)))
        .expect_err("stopped");
    assert!(err.stopped, "{err:?}");
}

#[test]
fn same_seed_same_numbers() {
    let run = || {
        let events = Rc::new(RefCell::new(Vec::new()));
        let mut session = Session::new(0, "ci");
        session
            .run_cell(
                "let m = velocity_mlp(#{ hidden: 8, layers: 1, seed: 1 }); let l = train_rectified_flow(m, eight_gaussians(), #{ steps: 5, batch: 16, seed: 2 }); metric(\"last\", l[4]);",
                collect_host(Rc::clone(&events), None),
            )
            .expect("runs");
        let last = events.borrow().iter().rev().find_map(|e| match e { Event::Metric { value, .. } => Some(*value), _ => None });
        last.expect("metric")
    };
    assert_eq!(run().to_bits(), run().to_bits());
}

fn run_one(script: &str) -> (Result<(), RunError>, Vec<Event>) {
    let events = Rc::new(RefCell::new(Vec::new()));
    let mut session = Session::new(0, "ci");
    let result = session.run_cell(script, collect_host(Rc::clone(&events), None));
    let events = events.borrow().clone();
    (result, events)
}

#[test]
fn print_shape_and_divergence_messages() {
    for (script, expect) in [
        ("let m = velocity_mlp(#{ hidden: 8, layers: 1 });\nlet x = sample_rectified_flow(m, gaussian_noise(10, 3, 0), 5);", "2-d points, but got points of shape [10, 3]"),
        ("let a = eight_gaussians().sample(10, 1);\nlet b = gaussian_noise(10, 3, 2);\nsliced_w2(a, b, 0);", "shape"),
        ("let m = velocity_mlp(#{ hidden: 8, layers: 1 });\ntrain_rectified_flow(m, ring_mixture(8, 1.0e30, 1.0), #{ steps: 5, batch: 8 });", "diverged"),
        ("fn f(n) { f(n + 1) }\nf(0);", "deep"),
        ("let s = \"x\";\nloop { s += s; }", "too large"),
        ("let x = nope(1);", "nope"),
        ("let big = 1000000;\nlet x = gaussian_noise(big, 1024, 0);", "more than the 16777216 (64 mb)"),
    ] {
        let (result, _) = run_one(script);
        let err = result.expect_err(script);
        assert!(err.to_string().to_lowercase().contains(expect), "{script}: {err}");
        assert!(err.line.is_some(), "{script}: no line in {err:?}");
    }
}

#[test]
fn endless_loops_end_with_a_clear_message() {
    let mut session = Session::new(0, "ci");
    session.set_max_operations(200_000);
    let err = session.run_cell("let i = 0;\nwhile true { i += 1; }", collect_host(Rc::new(RefCell::new(Vec::new())), None)).expect_err("endless");
    assert!(err.to_string().contains("endless loop"), "{err}");
    assert!(!err.stopped);
}

#[test]
fn output_functions_emit_typed_events() {
    let script = r#"
        table("Results", ["steps", "W2"], [[1, 0.5], [10, "n/a"]]);
        let ok = criterion("W2 at most 0.3", 0.2, "<=", 0.3);
        let bad = criterion("NFE at least 10", 4, ">=", 10);
        metric("ok", if ok && !bad { 1 } else { 0 });
        lines("convergence", #{ euler: #{ x: [1, 2, 4], y: [1.0, 0.5, 0.25] } }, #{ log_x: true, log_y: true, x_label: "steps" });
        heatmap("field", [[0.0, 1.0], [2.0, 3.0]], #{ x_range: [-1, 1], y_range: [0, 2], label: "u" });
        let target = eight_gaussians();
        let grid = target.log_density_grid(#{ extent: 5.0, n: 8 });
        heatmap("density", grid.values, #{ x_range: grid.x_range, y_range: grid.y_range });
        let model = velocity_mlp(#{ hidden: 8, layers: 1 });
        let field = model.velocity_field(0.5, #{ extent: 5.0, n: 4 });
        vector_field("v", field);
        vector_field("v over p", field, grid.values, #{ x_range: grid.x_range, y_range: grid.y_range });
        lines("in order", [#{ name: "zeta", x: [1], y: [1] }, #{ name: "alpha", x: [1], y: [2] }], #{ log_y: true });
        scatter("layers", [#{ name: "target", points: target.sample(5, 1) }, #{ name: "samples", points: target.sample(5, 2) }]);
    "#;
    let (result, events) = run_one(script);
    result.expect("runs");
    assert!(matches!(&events[0], Event::Table { rows, .. } if rows[1][1] == crate::events::TableValue::Text("n/a".into())));
    assert!(matches!(&events[1], Event::Criterion { passed: true, .. }));
    assert!(matches!(&events[2], Event::Criterion { passed: false, .. }));
    assert_eq!(events[3], Event::Metric { name: "ok".into(), value: 1.0 });
    let plots: Vec<&crate::events::Plot> = events.iter().filter_map(|e| match e { Event::Plot(p) => Some(p), _ => None }).collect();
    assert!(plots[0].log_x && plots[0].log_y && plots[0].labels[0] == "steps");
    assert_eq!(plots[1].heatmap.as_ref().map(|h| (h.nx, h.ny, h.x_range)), Some((2, 2, [-1.0, 1.0])));
    assert_eq!(plots[2].heatmap.as_ref().map(|h| h.values.len()), Some(64));
    assert_eq!(plots[3].series[0].us.len(), 16);
    assert!(plots[4].heatmap.is_some() && plots[4].series.len() == 1);
    let names: Vec<&str> = plots[5].series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha"]);
    let names: Vec<&str> = plots[6].series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["target", "samples"]);
}

#[test]
fn output_functions_reject_bad_input_in_words() {
    for (script, expect) in [
        ("table(\"t\", [\"a\", \"b\"], [[1]]);", "row 0 has 1 values but there are 2 columns"),
        ("heatmap(\"h\", [[1, 2], [3]]);", "row 1 has 1 values but row 0 has 2"),
        ("lines(\"l\", #{ a: #{ x: [1, 2], y: [1] } });", "2 x values but 1 y values"),
        ("lines(\"l\", #{ a: #{ x: [1], y: [1] } }, #{ log_z: true });", "unknown setting `log_z`"),
        ("lines(\"l\", [#{ x: [1], y: [1] }]);", "curve 0 has no `name`"),
        ("lines(\"l\", [1]);", "curve 0 must be a map"),
        ("scatter(\"s\", [#{ name: \"a\" }]);", "layer 0 (`a`) has no `points`"),
        ("scatter(\"s\", [#{ points: gaussian_noise(3, 2, 1) }]);", "layer 0 has no `name`"),
        ("criterion(\"c\", 1.0, \"==\", 2.0);", "comparison must be"),
        ("vector_field(\"v\", #{ x: [1], y: [1], u: [1] });", "missing `v`"),
        ("line_plot(\"p\", [1, \"two\"]);", "item 1 is string"),
    ] {
        let (result, _) = run_one(script);
        let err = result.expect_err(script);
        assert!(err.to_string().contains(expect), "{script}: {err}");
    }
}

/// The reference page lists exactly the functions scripts can call.
#[test]
fn api_reference_matches_the_registered_functions() {
    let session = Session::new(0, "ci");
    let mut registered: Vec<String> = session
        .engine
        .gen_fn_signatures(false)
        .iter()
        .filter_map(|s| s.split('(').next().map(str::to_string))
        // Properties (`pairs.noise`) are registered as getters `get$noise`.
        .map(|name| name.strip_prefix("get$").map_or(name.clone(), str::to_string))
        .filter(|name| !["to_string", "to_debug"].contains(&name.as_str()))
        .collect();
    registered.sort();
    registered.dedup();
    let mut documented: Vec<String> =
        crate::api::API.iter().map(|e| e.name.to_string()).filter(|n| n != "print").collect();
    documented.sort();
    assert_eq!(registered, documented, "update crates/odeon-notebook/src/api.rs");
}

/// A harmonic oscillator solved from a script closure: one period returns
/// to the start (Dopri5 at tight tolerances), and fixed-step RK4 shows its
/// fourth order when the step halves.
#[test]
fn solve_ode_runs_script_vector_fields() {
    let script = r#"
        let f = |t, y| [y[1], -y[0]];
        let tau = 2.0 * PI();
        let run = solve_ode(f, [1.0, 0.0], #{ t1: tau, solver: "dopri5", rtol: 1e-10, atol: 1e-10 });
        let end = run.y[run.y.len() - 1];
        metric("period error", (end[0] - 1.0).abs() + end[1].abs());
        metric("nfe", run.nfe);
        let errors = [];
        for n in [8, 16, 32] {
            let r = solve_ode(f, [1.0, 0.0], #{ t1: 1.0, solver: "rk4", dt: 1.0 / n, save: "final" });
            errors.push((r.y[0][0] - cos(1.0)).abs());
        }
        metric("rk4 ratio", errors[0] / errors[1]);
        metric("rk4 ratio 2", errors[1] / errors[2]);
    "#;
    let (result, events) = run_one(script);
    result.expect("runs");
    let get = |name: &str| events.iter().find_map(|e| match e { Event::Metric { name: n, value } if n == name => Some(*value), _ => None }).expect(name);
    assert!(get("period error") < 1e-7, "{}", get("period error"));
    assert!(get("nfe") > 20.0);
    for ratio in [get("rk4 ratio"), get("rk4 ratio 2")] {
        assert!((ratio.log2() - 4.0).abs() < 0.3, "RK4 error ratio {ratio}");
    }
}

#[test]
fn solve_ode_reports_mistakes_in_words() {
    for (script, expect) in [
        ("solve_ode(|t, y| [y[0]], [1.0, 2.0], #{});", "returned 1 numbers for a state of 2"),
        ("solve_ode(|t, y| [y[0]], [1.0], #{ solver: \"rk4\" });", "give the step size as `dt`"),
        ("solve_ode(|t, y| [y[0]], [1.0], #{ solver: \"rk9\" });", "unknown solver \"rk9\""),
        ("solve_ode(|t, y| [y[0] * y[0]], [1.0], #{ t1: 2.0 });", "solve_ode"),
        ("solve_ode(|t, y| [nope(y)], [1.0], #{});", "nope"),
    ] {
        let (result, _) = run_one(script);
        let err = result.expect_err(script);
        assert!(err.to_string().contains(expect), "{script}: {err}");
    }
    // Stop reaches into a script vector field.
    let mut session = Session::new(0, "ci");
    let err = session
        .run_cell("solve_ode(|t, y| { let s = 0; for i in 0..1000 { s += i; } [y[0]] }, [1.0], #{ t1: 1.0e9, max_steps: 1000000 });", collect_host(Rc::new(RefCell::new(Vec::new())), Some(20)))
        .expect_err("stopped");
    assert!(err.stopped, "{err:?}");
}

/// A host that runs deferred jobs the way the worker does: outside the cell,
/// then resumes it. Returns the number of suspensions.
fn run_deferred(session: &mut Session, source: &str, events: &Rc<RefCell<Vec<Event>>>) -> Result<usize, RunError> {
    let mut suspensions = 0;
    let mut state = session.start_cell(source, collect_host(Rc::clone(events), None))?;
    while let CellState::NeedsJob(job) = state {
        suspensions += 1;
        let output = run_on(&odeon_tensor::Cpu, &job, &mut |_, _, _| true).unwrap_or_else(JobOutput::Failed);
        state = session.resume_cell(source, collect_host(Rc::clone(events), None), *job, output)?;
    }
    Ok(suspensions)
}

#[test]
fn deferred_jobs_suspend_the_cell_and_replay_it_with_the_same_results() {
    // Two trainings with sampling before, between and after: the replays
    // must restore the model each pass starts from, reuse stored outputs and
    // not send an output twice.
    let setup = "let target = eight_gaussians();\nlet model = velocity_mlp(#{ hidden: 16, layers: 2, seed: 1 });";
    let cell = "let before = sliced_w2(sample_rectified_flow(model, gaussian_noise(64, 2, 3), 4), target.sample(64, 4), 5);\nmetric(\"before\", before);\nlet a = train_rectified_flow(model, target, #{ steps: 12, batch: 32, seed: 2 });\nmetric(\"between\", sliced_w2(sample_rectified_flow(model, gaussian_noise(64, 2, 3), 4), target.sample(64, 4), 5));\nlet b = train_rectified_flow(model, target, #{ steps: 7, batch: 16, seed: 9 });\nmetric(\"after\", sliced_w2(sample_rectified_flow(model, gaussian_noise(64, 2, 3), 4), target.sample(64, 4), 5));\nmetric(\"last loss\", b[b.len() - 1]);";
    let inline = Rc::new(RefCell::new(Vec::new()));
    let mut cpu = Session::new(0, "ci");
    cpu.run_cell(setup, collect_host(Rc::clone(&inline), None)).expect("setup");
    cpu.run_cell(cell, collect_host(Rc::clone(&inline), None)).expect("inline");

    let deferred = Rc::new(RefCell::new(Vec::new()));
    let mut session = Session::new(0, "ci");
    session.set_compute(Compute::Deferred);
    assert_eq!(run_deferred(&mut session, setup, &deferred).expect("setup"), 0);
    assert_eq!(run_deferred(&mut session, cell, &deferred).expect("deferred"), 2);

    let metrics = |events: &[Event]| -> Vec<(String, u64)> {
        events.iter().filter_map(|e| match e {
            Event::Metric { name, value } => Some((name.clone(), value.to_bits())),
            _ => None,
        }).collect()
    };
    // Bit-identical metrics, each sent exactly once and in order.
    assert_eq!(metrics(&inline.borrow()), metrics(&deferred.borrow()));
    assert_eq!(metrics(&deferred.borrow()).len(), 4);
    // The next cell sees the trained model in both sessions.
    let probe = "metric(\"probe\", sliced_w2(sample_rectified_flow(model, gaussian_noise(64, 2, 8), 4), target.sample(64, 4), 5));";
    let (a, b) = (Rc::new(RefCell::new(Vec::new())), Rc::new(RefCell::new(Vec::new())));
    cpu.run_cell(probe, collect_host(Rc::clone(&a), None)).expect("probe");
    run_deferred(&mut session, probe, &b).expect("probe");
    assert_eq!(metrics(&a.borrow()), metrics(&b.borrow()));
}

#[test]
fn a_deferred_cell_that_fails_after_its_job_reports_the_line() {
    let events = Rc::new(RefCell::new(Vec::new()));
    let mut session = Session::new(0, "ci");
    session.set_compute(Compute::Deferred);
    let cell = "let model = velocity_mlp(#{ hidden: 8, layers: 1 });\nlet l = train_rectified_flow(model, eight_gaussians(), #{ steps: 3, batch: 8 });\nlet x = nope(l);";
    let err = run_deferred(&mut session, cell, &events).expect_err("unknown function");
    assert_eq!(err.line, Some(3));
    // A job that fails (here: diverges) fails its call, at the call's line.
    let diverging = "let model = velocity_mlp(#{ hidden: 8, layers: 1 });\nprint(1);\ntrain_rectified_flow(model, ring_mixture(8, 1.0e30, 1.0), #{ steps: 5, batch: 8 });";
    let err = run_deferred(&mut session, diverging, &events).expect_err("diverges");
    assert_eq!(err.line, Some(3), "{err}");
    assert!(err.message.contains("diverged at step 0"), "{err}");
    // A job a plain run_cell cannot hand over is an error, not a hang.
    let err = session.run_cell(cell, collect_host(events, None)).expect_err("needs a host");
    assert!(err.message.contains("host"), "{err}");
}

#[test]
fn diffusion_functions_run_and_reject_mistakes_in_words() {
    let events = Rc::new(RefCell::new(Vec::new()));
    let mut session = Session::new(0, "ci");
    let setup = "let data = gaussian_ring(8, 4.0, 0.3);\nlet m = diffusion_mlp(#{ parameterisation: \"velocity\", hidden: 16, layers: 1, seed: 1 });\nlet l = train_diffusion(m, data, #{ steps: 5, batch: 16 });\nlet xs = sample_diffusion(m, gaussian_noise(50, 2, 3), #{ sampler: \"heun\", steps: 3 });\nlet q = fresh_draw_w2(sample_exact_score(data, gaussian_noise(50, 2, 4), #{ steps: 5 }), data, 1);\nlet nll = exact_score_nll(data, data.sample(2, 5));\nmetric(\"nfe\", sampler_nfe(\"dpm2\", 5));\nmetric(\"gap\", (nll.pf_ode[0] - nll.exact[0]).abs());";
    session.run_cell(setup, collect_host(Rc::clone(&events), None)).expect("runs");
    let evs = events.borrow();
    assert!(evs.contains(&Event::Metric { name: "nfe".into(), value: 10.0 }));
    assert!(evs.iter().any(|e| matches!(e, Event::Metric { name, value } if name == "gap" && *value < 1e-6)));
    assert_eq!(evs.iter().filter(|e| matches!(e, Event::Progress { .. })).count(), 5);
    drop(evs);
    for (script, message) in [
        ("diffusion_mlp(#{ parameterisation: \"x0\" })", "unknown parameterisation \"x0\""),
        ("sample_diffusion(m, gaussian_noise(5, 2, 0), #{ sampler: \"rk45\" })", "unknown sampler \"rk45\""),
        ("sample_diffusion(m, gaussian_noise(5, 3, 0), #{})", "works on 2-D points"),
        ("fresh_draw_w2(gaussian_noise(5, 3, 0), data, 0)", "the mixture is 2-D"),
        ("exact_score_nll(data, data.sample(1001, 0))", "at most 1000 points"),
        ("gaussian_ring(0, 1.0, 1.0)", "between 1 and 64 modes"),
        ("train_diffusion(m, data, #{ stepz: 3 })", "unknown setting `stepz`"),
    ] {
        let err = session.run_cell(script, collect_host(Rc::clone(&events), None)).expect_err(script);
        assert!(err.message.contains(message), "{script}: {err}");
    }
}

/// PFGM++'s script functions explain bad settings in words, and a tiny
/// model trains and samples finite points.
#[test]
fn pfgm_functions_train_sample_and_reject_bad_input() {
    let (result, _) = run_one(
        r#"
        let data = gaussian_ring(4, 2.0, 0.3);
        let model = pfgm_mlp(data, #{ D: 16, hidden: 8, layers: 1, seed: 1 });
        let edm = pfgm_mlp(data, #{ D: "inf", hidden: 8, layers: 1, seed: 1 });
        if model.D != 16.0 || edm.D < 1e300 || model.sigma_max <= 0.0 { throw "settings"; }
        let losses = train_pfgm(model, data, #{ steps: 5, batch: 16 });
        let xs = sample_pfgm(model, gaussian_noise(10, 2, 1), #{ steps: 3, alpha: 0.5 });
        let ks = radius_ks(pfgm_radii("inf", 1.0, 200, 1), "inf", 1.0);
        if losses.len() != 5 || xs.len() != 10 || ks.p_value <= 0.0 || heun_nfe(18) != 35 { throw "values"; }
        if paired_rms(xs, xs) != 0.0 || fraction_near_modes(data, xs, 1e9) != 1.0 { throw "metrics"; }
        "#,
    );
    result.expect("runs");
    for (script, expect) in [
        ("pfgm_mlp(gaussian_ring(4, 2.0, 0.3), #{ D: 0 });", "D must be a positive number or \"inf\""),
        ("pfgm_mlp(gaussian_ring(4, 2.0, 0.3), #{ hidden: 8 });", "give the number of augmented dimensions"),
        ("pfgm_radii(\"many\", 1.0, 10, 1);", "D must be a positive number"),
        ("pfgm_radius_cdf(4, -1.0, 1.0);", "sigma must be a positive number"),
        ("let m = pfgm_mlp(gaussian_ring(4, 2.0, 0.3), #{ D: 4, hidden: 8, layers: 1 }); sample_pfgm(m, gaussian_noise(3, 3, 1), #{});", "samples 2-D points"),
        ("let m = pfgm_mlp(gaussian_ring(4, 2.0, 0.3), #{ D: 4, hidden: 8, layers: 1 }); sample_pfgm(m, gaussian_noise(3, 2, 1), #{ alpha: -1.0 });", "must be 0 or more"),
        ("paired_rms(gaussian_noise(3, 2, 1), gaussian_noise(4, 2, 1));", "of one shape"),
    ] {
        let (result, _) = run_one(script);
        let err = result.expect_err(script);
        assert!(err.to_string().contains(expect), "{script}: {err}");
    }
}

/// Gauge freedom's script functions: the exact demo and paths, manifold
/// data, a tiny conservative model trained and read out; bad settings are
/// explained in words.
#[test]
fn gauge_functions_run_and_reject_bad_input() {
    let (result, _) = run_one(
        r#"
        let demo = gauge_demo(#{ samples: 20, likelihood_points: 2, null_pairs: 3, tol: 1e-6, seed: 1 });
        if demo.plain.len() != 20 || demo.gauged.len() != 20 || demo.rows.len() != 9 || demo.max_dnll > 0.01 { throw "demo"; }
        let paths = gauge_paths(#{ points: 2, frames: 5, samples: 20, tol: 1e-6 });
        if paths.times.len() != 5 || paths.plain.len() != 2 || paths.gauged[1].x.len() != 5 { throw "paths"; }
        let data = manifold_data(#{ manifold: "circle", ambient: 3, seed: 2 });
        let xs = data.sample(10, 1);
        if data.intrinsic_dim != 1 || data.ambient != 3 || data.plane_coordinates(xs).len() != 10 { throw "data"; }
        let model = score_mlp(data, #{ kind: "conservative", hidden: 8, layers: 1, seed: 1 });
        let losses = train_score(model, data, #{ steps: 4, batch: 16 });
        let est = intrinsic_dimensions(model, data, #{ points: 3, steps: 8, trace_points: 1, trace_times: 3 });
        if model.kind != "conservative" || losses.len() != 4 || est.dims.len() != 3 || est.trace[0].len() != 3 || est.trace[0][0].len() != 3 { throw "model"; }
        if est.counts.len() != 4 || est.times.len() != 3 || est.true_dim != 1 { throw "estimate"; }
        "#,
    );
    result.expect("runs");
    for (script, expect) in [
        ("gauge_demo(#{ strenght: 1.0 });", "unknown setting `strenght`"),
        ("gauge_demo(#{ samples: 1 });", "`samples` must be between 2"),
        ("gauge_paths(#{ points: 0 });", "`points` must be between 1"),
        ("manifold_data(#{ manifold: \"torus\" });", "choose circle or sphere"),
        ("manifold_data(#{ manifold: \"sphere\", ambient: 3 });", "ambient dimension must be in 4..=64"),
        ("score_mlp(manifold_data(#{}), #{ hidden: 8 });", "give the model's kind"),
        ("score_mlp(manifold_data(#{}), #{ kind: \"curly\" });", "choose \"free\" or \"conservative\""),
        ("let d = manifold_data(#{}); let m = score_mlp(d, #{ kind: \"free\", hidden: 4, layers: 1 }); intrinsic_dimensions(m, manifold_data(#{ ambient: 4 }), #{});", "the model is 3-D but the data are 4-D"),
        ("let d = manifold_data(#{}); let m = score_mlp(d, #{ kind: \"free\", hidden: 4, layers: 1 }); intrinsic_dimensions(m, d, #{ gap_ratio: 0.5 });", "gap ratio > 1"),
        ("let d = manifold_data(#{}); let m = score_mlp(d, #{ kind: \"free\", hidden: 4, layers: 1 }); train_score(m, manifold_data(#{ ambient: 4 }), #{ steps: 2 });", "the data are 4-D but the model is 3-D"),
    ] {
        let (result, _) = run_one(script);
        let err = result.expect_err(script);
        assert!(err.to_string().contains(expect), "{script}: {err}");
    }
}

/// `clock()` moves forwards and measures work in seconds.
#[test]
fn clock_measures_elapsed_seconds() {
    let (result, events) = run_one("let t0 = clock(); let s = 0; for i in 0..200000 { s += i; } let dt = clock() - t0; metric(\"dt\", dt);");
    result.expect("runs");
    let dt = events.iter().find_map(|e| match e { Event::Metric { value, .. } => Some(*value), _ => None }).expect("metric");
    assert!(dt > 0.0 && dt < 60.0, "{dt}");
}

/// Solver regularisation's script functions: the circles, a tiny run of
/// every mode with checkpoints and live progress, the decision grid, Stop;
/// bad settings are explained in words.
#[test]
fn regularization_functions_train_and_reject_bad_input() {
    let (result, events) = run_one(
        r#"
        let c = circles_data(#{ train: 40, test: 20, seed: 1 });
        if c.train_inner.len() != 20 || c.train_outer.len() != 20 || c.test_inner.len() != 10 { throw "data"; }
        for m in ["vanilla", "global-error", "global-stiffness", "local-unbiased", "local-biased"] {
            let r = train_augmented_node(#{ mode: m, steps: 4, batch: 16, hidden: 4, train: 40, test: 20, eval_every: 2, seed: 1 });
            if r.nfe.len() != 4 || r.losses.len() != 4 || r.checkpoints.steps != [0, 2, 4] || r.test_nfe <= 0.0 { throw `run ${m}`; }
            if r.train_nfe != r.nfe.reduce(|s, x| s + x, 0) || r.test_accuracy < 0.0 || r.test_accuracy > 1.0 { throw `totals ${m}`; }
            if m == "vanilla" && r.penalties != [0.0, 0.0, 0.0, 0.0] { throw "vanilla penalty"; }
        }
        let r = train_augmented_node(#{ mode: "global-error", lambda: [3, 1.5], steps: 2, batch: 8, hidden: 4, train: 16, test: 8 });
        if r.lambda != [3.0, 1.5] || r.checkpoints.steps.len() != 0 { throw "lambda"; }
        let g = classifier_grid(r.model, #{ extent: 1.0, n: 5 });
        if g.values.len() != 5 || g.values[0].len() != 5 || g.nfe <= 0 || g.values[2][2] < 0.0 || g.values[2][2] > 1.0 { throw "grid"; }
        "#,
    );
    result.expect("runs");
    assert!(events.iter().any(|e| matches!(e, Event::Progress { .. })));
    for (script, expect) in [
        ("train_augmented_node(#{ steps: 2 });", "give the regulariser, mode:"),
        ("train_augmented_node(#{ mode: \"global\" });", "unknown mode \"global\""),
        ("train_augmented_node(#{ mode: \"vanilla\", lambda: 1.0 });", "vanilla training has no regulariser"),
        ("train_augmented_node(#{ mode: \"local-biased\", lambda: [1.0] });", "`lambda` must be a number or [start, end]"),
        ("train_augmented_node(#{ mode: \"local-biased\", lambda: [1.0, 0.0] });", "both zero or both positive"),
        ("train_augmented_node(#{ mode: \"vanilla\", tol: 2.0 });", "tol in (0, 1)"),
        ("train_augmented_node(#{ mode: \"vanilla\", step: 2 });", "unknown setting `step`"),
        ("train_augmented_node(#{ mode: \"vanilla\", steps: 2, eval_every: 3 });", "`eval_every` must be between 0 and 2"),
        ("circles_data(#{ train: 1 });", "`train` must be between 2"),
    ] {
        let (result, _) = run_one(script);
        let err = result.expect_err(script);
        assert!(err.to_string().contains(expect), "{script}: {err}");
    }
    let mut session = Session::new(0, "ci");
    let err = session
        .run_cell("train_augmented_node(#{ mode: \"vanilla\", steps: 100000, batch: 8, hidden: 4 });", collect_host(Rc::new(RefCell::new(Vec::new())), Some(5)))
        .expect_err("stopped");
    assert!(err.stopped, "{err:?}");
}

/// The neural-DE functions on tiny settings, their errors in words, Stop
/// in a training loop (the model keeps its weights), and markers in `lines`.
#[test]
fn neural_de_functions_run_and_report_mistakes() {
    let (result, events) = run_one(
        r#"
        let data = spiral_data(#{ points: 12, t_end: 3.0 });
        let model = neural_ode(#{ width: 4, seed: 1 });
        let bp = ode_gradient(model, data, #{ method: "backprop", tol: 1e-8 });
        let adj = ode_gradient(model, data, #{ method: "interpolating", tol: 1e-8 });
        if relative_difference(adj.grad, bp.grad) > 1e-5 || adj.tape >= bp.tape || data.times.len() != 12 || data.points.len() != 12 { throw "gradients"; }
        let run = train_neural_ode(model, data, #{ steps: 3, batch: 2, window: 4, dt: 0.1 });
        let path = ode_trajectory(model, data, #{ points: 5 });
        if run.losses.len() != 3 || run.fitted.x.len() != 12 || path.x.len() != 5 { throw "training"; }
        let series = cde_spirals(#{ series: 4, points: 10, path_points: 7 });
        if series.len() != 4 || series[0].times.len() != 7 || series[0].dropped_times.len() != 3 || series[0].path_x.len() != 7 { throw "cde data"; }
        let cde = train_neural_cde(#{ train_series: 4, test_series: 4, points: 10, hidden: 2, width: 4, solver_steps: 2, steps: 2 });
        if cde.losses.len() != 2 || cde.kept_points != 7 { throw "cde"; }
        let sde = reversible_heun(#{ steps: 20 });
        let q = brownian_orders(#{ queries: 10, dim: 2 });
        let br = brownian_bridge(#{ samples: 20, points: 3 });
        if sde.rel_error > 1e-12 || sde.path.len() != 2 || !q.identical || q.values.len() != 2 || br.s.len() != 3 { throw "sde"; }
        lines("fit", [#{ name: "data", x: [1.0, 2.0], y: [1.0, 2.0], points: true }, #{ name: "curve", x: [1.0, 2.0], y: [2.0, 1.0] }]);
        "#,
    );
    result.expect("runs");
    let kinds = events.iter().rev().find_map(|e| match e {
        Event::Plot(p) if p.title == "fit" => Some(p.series.iter().map(|s| s.kind).collect::<Vec<_>>()),
        _ => None,
    });
    assert_eq!(kinds, Some(vec![crate::events::SeriesKind::Scatter, crate::events::SeriesKind::Line]));
    for (script, expect) in [
        ("spiral_data(#{ pionts: 3 });", "unknown setting `pionts`"),
        ("spiral_data(#{ y0: [1.0] });", "`y0` must be two numbers"),
        ("neural_ode(#{ width: 0 });", "`width` must be between 1"),
        ("ode_gradient(neural_ode(#{}), spiral_data(#{}), #{ method: \"magic\" });", "choose \"backprop\", \"backsolve\" or \"interpolating\""),
        ("ode_gradient(neural_ode(#{}), spiral_data(#{}), #{ tol: 1e-6, dt: 0.1 });", "not both"),
        ("ode_gradient(neural_ode(#{}), spiral_data(#{}), #{ dt: -1.0 });", "must be a positive number"),
        ("ode_gradient(neural_ode(#{}), spiral_data(#{ points: 5 }), #{ window: 6 });", "`window` must be between 2 and 5"),
        ("relative_difference([1.0], [1.0, 2.0]);", "the same length"),
        ("train_neural_ode(neural_ode(#{}), spiral_data(#{}), #{ lr: 0.0 });", "learning rate"),
        ("train_neural_cde(#{ drop: 1.0, steps: 1 });", "drop in [0, 1)"),
        ("reversible_heun(#{ steps: 0 });", "`steps` must be between 1"),
        ("brownian_orders(#{ t_end: -1.0 });", "positive end time"),
        ("brownian_bridge(#{ a: 1.0, b: 0.5 });", "0 <= a < b <= t_end"),
        ("lines(\"x\", [#{ name: \"a\", x: [1.0], y: [1.0], points: 1 }]);", "`points` must be true or false"),
    ] {
        let (result, _) = run_one(script);
        let err = result.expect_err(script);
        assert!(err.to_string().contains(expect), "{script}: {err}");
    }
    // Stop ends the training and leaves the model as it was.
    let mut session = Session::new(0, "ci");
    let events = Rc::new(RefCell::new(Vec::new()));
    session.run_cell("let data = spiral_data(#{}); let model = neural_ode(#{ width: 4 }); let g0 = ode_gradient(model, data, #{ dt: 0.5 });", collect_host(Rc::clone(&events), None)).expect("setup");
    let err = session
        .run_cell("train_neural_ode(model, data, #{ steps: 100000, batch: 2 });", collect_host(Rc::clone(&events), Some(3)))
        .expect_err("stopped");
    assert!(err.stopped, "{err:?}");
    session
        .run_cell("let g1 = ode_gradient(model, data, #{ dt: 0.5 }); if g1.loss != g0.loss { throw \"the stopped training changed the model\"; }", collect_host(events, None))
        .expect("unchanged");
}
