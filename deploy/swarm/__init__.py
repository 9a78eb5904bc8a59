"""The compose stack on Docker Swarm, fed over SSH instead of a registry (docs/swarm.md):
config (the inventory), stack (compose.yaml -> the stack file), nodes (init, leave, IP_VS),
services (what a manager reports, convergence), rollout (deploy, rollback)."""
