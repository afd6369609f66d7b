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
