// Row-major C[m x n] = A[m x k] · B[k x n], tiled 16x16 with workgroup memory.
//
// Each workgroup computes one 16x16 tile of C. For every 16-wide slice of the
// shared dimension it stages a 16x16 tile of A and of B in workgroup memory
// (zero-padded outside the matrices, so any m, k, n work), then each
// invocation accumulates its dot product from the shared tiles.

struct Dims {
    m: u32,
    k: u32,
    n: u32,
    _pad: u32,
}

const TILE: u32 = 16u;

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

var<workgroup> tile_a: array<array<f32, 16>, 16>;
var<workgroup> tile_b: array<array<f32, 16>, 16>;

@compute @workgroup_size(16, 16, 1)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let row = gid.y;
    let col = gid.x;
    var acc = 0.0;
    let tiles = (dims.k + TILE - 1u) / TILE;
    for (var t = 0u; t < tiles; t = t + 1u) {
        let a_col = t * TILE + lid.x;
        var av = 0.0;
        if (row < dims.m && a_col < dims.k) {
            av = a[row * dims.k + a_col];
        }
        tile_a[lid.y][lid.x] = av;

        let b_row = t * TILE + lid.y;
        var bv = 0.0;
        if (b_row < dims.k && col < dims.n) {
            bv = b[b_row * dims.n + col];
        }
        tile_b[lid.y][lid.x] = bv;

        workgroupBarrier();
        for (var i = 0u; i < TILE; i = i + 1u) {
            acc = acc + tile_a[lid.y][i] * tile_b[i][lid.x];
        }
        workgroupBarrier();
    }
    if (row < dims.m && col < dims.n) {
        c[row * dims.n + col] = acc;
    }
}
