// Batched row-major C[b] = A[b] · B[b] (+ bias), A[b]: m x k, B[b]: k x n,
// tiled 16x16 with workgroup memory like matmul.wgsl; workgroup z is the
// batch index. With has_bias, bias (n values) is added to every row after
// the product (addmm: a linear layer in one pass).
// params: [m, k, n, batch, has_bias]

@group(0) @binding(0) var<storage, read> params: array<u32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const TILE: u32 = 16u;

var<workgroup> tile_a: array<array<f32, 16>, 16>;
var<workgroup> tile_b: array<array<f32, 16>, 16>;

@compute @workgroup_size(16, 16, 1)
fn matmul(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let m = params[0];
    let k = params[1];
    let n = params[2];
    let batch = gid.z;
    let a_base = batch * m * k;
    let b_base = batch * k * n;
    let row = gid.y;
    let col = gid.x;
    var acc = 0.0;
    let tiles = (k + TILE - 1u) / TILE;
    for (var t = 0u; t < tiles; t = t + 1u) {
        let a_col = t * TILE + lid.x;
        var av = 0.0;
        if (row < m && a_col < k) {
            av = a[a_base + row * k + a_col];
        }
        tile_a[lid.y][lid.x] = av;
        let b_row = t * TILE + lid.y;
        var bv = 0.0;
        if (b_row < k && col < n) {
            bv = b[b_base + b_row * n + col];
        }
        tile_b[lid.y][lid.x] = bv;
        workgroupBarrier();
        for (var i = 0u; i < TILE; i = i + 1u) {
            acc = acc + tile_a[lid.y][i] * tile_b[i][lid.x];
        }
        workgroupBarrier();
    }
    if (row < m && col < n) {
        if (params[4] != 0u) {
            acc = acc + bias[col];
        }
        c[batch * m * n + row * n + col] = acc;
    }
}
