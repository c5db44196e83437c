"""Initialising recurrent weights: orthogonal, identity, and a chosen spectral radius (lab 06).

The recurrent matrix W_hh is applied once per time step, so its eigenvalues decide whether a
signal (and, backwards, a gradient) grows or shrinks over many steps: roughly as rho^t for a
spectral radius rho. An orthogonal matrix has every eigenvalue on the unit circle and every
singular value 1, so it neither stretches nor shrinks anything; the identity is the special
case that copies the state unchanged.

torch stores W_hh as (H, H) acting on column vectors, h_t = tanh(W_ih x_t + W_hh h_{t-1} + b);
the functions here act on that matrix in place, one gate block (H rows) at a time for an LSTM.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["orthogonal_from_gaussian", "spectral_radius", "scale_to_spectral_radius", "init_recurrent_"]

SCHEMES = ("default", "orthogonal", "identity")


def orthogonal_from_gaussian(A, gain=1.0):
    """An orthogonal matrix made from a square Gaussian matrix, times `gain`.

    A: (H, H) float array with independent N(0, 1) entries. Q, R = qr(A) gives an orthogonal Q;
    multiplying column j of Q by the sign of R[j, j] makes the result unique (Q R is the same
    product with positive diagonal), and uniformly distributed over the orthogonal matrices.
    The same recipe as torch.nn.init.orthogonal_. Returns gain * Q, (H, H).
    """
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"orthogonal_from_gaussian: A must be a square (H, H) matrix, got shape {A.shape}")
    Q, R = np.linalg.qr(A)
    Q = Q * np.sign(np.diag(R))               # column j times sign(R[j, j]): unique, uniform
    return gain * Q


def spectral_radius(W) -> float:
    """The largest modulus of the eigenvalues of a square matrix (array or tensor)."""
    W = W.detach().cpu().double().numpy() if isinstance(W, torch.Tensor) else np.asarray(W, float)
    return float(np.max(np.abs(np.linalg.eigvals(W))))


def scale_to_spectral_radius(W, rho):
    """W (H, H) times rho / spectral_radius(W): the same directions, spectral radius rho."""
    return W * (rho / spectral_radius(W))


def init_recurrent_(rnn, scheme, generator=None):
    """Re-initialise the recurrent matrices of an nn.RNN / nn.LSTM / nn.GRU in place.

    scheme: "default" (leave torch's uniform(-1/sqrt(H), 1/sqrt(H))), "orthogonal" (each
    (H, H) gate block of every weight_hh orthogonal) or "identity" (each block the identity,
    biases zero, the IRNN recipe). generator: torch.Generator for the orthogonal draws.
    Returns rnn.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"init_recurrent_: scheme must be one of {SCHEMES}, got {scheme!r}")
    if scheme == "default":
        return rnn
    H = rnn.hidden_size
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            if not name.startswith("weight_hh"):
                continue
            for k in range(p.shape[0] // H):              # one block per gate (1 for a tanh RNN)
                block = p[k * H:(k + 1) * H]
                if scheme == "identity":
                    block.copy_(torch.eye(H, dtype=p.dtype))
                else:
                    A = torch.randn(H, H, generator=generator, dtype=torch.float64)
                    block.copy_(torch.from_numpy(orthogonal_from_gaussian(A.numpy())).to(p.dtype))
        if scheme == "identity":
            for name, p in rnn.named_parameters():
                if name.startswith("bias"):
                    p.zero_()
    return rnn
