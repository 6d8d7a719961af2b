"""The joint objective over q-bins: one physical vector shared by every bin, each bin with
its own per-angle contrast and offset. Its cost and Gauss–Newton sums are the sums of the
bins' own objectives, placed into the joint full layout."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .base import AbstractObjective, Sums


def bin_index(sizes: tuple[int, ...], n_physical: int) -> tuple[np.ndarray, ...]:
    """For each bin, the positions of its full layout [c…, o…, physical…] in the joint
    full layout [c of every bin…, o of every bin…, physical…]."""
    n = sum(sizes)
    starts = np.cumsum((0, *sizes[:-1]))
    return tuple(np.concatenate([np.arange(s, s + m), n + np.arange(s, s + m),
                                 2 * n + np.arange(n_physical)])
                 for s, m in zip(starts, sizes, strict=True))


class JointObjective(AbstractObjective):
    """Σ_bins of the bins' objectives (`members`, each in its own full layout) in the joint
    full layout; `sizes` are the bins' angle counts (in the order of the joint angles)."""

    members: tuple[AbstractObjective, ...]
    sizes: tuple[int, ...] = eqx.field(static=True)
    n_physical: int = eqx.field(static=True)

    @property
    def traceable(self) -> bool:  # type: ignore[override]
        return all(m.traceable for m in self.members)

    @property
    def _index(self):
        return bin_index(self.sizes, self.n_physical)

    @property
    def _slices(self):
        starts = np.cumsum((0, *self.sizes[:-1]))
        return [slice(int(s), int(s + m)) for s, m in zip(starts, self.sizes, strict=True)]

    def sums(self, x) -> Sums:
        x = jnp.asarray(x)
        n_full = x.shape[0]
        cost = jnp.zeros((), x.dtype)
        jtj = jnp.zeros((n_full, n_full), x.dtype)
        jtr = jnp.zeros((n_full,), x.dtype)
        for member, idx in zip(self.members, self._index, strict=True):
            c, a, g = member.sums(x[idx])
            cost = cost + c
            jtj = jtj.at[np.ix_(idx, idx)].add(a)
            jtr = jtr.at[idx].add(g)
        return cost, jtj, jtr

    def cost(self, x):
        x = jnp.asarray(x)
        return sum(m.cost(x[idx]) for m, idx in zip(self.members, self._index, strict=True))

    def bin_costs(self, x):
        """½χ² of each bin at the joint vector x, shape (n_bins,)."""
        x = jnp.asarray(x)
        return jnp.stack([m.cost(x[idx]) for m, idx in zip(self.members, self._index,
                                                             strict=True)])

    def weighted(self, w) -> JointObjective:
        w = jnp.asarray(w)
        return JointObjective(tuple(m.weighted(w[s]) for m, s in zip(self.members,
                                                                     self._slices, strict=True)),
                              self.sizes, self.n_physical)

    def profile(self, physical):
        """(Σ cost, contrast, offset) of each bin's exact per-angle optimum."""
        parts = [m.profile(physical) for m in self.members]
        return (sum(p[0] for p in parts), jnp.concatenate([p[1] for p in parts]),
                jnp.concatenate([p[2] for p in parts]))

    def constant_cost(self):
        return sum(m.constant_cost() for m in self.members)

    def with_loss(self, loss: str, f_scale=1.0) -> JointObjective:
        return JointObjective(tuple(m.with_loss(loss, f_scale) for m in self.members),
                              self.sizes, self.n_physical)

    @property
    def n_chunks(self) -> int:
        return sum(m.n_chunks for m in self.members)

    @property
    def phi(self):
        """The angles [deg] of every bin, in the joint order."""
        return jnp.concatenate([jnp.asarray(m.phi) for m in self.members])
