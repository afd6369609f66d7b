//! The Brownian path trait and the dyadic Brownian interval (see the
//! module docs of [`crate::sde`] for the construction).

use odeon_tensor::SeedStream;

use super::SdeError;

/// Label of the stream drawing `W(t1) − W(t0)`.
const ROOT_LABEL: &str = "odeon-solve/sde/brownian-root";
/// Label of the streams drawing bridge midpoints.
const NODE_LABEL: &str = "odeon-solve/sde/brownian-node";
/// A safety bound on the descent; every `f64` in `[0, 1]` ends it within
/// 1074 levels, so this is never reached.
const MAX_DEPTH: usize = 1100;

/// A Brownian sample path that solvers read increments from.
pub trait BrownianPath {
    /// The dimension `m` of the Brownian motion.
    fn dim(&self) -> usize;

    /// The interval `(t0, t1)` on which the path is defined.
    fn span(&self) -> (f64, f64);

    /// The increment `W(t) − W(s)` (length [`dim`](Self::dim)) for `s`, `t`
    /// in the path's interval. `s > t` gives the negated increment.
    fn increment(&mut self, s: f64, t: f64) -> Result<Vec<f64>, SdeError>;
}

/// SplitMix64's finaliser: a bijective 64-bit mixer with full avalanche.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The key of a child node: a fixed hash of the parent key and the side.
fn child_key(parent: u64, right: bool) -> u64 {
    mix(parent
        ^ if right {
            0x5bd1_e995_7f4a_7c15
        } else {
            0x2545_f491_4f6c_dd1d
        })
}

/// One node of the finger stack: a dyadic interval of normalised time with
/// the path's values at both ends.
#[derive(Clone, Debug)]
struct Node {
    lo: f64,
    hi: f64,
    key: u64,
    w_lo: Vec<f64>,
    w_hi: Vec<f64>,
}

/// Exact Brownian motion on `[t0, t1]`, generated on demand from a seed,
/// with values that depend only on `(seed, t)`, never on the order or set
/// of queries.
///
/// See the [module docs](crate::sde) for the construction: a Lévy midpoint
/// construction on the dyadic tree of `u = (t − t0)/(t1 − t0)`, descended
/// until `u` is a node boundary (every `f64` is a dyadic rational), with
/// each node's randomness keyed by its position in the tree.
///
/// ```
/// use odeon_solve::sde::{BrownianInterval, BrownianPath};
/// let mut w = BrownianInterval::new(0.0, 1.0, 2, 42)?;
/// let late = w.increment(0.5, 0.9)?;
/// let mut fresh = BrownianInterval::new(0.0, 1.0, 2, 42)?;
/// let early = fresh.increment(0.1, 0.3)?;
/// assert_eq!(fresh.increment(0.5, 0.9)?, late); // order does not matter
/// assert_eq!(w.increment(0.1, 0.3)?, early);
/// # Ok::<(), odeon_solve::sde::SdeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct BrownianInterval {
    t0: f64,
    t1: f64,
    dim: usize,
    seed: u64,
    /// The nodes on the path from the root to the last query (root first).
    stack: Vec<Node>,
}

impl BrownianInterval {
    /// A `dim`-dimensional Brownian motion on `[t0, t1]` from `seed`.
    /// Needs finite `t0 < t1` and `dim >= 1`.
    pub fn new(t0: f64, t1: f64, dim: usize, seed: u64) -> Result<Self, SdeError> {
        if !(t0.is_finite() && t1.is_finite() && t0 < t1 && (t1 - t0).is_finite()) {
            return Err(SdeError::BadInterval { t0, t1 });
        }
        if dim == 0 {
            return Err(SdeError::Empty {
                what: "Brownian motion",
            });
        }
        let root_key = mix(seed ^ mix(0x6f64_656f_6e2d_626d));
        let sd = (t1 - t0).sqrt();
        let mut stream = SeedStream::new(root_key, ROOT_LABEL);
        let w_hi: Vec<f64> = (0..dim).map(|_| sd * stream.normal_f64()).collect();
        let root = Node {
            lo: 0.0,
            hi: 1.0,
            key: root_key,
            w_lo: vec![0.0; dim],
            w_hi,
        };
        Ok(Self {
            t0,
            t1,
            dim,
            seed,
            stack: vec![root],
        })
    }

    /// A Brownian motion seeded by one draw from `stream` (so it follows a
    /// notebook's seed and purpose label).
    pub fn from_stream(
        t0: f64,
        t1: f64,
        dim: usize,
        stream: &mut SeedStream,
    ) -> Result<Self, SdeError> {
        Self::new(t0, t1, dim, stream.next_u64())
    }

    /// The seed this path was built from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// `W(t) − W(t0)` (so `value(t0)` is zero).
    pub fn value(&mut self, t: f64) -> Result<Vec<f64>, SdeError> {
        let u = self.normalise(t)?;
        self.value_at(u)
    }

    /// The normalised time of `t`, or an error when `t` is outside.
    fn normalise(&self, t: f64) -> Result<f64, SdeError> {
        if !(self.t0 <= t && t <= self.t1) {
            return Err(SdeError::QueryOutside {
                t,
                t0: self.t0,
                t1: self.t1,
            });
        }
        // Both operations are monotone, so u stays in [0, 1] with u(t0) = 0
        // and u(t1) = 1 exactly.
        let u = (t - self.t0) / (self.t1 - self.t0);
        Ok(u.clamp(0.0, 1.0))
    }

    /// The bridge midpoint of `node`: a fixed function of its key and ends.
    fn midpoint(&self, node: &Node) -> Vec<f64> {
        let sd = 0.5 * ((node.hi - node.lo) * (self.t1 - self.t0)).sqrt();
        let mut stream = SeedStream::new(node.key, NODE_LABEL);
        node.w_lo
            .iter()
            .zip(&node.w_hi)
            .map(|(a, b)| 0.5 * (a + b) + sd * stream.normal_f64())
            .collect()
    }

    /// `W` at normalised time `u ∈ [0, 1]`.
    fn value_at(&mut self, u: f64) -> Result<Vec<f64>, SdeError> {
        // Climb to the deepest cached node containing u (the root always
        // does).
        while self.stack.len() > 1 {
            match self.stack.last() {
                Some(top) if top.lo <= u && u <= top.hi => break,
                _ => {
                    self.stack.pop();
                }
            }
        }
        for _ in 0..MAX_DEPTH {
            let Some(node) = self.stack.last() else { break };
            if u == node.lo {
                return Ok(node.w_lo.clone());
            }
            if u == node.hi {
                return Ok(node.w_hi.clone());
            }
            // lo is u truncated to this level's bits and u has more bits,
            // so hi − lo and the midpoint are exact.
            let mid = node.lo + 0.5 * (node.hi - node.lo);
            if !(node.lo < mid && mid < node.hi) {
                break;
            }
            let w_mid = self.midpoint(node);
            let child = if u < mid {
                Node {
                    lo: node.lo,
                    hi: mid,
                    key: child_key(node.key, false),
                    w_lo: node.w_lo.clone(),
                    w_hi: w_mid,
                }
            } else {
                Node {
                    lo: mid,
                    hi: node.hi,
                    key: child_key(node.key, true),
                    w_lo: w_mid,
                    w_hi: node.w_hi.clone(),
                }
            };
            self.stack.push(child);
        }
        // Unreachable for finite u in [0, 1]; report it rather than panic.
        Err(SdeError::QueryOutside {
            t: self.t0 + u * (self.t1 - self.t0),
            t0: self.t0,
            t1: self.t1,
        })
    }
}

impl BrownianPath for BrownianInterval {
    fn dim(&self) -> usize {
        self.dim
    }

    fn span(&self) -> (f64, f64) {
        (self.t0, self.t1)
    }

    fn increment(&mut self, s: f64, t: f64) -> Result<Vec<f64>, SdeError> {
        let us = self.normalise(s)?;
        let ut = self.normalise(t)?;
        let ws = self.value_at(us)?;
        let wt = self.value_at(ut)?;
        Ok(wt.iter().zip(&ws).map(|(b, a)| b - a).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_depth() {
        let mut w = BrownianInterval::new(-1.0, 3.0, 2, 5).expect("valid");
        assert_eq!(w.value(-1.0).expect("in range"), vec![0.0, 0.0]);
        let end = w.value(3.0).expect("in range");
        assert!(end.iter().all(|x| x.is_finite() && *x != 0.0));
        // A time with 53 significant bits and a tiny one both resolve.
        let x = w
            .value(-1.0 + 4.0 * 0.123_456_789_012_345_67)
            .expect("in range");
        assert_eq!(x.len(), 2);
        let tiny = w.value(-1.0 + 4.0 * 1e-300).expect("in range");
        assert!(tiny.iter().all(|v| v.abs() < 1e-140));
        let sub = w.value(-1.0 + f64::MIN_POSITIVE * 1e-10);
        // (t - t0) rounds to 0 here: still a valid query.
        assert!(sub.is_ok());
    }

    #[test]
    fn mixer_is_not_trivial() {
        assert_ne!(child_key(1, false), child_key(1, true));
        assert_ne!(mix(0), 0);
    }
}

#[cfg(test)]
mod golden {
    use super::*;

    /// Pins the construction bit for bit (seed 0, two dimensions on
    /// `[0, 1]`): a change here changes every shared notebook's noise. The
    /// browser (wasm32) build must reproduce these bits.
    #[test]
    fn golden_values_pin_the_path() {
        let mut w = BrownianInterval::new(0.0, 1.0, 2, 0).expect("valid");
        let golden: [(f64, [u64; 2]); 4] = [
            (
                0.123_456_789,
                [0x3fa5_7229_314f_b9b8, 0xbf74_3b5f_8d84_2f61],
            ),
            (1.0, [0x3fd0_4be0_39e4_101e, 0xbfa1_bec7_6859_4995]),
            (0.3, [0x3fe9_4e4e_4749_7e4c, 0x3fb2_ed41_58d2_81c3]),
            (0.5, [0x3fe1_1ca1_f8ff_e24b, 0xbfba_c8c8_fdcf_ae9e]),
        ];
        for (t, bits) in golden {
            let v = w.value(t).expect("in range");
            assert_eq!([v[0].to_bits(), v[1].to_bits()], bits, "t = {t}: {v:?}");
        }
    }
}
