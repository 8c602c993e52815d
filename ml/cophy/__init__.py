"""CoPhy (Baradel et al., ICLR 2020): counterfactual physical dynamics (PROTOCOLS.md §3).

* ``layout``    the official example folders: :class:`~ml.cophy.layout.Example`,
                ``read_examples`` (folder or zip, problems per example id), ``write_example``,
                ``intervention`` / ``describe_intervention``
* ``metrics``   §3.4's trajectory MSE and "is moving" labels; "will it move", "will the
                tower fall", stability accuracy, final-position error of a click
* ``baselines`` Copy C and Copy B
* ``sim``       PyBullet generation under §3.2's constraints: ``generate(scenario, n, seed, root)``
* ``config`` ``data`` ``model`` ``train`` ``predict``   a state-based CoPhyNet

Nothing here imports Django.
"""
