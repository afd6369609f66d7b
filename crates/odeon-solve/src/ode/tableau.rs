//! Butcher tableaux of the explicit Runge-Kutta methods, as data.

/// An explicit Runge-Kutta method as a Butcher tableau.
///
/// Stage `i` evaluates `k_i = f(t + c_i dt, y + dt * sum_j a[i][j] k_j)`, the
/// step is `y + dt * sum_i b_i k_i`, and, for an embedded pair, the local
/// error estimate is `dt * sum_i b_err_i k_i` with `b_err = b - b_hat`
/// (the difference between the propagated solution and the embedded one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ButcherTableau {
    /// Short name (as in diffrax / OrdinaryDiffEq.jl).
    pub name: &'static str,
    /// Strictly lower-triangular stage matrix, row `i` has `i` entries.
    pub a: &'static [&'static [f64]],
    /// Weights of the propagated solution.
    pub b: &'static [f64],
    /// Error weights `b - b_hat` (`None` for a method without an embedded pair).
    pub b_err: Option<&'static [f64]>,
    /// Nodes.
    pub c: &'static [f64],
    /// Order of the propagated solution.
    pub order: u32,
    /// Order of the embedded solution (0 when there is none).
    pub embedded_order: u32,
    /// First Same As Last: the last stage is evaluated at the new solution,
    /// so it is the first stage of the next step.
    pub fsal: bool,
}

impl ButcherTableau {
    /// Number of stages.
    pub fn stages(&self) -> usize {
        self.b.len()
    }
}

/// Forward Euler (order 1).
pub const EULER: ButcherTableau = ButcherTableau {
    name: "Euler",
    a: &[&[]],
    b: &[1.0],
    b_err: None,
    c: &[0.0],
    order: 1,
    embedded_order: 0,
    fsal: false,
};

/// Heun's method, the explicit trapezoidal rule (order 2).
pub const HEUN: ButcherTableau = ButcherTableau {
    name: "Heun",
    a: &[&[], &[1.0]],
    b: &[0.5, 0.5],
    b_err: None,
    c: &[0.0, 1.0],
    order: 2,
    embedded_order: 0,
    fsal: false,
};

/// The classical fourth-order Runge-Kutta method.
pub const RK4: ButcherTableau = ButcherTableau {
    name: "RK4",
    a: &[&[], &[0.5], &[0.0, 0.5], &[0.0, 0.0, 1.0]],
    b: &[1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
    b_err: None,
    c: &[0.0, 0.5, 0.5, 1.0],
    order: 4,
    embedded_order: 0,
    fsal: false,
};

/// Bogacki & Shampine (1989) 3(2) pair, FSAL.
pub const BOSH3: ButcherTableau = ButcherTableau {
    name: "Bosh3",
    a: &[
        &[],
        &[0.5],
        &[0.0, 0.75],
        &[2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0],
    ],
    b: &[2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0.0],
    // b - b_hat with b_hat = (7/24, 1/4, 1/3, 1/8).
    b_err: Some(&[
        2.0 / 9.0 - 7.0 / 24.0,
        1.0 / 3.0 - 0.25,
        4.0 / 9.0 - 1.0 / 3.0,
        -0.125,
    ]),
    c: &[0.0, 0.5, 0.75, 1.0],
    order: 3,
    embedded_order: 2,
    fsal: true,
};

/// Dormand & Prince (1980) 5(4) pair, FSAL.
pub const DOPRI5: ButcherTableau = ButcherTableau {
    name: "Dopri5",
    a: &[
        &[],
        &[1.0 / 5.0],
        &[3.0 / 40.0, 9.0 / 40.0],
        &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
        &[
            19372.0 / 6561.0,
            -25360.0 / 2187.0,
            64448.0 / 6561.0,
            -212.0 / 729.0,
        ],
        &[
            9017.0 / 3168.0,
            -355.0 / 33.0,
            46732.0 / 5247.0,
            49.0 / 176.0,
            -5103.0 / 18656.0,
        ],
        &[
            35.0 / 384.0,
            0.0,
            500.0 / 1113.0,
            125.0 / 192.0,
            -2187.0 / 6784.0,
            11.0 / 84.0,
        ],
    ],
    b: &[
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
        0.0,
    ],
    // b - b_hat with b_hat = (5179/57600, 0, 7571/16695, 393/640,
    // -92097/339200, 187/2100, 1/40).
    b_err: Some(&[
        35.0 / 384.0 - 5179.0 / 57600.0,
        0.0,
        500.0 / 1113.0 - 7571.0 / 16695.0,
        125.0 / 192.0 - 393.0 / 640.0,
        -2187.0 / 6784.0 + 92097.0 / 339200.0,
        11.0 / 84.0 - 187.0 / 2100.0,
        -1.0 / 40.0,
    ]),
    c: &[0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0],
    order: 5,
    embedded_order: 4,
    fsal: true,
};

/// Tsitouras (2011) 5(4) pair, FSAL: the published coefficients (Table 1 of
/// the paper, 16 digits), checked by the order conditions in the tests.
pub const TSIT5: ButcherTableau = ButcherTableau {
    name: "Tsit5",
    a: &[
        &[],
        &[0.161],
        &[-0.008480655492356989, 0.335480655492357],
        &[2.8971530571054935, -6.359448489975075, 4.3622954328695815],
        &[
            5.325864828439257,
            -11.748883564062828,
            7.4955393428898365,
            -0.09249506636175525,
        ],
        &[
            5.86145544294642,
            -12.92096931784711,
            8.159367898576159,
            -0.071584973281401,
            -0.028269050394068383,
        ],
        &[
            0.09646076681806523,
            0.01,
            0.4798896504144996,
            1.379008574103742,
            -3.290069515436081,
            2.324710524099774,
        ],
    ],
    b: &[
        0.09646076681806523,
        0.01,
        0.4798896504144996,
        1.379008574103742,
        -3.290069515436081,
        2.324710524099774,
        0.0,
    ],
    // b - b_hat (the paper's b_hat_i - b_i with the sign flipped).
    b_err: Some(&[
        0.001780011052225771,
        0.0008164344596567469,
        -0.007880878010261995,
        0.1447110071732629,
        -0.5823571654525552,
        0.45808210592918697,
        -1.0 / 66.0,
    ]),
    c: &[0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0],
    order: 5,
    embedded_order: 4,
    fsal: true,
};
