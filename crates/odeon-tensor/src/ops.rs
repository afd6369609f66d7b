//! The operation vocabulary shared by every backend.

use crate::Real;

/// Elementwise functions of one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `e^x`
    Exp,
    /// natural log
    Ln,
    /// `sin x`
    Sin,
    /// `cos x`
    Cos,
    /// `tanh x`
    Tanh,
    /// `x^2`
    Square,
    /// `sqrt x`
    Sqrt,
    /// `1/x`
    Recip,
    /// `|x|`
    Abs,
    /// `max(x, 0)`
    Relu,
    /// logistic sigmoid
    Sigmoid,
    /// `x * sigmoid(x)`
    Silu,
    /// `ln(1 + e^x)`
    Softplus,
    /// 1 where `x > 0`, else 0 (the derivative of relu; not differentiable)
    Step,
    /// sign of x (-1, 0, 1; not differentiable)
    Sign,
}

impl UnaryOp {
    /// The function value at `x`.
    #[inline(always)]
    pub fn eval<T: Real>(self, x: T) -> T {
        let zero = T::zero();
        match self {
            UnaryOp::Neg => -x,
            UnaryOp::Exp => x.exp(),
            UnaryOp::Ln => x.ln(),
            UnaryOp::Sin => x.sin(),
            UnaryOp::Cos => x.cos(),
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Square => x * x,
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Recip => T::one() / x,
            UnaryOp::Abs => x.abs(),
            UnaryOp::Relu => {
                if x > zero { x } else { zero }
            }
            UnaryOp::Sigmoid => x.sigmoid(),
            UnaryOp::Silu => x * x.sigmoid(),
            UnaryOp::Softplus => x.softplus(),
            UnaryOp::Step => {
                if x > zero { T::one() } else { zero }
            }
            UnaryOp::Sign => {
                if x > zero {
                    T::one()
                } else if x < zero {
                    -T::one()
                } else {
                    zero
                }
            }
        }
    }

    /// `f'(x)`, used by the fused first-order backward kernel.
    #[inline(always)]
    pub fn derivative<T: Real>(self, x: T) -> T {
        let one = T::one();
        let zero = T::zero();
        match self {
            UnaryOp::Neg => -one,
            UnaryOp::Exp => x.exp(),
            UnaryOp::Ln => one / x,
            UnaryOp::Sin => x.cos(),
            UnaryOp::Cos => -x.sin(),
            UnaryOp::Tanh => {
                let y = x.tanh();
                one - y * y
            }
            UnaryOp::Square => x + x,
            UnaryOp::Sqrt => one / (x.sqrt() + x.sqrt()),
            UnaryOp::Recip => -one / (x * x),
            UnaryOp::Abs => UnaryOp::Sign.eval(x),
            UnaryOp::Relu => UnaryOp::Step.eval(x),
            UnaryOp::Sigmoid => {
                let s = x.sigmoid();
                s * (one - s)
            }
            UnaryOp::Silu => {
                let s = x.sigmoid();
                s * (one + x * (one - s))
            }
            UnaryOp::Softplus => x.sigmoid(),
            UnaryOp::Step | UnaryOp::Sign => zero,
        }
    }
}

/// Runs `$body` with `$name` bound to `$op` as a constant, one match arm per
/// function, so that kernels are compiled (and vectorised) per function
/// instead of matching on the function for every element.
#[macro_export]
#[doc(hidden)]
macro_rules! each_unary {
    ($op:expr, $name:ident => $body:expr) => {
        match $op {
            $crate::UnaryOp::Neg => { const $name: $crate::UnaryOp = $crate::UnaryOp::Neg; $body }
            $crate::UnaryOp::Exp => { const $name: $crate::UnaryOp = $crate::UnaryOp::Exp; $body }
            $crate::UnaryOp::Ln => { const $name: $crate::UnaryOp = $crate::UnaryOp::Ln; $body }
            $crate::UnaryOp::Sin => { const $name: $crate::UnaryOp = $crate::UnaryOp::Sin; $body }
            $crate::UnaryOp::Cos => { const $name: $crate::UnaryOp = $crate::UnaryOp::Cos; $body }
            $crate::UnaryOp::Tanh => { const $name: $crate::UnaryOp = $crate::UnaryOp::Tanh; $body }
            $crate::UnaryOp::Square => { const $name: $crate::UnaryOp = $crate::UnaryOp::Square; $body }
            $crate::UnaryOp::Sqrt => { const $name: $crate::UnaryOp = $crate::UnaryOp::Sqrt; $body }
            $crate::UnaryOp::Recip => { const $name: $crate::UnaryOp = $crate::UnaryOp::Recip; $body }
            $crate::UnaryOp::Abs => { const $name: $crate::UnaryOp = $crate::UnaryOp::Abs; $body }
            $crate::UnaryOp::Relu => { const $name: $crate::UnaryOp = $crate::UnaryOp::Relu; $body }
            $crate::UnaryOp::Sigmoid => { const $name: $crate::UnaryOp = $crate::UnaryOp::Sigmoid; $body }
            $crate::UnaryOp::Silu => { const $name: $crate::UnaryOp = $crate::UnaryOp::Silu; $body }
            $crate::UnaryOp::Softplus => { const $name: $crate::UnaryOp = $crate::UnaryOp::Softplus; $body }
            $crate::UnaryOp::Step => { const $name: $crate::UnaryOp = $crate::UnaryOp::Step; $body }
            $crate::UnaryOp::Sign => { const $name: $crate::UnaryOp = $crate::UnaryOp::Sign; $body }
        }
    };
}

/// Elementwise functions of two (broadcast) arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// `max(a, b)`
    Max,
    /// `min(a, b)`
    Min,
    /// `a^b`
    Pow,
    /// 1 where `a > b`, else 0
    Gt,
    /// 1 where `a >= b`, else 0
    Ge,
    /// 1 where `a < b`, else 0
    Lt,
    /// 1 where `a == b`, else 0
    Eq,
}

impl BinaryOp {
    /// The function value.
    #[inline(always)]
    pub fn eval<T: Real>(self, a: T, b: T) -> T {
        let flag = |c: bool| if c { T::one() } else { T::zero() };
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Max => {
                if a >= b { a } else { b }
            }
            BinaryOp::Min => {
                if a <= b { a } else { b }
            }
            BinaryOp::Pow => a.powf(b),
            BinaryOp::Gt => flag(a > b),
            BinaryOp::Ge => flag(a >= b),
            BinaryOp::Lt => flag(a < b),
            BinaryOp::Eq => flag(a == b),
        }
    }
}

/// Reductions over axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// Sum.
    Sum,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
}
