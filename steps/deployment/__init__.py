from steps.deployment.deploy_model import deploy_model
from steps.deployment.promote_model import promote_model
from steps.deployment.restore_production import restore_production

__all__ = ["deploy_model", "promote_model", "restore_production"]
