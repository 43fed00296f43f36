"""CDK stacks (compose) and constructs (build) of the Ops Control Plane."""
