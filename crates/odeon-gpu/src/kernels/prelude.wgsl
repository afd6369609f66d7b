// Shared by every backend kernel (prepended to each module by backend.rs).
//
// The scalar functions follow odeon-tensor's `UnaryOp::eval` /
// `UnaryOp::derivative` / `BinaryOp::eval` formula for formula; `exp` is the
// same range reduction and degree-7 polynomial as `odeon_tensor::dtype::exp_f32`.

const WG: u32 = 256u;

// Flat index of this invocation in a 1-D problem dispatched as up to
// 65535 x N workgroups of WG invocations.
fn thread_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

fn inf() -> f32 {
    // Through a variable: Chrome's compiler rejects an infinite constant.
    var bits = 0x7f800000u;
    return bitcast<f32>(bits);
}

fn nan() -> f32 {
    var bits = 0x7fc00000u;
    return bitcast<f32>(bits);
}

fn exp_det(x0: f32) -> f32 {
    let x = clamp(x0, -104.0, 89.0);
    let kf = round(x * 1.44269504088896341);
    let k = i32(kf);
    let r = (x - kf * 0.69314575) - kf * 1.4286068e-6;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let half = k >> 1u;
    let s1 = bitcast<f32>(u32(half + 127) << 23u);
    let s2 = bitcast<f32>(u32(k - half + 127) << 23u);
    return p * s1 * s2;
}

fn sigmoid_det(x: f32) -> f32 {
    let e = exp_det(-abs(x));
    let r = 1.0 / (1.0 + e);
    return select(e * r, r, x >= 0.0);
}

fn softplus_det(x: f32) -> f32 {
    let m = select(0.0, x, x > 0.0);
    return m + log(1.0 + exp_det(-abs(x)));
}

fn tanh_det(x: f32) -> f32 {
    // tanh(+-20) is +-1 in f32; clamping keeps implementations that build
    // tanh from exp away from inf/inf.
    return tanh(clamp(x, -20.0, 20.0));
}

fn sign_det(x: f32) -> f32 {
    return select(select(0.0, -1.0, x < 0.0), 1.0, x > 0.0);
}

// Op codes: the order of odeon_tensor::UnaryOp.
fn unary_eval(op: u32, x: f32) -> f32 {
    var r = x;
    switch op {
        case 0u: { r = -x; }
        case 1u: { r = exp_det(x); }
        case 2u: { r = log(x); }
        case 3u: { r = sin(x); }
        case 4u: { r = cos(x); }
        case 5u: { r = tanh_det(x); }
        case 6u: { r = x * x; }
        case 7u: { r = sqrt(x); }
        case 8u: { r = 1.0 / x; }
        case 9u: { r = select(x, -x, x < 0.0); }
        case 10u: { r = select(0.0, x, x > 0.0); }
        case 11u: { r = sigmoid_det(x); }
        case 12u: { r = x * sigmoid_det(x); }
        case 13u: { r = softplus_det(x); }
        case 14u: { r = select(0.0, 1.0, x > 0.0); }
        case 15u: { r = sign_det(x); }
        default: { r = nan(); }
    }
    return r;
}

fn unary_derivative(op: u32, x: f32) -> f32 {
    var r = 0.0;
    switch op {
        case 0u: { r = -1.0; }
        case 1u: { r = exp_det(x); }
        case 2u: { r = 1.0 / x; }
        case 3u: { r = cos(x); }
        case 4u: { r = -sin(x); }
        case 5u: { let y = tanh_det(x); r = 1.0 - y * y; }
        case 6u: { r = x + x; }
        case 7u: { r = 1.0 / (sqrt(x) + sqrt(x)); }
        case 8u: { r = -1.0 / (x * x); }
        case 9u: { r = sign_det(x); }
        case 10u: { r = select(0.0, 1.0, x > 0.0); }
        case 11u: { let s = sigmoid_det(x); r = s * (1.0 - s); }
        case 12u: { let s = sigmoid_det(x); r = s * (1.0 + x * (1.0 - s)); }
        case 13u: { r = sigmoid_det(x); }
        case 14u, 15u: { r = 0.0; }
        default: { r = nan(); }
    }
    return r;
}

// libm's powf on the cases a notebook meets: b == 0 gives 1, a negative base
// needs an integer exponent (else NaN), a zero base gives 0 or inf.
fn pow_det(a: f32, b: f32) -> f32 {
    if (b == 0.0 || a == 1.0) {
        return 1.0;
    }
    if (a == 0.0) {
        return select(inf(), 0.0, b > 0.0);
    }
    if (a > 0.0) {
        return pow(a, b);
    }
    if (floor(b) != b) {
        return nan();
    }
    let r = pow(-a, b);
    let odd = abs(b) < 16777216.0 && (i32(b) & 1) == 1;
    return select(r, -r, odd);
}

// Op codes: the order of odeon_tensor::BinaryOp.
fn binary_eval(op: u32, a: f32, b: f32) -> f32 {
    var r = 0.0;
    switch op {
        case 0u: { r = a + b; }
        case 1u: { r = a - b; }
        case 2u: { r = a * b; }
        case 3u: { r = a / b; }
        case 4u: { r = select(b, a, a >= b); }
        case 5u: { r = select(b, a, a <= b); }
        case 6u: { r = pow_det(a, b); }
        case 7u: { r = select(0.0, 1.0, a > b); }
        case 8u: { r = select(0.0, 1.0, a >= b); }
        case 9u: { r = select(0.0, 1.0, a < b); }
        case 10u: { r = select(0.0, 1.0, a == b); }
        default: { r = nan(); }
    }
    return r;
}
