//! Layers. Each keeps its parameters as tensors ([`Module::parameters`]) and
//! runs on parameter values bound to a tape ([`Module::bind`]), so the same
//! layer serves training (tracked leaves) and inference (constants).

use std::rc::Rc;

use odeon_autodiff::{Tape, Var};
use odeon_tensor::{Backend, Cpu, Csr, DType, SeedStream, Tensor, UnaryOp};
use serde::{Deserialize, Serialize};

use crate::{Activation, NnError, ParamState};

/// Something with trainable parameters in a fixed order.
pub trait Module<B: Backend> {
    /// The parameters, in a fixed order.
    fn parameters(&self) -> Vec<Tensor<B>>;
    /// Replaces the parameters (same order, shapes and dtypes).
    fn set_parameters(&mut self, params: &[Tensor<B>]) -> Result<(), NnError>;
    /// The parameters as tracked leaves on `tape`.
    fn bind(&self, tape: &Rc<Tape<B>>) -> Vec<Var<B>> {
        self.parameters().into_iter().map(|p| tape.leaf(p)).collect()
    }
    /// The parameters as constants on `tape` (inference, no gradients).
    fn bind_constant(&self, tape: &Rc<Tape<B>>) -> Vec<Var<B>> {
        self.parameters().into_iter().map(|p| tape.constant(p)).collect()
    }
    /// Number of scalar parameters.
    fn parameter_count(&self) -> usize {
        self.parameters().iter().map(Tensor::len).sum()
    }
    /// Serialisable snapshot.
    fn state(&self) -> Result<Vec<ParamState>, NnError> {
        self.parameters().iter().map(ParamState::from_tensor).collect()
    }
    /// Restores a snapshot made by [`Module::state`].
    fn load_state(&mut self, state: &[ParamState]) -> Result<(), NnError> {
        let Some(first) = self.parameters().into_iter().next() else { return Ok(()) };
        let backend = first.backend().clone();
        let params = state.iter().map(|s| s.to_tensor(&backend)).collect::<Result<Vec<_>, _>>()?;
        self.set_parameters(&params)
    }
}

fn replace<B: Backend>(slots: &mut [&mut Tensor<B>], params: &[Tensor<B>], what: &str) -> Result<(), NnError> {
    if slots.len() != params.len() {
        return Err(NnError::Config(format!("{what}: expected {} parameter tensors, got {}", slots.len(), params.len())));
    }
    for (slot, new) in slots.iter_mut().zip(params) {
        if slot.shape() != new.shape() || slot.dtype() != new.dtype() {
            return Err(NnError::Config(format!(
                "{what}: a parameter of shape {:?} ({}) cannot take a tensor of shape {:?} ({})",
                slot.shape(),
                slot.dtype(),
                new.shape(),
                new.dtype()
            )));
        }
        **slot = new.clone();
    }
    Ok(())
}

fn uniform<B: Backend>(backend: &B, shape: &[usize], bound: f64, dtype: DType, rng: &mut SeedStream) -> Result<Tensor<B>, NnError> {
    let n: usize = shape.iter().product();
    let data: Vec<f64> = (0..n).map(|_| bound * (2.0 * rng.uniform_f64() - 1.0)).collect();
    Ok(Tensor::from_f64_in(backend, shape, &data, dtype)?)
}

fn check_count<B: Backend>(params: &[Var<B>], n: usize, what: &str) -> Result<(), NnError> {
    if params.len() != n {
        return Err(NnError::Config(format!("{what} takes {n} parameter values, got {}", params.len())));
    }
    Ok(())
}

/// `y = x W + b`, `W` of shape `[inputs, outputs]`, `b` of shape `[1, outputs]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear<B: Backend = Cpu> {
    /// Weights `[inputs, outputs]`.
    pub weight: Tensor<B>,
    /// Bias `[1, outputs]`.
    pub bias: Tensor<B>,
}

impl<B: Backend> Linear<B> {
    /// PyTorch's default initialisation: `U(-1/sqrt(inputs), 1/sqrt(inputs))`.
    pub fn new(backend: &B, inputs: usize, outputs: usize, dtype: DType, rng: &mut SeedStream) -> Result<Self, NnError> {
        if inputs == 0 || outputs == 0 {
            return Err(NnError::Config(format!("a linear layer needs positive sizes, got {inputs} -> {outputs}")));
        }
        let bound = 1.0 / (inputs as f64).sqrt();
        Ok(Linear { weight: uniform(backend, &[inputs, outputs], bound, dtype, rng)?, bias: uniform(backend, &[1, outputs], bound, dtype, rng)? })
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.weight.shape()[1]
    }

    /// Applies the layer with bound parameters `[W, b]`.
    pub fn apply(&self, params: &[Var<B>], x: &Var<B>) -> Result<Var<B>, NnError> {
        check_count(params, 2, "a linear layer")?;
        if x.value().rank() == 2 {
            return Ok(x.linear(&params[0], &params[1])?);
        }
        Ok(x.matmul(&params[0])?.add(&params[1])?)
    }
}

impl<B: Backend> Module<B> for Linear<B> {
    fn parameters(&self) -> Vec<Tensor<B>> {
        vec![self.weight.clone(), self.bias.clone()]
    }
    fn set_parameters(&mut self, params: &[Tensor<B>]) -> Result<(), NnError> {
        replace(&mut [&mut self.weight, &mut self.bias], params, "linear layer")
    }
}

/// A multilayer perceptron: linear layers with an activation between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp<B: Backend = Cpu> {
    layers: Vec<Linear<B>>,
    activation: Activation,
}

/// The architecture of an [`Mlp`], for serialisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpState {
    /// Layer widths, input first.
    pub sizes: Vec<usize>,
    /// Activation between layers.
    pub activation: Activation,
    /// Parameters (W0, b0, W1, b1, ...).
    pub params: Vec<ParamState>,
}

impl Mlp<Cpu> {
    /// An `f32` CPU MLP with the given layer sizes, e.g. `[3, 128, 128, 2]`.
    pub fn new(sizes: &[usize], activation: Activation, rng: &mut SeedStream) -> Result<Self, NnError> {
        Self::new_in(&Cpu, sizes, activation, DType::F32, rng)
    }
}

impl<B: Backend> Mlp<B> {
    /// An MLP on `backend` with the given layer sizes and dtype.
    pub fn new_in(backend: &B, sizes: &[usize], activation: Activation, dtype: DType, rng: &mut SeedStream) -> Result<Self, NnError> {
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(NnError::Config(format!("an MLP needs at least an input and an output size, all positive; got {sizes:?}")));
        }
        let layers = sizes.windows(2).map(|w| Linear::new(backend, w[0], w[1], dtype, rng)).collect::<Result<_, _>>()?;
        Ok(Self { layers, activation })
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.layers.first().map_or(0, Linear::inputs)
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, Linear::outputs)
    }

    fn check_input(&self, shape: &[usize]) -> Result<(), NnError> {
        if shape.len() != 2 || shape[1] != self.inputs() {
            return Err(NnError::Config(format!("the model takes a batch of shape [n, {}], got {shape:?}", self.inputs())));
        }
        Ok(())
    }

    /// Applies the network with bound parameters.
    pub fn apply(&self, params: &[Var<B>], x: &Var<B>) -> Result<Var<B>, NnError> {
        check_count(params, 2 * self.layers.len(), "this MLP")?;
        self.check_input(x.value().shape())?;
        let mut h = x.clone();
        for (i, (layer, p)) in self.layers.iter().zip(params.chunks(2)).enumerate() {
            h = layer.apply(p, &h)?;
            if i + 1 < self.layers.len() {
                h = self.activation.apply(&h)?;
            }
        }
        Ok(h)
    }

    /// Records the forward pass on `tape`; returns the output and the
    /// parameter leaves (same order as [`Module::parameters`]).
    pub fn forward(&self, tape: &Rc<Tape<B>>, x: &Var<B>) -> Result<(Var<B>, Vec<Var<B>>), NnError> {
        let leaves = self.bind(tape);
        Ok((self.apply(&leaves, x)?, leaves))
    }

    /// Inference without recording anything.
    pub fn predict(&self, x: &Tensor<B>) -> Result<Tensor<B>, NnError> {
        let tape = Tape::new();
        let params = self.bind_constant(&tape);
        Ok(self.apply(&params, &tape.constant(x.clone()))?.value().clone())
    }

    /// Architecture and parameters, serialisable.
    pub fn to_state(&self) -> Result<MlpState, NnError> {
        let mut sizes = vec![self.inputs()];
        sizes.extend(self.layers.iter().map(Linear::outputs));
        Ok(MlpState { sizes, activation: self.activation, params: self.state()? })
    }

    /// Rebuilds an MLP on `backend` from [`Mlp::to_state`].
    pub fn from_state(backend: &B, state: &MlpState) -> Result<Self, NnError> {
        let dtype = state.params.first().map_or(DType::F32, |p| p.dtype);
        let mut mlp = Self::new_in(backend, &state.sizes, state.activation, dtype, &mut SeedStream::new(0, "unused"))?;
        mlp.load_state(&state.params)?;
        Ok(mlp)
    }
}

impl<B: Backend> Module<B> for Mlp<B> {
    fn parameters(&self) -> Vec<Tensor<B>> {
        self.layers.iter().flat_map(Module::parameters).collect()
    }
    fn set_parameters(&mut self, params: &[Tensor<B>]) -> Result<(), NnError> {
        if params.len() != 2 * self.layers.len() {
            return Err(NnError::Config(format!("expected {} parameter tensors, got {}", 2 * self.layers.len(), params.len())));
        }
        for (layer, pair) in self.layers.iter_mut().zip(params.chunks(2)) {
            layer.set_parameters(pair)?;
        }
        Ok(())
    }
}

/// Layer normalisation over the last axis with a learned scale and shift.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNorm<B: Backend = Cpu> {
    /// Scale `[features]`, initialised to ones.
    pub gamma: Tensor<B>,
    /// Shift `[features]`, initialised to zeros.
    pub beta: Tensor<B>,
    /// Variance guard.
    pub eps: f64,
}

impl<B: Backend> LayerNorm<B> {
    /// A layer norm over `features`.
    pub fn new(backend: &B, features: usize, dtype: DType) -> Result<Self, NnError> {
        Ok(LayerNorm { gamma: Tensor::full_in(backend, &[features], 1.0, dtype)?, beta: Tensor::full_in(backend, &[features], 0.0, dtype)?, eps: 1e-5 })
    }

    /// Applies it with bound parameters `[gamma, beta]`.
    pub fn apply(&self, params: &[Var<B>], x: &Var<B>) -> Result<Var<B>, NnError> {
        check_count(params, 2, "layer norm")?;
        let axis = x.value().rank().checked_sub(1).ok_or_else(|| NnError::Config("layer norm needs at least one axis".into()))?;
        let centred = x.sub(&x.mean_keep(&[axis])?)?;
        let var = centred.unary(UnaryOp::Square)?.mean_keep(&[axis])?;
        let normed = centred.div(&var.add_scalar(self.eps)?.unary(UnaryOp::Sqrt)?)?;
        Ok(normed.mul(&params[0])?.add(&params[1])?)
    }
}

impl<B: Backend> Module<B> for LayerNorm<B> {
    fn parameters(&self) -> Vec<Tensor<B>> {
        vec![self.gamma.clone(), self.beta.clone()]
    }
    fn set_parameters(&mut self, params: &[Tensor<B>]) -> Result<(), NnError> {
        replace(&mut [&mut self.gamma, &mut self.beta], params, "layer norm")
    }
}

/// Sinusoidal features of a time `t` (`[n, 1]`): `[sin(t w_k), cos(t w_k)]`
/// with `w_k = max_period^(-k / half)`, as in Transformer and diffusion
/// models. Differentiable in `t`.
pub fn sinusoidal_embedding<B: Backend>(t: &Var<B>, dim: usize, max_period: f64) -> Result<Var<B>, NnError> {
    let shape = t.value().shape().to_vec();
    if shape.len() != 2 || shape[1] != 1 || dim < 2 || !dim.is_multiple_of(2) {
        return Err(NnError::Config(format!("sinusoidal_embedding needs t of shape [n, 1] and an even dim >= 2; got {shape:?} and {dim}")));
    }
    let half = dim / 2;
    let freqs: Vec<f64> = (0..half).map(|k| libm::exp(-libm::log(max_period) * k as f64 / half as f64)).collect();
    let freqs = t.tape().constant(Tensor::from_f64_in(t.value().backend(), &[1, half], &freqs, t.value().dtype())?);
    let args = t.mul(&freqs)?;
    Ok(Var::concat(&[&args.unary(UnaryOp::Sin)?, &args.unary(UnaryOp::Cos)?], 1)?)
}

/// A 2-D convolution layer: weights `[out, in, kh, kw]`, bias `[1, out, 1, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d<B: Backend = Cpu> {
    /// Weights.
    pub weight: Tensor<B>,
    /// Bias.
    pub bias: Tensor<B>,
    /// Stride.
    pub stride: (usize, usize),
    /// Zero padding.
    pub padding: (usize, usize),
}

impl<B: Backend> Conv2d<B> {
    /// A `kernel x kernel` convolution from `channels = (inputs, outputs)`.
    pub fn new(backend: &B, channels: (usize, usize), kernel: usize, stride: usize, padding: usize, dtype: DType, rng: &mut SeedStream) -> Result<Self, NnError> {
        let (inputs, outputs) = channels;
        if inputs == 0 || outputs == 0 || kernel == 0 || stride == 0 {
            return Err(NnError::Config("a convolution needs positive channels, kernel and stride".into()));
        }
        let bound = 1.0 / ((inputs * kernel * kernel) as f64).sqrt();
        Ok(Conv2d {
            weight: uniform(backend, &[outputs, inputs, kernel, kernel], bound, dtype, rng)?,
            bias: uniform(backend, &[1, outputs, 1, 1], bound, dtype, rng)?,
            stride: (stride, stride),
            padding: (padding, padding),
        })
    }

    /// Applies it to `[n, in, h, w]` with bound parameters `[weight, bias]`.
    pub fn apply(&self, params: &[Var<B>], x: &Var<B>) -> Result<Var<B>, NnError> {
        check_count(params, 2, "a convolution")?;
        Ok(x.conv2d(&params[0], self.stride, self.padding)?.add(&params[1])?)
    }
}

impl<B: Backend> Module<B> for Conv2d<B> {
    fn parameters(&self) -> Vec<Tensor<B>> {
        vec![self.weight.clone(), self.bias.clone()]
    }
    fn set_parameters(&mut self, params: &[Tensor<B>]) -> Result<(), NnError> {
        replace(&mut [&mut self.weight, &mut self.bias], params, "convolution")
    }
}

/// A GRU cell (Cho et al., 2014), gates ordered reset, update, new.
#[derive(Debug, Clone, PartialEq)]
pub struct GruCell<B: Backend = Cpu> {
    /// Input weights `[inputs, 3 hidden]`.
    pub w_input: Tensor<B>,
    /// Hidden weights `[hidden, 3 hidden]`.
    pub w_hidden: Tensor<B>,
    /// Input bias `[1, 3 hidden]`.
    pub b_input: Tensor<B>,
    /// Hidden bias `[1, 3 hidden]`.
    pub b_hidden: Tensor<B>,
}

impl<B: Backend> GruCell<B> {
    /// A cell with `U(-1/sqrt(hidden), 1/sqrt(hidden))` initialisation.
    pub fn new(backend: &B, inputs: usize, hidden: usize, dtype: DType, rng: &mut SeedStream) -> Result<Self, NnError> {
        if inputs == 0 || hidden == 0 {
            return Err(NnError::Config("a GRU cell needs positive sizes".into()));
        }
        let k = 1.0 / (hidden as f64).sqrt();
        Ok(GruCell {
            w_input: uniform(backend, &[inputs, 3 * hidden], k, dtype, rng)?,
            w_hidden: uniform(backend, &[hidden, 3 * hidden], k, dtype, rng)?,
            b_input: uniform(backend, &[1, 3 * hidden], k, dtype, rng)?,
            b_hidden: uniform(backend, &[1, 3 * hidden], k, dtype, rng)?,
        })
    }

    /// One step: the next hidden state `[n, hidden]` from `x` `[n, inputs]` and `h`.
    pub fn apply(&self, params: &[Var<B>], x: &Var<B>, h: &Var<B>) -> Result<Var<B>, NnError> {
        check_count(params, 4, "a GRU cell")?;
        let hidden = self.w_hidden.shape()[0];
        let gi = x.matmul(&params[0])?.add(&params[2])?;
        let gh = h.matmul(&params[1])?.add(&params[3])?;
        let part = |t: &Var<B>, k: usize| t.slice_axis(1, k * hidden, (k + 1) * hidden);
        let r = part(&gi, 0)?.add(&part(&gh, 0)?)?.unary(UnaryOp::Sigmoid)?;
        let z = part(&gi, 1)?.add(&part(&gh, 1)?)?.unary(UnaryOp::Sigmoid)?;
        let n = part(&gi, 2)?.add(&r.mul(&part(&gh, 2)?)?)?.unary(UnaryOp::Tanh)?;
        // h' = (1 - z) n + z h = n + z (h - n)
        Ok(n.add(&z.mul(&h.sub(&n)?)?)?)
    }
}

impl<B: Backend> Module<B> for GruCell<B> {
    fn parameters(&self) -> Vec<Tensor<B>> {
        vec![self.w_input.clone(), self.w_hidden.clone(), self.b_input.clone(), self.b_hidden.clone()]
    }
    fn set_parameters(&mut self, params: &[Tensor<B>]) -> Result<(), NnError> {
        replace(&mut [&mut self.w_input, &mut self.w_hidden, &mut self.b_input, &mut self.b_hidden], params, "GRU cell")
    }
}

/// An LSTM cell (Hochreiter & Schmidhuber, 1997), gates ordered input,
/// forget, cell, output.
#[derive(Debug, Clone, PartialEq)]
pub struct LstmCell<B: Backend = Cpu> {
    /// Input weights `[inputs, 4 hidden]`.
    pub w_input: Tensor<B>,
    /// Hidden weights `[hidden, 4 hidden]`.
    pub w_hidden: Tensor<B>,
    /// Bias `[1, 4 hidden]`.
    pub bias: Tensor<B>,
}

impl<B: Backend> LstmCell<B> {
    /// A cell with `U(-1/sqrt(hidden), 1/sqrt(hidden))` initialisation.
    pub fn new(backend: &B, inputs: usize, hidden: usize, dtype: DType, rng: &mut SeedStream) -> Result<Self, NnError> {
        if inputs == 0 || hidden == 0 {
            return Err(NnError::Config("an LSTM cell needs positive sizes".into()));
        }
        let k = 1.0 / (hidden as f64).sqrt();
        Ok(LstmCell {
            w_input: uniform(backend, &[inputs, 4 * hidden], k, dtype, rng)?,
            w_hidden: uniform(backend, &[hidden, 4 * hidden], k, dtype, rng)?,
            bias: uniform(backend, &[1, 4 * hidden], k, dtype, rng)?,
        })
    }

    /// One step: `(h', c')` from `x`, `h`, `c`.
    pub fn apply(&self, params: &[Var<B>], x: &Var<B>, h: &Var<B>, c: &Var<B>) -> Result<(Var<B>, Var<B>), NnError> {
        check_count(params, 3, "an LSTM cell")?;
        let hidden = self.w_hidden.shape()[0];
        let gates = x.matmul(&params[0])?.add(&h.matmul(&params[1])?)?.add(&params[2])?;
        let part = |k: usize| gates.slice_axis(1, k * hidden, (k + 1) * hidden);
        let i = part(0)?.unary(UnaryOp::Sigmoid)?;
        let f = part(1)?.unary(UnaryOp::Sigmoid)?;
        let g = part(2)?.unary(UnaryOp::Tanh)?;
        let o = part(3)?.unary(UnaryOp::Sigmoid)?;
        let c_next = f.mul(c)?.add(&i.mul(&g)?)?;
        let h_next = o.mul(&c_next.unary(UnaryOp::Tanh)?)?;
        Ok((h_next, c_next))
    }
}

impl<B: Backend> Module<B> for LstmCell<B> {
    fn parameters(&self) -> Vec<Tensor<B>> {
        vec![self.w_input.clone(), self.w_hidden.clone(), self.bias.clone()]
    }
    fn set_parameters(&mut self, params: &[Tensor<B>]) -> Result<(), NnError> {
        replace(&mut [&mut self.w_input, &mut self.w_hidden, &mut self.bias], params, "LSTM cell")
    }
}

/// A graph convolution layer (Kipf & Welling, 2017): `H' = Â H W + b` with
/// the normalised adjacency `Â = D^{-1/2} (A + I) D^{-1/2}`.
#[derive(Debug, Clone, PartialEq)]
pub struct GcnLayer<B: Backend = Cpu> {
    /// The linear map.
    pub linear: Linear<B>,
}

impl<B: Backend> GcnLayer<B> {
    /// A layer from `inputs` to `outputs` features.
    pub fn new(backend: &B, inputs: usize, outputs: usize, dtype: DType, rng: &mut SeedStream) -> Result<Self, NnError> {
        Ok(GcnLayer { linear: Linear::new(backend, inputs, outputs, dtype, rng)? })
    }

    /// `D^{-1/2} (A + I) D^{-1/2}` of an undirected graph with `n` nodes.
    pub fn normalized_adjacency(n: usize, edges: &[(usize, usize)]) -> Result<Csr, NnError> {
        let mut triplets: Vec<(usize, usize, f64)> = (0..n).map(|i| (i, i, 1.0)).collect();
        for &(a, b) in edges {
            if a >= n || b >= n {
                return Err(NnError::Config(format!("edge ({a}, {b}) names a node outside 0..{n}")));
            }
            if a != b {
                triplets.push((a, b, 1.0));
                triplets.push((b, a, 1.0));
            }
        }
        let plain = Csr::from_triplets(n, n, &triplets).map_err(NnError::Tensor)?;
        let degree: Vec<f64> = (0..n).map(|r| plain.row(r).map(|(_, v)| v).sum()).collect();
        let scaled: Vec<(usize, usize, f64)> = (0..n)
            .flat_map(|r| plain.row(r).map(move |(c, v)| (r, c, v)).collect::<Vec<_>>())
            .map(|(r, c, v)| (r, c, v / (degree[r] * degree[c]).sqrt()))
            .collect();
        Csr::from_triplets(n, n, &scaled).map_err(NnError::Tensor)
    }

    /// Applies it to node features `[n, inputs]` with bound parameters `[W, b]`.
    pub fn apply(&self, params: &[Var<B>], adjacency: &Rc<Csr>, h: &Var<B>) -> Result<Var<B>, NnError> {
        check_count(params, 2, "a GCN layer")?;
        Ok(h.csr_matmul(adjacency, false)?.matmul(&params[0])?.add(&params[1])?)
    }
}

impl<B: Backend> Module<B> for GcnLayer<B> {
    fn parameters(&self) -> Vec<Tensor<B>> {
        self.linear.parameters()
    }
    fn set_parameters(&mut self, params: &[Tensor<B>]) -> Result<(), NnError> {
        self.linear.set_parameters(params)
    }
}
