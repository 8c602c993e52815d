"""CoPhy (Baradel et al., ICLR 2020): the on-disk layout, metrics, baselines, a PyBullet
scene generator and a CoPhyNet-style counterfactual dynamics model (PROTOCOLS.md §3)."""
