//! The linear assignment problem: the Hungarian algorithm in its
//! shortest-augmenting-path form with dual potentials, O(rows² · cols).

use serde::{Deserialize, Serialize};

use super::{MetricsError, check_finite};

/// An optimal assignment: row `i` goes to column `columns[i]`, every
/// column used at most once, with minimal `total` cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// `columns[i]` is the column assigned to row `i`.
    pub columns: Vec<usize>,
    /// The summed cost `Σ_i cost[i][columns[i]]` (summed in row order).
    pub total: f64,
}

/// Minimum-cost perfect matching of an `n x n` cost matrix given
/// row-major (`cost[i*n + j]` is the cost of giving row `i` column `j`).
///
/// Costs must be finite (any sign). This is the Jonker–Volgenant (LAPJV)
/// algorithm: column reduction with reduction transfer and two passes of
/// augmenting row reduction give most rows a column cheaply, then every
/// remaining free row is matched by a Dijkstra-like shortest augmenting
/// path on reduced costs with column prices. O(n³) time in the worst case,
/// O(n) extra memory; deterministic (fixed scan order, no randomness).
/// `n = 0` gives an empty assignment with total 0.
///
/// Cost grows like n³ on hard geometric instances: squared distances
/// between two different 2-D Gaussian clouds took ~0.4 s at n = 500 and
/// ~20 s at n = 2000 in a release build on a heavily loaded 2-core
/// machine (the `hungarian_timing` test prints timings; expect less on an
/// idle one). Memory: the caller's `8 n²`-byte matrix plus O(n).
pub fn hungarian(cost: &[f64], n: usize) -> Result<Assignment, MetricsError> {
    if n.checked_mul(n) != Some(cost.len()) {
        return Err(MetricsError::CostShape { rows: n, cols: n, expected: n.saturating_mul(n), len: cost.len() });
    }
    check_finite("the cost matrix", cost)?;
    let columns = lapjv(cost, n)?;
    let total = columns.iter().enumerate().map(|(i, &j)| cost[i * n + j]).sum();
    Ok(Assignment { columns, total })
}

/// [`hungarian`] for a `rows x cols` cost matrix with `rows <= cols`
/// (row-major): every row gets a distinct column, some columns stay
/// unused. Transpose the matrix first if you have more rows than columns.
/// (Solved as a square problem padded with zero-cost dummy rows.)
pub fn hungarian_rectangular(cost: &[f64], rows: usize, cols: usize) -> Result<Assignment, MetricsError> {
    let expected = if rows <= cols { rows.checked_mul(cols) } else { None };
    if expected != Some(cost.len()) {
        return Err(MetricsError::CostShape { rows, cols, expected: expected.unwrap_or(0), len: cost.len() });
    }
    check_finite("the cost matrix", cost)?;
    if rows == cols {
        return hungarian(cost, rows);
    }
    let mut square = cost.to_vec();
    square.resize(cols * cols, 0.0);
    let mut columns = lapjv(&square, cols)?;
    columns.truncate(rows);
    let total = columns.iter().enumerate().map(|(i, &j)| cost[i * cols + j]).sum();
    Ok(Assignment { columns, total })
}

/// Marks an unassigned row or column.
const NONE: usize = usize::MAX;

/// LAPJV on a checked, finite `n x n` matrix: the column of each row.
///
/// Invariant throughout (with column prices `v`): every assigned row `i`
/// is assigned a column minimising `c[i][j] - v[j]`. When all rows are
/// assigned, `u_i = c[i][x_i] - v[x_i]` and `v` are then a feasible dual
/// with complementary slackness, so the assignment is optimal.
fn lapjv(cost: &[f64], n: usize) -> Result<Vec<usize>, MetricsError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if n == 1 {
        return Ok(vec![0]);
    }
    let row = |i: usize| &cost[i * n..(i + 1) * n];
    // x[i]: column of row i; y[j]: row of column j; v[j]: column price.
    let mut x = vec![NONE; n];
    let mut y = vec![NONE; n];
    let mut v = vec![f64::INFINITY; n];

    // Column reduction: v[j] = min_i c[i][j]; its (first) argmin row takes
    // the column if still free. Columns are visited last to first as in
    // Jonker & Volgenant.
    let mut argmin = vec![0usize; n];
    for i in 0..n {
        for (j, &c) in row(i).iter().enumerate() {
            if c < v[j] {
                v[j] = c;
                argmin[j] = i;
            }
        }
    }
    for j in (0..n).rev() {
        let i = argmin[j];
        if x[i] == NONE {
            x[i] = j;
            y[j] = i;
        }
    }
    // Reduction transfer: lower the price of each assigned row's column by
    // the row's second-best reduced cost (0 when it has another tight one).
    for (i, &j1) in x.iter().enumerate() {
        if j1 == NONE {
            continue;
        }
        let mut mu = f64::INFINITY;
        for (j, &c) in row(i).iter().enumerate() {
            if j != j1 {
                mu = mu.min(c - v[j]);
            }
        }
        v[j1] -= mu;
    }
    let mut free: Vec<usize> = (0..n).filter(|&i| x[i] == NONE).collect();

    // Two passes of augmenting row reduction.
    for _ in 0..2 {
        if free.is_empty() {
            break;
        }
        free = augmenting_row_reduction(cost, n, free, &mut x, &mut y, &mut v);
    }

    // Shortest augmenting paths for the rest.
    let mut scratch = PathScratch { d: vec![0.0; n], pred: vec![0; n], w: vec![0.0; n], done: Vec::new() };
    for &f in &free {
        let end = shortest_path(cost, n, f, &y, &mut v, &mut scratch)?;
        // Augment: walk back along predecessors.
        let mut j = end;
        loop {
            let i = scratch.pred[j];
            y[j] = i;
            let previous = x[i];
            x[i] = j;
            if i == f {
                break;
            }
            j = previous;
        }
    }
    if x.contains(&NONE) || v.iter().any(|p| !p.is_finite()) {
        return Err(MetricsError::AssignmentFailed);
    }
    Ok(x)
}

/// Augmenting row reduction (Jonker & Volgenant 1987, procedure AUGMENTING
/// ROW REDUCTION): each free row takes its best column, lowering that
/// column's price to the row's second-best reduced cost, and displaces the
/// column's owner, which becomes free. Returns the rows still free.
fn augmenting_row_reduction(
    cost: &[f64],
    n: usize,
    mut free: Vec<usize>,
    x: &mut [usize],
    y: &mut [usize],
    v: &mut [f64],
) -> Vec<usize> {
    let total = free.len();
    let mut current = 0usize;
    let mut kept = 0usize;
    let mut steps = 0usize;
    while current < total {
        steps += 1;
        let i = free[current];
        current += 1;
        let row = &cost[i * n..(i + 1) * n];
        // Best (j1, u1) and second best (j2, u2) reduced costs.
        let (mut j1, mut u1) = (0usize, row[0] - v[0]);
        let (mut j2, mut u2) = (NONE, f64::INFINITY);
        for (j, &c) in row.iter().enumerate().skip(1) {
            let h = c - v[j];
            if h < u2 {
                if h >= u1 {
                    u2 = h;
                    j2 = j;
                } else {
                    u2 = u1;
                    j2 = j1;
                    u1 = h;
                    j1 = j;
                }
            }
        }
        let mut i0 = y[j1];
        let lowered = v[j1] - (u2 - u1);
        let lowers = lowered < v[j1];
        // Bound the work, as Jonker & Volgenant do, so ties cannot cycle.
        if steps < current.saturating_mul(n) {
            if lowers {
                v[j1] = lowered;
            } else if i0 != NONE && j2 != NONE {
                // A tie: take the second column instead.
                j1 = j2;
                i0 = y[j2];
            }
            if i0 != NONE {
                if lowers {
                    // Re-examine the displaced row next.
                    current -= 1;
                    free[current] = i0;
                } else {
                    free[kept] = i0;
                    kept += 1;
                }
            }
        } else if i0 != NONE {
            free[kept] = i0;
            kept += 1;
        }
        if i0 != NONE {
            x[i0] = NONE;
        }
        x[i] = j1;
        y[j1] = i;
    }
    free.truncate(kept);
    free
}

/// Reusable buffers of [`shortest_path`].
struct PathScratch {
    /// Tentative distance of each todo column from the free row (`+∞` once
    /// a column is finalised).
    d: Vec<f64>,
    /// The row from which each column was reached.
    pred: Vec<usize>,
    /// Column prices with finalised columns set to `-∞`, so the relaxation
    /// loop needs no branch to skip them.
    w: Vec<f64>,
    /// Finalised columns and their distances.
    done: Vec<(usize, f64)>,
}

/// Dijkstra from free row `start` over reduced costs until a free column is
/// reached; then updates the prices of the finalised columns so the
/// invariant holds after augmenting. Returns the free column reached.
///
/// Each step relaxes the newly reached row and finds the next closest
/// column in one contiguous pass over the columns (lowest index wins
/// ties), which vectorises well natively and in wasm.
fn shortest_path(
    cost: &[f64],
    n: usize,
    start: usize,
    y: &[usize],
    v: &mut [f64],
    s: &mut PathScratch,
) -> Result<usize, MetricsError> {
    s.w.copy_from_slice(v);
    s.done.clear();
    let row = &cost[start * n..(start + 1) * n];
    let (mut best, mut jb) = (f64::INFINITY, NONE);
    for j in 0..n {
        let dj = row[j] - v[j];
        s.d[j] = dj;
        s.pred[j] = start;
        if dj < best {
            best = dj;
            jb = j;
        }
    }
    loop {
        if jb == NONE || !best.is_finite() {
            return Err(MetricsError::AssignmentFailed);
        }
        if y[jb] == NONE {
            break;
        }
        // Finalise jb and relax through its row.
        s.done.push((jb, best));
        s.w[jb] = f64::NEG_INFINITY;
        s.d[jb] = f64::INFINITY;
        let i = y[jb];
        let row = &cost[i * n..(i + 1) * n];
        let h = row[jb] - v[jb] - best;
        best = relax(row, &s.w, h, i, &mut s.d, &mut s.pred);
        // The first column at the minimal distance (lowest index wins).
        jb = s.d.iter().position(|&dj| dj == best).unwrap_or(NONE);
    }
    for &(j, dj) in &s.done {
        v[j] += dj - best;
    }
    Ok(jb)
}

/// `d[j] = min(d[j], c[j] - w[j] - h)` (recording `pred[j] = i` where it
/// improves) and returns `min_j d[j]`. Written in independent lanes so the
/// compiler can vectorise it; the result is independent of lane order.
fn relax(c: &[f64], w: &[f64], h: f64, i: usize, d: &mut [f64], pred: &mut [usize]) -> f64 {
    const LANES: usize = 4;
    let mut lane_best = [f64::INFINITY; LANES];
    let split = c.len() - c.len() % LANES;
    for (((c4, w4), d4), p4) in c[..split]
        .chunks_exact(LANES)
        .zip(w[..split].chunks_exact(LANES))
        .zip(d[..split].chunks_exact_mut(LANES))
        .zip(pred[..split].chunks_exact_mut(LANES))
    {
        for l in 0..LANES {
            let reduced = c4[l] - w4[l] - h;
            let better = reduced < d4[l];
            d4[l] = if better { reduced } else { d4[l] };
            p4[l] = if better { i } else { p4[l] };
            lane_best[l] = if d4[l] < lane_best[l] { d4[l] } else { lane_best[l] };
        }
    }
    let mut best = lane_best.iter().copied().fold(f64::INFINITY, |a, b| if b < a { b } else { a });
    for j in split..c.len() {
        let reduced = c[j] - w[j] - h;
        if reduced < d[j] {
            d[j] = reduced;
            pred[j] = i;
        }
        if d[j] < best {
            best = d[j];
        }
    }
    best
}
