"""Tools over a trained model: cross-modal generation, matched simulation, augmentation (and perturbation);
the UMAP layout of the joint embedding."""

from __future__ import annotations

from .augment import augment, run_augment
from .generate import generate, load_model, write_generated
from .latent_prior import LatentPrior, fit_latent_prior, load_latent_prior, save_latent_prior
from .simulate import allocate, simulate
from .stages import run_generate, run_generation_stage, run_simulate, run_simulation_stage
from .umap import umap_layout

# perturbation
from .perturb import Perturbation, PerturbationEngine
from .perturb_screen import ScreenOptions, perturb_screen
from .perturb_stage import run_merge, run_perturb, run_perturbation_stage

__all__ = [
    "LatentPrior",
    "Perturbation",
    "PerturbationEngine",
    "ScreenOptions",
    "allocate",
    "augment",
    "fit_latent_prior",
    "generate",
    "load_latent_prior",
    "load_model",
    "perturb_screen",
    "run_augment",
    "run_generate",
    "run_generation_stage",
    "run_merge",
    "run_perturb",
    "run_perturbation_stage",
    "run_simulate",
    "run_simulation_stage",
    "save_latent_prior",
    "simulate",
    "umap_layout",
    "write_generated",
]
