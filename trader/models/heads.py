"""The predictor's heads: an RBF kernel layer over the embedding and Bayesian linear layers (Bayes by backprop).

Bayes by backprop (Blundell et al., 2015): each weight w has a Gaussian posterior N(mu, sigma^2) with
sigma = softplus(rho); training minimises the data loss plus kl_weight * KL(q(w) || N(0, prior_sigma^2)) / N.
Training draws noise with the local reparameterization trick (Kingma et al., 2015): the pre-activation of a
linear layer under Gaussian weights is itself Gaussian, so it is sampled directly, which lowers the variance
of the gradient. Inference draws S whole weight sets once from a seeded generator and applies each set to
every row, so a row's output depends only on its own input (never on which rows share its batch).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from trader.models.errors import ModelError


class RBFLayer(nn.Module):
    """Gaussian kernels exp(-d^2 / (2 (scale * width_m)^2)) around learned centres, at several length scales.

    d^2 is the mean squared difference between the input and centre m (so widths are per dimension);
    width_m = exp(log_width_m) is learned per centre and multiplied by each fixed scale in `scales`.
    Input [..., dim] -> output [..., centers * len(scales)].
    """

    def __init__(self, dim: int, centers: int = 16, scales: tuple[float, ...] = (0.5, 1.0, 2.0)) -> None:
        super().__init__()
        if centers < 1 or not scales or any(s <= 0 for s in scales):
            raise ModelError(f"RBF layer needs centers >= 1 and positive scales, got {centers} and {scales}")
        self.centers = nn.Parameter(torch.randn(centers, dim))
        self.log_width = nn.Parameter(torch.zeros(centers))
        self.register_buffer("scales", torch.tensor([float(s) for s in scales]))
        self.out_features = centers * len(scales)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Kernel activations of x against every centre and scale."""
        d2 = (x[..., None, :] - self.centers).pow(2).mean(dim=-1)  # [..., centers]
        width = torch.exp(self.log_width)[:, None] * self.scales  # [centers, scales]
        phi = torch.exp(-d2[..., None] / (2.0 * width.pow(2)))
        return phi.flatten(start_dim=-2)


def gaussian_kl(mu: torch.Tensor, sigma: torch.Tensor, prior_sigma: float) -> torch.Tensor:
    """Sum of KL(N(mu, sigma^2) || N(0, prior_sigma^2)) over all elements (always >= 0)."""
    ratio = sigma / prior_sigma
    return (-torch.log(ratio) + 0.5 * (ratio.pow(2) + (mu / prior_sigma).pow(2)) - 0.5).sum()


class BayesLinear(nn.Module):
    """A linear layer with a factorised Gaussian posterior over weights and biases (sigma = softplus(rho))."""

    def __init__(
        self, in_features: int, out_features: int, prior_sigma: float = 0.1, init_sigma: float = 0.01
    ) -> None:
        super().__init__()
        if prior_sigma <= 0 or init_sigma <= 0:
            raise ModelError(f"BayesLinear needs positive prior and initial sigma, got {prior_sigma}, {init_sigma}")
        self.in_features, self.out_features = in_features, out_features
        self.prior_sigma = float(prior_sigma)
        bound = 1.0 / math.sqrt(in_features)
        rho0 = math.log(math.expm1(init_sigma))  # softplus^-1
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.weight_rho = nn.Parameter(torch.full((out_features, in_features), rho0))
        self.bias_mu = nn.Parameter(torch.zeros(out_features))
        self.bias_rho = nn.Parameter(torch.full((out_features,), rho0))

    @property
    def weight_sigma(self) -> torch.Tensor:
        """Posterior standard deviations of the weights."""
        return F.softplus(self.weight_rho)

    @property
    def bias_sigma(self) -> torch.Tensor:
        """Posterior standard deviations of the biases."""
        return F.softplus(self.bias_rho)

    def forward(self, x: torch.Tensor, sample: bool = True) -> torch.Tensor:
        """One stochastic pass by local reparameterization (sample=True) or the posterior-mean pass."""
        mean = F.linear(x, self.weight_mu, self.bias_mu)
        if not sample:
            return mean
        var = F.linear(x.pow(2), self.weight_sigma.pow(2), self.bias_sigma.pow(2))
        return mean + torch.sqrt(var + 1e-12) * torch.randn_like(mean)

    def kl(self) -> torch.Tensor:
        """KL divergence of the posterior from the N(0, prior_sigma^2) prior, summed over parameters."""
        return gaussian_kl(self.weight_mu, self.weight_sigma, self.prior_sigma) + gaussian_kl(
            self.bias_mu, self.bias_sigma, self.prior_sigma
        )

    def sample_weights(self, samples: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw `samples` weight sets: ([samples, out, in], [samples, out])."""
        w_eps = torch.randn((samples, *self.weight_mu.shape), generator=generator)
        b_eps = torch.randn((samples, *self.bias_mu.shape), generator=generator)
        w = self.weight_mu + self.weight_sigma * w_eps.to(self.weight_mu)
        b = self.bias_mu + self.bias_sigma * b_eps.to(self.bias_mu)
        return w, b


def apply_samples(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Apply S weight sets to x: x [B, in] or [S, B, in], weight [S, out, in], bias [S, out] -> [S, B, out]."""
    if x.dim() == 2:
        x = x.expand(weight.shape[0], *x.shape)
    return torch.baddbmm(bias[:, None, :], x, weight.transpose(1, 2))


class BayesMLP(nn.Module):
    """Two Bayesian linear layers with a GELU between them: the heads' shared body and output layer."""

    def __init__(self, in_features: int, hidden: int, out_features: int, prior_sigma: float) -> None:
        super().__init__()
        self.layer1 = BayesLinear(in_features, hidden, prior_sigma)
        self.layer2 = BayesLinear(hidden, out_features, prior_sigma)

    def forward(self, x: torch.Tensor, sample: bool = True) -> torch.Tensor:
        """One pass: stochastic (local reparameterization) or posterior mean."""
        return self.layer2(F.gelu(self.layer1(x, sample)), sample)

    def kl(self) -> torch.Tensor:
        """Summed KL of both layers."""
        return self.layer1.kl() + self.layer2.kl()

    def sample_weights(self, samples: int, generator: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Weight sets for both layers, drawn in a fixed order from the generator."""
        return [self.layer1.sample_weights(samples, generator), self.layer2.sample_weights(samples, generator)]

    def forward_samples(
        self, x: torch.Tensor, weights: list[tuple[torch.Tensor, torch.Tensor]]
    ) -> torch.Tensor:
        """Outputs under each drawn weight set: x [B, in] -> [S, B, out]."""
        (w1, b1), (w2, b2) = weights
        return apply_samples(F.gelu(apply_samples(x, w1, b1)), w2, b2)
