// Elementwise kernels. Bindings: 0 params (u32; floats as bit patterns),
// 1..3 inputs, 4 output. Each entry point uses only the bindings it needs.
//
// Broadcasting: `binary` and `select` get the output shape and, per input,
// strides into that input aligned to the output's axes (0 on broadcast axes).

@group(0) @binding(0) var<storage, read> params: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> z: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// params: [n, value]
@compute @workgroup_size(256)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg);
    if (i >= params[0]) { return; }
    out[i] = bitcast<f32>(params[1]);
}

// params: [n, op]
@compute @workgroup_size(256)
fn unary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg);
    if (i >= params[0]) { return; }
    out[i] = unary_eval(params[1], x[i]);
}

// params: [n, op]; x = the op's input, y = the incoming gradient
@compute @workgroup_size(256)
fn unary_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg);
    if (i >= params[0]) { return; }
    out[i] = y[i] * unary_derivative(params[1], x[i]);
}

// params: [n, op, c, scalar_first]
@compute @workgroup_size(256)
fn scalar(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg);
    if (i >= params[0]) { return; }
    let c = bitcast<f32>(params[2]);
    if (params[3] != 0u) {
        out[i] = binary_eval(params[1], c, x[i]);
    } else {
        out[i] = binary_eval(params[1], x[i], c);
    }
}

// params: [n, rank, op, shape[rank], strides_x[rank], strides_y[rank]]
@compute @workgroup_size(256)
fn binary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg);
    if (i >= params[0]) { return; }
    let rank = params[1];
    var rem = i;
    var ix = 0u;
    var iy = 0u;
    for (var d = rank; d > 0u; d = d - 1u) {
        let size = params[2u + d];
        let c = rem % size;
        rem = rem / size;
        ix = ix + c * params[2u + rank + d];
        iy = iy + c * params[2u + 2u * rank + d];
    }
    out[i] = binary_eval(params[2], x[ix], y[iy]);
}

// params: [n, rank, shape[rank], strides_cond[rank], strides_a[rank], strides_b[rank]]
// x = cond, y = a, z = b
@compute @workgroup_size(256)
fn select_where(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg);
    if (i >= params[0]) { return; }
    let rank = params[1];
    var rem = i;
    var ic = 0u;
    var ia = 0u;
    var ib = 0u;
    for (var d = rank; d > 0u; d = d - 1u) {
        let size = params[1u + d];
        let c = rem % size;
        rem = rem / size;
        ic = ic + c * params[1u + rank + d];
        ia = ia + c * params[1u + 2u * rank + d];
        ib = ib + c * params[1u + 3u * rank + d];
    }
    out[i] = select(z[ib], y[ia], x[ic] != 0.0);
}
