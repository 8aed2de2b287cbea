"""A model deployer that runs the project's Seldon Core serving class as a local daemon.

The same class (``serving.model_server.TabularModel``) runs in the Kubernetes image, so a
client cannot tell a laptop deployment from a cluster one.
"""

LOCAL_SELDON_FLAVOR = "seldon-local"
