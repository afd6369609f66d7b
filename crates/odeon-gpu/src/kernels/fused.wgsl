// Fused elementwise chains (see fusion.rs). One kernel for every chain: it
// interprets a short program, the same for every thread (so no divergence),
// from the params buffer, so a new chain needs no shader compilation.
//
// params: [n, code_len, code...]; instructions (a stack of f32 registers):
//   0 k        push input k (0 = x, 1 = y, 2 = z) at this thread's index
//   1 op       top = unary_eval(op, top)
//   2 op       b = pop, a = pop, push binary_eval(op, a, b)
//   3 op c f   top = binary_eval(op, c, top) if f else binary_eval(op, top, c)
//   4 op       top = unary_derivative(op, top)
// The result is the value left on top.

@group(0) @binding(0) var<storage, read> params: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> z: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const STACK: u32 = 8u;

@compute @workgroup_size(256)
fn fused(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg);
    if (i >= params[0]) { return; }
    var stack: array<f32, STACK>;
    var sp = 0u;
    var pc = 2u;
    let end = 2u + params[1];
    loop {
        if (pc >= end || sp > STACK) { break; }
        let code = params[pc];
        switch code {
            case 0u: {
                let k = params[pc + 1u];
                var v = x[i];
                if (k == 1u) { v = y[i]; } else if (k == 2u) { v = z[i]; }
                stack[sp] = v;
                sp = sp + 1u;
                pc = pc + 2u;
            }
            case 1u: {
                stack[sp - 1u] = unary_eval(params[pc + 1u], stack[sp - 1u]);
                pc = pc + 2u;
            }
            case 2u: {
                let b = stack[sp - 1u];
                sp = sp - 1u;
                stack[sp - 1u] = binary_eval(params[pc + 1u], stack[sp - 1u], b);
                pc = pc + 2u;
            }
            case 3u: {
                let c = bitcast<f32>(params[pc + 2u]);
                if (params[pc + 3u] != 0u) {
                    stack[sp - 1u] = binary_eval(params[pc + 1u], c, stack[sp - 1u]);
                } else {
                    stack[sp - 1u] = binary_eval(params[pc + 1u], stack[sp - 1u], c);
                }
                pc = pc + 4u;
            }
            case 4u: {
                stack[sp - 1u] = unary_derivative(params[pc + 1u], stack[sp - 1u]);
                pc = pc + 2u;
            }
            default: {
                pc = end;
            }
        }
    }
    out[i] = stack[0];
}
