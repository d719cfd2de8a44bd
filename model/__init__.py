"""DMF (Xue et al., IJCAI 2017) for purchase data, its evaluation harness and its baselines."""
