"""Loss weights of the two training stages, named and documented (no magic numbers in the loop)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class LossWeights:
    """Weights of the loss terms.

    Reconstruction is the mean negative log-likelihood per feature, so weights are comparable across
    modalities with very different feature counts; the KL term is divided by the feature count likewise.

    Attributes
    ----------
    kl
        Weight of KL(q(u|x) || N(0, I)).
    cycle
        Weight of ``|from_joint(to_joint(u)) - u|^2`` (joint space readable by every decoder), stage 2.
    adversarial
        Weight of the modality-confusion term (minus the discriminator's cross-entropy), stage 2.
    anchor
        Weight of the cosine distance between MNN anchor pairs in the joint space, stage 2.
    prior
        Weight of the squared distance between a cell's joint embedding and its anchor-guided CCA
        coordinates (:mod:`crossomics.priors.joint_prior`), stage 2.
    """

    kl: float = 1.0
    cycle: float = 0.05
    adversarial: float = 0.05
    anchor: float = 0.5
    # SNARE-seq, unpaired, batch 512: prior 1 / 2 / 4 gave Leiden ARI 0.335 / 0.365 / 0.363 at FOSCTTM
    # 0.100 / 0.101 / 0.103
    prior: float = 2.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)
