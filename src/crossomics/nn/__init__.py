"""Reusable torch building blocks: MLP layers and count likelihoods."""
