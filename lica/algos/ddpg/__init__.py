"""The DDPG family, the paper's particle baselines as SQDDPG's code implements them: ``core``
the shared machinery; ``iddpg``, ``maddpg`` and ``sqddpg`` each supply a critic."""
