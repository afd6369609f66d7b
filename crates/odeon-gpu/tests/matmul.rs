//! Native GPU tests of the matmul kernel (lavapipe or any Vulkan adapter).
//!
//! Without an adapter they skip, unless `ODEON_REQUIRE_GPU=1`, which makes a
//! missing adapter a failure.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use odeon_gpu::{GpuContext, GpuError, matmul_cpu_reference};

fn context() -> Option<GpuContext> {
    match pollster::block_on(GpuContext::new()) {
        Ok(ctx) => {
            println!("adapter: {}", ctx.adapter_summary());
            Some(ctx)
        }
        Err(err) => {
            if std::env::var("ODEON_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("ODEON_REQUIRE_GPU=1 but no GPU context: {err}");
            }
            println!("SKIP: no GPU adapter ({err}); install mesa-vulkan-drivers for lavapipe");
            None
        }
    }
}

/// Deterministic pseudo-random values in [-1, 1).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn matmul_matches_cpu_reference() {
    let Some(ctx) = context() else { return };
    for (i, &(m, k, n)) in [
        (1, 1, 1),
        (7, 13, 5),
        (16, 16, 16),
        (17, 33, 15),
        (64, 64, 64),
        (100, 37, 51),
        (1, 300, 1),
        (3, 0, 4),
    ]
    .iter()
    .enumerate()
    {
        let a = values(m * k, 2 * i as u64);
        let b = values(k * n, 2 * i as u64 + 1);
        let got = pollster::block_on(ctx.matmul(&a, &b, m, k, n)).unwrap();
        let want = matmul_cpu_reference(&a, &b, m, k, n);
        assert_eq!(got.len(), m * n, "{m}x{k}x{n}");
        let scale = want.iter().fold(1.0_f32, |s, x| s.max(x.abs()));
        for (idx, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-4 * scale,
                "{m}x{k}x{n} at {idx}: gpu {g} vs cpu {w}"
            );
        }
        println!("ok {m}x{k}x{n}");
    }
}

#[test]
fn matmul_rejects_bad_shapes() {
    let Some(ctx) = context() else { return };
    let err = pollster::block_on(ctx.matmul(&[1.0; 5], &[1.0; 6], 2, 3, 2)).unwrap_err();
    assert!(matches!(
        err,
        GpuError::ShapeMismatch {
            operand: "a",
            len: 5,
            rows: 2,
            cols: 3
        }
    ));
    let err = pollster::block_on(ctx.matmul(&[1.0; 6], &[1.0; 5], 2, 3, 2)).unwrap_err();
    assert!(matches!(err, GpuError::ShapeMismatch { operand: "b", .. }));
    println!("{err}");
    // The context is still usable after a rejected call.
    let ok = pollster::block_on(ctx.matmul(&[2.0], &[3.0], 1, 1, 1)).unwrap();
    assert_eq!(ok, vec![6.0]);
}
