"""Fabric deploy of the server images to hosts that have only SSH and Docker (docs/deploy.md).

`ns` is the task collection the repository's fabfile.py exposes: deploy, rollback, status,
logs, check, teardown -- all at the top level, so `fab deploy` works from the repository root;
and the `swarm` collection (`fab swarm.deploy`, ...: docs/swarm.md).
"""

from invoke import Collection

from .tasks import check, observe, release, swarm, teardown

ns = Collection()
for _module in (release, observe, check, teardown):
    for _task in _module.ns.tasks.values():
        ns.add_task(_task)
ns.add_collection(swarm.ns)

ns.configure(
    {
        "deploy": {
            # overridden by --inventory or $DEPLOY_INVENTORY
            "inventory": "deploy/inventory.toml",
            "accept_new_host_keys": False,
        }
    }
)
