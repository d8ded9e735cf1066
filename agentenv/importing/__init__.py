"""Trajectories of other agent tools, converted into agentenv's format."""
