//! Elementwise fusion: chains of elementwise operations run as one kernel.
//!
//! On the GPU every operation costs a dispatch, a fresh buffer, and a trip
//! of its whole output through memory; an elementwise operation does almost
//! no arithmetic, so those costs are all it has. The backend therefore makes
//! the results of same-shape elementwise operations (unary, scalar,
//! non-broadcasting binary, the gradient of a unary) *pending*: a
//! [`Program`] over at most [`MAX_LEAVES`] materialised inputs instead of a
//! buffer. Consumers that are elementwise too extend the program; anything
//! else (a matmul, a reduction, a read) materialises it with one dispatch of
//! the interpreter kernel `kernels/fused.wgsl`, which evaluates the program
//! per element. So `(pred - y)^2` followed by a mean is two dispatches, not
//! three, and the intermediate never exists.
//!
//! Where it pays: a pending operand is inlined into a consumer (and so
//! recomputed there, if it is also materialised elsewhere) only when its
//! program is short ([`MAX_INLINE`] words); programs stop growing at
//! [`MAX_CODE`] words, [`STACK`] registers or three inputs, and the chain
//! restarts from a materialised buffer. The interpreter evaluates exactly
//! the f32 operations the unfused kernels do, in the same order, so fused
//! and unfused results are bit-identical (tested).
//!
//! Why an interpreter, not generated WGSL per chain: every new chain would
//! be a shader compilation (tens of milliseconds in a browser, far more on
//! SwiftShader), and the program is uniform across threads, so interpreting
//! it costs a few instructions per element on a memory-bound kernel.

use crate::backend::GpuStorage;

/// Inputs one fused kernel reads (bindings 1 to 3 of `fused.wgsl`).
pub(crate) const MAX_LEAVES: usize = 3;
/// Longest program, in `u32` words.
pub(crate) const MAX_CODE: usize = 48;
/// Longest pending program a consumer inlines (recomputes) rather than
/// materialising it first.
pub(crate) const MAX_INLINE: usize = 24;
/// Registers of the interpreter (`STACK` in `fused.wgsl`).
pub(crate) const STACK: usize = 8;

const LOAD: u32 = 0;
const UNARY: u32 = 1;
const BINARY: u32 = 2;
const SCALAR: u32 = 3;
const DERIVATIVE: u32 = 4;

/// A pending elementwise value: `code` over `leaves` (see `fused.wgsl`).
#[derive(Debug, Clone)]
pub(crate) struct Program {
    pub(crate) leaves: Vec<GpuStorage>,
    pub(crate) code: Vec<u32>,
    depth: usize,
}

impl Program {
    /// Reads `input` as it is.
    pub(crate) fn leaf(input: &GpuStorage) -> Program {
        Program { leaves: vec![input.clone()], code: vec![LOAD, 0], depth: 1 }
    }

    fn then(mut self, words: &[u32]) -> Option<Program> {
        if self.code.len() + words.len() > MAX_CODE {
            return None;
        }
        self.code.extend_from_slice(words);
        Some(self)
    }

    /// `op(self)`.
    pub(crate) fn unary(self, op: u32) -> Option<Program> {
        self.then(&[UNARY, op])
    }

    /// `op'(self)` (the derivative).
    pub(crate) fn derivative(self, op: u32) -> Option<Program> {
        self.then(&[DERIVATIVE, op])
    }

    /// `op(c, self)` if `scalar_first`, else `op(self, c)`.
    pub(crate) fn scalar(self, op: u32, c: f32, scalar_first: bool) -> Option<Program> {
        self.then(&[SCALAR, op, c.to_bits(), u32::from(scalar_first)])
    }

    /// `op(self, other)`, or `None` when the result would be too large.
    pub(crate) fn binary(self, op: u32, other: &Program) -> Option<Program> {
        let mut leaves = self.leaves;
        let mut remap = Vec::with_capacity(other.leaves.len());
        for leaf in &other.leaves {
            let k = match leaves.iter().position(|l| l.same(leaf)) {
                Some(k) => k,
                None => {
                    leaves.push(leaf.clone());
                    leaves.len() - 1
                }
            };
            remap.push(k as u32);
        }
        let depth = self.depth.max(other.depth + 1);
        if leaves.len() > MAX_LEAVES || depth > STACK || self.code.len() + other.code.len() + 2 > MAX_CODE {
            return None;
        }
        let mut code = self.code;
        let mut pc = 0;
        while pc < other.code.len() {
            let width = match other.code[pc] {
                SCALAR => 4,
                _ => 2,
            };
            if other.code[pc] == LOAD {
                code.extend_from_slice(&[LOAD, remap[other.code[pc + 1] as usize]]);
            } else {
                code.extend_from_slice(&other.code[pc..pc + width]);
            }
            pc += width;
        }
        code.extend_from_slice(&[BINARY, op]);
        Some(Program { leaves, code, depth })
    }
}
