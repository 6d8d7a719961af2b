"""Multi-device accumulation equals one device (run in a subprocess with 4 CPU devices)."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    import xpcsfit
    from xpcsfit.fitting.sharded import device_mesh, shard_problem, sharded_normal_equations
    from xpcsfit.fitting.grid import make_grid_problem
    from xpcsfit.fitting.structured import normal_equations
    assert len(jax.devices()) == 4, jax.devices()
    data, truth = xpcsfit.simulate([3e3, 0.6, 20.0, 2e-4, 0.4, 1e-5, 3.0], 0.35, 1.0, n_t=40,
                                   dt=0.2, phi=np.linspace(-60, 60, 5), q=0.005, L=2e6, seed=2)
    mesh = device_mesh()
    x = jnp.concatenate([jnp.full(5, 0.35), jnp.ones(5), jnp.asarray(truth["physical"]) * 1.2])
    for pairs in ("all", "upper"):  # upper: t1 < t2 only (symmetric data), 780 pairs padded
        problem = make_grid_problem(data.g2, data.sigma, data.t, data.phi, data.q, data.L,
                                    mode="laminar_flow", convention="paper", chunk_pairs=100,
                                    chunk_multiple=4, pairs=pairs)
        assert problem.n_chunks % 4 == 0, problem.n_chunks
        sharded = shard_problem(problem, mesh)
        assert len(sharded.g2.sharding.device_set) == 4 and sharded.upper == problem.upper
        one = jax.jit(normal_equations)(x, problem)
        many = jax.jit(sharded_normal_equations, static_argnums=2)(x, sharded, mesh)
        for a, b in zip(one, many):
            a, b = np.asarray(a), np.asarray(b)
            err = np.max(np.abs(a - b)) / np.max(np.abs(a))
            assert err < 1e-10, err
    # Defense layers (L3 CV rows, L4 monitor, L5 shear weights) run on the mesh too.
    layers = {"regularization": {"enable": True}, "shear_weighting": {"enable": True}}
    cfg = {"analysis_mode": "laminar_flow",
           "optimization": {"nlsq": {"strategy": "out_of_core", "chunk_points": 1000,
                                     "anti_degeneracy": layers}}}
    single = xpcsfit.fit(data, cfg)
    cfg["optimization"]["nlsq"]["n_devices"] = "all"
    multi = xpcsfit.fit(data, cfg)
    assert multi.device_info["n_devices"] == 4
    assert multi.device_info["fitted_pairs"] == single.device_info["fitted_pairs"] == "upper"
    for res in (single, multi):
        assert res.device_info["defense"]["active"], res.device_info["defense"]
        assert {"regularization", "shear_weighting"} <= set(res.device_info["defense"]["layers"])
    np.testing.assert_allclose(multi.parameters, single.parameters, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(multi.chi_squared, single.chi_squared, rtol=1e-9)
    print("OK")
""")


def test_four_devices_give_the_one_device_sums():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("OK")
