"""Peer of bench/samplers.mjs: Optuna's TPESampler and GPSampler (defaults, seeded) on the same
test functions and spaces as bench/samplers/functions.mjs. Keep the two files in step.

    python bench/peers/optuna_samplers.py '{"functions": ["branin"], "samplers": ["tpe", "gp"], "seeds": 10, "trials": 100}'

Prints one JSON line per (function, sampler, seed): the objective value of every trial in order.
"""

import json
import math
import sys
import time

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def branin(p):
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (p["x2"] - b * p["x1"] ** 2 + c * p["x1"] - 6) ** 2 + 10 * (1 - t) * math.cos(p["x1"]) + 10


H_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
H_P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991], [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
H_ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6(p):
    x = [p[f"x{i + 1}"] for i in range(6)]
    return -sum(H_ALPHA[i] * math.exp(-sum(H_A[i][j] * (x[j] - H_P[i][j] * 1e-4) ** 2 for j in range(6))) for i in range(4))


def rosenbrock10(p):
    return sum(100 * (p[f"x{i + 1}"] - p[f"x{i}"] ** 2) ** 2 + (1 - p[f"x{i}"]) ** 2 for i in range(1, 10))


ACT = {"relu": 1, "tanh": 2, "gelu": 0, "swish": 0.5}


def mixed(p):
    a = p["x"] - 1
    lr = math.log10(p["lr"]) + 2.5
    return a * a + 0.8 * a * lr + lr * lr + 2 * (p["y"] + 1.5) ** 2 + 0.1 * (p["n"] - 13) ** 2 + 0.3 * (1 - math.cos(2 * math.pi * a)) + ACT[p["act"]]


def suggest_branin(t):
    return {"x1": t.suggest_float("x1", -5, 10), "x2": t.suggest_float("x2", 0, 15)}


def suggest_hartmann6(t):
    return {f"x{i + 1}": t.suggest_float(f"x{i + 1}", 0, 1) for i in range(6)}


def suggest_rosenbrock10(t):
    return {f"x{i + 1}": t.suggest_float(f"x{i + 1}", -5, 10) for i in range(10)}


def suggest_mixed(t):
    return {
        "x": t.suggest_float("x", -5, 5),
        "y": t.suggest_float("y", -5, 5),
        "n": t.suggest_int("n", 0, 20),
        "lr": t.suggest_float("lr", 1e-5, 1e-1, log=True),
        "act": t.suggest_categorical("act", ["relu", "tanh", "gelu", "swish"]),
    }


FUNCTIONS = {
    "branin": (branin, suggest_branin),
    "hartmann6": (hartmann6, suggest_hartmann6),
    "rosenbrock10": (rosenbrock10, suggest_rosenbrock10),
    "mixed": (mixed, suggest_mixed),
}


def sampler_of(name, seed):
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    raise ValueError(name)


def main():
    job = json.loads(sys.argv[1])
    for fname in job["functions"]:
        f, suggest = FUNCTIONS[fname]
        for sname in job["samplers"]:
            for seed in range(job.get("first_seed", 0), job.get("first_seed", 0) + job["seeds"]):
                study = optuna.create_study(sampler=sampler_of(sname, seed), direction="minimize")
                start = time.perf_counter()
                study.optimize(lambda t: f(suggest(t)), n_trials=job["trials"])
                values = [t.value for t in study.trials]
                print(
                    json.dumps({"function": fname, "sampler": f"optuna-{sname}", "seed": seed, "values": values, "seconds": time.perf_counter() - start}),
                    flush=True,
                )


if __name__ == "__main__":
    main()
