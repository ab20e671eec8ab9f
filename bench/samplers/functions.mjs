// Test functions of the sampler benchmark. bench/peers/optuna_samplers.py defines the same
// functions and spaces; any change here must be made there too.

const branin = {
  space: { x1: "uniform(-5, 10)", x2: "uniform(0, 15)" },
  optimum: 0.397887357729738,
  f: ({ x1, x2 }) => {
    const b = 5.1 / (4 * Math.PI ** 2);
    const c = 5 / Math.PI;
    const t = 1 / (8 * Math.PI);
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * Math.cos(x1) + 10;
  },
};

const H_A = [
  [10, 3, 17, 3.5, 1.7, 8],
  [0.05, 10, 17, 0.1, 8, 14],
  [3, 3.5, 1.7, 10, 17, 8],
  [17, 8, 0.05, 10, 0.1, 14],
];
const H_P = [
  [1312, 1696, 5569, 124, 8283, 5886],
  [2329, 4135, 8307, 3736, 1004, 9991],
  [2348, 1451, 3522, 2883, 3047, 6650],
  [4047, 8828, 8732, 5743, 1091, 381],
];
const H_ALPHA = [1.0, 1.2, 3.0, 3.2];
const hartmann6 = {
  space: Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`x${i + 1}`, "uniform(0, 1)"])),
  optimum: -3.32236801141551,
  f: (p) => {
    const x = Array.from({ length: 6 }, (_, i) => p[`x${i + 1}`]);
    let s = 0;
    for (let i = 0; i < 4; i++) {
      let inner = 0;
      for (let j = 0; j < 6; j++) inner += H_A[i][j] * (x[j] - H_P[i][j] * 1e-4) ** 2;
      s += H_ALPHA[i] * Math.exp(-inner);
    }
    return -s;
  },
};

const rosenbrock10 = {
  space: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`x${i + 1}`, "uniform(-5, 10)"])),
  optimum: 0,
  f: (p) => {
    let s = 0;
    for (let i = 1; i < 10; i++) s += 100 * (p[`x${i + 1}`] - p[`x${i}`] ** 2) ** 2 + (1 - p[`x${i}`]) ** 2;
    return s;
  },
};

// A stand-in for a training run's space: two floats (one interacting with the learning rate),
// an integer, a log-scaled float and a categorical; minimum 0 at x=1, y=-1.5, n=13, lr=10^-2.5, gelu.
const ACT = { relu: 1, tanh: 2, gelu: 0, swish: 0.5 };
const mixed = {
  space: { x: "uniform(-5, 5)", y: "uniform(-5, 5)", n: "int(0, 20)", lr: "loguniform(1e-5, 1e-1)", act: "choice(relu, tanh, gelu, swish)" },
  optimum: 0,
  f: ({ x, y, n, lr, act }) => {
    const a = x - 1;
    const l = Math.log10(lr) + 2.5;
    return a * a + 0.8 * a * l + l * l + 2 * (y + 1.5) ** 2 + 0.1 * (n - 13) ** 2 + 0.3 * (1 - Math.cos(2 * Math.PI * a)) + ACT[act];
  },
};

export const FUNCTIONS = { branin, hartmann6, rosenbrock10, mixed };
