"""The PPO family (beyond the paper): ``core`` the shared PPO; ``ippo`` and ``mappo`` choose what
the value function sees."""
