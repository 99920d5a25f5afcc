# crossomics: one image for every pipeline process, on CPU or GPU.
#
# The base image carries a CUDA build of torch; tasks without a GPU run the same image on the CPU.
# Singularity and Apptainer convert it from the registry (docker://), so there is one image to build.
# Tag: the pipeline's manifest.version (process.container in nextflow.config). Build, test and push:
# docs/usage.md, section "Containers".
FROM pytorch/pytorch:2.9.0-cuda12.8-cudnn9-runtime

LABEL org.opencontainers.image.title="crossomics" \
      org.opencontainers.image.description="Single-cell multi-omics integration, generation, simulation and perturbation (scCross rebuilt)" \
      org.opencontainers.image.source="https://github.com/crossomics/crossomics" \
      org.opencontainers.image.licenses="MIT"

# procps provides `ps`, which Nextflow needs to record each task's CPU and memory use.
# DL3008 (pin apt package versions) is ignored: procps follows the base image's Ubuntu release, which the
# base image tag fixes; an exact version pin would break the build at the next Ubuntu security update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends procps \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/crossomics
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
COPY bin ./bin

# Installs the package and its dependencies; the base image's CUDA torch already satisfies `torch>=2.1`,
# so pip keeps it (the check prints the CUDA version torch was built with).
RUN pip install --no-cache-dir . \
    && python -c "import crossomics, torch; print('crossomics', crossomics.__version__, 'torch', torch.__version__, 'cuda', torch.version.cuda)"

# bin/ holds the scripts the Nextflow processes call; matplotlib and numba caches go to /tmp so that any
# user (docker -u, Singularity's host user) can run the image without a writable home.
ENV PATH="/opt/crossomics/bin:${PATH}" \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba_cache \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# A non-root user, by number so that hosts and schedulers resolve it without /etc/passwd entries
RUN useradd --create-home --uid 1000 --shell /bin/bash crossomics
USER 1000:1000
WORKDIR /home/crossomics

CMD ["crossomics", "--help"]
