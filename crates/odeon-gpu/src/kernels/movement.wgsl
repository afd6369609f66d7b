// Data movement: one strided copy serves permute, broadcast_to, slice and
// concat; gathers and the deterministic scatter-add serve index_select and
// index_add. Bindings: 0 params, 1 x, 2 src, 3 out.

@group(0) @binding(0) var<storage, read> params: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// For every coordinate c of a view of `shape`:
//   out[dst_off + c . dst_strides] = x[src_off + c . src_strides]
// params: [n, rank, src_off, dst_off, shape[rank], src_strides[rank], dst_strides[rank]]
@compute @workgroup_size(256)
fn strided_copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg);
    if (i >= params[0]) { return; }
    let rank = params[1];
    var rem = i;
    var s = params[2];
    var t = params[3];
    for (var d = rank; d > 0u; d = d - 1u) {
        let size = params[3u + d];
        let c = rem % size;
        rem = rem / size;
        s = s + c * params[3u + rank + d];
        t = t + c * params[3u + 2u * rank + d];
    }
    out[t] = x[s];
}

// out[o, j, i] = x[o, idx[j], i]
// params: [n, count, inner, dim_in, idx[count]]
@compute @workgroup_size(256)
fn index_select(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg);
    if (i >= params[0]) { return; }
    let count = params[1];
    let inner = params[2];
    let dim_in = params[3];
    let e = i % inner;
    let j = (i / inner) % count;
    let o = i / (inner * count);
    out[i] = x[(o * dim_in + params[4u + j]) * inner + e];
}

// out[o, t, i] = x[o, t, i] + sum of src[o, j, i] over the j with idx[j] == t,
// in increasing j (the CPU's order), so the result is deterministic without
// atomics. The host passes that inverse mapping as CSR: the j's for target t
// are sources[starts[t]..starts[t + 1]].
// params: [n, dim, inner, count, starts[dim + 1], sources[count]]
@compute @workgroup_size(256)
fn index_add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg);
    if (i >= params[0]) { return; }
    let dim = params[1];
    let inner = params[2];
    let count = params[3];
    let e = i % inner;
    let t = (i / inner) % dim;
    let o = i / (inner * dim);
    var acc = x[i];
    let begin = params[4u + t];
    let end = params[5u + t];
    for (var k = begin; k < end; k = k + 1u) {
        let j = params[5u + dim + k];
        acc = acc + src[(o * count + j) * inner + e];
    }
    out[i] = acc;
}
