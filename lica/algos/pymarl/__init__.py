"""The PyMARL family: the paper's StarCraft baselines as PyMARL implements them.

``common`` the plumbing every PyMARL learner shares (settings, optimizer, epsilon schedule,
target copies, the agents' network and unroll); ``actor_critic`` the pieces COMA and LIIR share;
``coma`` and ``liir`` (policy gradient); ``value_based`` the Q-learning machinery of ``vdn``,
``qmix`` and ``qtran``.
"""
