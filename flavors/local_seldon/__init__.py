"""A model deployer that runs the project's model server as a local daemon.

The same server (``python -m serving``) runs in the Kubernetes image and speaks the same Seldon
protocol, so a client cannot tell a laptop deployment from a cluster one.
"""

LOCAL_SELDON_FLAVOR = "seldon-local"
