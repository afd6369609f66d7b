// One fused Adam update, as odeon-tensor's CPU kernel:
//   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
//   p <- decay p - step m / (sqrt(v vc) + eps)
// params: [n, step, vc, b1, b2, c1 = 1 - b1, c2 = 1 - b2, eps, decay]

@group(0) @binding(0) var<storage, read> params: array<u32>;
@group(0) @binding(1) var<storage, read> p_in: array<f32>;
@group(0) @binding(2) var<storage, read> g_in: array<f32>;
@group(0) @binding(3) var<storage, read> m_in: array<f32>;
@group(0) @binding(4) var<storage, read> v_in: array<f32>;
@group(0) @binding(5) var<storage, read_write> p_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> m_out: array<f32>;
@group(0) @binding(7) var<storage, read_write> v_out: array<f32>;

@compute @workgroup_size(256)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg);
    if (i >= params[0]) { return; }
    let step = bitcast<f32>(params[1]);
    let vc = bitcast<f32>(params[2]);
    let b1 = bitcast<f32>(params[3]);
    let b2 = bitcast<f32>(params[4]);
    let c1 = bitcast<f32>(params[5]);
    let c2 = bitcast<f32>(params[6]);
    let eps = bitcast<f32>(params[7]);
    let decay = bitcast<f32>(params[8]);
    let g = g_in[i];
    let m = b1 * m_in[i] + c1 * g;
    let v = b2 * v_in[i] + c2 * g * g;
    m_out[i] = m;
    v_out[i] = v;
    p_out[i] = decay * p_in[i] - step * m / (sqrt(v * vc) + eps);
}
