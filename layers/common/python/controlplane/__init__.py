"""Code shared by two or more control-plane Lambdas and by the local runtime (`opsctl replay`)."""
