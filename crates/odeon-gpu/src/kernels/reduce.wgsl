// Sum / max / min over arbitrary axes. The host splits the input's axes into
// kept ones (the output, row-major) and reduced ones, with their sizes and
// input strides. Two schedules, same bindings:
// * reduce_rows: one invocation per output element (short reductions);
// * reduce_wide: one workgroup per output element, a strided partial per
//   invocation then a tree in workgroup memory (long reductions).
// Both sum in a fixed order, so results are deterministic run to run.
//
// params: [n_out, op, n_kept, n_red, r_len,
//          kept_shape[n_kept], kept_strides[n_kept], red_shape[n_red], red_strides[n_red]]
// op: 0 sum, 1 max, 2 min (NaN propagates, as on the CPU).

@group(0) @binding(0) var<storage, read> params: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 256>;

fn identity(op: u32) -> f32 {
    if (op == 1u) { return -inf(); }
    if (op == 2u) { return inf(); }
    return 0.0;
}

fn combine(op: u32, acc: f32, v: f32) -> f32 {
    if (op == 1u) { return select(acc, v, v > acc || v != v); }
    if (op == 2u) { return select(acc, v, v < acc || v != v); }
    return acc + v;
}

fn base_offset(o: u32) -> u32 {
    let nk = params[2];
    var rem = o;
    var off = 0u;
    for (var d = nk; d > 0u; d = d - 1u) {
        let size = params[4u + d];
        off = off + (rem % size) * params[4u + nk + d];
        rem = rem / size;
    }
    return off;
}

fn red_offset(r: u32) -> u32 {
    let nk = params[2];
    let nr = params[3];
    let at = 5u + 2u * nk;
    var rem = r;
    var off = 0u;
    for (var d = nr; d > 0u; d = d - 1u) {
        let size = params[at + d - 1u];
        off = off + (rem % size) * params[at + nr + d - 1u];
        rem = rem / size;
    }
    return off;
}

@compute @workgroup_size(256)
fn reduce_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = thread_index(gid, nwg);
    if (o >= params[0]) { return; }
    let op = params[1];
    let base = base_offset(o);
    var acc = identity(op);
    for (var r = 0u; r < params[4]; r = r + 1u) {
        acc = combine(op, acc, x[base + red_offset(r)]);
    }
    out[o] = acc;
}

@compute @workgroup_size(256)
fn reduce_wide(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    // Uniform across the workgroup, so the early return keeps barriers uniform.
    let o = wid.x + wid.y * nwg.x;
    if (o >= params[0]) { return; }
    let op = params[1];
    let base = base_offset(o);
    var acc = identity(op);
    for (var r = lid; r < params[4]; r = r + WG) {
        acc = combine(op, acc, x[base + red_offset(r)]);
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var width = WG / 2u; width > 0u; width = width / 2u) {
        if (lid < width) {
            partial[lid] = combine(op, partial[lid], partial[lid + width]);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        out[o] = partial[0];
    }
}
