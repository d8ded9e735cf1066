"""Training data from trajectories and feedback: SFT, RL, Minari, DPO, PRM and KTO."""
