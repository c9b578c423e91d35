"""The classic global-optimization test functions, on numpy vectors, written from their
published definitions (not from another library's code).

Sources, cited per function below:
- [DS78] L. C. W. Dixon and G. P. Szegö, "The global optimization problem: an introduction", in
  Towards Global Optimisation 2, North-Holland, 1978: Branin, Goldstein-Price, Six-hump camel,
  Shekel (m = 5, 7, 10), Hartmann (3-D, 6-D).
- [JY13] M. Jamil and X.-S. Yang, "A literature survey of benchmark functions for global
  optimization problems", Int. J. Math. Modelling and Numerical Optimisation 4(2), 2013.
- [SB13] S. Surjanovic and D. Bingham, "Virtual Library of Simulation Experiments: Test
  Functions and Datasets" (Simon Fraser University), the definitions and constants as listed
  there for each function.

Each function takes one point `x` (shape (d,)) and returns a Python float. The domains, optima
and minimizers live with the problems (`functions.py`), not here.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float64]


def branin(x: Vector) -> float:
    """Branin (-Hoo) [DS78; SB13]: a = 1, b = 5.1/(4 pi^2), c = 5/pi, r = 6, s = 10,
    t = 1/(8 pi); three global minima of 5/(4 pi) = 0.397887 on [-5, 10] x [0, 15]."""
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5.0 / math.pi
    r, s, t = 6.0, 10.0, 1.0 / (8 * math.pi)
    return float(a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * np.cos(x[0]) + s)


def goldstein_price(x: Vector) -> float:
    """Goldstein-Price [DS78; SB13]: f(0, -1) = 3 on [-2, 2]^2."""
    x1, x2 = float(x[0]), float(x[1])
    a = 1 + (x1 + x2 + 1) ** 2 * (19 - 14 * x1 + 3 * x1**2 - 14 * x2 + 6 * x1 * x2 + 3 * x2**2)
    b = 30 + (2 * x1 - 3 * x2) ** 2 * (
        18 - 32 * x1 + 12 * x1**2 + 48 * x2 - 36 * x1 * x2 + 27 * x2**2
    )
    return a * b


def six_hump_camel(x: Vector) -> float:
    """Six-hump camel [DS78; JY13; SB13]: (4 - 2.1 x1^2 + x1^4/3) x1^2 + x1 x2 +
    (-4 + 4 x2^2) x2^2; two global minima -1.0316 at +-(0.0898, -0.7126) on [-3, 3] x [-2, 2]."""
    x1, x2 = float(x[0]), float(x[1])
    return (4 - 2.1 * x1**2 + x1**4 / 3) * x1**2 + x1 * x2 + (-4 + 4 * x2**2) * x2**2


# Shekel's ten centres (rows) in 4-D and their widths [DS78; SB13: C's columns, beta].
_SHEKEL_C = np.array(
    [
        [4.0, 4.0, 4.0, 4.0],
        [1.0, 1.0, 1.0, 1.0],
        [8.0, 8.0, 8.0, 8.0],
        [6.0, 6.0, 6.0, 6.0],
        [3.0, 7.0, 3.0, 7.0],
        [2.0, 9.0, 2.0, 9.0],
        [5.0, 3.0, 5.0, 3.0],
        [8.0, 1.0, 8.0, 1.0],
        [6.0, 2.0, 6.0, 2.0],
        [7.0, 3.6, 7.0, 3.6],
    ]
)
_SHEKEL_BETA = 0.1 * np.array([1, 2, 2, 4, 4, 6, 3, 7, 5, 5], dtype=np.float64)


def shekel(x: Vector, m: int) -> float:
    """Shekel with m in {5, 7, 10} terms [DS78; SB13]: -sum_i 1/(sum_j (x_j - C_ij)^2 +
    beta_i) on [0, 10]^4; the global minimum lies near (4, 4, 4, 4): -10.1532 (m = 5),
    -10.4029 (m = 7), -10.5364 (m = 10)."""
    diff = x[None, :] - _SHEKEL_C[:m]
    return -float(np.sum(1.0 / (np.sum(diff**2, axis=1) + _SHEKEL_BETA[:m])))


_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array(
    [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
)
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann3(x: Vector) -> float:
    """Hartmann 3-D [DS78; SB13]: -3.86278 at (0.114614, 0.555649, 0.852547) on [0, 1]^3."""
    return -float(_H_ALPHA @ np.exp(-np.sum(_H3_A * (x - _H3_P) ** 2, axis=1)))


def hartmann6(x: Vector) -> float:
    """Hartmann 6-D [DS78; SB13]: -3.32237 at (0.20169, 0.150011, 0.476874, 0.275332,
    0.311652, 0.6573) on [0, 1]^6."""
    return -float(_H_ALPHA @ np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1)))


_SHUBERT_I = np.arange(1, 6, dtype=np.float64)


def shubert(x: Vector) -> float:
    """Shubert [JY13; SB13]: prod over the 2 coordinates of sum_{i=1..5} i cos((i+1)
    x + i); 18 global minima of -186.7309 on [-10, 10]^2 (760 local ones)."""
    out = 1.0
    for xi in x:
        out *= float(np.sum(_SHUBERT_I * np.cos((_SHUBERT_I + 1) * xi + _SHUBERT_I)))
    return out


def michalewicz(x: Vector, m: float = 10.0) -> float:
    """Michalewicz [JY13; SB13] with steepness m = 10: -sum_i sin(x_i) sin(i x_i^2 /
    pi)^(2m) on [0, pi]^d; -1.8013 (d = 2), -4.687658 (d = 5), -9.66015 (d = 10).
    Separable: each coordinate's term is minimized on its own (functions.py uses this)."""
    i = np.arange(1, len(x) + 1, dtype=np.float64)
    return -float(np.sum(np.sin(x) * np.sin(i * x**2 / math.pi) ** (2 * m)))


def michalewicz_term(t: float, i: int, m: float = 10.0) -> float:
    """Coordinate i's (1-based) term of Michalewicz at x_i = t."""
    return -math.sin(t) * float(math.sin(i * t * t / math.pi) ** (2 * m))


def rastrigin(x: Vector) -> float:
    """Rastrigin [JY13; SB13]: 10 d + sum (x_i^2 - 10 cos(2 pi x_i)); 0 at the origin
    (standard box [-5.12, 5.12]^d)."""
    return float(10.0 * len(x) + np.sum(x**2 - 10.0 * np.cos(2 * math.pi * x)))


def griewank(x: Vector) -> float:
    """Griewank [JY13; SB13]: 1 + sum x_i^2 / 4000 - prod cos(x_i / sqrt(i)); 0 at the
    origin (standard box [-600, 600]^d)."""
    i = np.arange(1, len(x) + 1, dtype=np.float64)
    return float(1.0 + np.sum(x**2) / 4000.0 - np.prod(np.cos(x / np.sqrt(i))))


def ackley(x: Vector) -> float:
    """Ackley [JY13; SB13] with a = 20, b = 0.2, c = 2 pi; 0 at the origin."""
    d = len(x)
    s1 = math.sqrt(float(np.sum(x**2)) / d)
    s2 = float(np.sum(np.cos(2 * math.pi * x))) / d
    return -20.0 * math.exp(-0.2 * s1) - math.exp(s2) + 20.0 + math.e


def levy(x: Vector) -> float:
    """Levy [SB13] with w_i = 1 + (x_i - 1)/4; 0 at (1, ..., 1) on [-10, 10]^d."""
    w = 1.0 + (x - 1.0) / 4.0
    head = math.sin(math.pi * w[0]) ** 2
    body = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return float(head + body + tail)


def rosenbrock(x: Vector) -> float:
    """Rosenbrock [JY13; SB13]: sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2; 0 at
    (1, ..., 1) on [-5, 10]^d."""
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def styblinski_tang(x: Vector) -> float:
    """Styblinski-Tang [JY13; SB13]: sum (x_i^4 - 16 x_i^2 + 5 x_i) / 2;
    -39.16617 d at x_i = -2.903534 on [-5, 5]^d."""
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))


def zakharov(x: Vector) -> float:
    """Zakharov [JY13; SB13]: sum x_i^2 + (sum 0.5 i x_i)^2 + (sum 0.5 i x_i)^4; 0 at
    the origin on [-5, 10]^d."""
    i = np.arange(1, len(x) + 1, dtype=np.float64)
    s = float(np.sum(0.5 * i * x))
    return float(np.sum(x**2)) + s**2 + s**4


# Styblinski-Tang's 1-D minimizer: the smallest root of 4x^3 - 32x + 5 = 0.
ST_X = -2.903534027771177
ST_F = 0.5 * (ST_X**4 - 16 * ST_X**2 + 5 * ST_X)
