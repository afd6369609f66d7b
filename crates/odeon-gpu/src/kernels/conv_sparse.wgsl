// im2col / col2im for conv2d, and sparse (CSR) times dense.
// Bindings: 0 params, 1 x, 2 out.
//
// unfold2d / fold2d params: [n_threads, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow]
// csr_matmul params: [n_threads, k, rows, row_ptr[rows + 1], cols[nnz], values[nnz] (f32 bits)]

@group(0) @binding(0) var<storage, read> params: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// One invocation per column entry [b, (ci, ki, kj), (oi, oj)]: copies its
// image pixel, or leaves the zero of a padding pixel.
@compute @workgroup_size(256)
fn unfold2d(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg);
    if (i >= params[0]) { return; }
    let c = params[1]; let h = params[2]; let w = params[3];
    let kh = params[4]; let kw = params[5];
    let sh = params[6]; let sw = params[7];
    let ph = params[8]; let pw = params[9];
    let oh = params[10]; let ow = params[11];
    let oj = i % ow;
    let oi = (i / ow) % oh;
    let kj = (i / (ow * oh)) % kw;
    let ki = (i / (ow * oh * kw)) % kh;
    let ci = (i / (ow * oh * kw * kh)) % c;
    let b = i / (ow * oh * kw * kh * c);
    let ii = i32(oi * sh + ki) - i32(ph);
    let jj = i32(oj * sw + kj) - i32(pw);
    var v = 0.0;
    if (ii >= 0 && ii < i32(h) && jj >= 0 && jj < i32(w)) {
        v = x[((b * c + ci) * h + u32(ii)) * w + u32(jj)];
    }
    out[i] = v;
}

// One invocation per image pixel: sums the column entries that copied it,
// in (ki, kj) order like the CPU, so no atomics and the same bits.
@compute @workgroup_size(256)
fn fold2d(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg);
    if (i >= params[0]) { return; }
    let c = params[1]; let h = params[2]; let w = params[3];
    let kh = params[4]; let kw = params[5];
    let sh = params[6]; let sw = params[7];
    let ph = params[8]; let pw = params[9];
    let oh = params[10]; let ow = params[11];
    let jj = i % w;
    let ii = (i / w) % h;
    let ci = (i / (w * h)) % c;
    let b = i / (w * h * c);
    let rows = c * kh * kw;
    var acc = 0.0;
    for (var ki = 0u; ki < kh; ki = ki + 1u) {
        let ty = i32(ii + ph) - i32(ki);
        if (ty < 0 || u32(ty) % sh != 0u || u32(ty) / sh >= oh) { continue; }
        let oi = u32(ty) / sh;
        for (var kj = 0u; kj < kw; kj = kj + 1u) {
            let tx = i32(jj + pw) - i32(kj);
            if (tx < 0 || u32(tx) % sw != 0u || u32(tx) / sw >= ow) { continue; }
            let oj = u32(tx) / sw;
            let row = (ci * kh + ki) * kw + kj;
            acc = acc + x[((b * rows + row) * oh + oi) * ow + oj];
        }
    }
    out[i] = acc;
}

// out[r, j] = sum over the entries (col, v) of row r, in order, of v * x[col, j].
@compute @workgroup_size(256)
fn csr_matmul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg);
    if (i >= params[0]) { return; }
    let k = params[1];
    let rows = params[2];
    let j = i % k;
    let r = i / k;
    let nnz = params[3u + rows];
    let cols_at = 4u + rows;
    let vals_at = cols_at + nnz;
    var acc = 0.0;
    for (var e = params[3u + r]; e < params[4u + r]; e = e + 1u) {
        acc = acc + bitcast<f32>(params[vals_at + e]) * x[params[cols_at + e] * k + j];
    }
    out[i] = acc;
}
