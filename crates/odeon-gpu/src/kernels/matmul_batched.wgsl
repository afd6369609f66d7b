// Batched row-major C[b] = A[b] · B[b] (+ bias), A[b]: m x k, B[b]: k x n;
// workgroup z is the batch index. With has_bias, bias (n values) is added
// to every row after the product (addmm: a linear layer in one pass).
// params: [m, k, n, batch, has_bias]
//
// Register tiling: a workgroup of 16 x 16 threads computes a 64 x 64 block
// of C, each thread a 4 x 4 sub-block (rows ly + 16 i, columns lx + 16 j,
// so neighbouring threads touch neighbouring addresses). A 64 x 16 slice
// of A and a 16 x 64 slice of B are staged in workgroup memory per step of
// k; every value a thread loads from there feeds four multiply-adds
// instead of one. Each element of C still sums its k products in order
// 0, 1, ..., k - 1 in one accumulator, like the CPU's reference order.

@group(0) @binding(0) var<storage, read> params: array<u32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const T: u32 = 16u;

var<workgroup> tile_a: array<array<f32, 16>, 64>;
var<workgroup> tile_b: array<array<f32, 64>, 16>;

@compute @workgroup_size(16, 16, 1)
fn matmul(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let m = params[0];
    let k = params[1];
    let n = params[2];
    let batch = wid.z;
    let a_base = batch * m * k;
    let b_base = batch * k * n;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let flat = lid.y * T + lid.x;
    var acc: array<array<f32, 4>, 4>;
    for (var i = 0u; i < 4u; i = i + 1u) {
        for (var j = 0u; j < 4u; j = j + 1u) {
            acc[i][j] = 0.0;
        }
    }
    let steps = (k + BK - 1u) / BK;
    for (var s = 0u; s < steps; s = s + 1u) {
        let k0 = s * BK;
        // 1024 values of each slice, four per thread, zero outside the matrices.
        for (var r = 0u; r < 4u; r = r + 1u) {
            let e = flat + r * 256u;
            let ar = e / BK;
            let ak = e % BK;
            var av = 0.0;
            if (row0 + ar < m && k0 + ak < k) {
                av = a[a_base + (row0 + ar) * k + k0 + ak];
            }
            tile_a[ar][ak] = av;
            let bk = e / BN;
            let bc = e % BN;
            var bv = 0.0;
            if (k0 + bk < k && col0 + bc < n) {
                bv = b[b_base + (k0 + bk) * n + col0 + bc];
            }
            tile_b[bk][bc] = bv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk = kk + 1u) {
            var ar: array<f32, 4>;
            var br: array<f32, 4>;
            for (var i = 0u; i < 4u; i = i + 1u) {
                ar[i] = tile_a[lid.y + T * i][kk];
                br[i] = tile_b[kk][lid.x + T * i];
            }
            for (var i = 0u; i < 4u; i = i + 1u) {
                for (var j = 0u; j < 4u; j = j + 1u) {
                    acc[i][j] = acc[i][j] + ar[i] * br[j];
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i = i + 1u) {
        let row = row0 + lid.y + T * i;
        for (var j = 0u; j < 4u; j = j + 1u) {
            let col = col0 + lid.x + T * j;
            if (row < m && col < n) {
                var v = acc[i][j];
                if (params[4] != 0u) {
                    v = v + bias[col];
                }
                c[batch * m * n + row * n + col] = v;
            }
        }
    }
}

// The same product without workgroup memory or barriers: each thread reads
// its 4 rows of A and 4 adjacent columns of B straight from the buffers and
// keeps the 4 x 4 block in four vec4 accumulators (written out, no private
// arrays: SwiftShader's JIT does not unroll loops, and indexed private
// arrays then live in memory). On software adapters (SwiftShader, lavapipe)
// a workgroup barrier costs a switch between emulated invocations, and the
// CPU's caches do the staging.
@compute @workgroup_size(16, 16, 1)
fn matmul_direct(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let m = params[0];
    let k = params[1];
    let n = params[2];
    let batch = wid.z;
    let row0 = wid.y * BM + lid.y * 4u;
    let col0 = wid.x * BN + lid.x * 4u;
    // Rows and columns past the edge read row / column 0 and are not stored.
    let a_base = batch * m * k;
    let r0 = a_base + select(0u, row0, row0 < m) * k;
    let r1 = a_base + select(0u, row0 + 1u, row0 + 1u < m) * k;
    let r2 = a_base + select(0u, row0 + 2u, row0 + 2u < m) * k;
    let r3 = a_base + select(0u, row0 + 3u, row0 + 3u < m) * k;
    let b_base = batch * k * n;
    let c0 = b_base + select(0u, col0, col0 < n);
    let c1 = b_base + select(0u, col0 + 1u, col0 + 1u < n);
    let c2 = b_base + select(0u, col0 + 2u, col0 + 2u < n);
    let c3 = b_base + select(0u, col0 + 3u, col0 + 3u < n);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var kk = 0u; kk < k; kk = kk + 1u) {
        let o = kk * n;
        let bv = vec4<f32>(b[c0 + o], b[c1 + o], b[c2 + o], b[c3 + o]);
        acc0 = acc0 + a[r0 + kk] * bv;
        acc1 = acc1 + a[r1 + kk] * bv;
        acc2 = acc2 + a[r2 + kk] * bv;
        acc3 = acc3 + a[r3 + kk] * bv;
    }
    store_row(row0, col0, m, n, batch, acc0);
    store_row(row0 + 1u, col0, m, n, batch, acc1);
    store_row(row0 + 2u, col0, m, n, batch, acc2);
    store_row(row0 + 3u, col0, m, n, batch, acc3);
}

// Writes the in-range part of 4 values of row `row` from column `col0`,
// adding the bias when there is one.
fn store_row(row: u32, col0: u32, m: u32, n: u32, batch: u32, v: vec4<f32>) {
    if (row >= m) { return; }
    let base = batch * m * n + row * n;
    for (var j = 0u; j < 4u; j = j + 1u) {
        let col = col0 + j;
        if (col < n) {
            var x = v[j];
            if (params[4] != 0u) {
                x = x + bias[col];
            }
            c[base + col] = x;
        }
    }
}
