"""DMF (Xue et al., IJCAI 2017) for purchase data, its evaluation harness and its baselines."""

import os

# Training's bf16 products (DMFConfig.precision) take a new shape every step, so oneDNN's
# cache of compiled kernels (1,024 by default) only grows: +220 MiB for one Online Retail
# epoch, and no faster (BENCHMARKS.md). Read when oneDNN first runs; an operator's value wins.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "0")
