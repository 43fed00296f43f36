"""The config: `config/<env>.yaml` loaded (loader), each section validated with errors that name the
key (sections, readers), and compiled to the policy the Lambdas read (compiler). Synth, `opsctl` and
the tests import it; it imports neither the stacks nor the CLI, and the Lambdas never import it."""

from controlplane.config.loader import load_config, parse_config
from controlplane.config.model import AlarmSpec, ControlPlaneConfig
from controlplane.config.readers import validate_cron
from controlplane.config.sections import CAPABILITIES, WAF_REGION

__all__ = ["CAPABILITIES", "WAF_REGION", "AlarmSpec", "ControlPlaneConfig", "load_config", "parse_config",
           "validate_cron"]
