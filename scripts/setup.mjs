#!/usr/bin/env node
// Installs the project's npm dependencies when they are missing or older than package.json / package-lock.json.
// Safe offline with only the npm registry: onnxruntime-node's CUDA download and playwright's browser download are
// switched off (we use the system chromium). Runs before `npm start` and `npm test`.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mtime = (f) => (existsSync(f) ? statSync(f).mtimeMs : 0);
const installed = mtime(path.join(root, 'node_modules', '.package-lock.json'));
const wanted = Math.max(mtime(path.join(root, 'package.json')), mtime(path.join(root, 'package-lock.json')));

if (installed >= wanted && installed > 0) process.exit(0);
const hasLock = existsSync(path.join(root, 'package-lock.json'));
const args = [hasLock && !installed ? 'ci' : 'install', '--no-audit', '--no-fund'];
console.log(`setup: npm ${args.join(' ')}`);
const r = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, {
  cwd: root,
  stdio: 'inherit',
  shell: process.platform === 'win32',
  env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' },
});
process.exit(r.status ?? 1);
