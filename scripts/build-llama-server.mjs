#!/usr/bin/env node
// Bench tooling (not shipped, #20): builds llama.cpp's llama-server from the very llama.cpp source that node-llama-cpp
// ships (node_modules/node-llama-cpp/llama/gitRelease.bundle, tag in llama/llama.cpp.info.json), at kernel parity with
// node-llama-cpp's prebuilt linux-x64 binaries, for bench/peers.ts (LLAMA_SERVER=<printed path>).
//
// Why build our own rather than point a server at node-llama-cpp's prebuilt backend .so files: those are renamed
// (libggml.v<tag>.so, libllama.v<tag>.so) and built by node-llama-cpp's own CMake project, so mixing them with a server
// built elsewhere is not a supported ABI pairing; the same tag + the same CMake options as its CI build
// (node-llama-cpp dist/bindings/utils/compileLLamaCpp.js, ciMode) gives the same layout instead: every CPU variant as
// a libggml-cpu-<variant>.so beside the binary, the best one this CPU supports picked at run time by ggml's loader, so
// the server and the worker load the same variant (bench/peers.ts records which each loaded, from evidence). The same
// variant built by another compiler is still not the same kernels (the prebuilt's GCC 11 tinyBLAS evaluated prompts
// ~6% slower than this build's with GCC 12), so bench/peers.ts's parity row loads the prebuilt's own CPU backend
// plugins into this server (their plugin interface is the tag's, whoever built them); the rest stays this build.
//   GGML_NATIVE=OFF GGML_BACKEND_DL=ON GGML_CPU_ALL_VARIANTS=ON GGML_OPENMP=OFF (the prebuilt links no libgomp)
//   LLAMA_CURL=OFF (deprecated, a no-op at this tag) LLAMA_OPENSSL=OFF (localhost only) LLAMA_USE_PREBUILT_UI=OFF
//   (it would download the web UI) Release, only the llama-server target (it depends on every ggml-cpu variant), -j2.
// Idempotent: a build for the same tag + options + patches (PATCHES below) is reused (its stamp file is written
// last). Prints the binary path.
//   node scripts/build-llama-server.mjs [--jobs 2]
// Cache: $VERDANT_CACHE/llama-server, else ~/.cache/verdant/llama-server. Needs git, cmake, a C++ compiler (ninja used
// when present).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '2' } } });

// (node-llama-cpp's exports do not include package.json, so it is found from the repository root.)
const nlcDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'node-llama-cpp');
const bundle = path.join(nlcDir, 'llama', 'gitRelease.bundle');
const { tag } = JSON.parse(readFileSync(path.join(nlcDir, 'llama', 'llama.cpp.info.json'), 'utf8'));

const OPTIONS = [
  'CMAKE_BUILD_TYPE=Release',
  'BUILD_SHARED_LIBS=ON',
  'GGML_NATIVE=OFF',
  'GGML_BACKEND_DL=ON',
  'GGML_CPU_ALL_VARIANTS=ON',
  'GGML_OPENMP=OFF',
  'GGML_CCACHE=OFF',
  'LLAMA_CURL=OFF',
  'LLAMA_OPENSSL=OFF',
  'LLAMA_BUILD_BORINGSSL=OFF',
  'LLAMA_USE_PREBUILT_UI=OFF',
  'LLAMA_BUILD_TESTS=OFF',
  'LLAMA_BUILD_EXAMPLES=OFF',
];

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})`);
}
function out(cmd, args, cwd) {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8' }).stdout?.trim() ?? '';
}

// Source patches, applied in place (a changed list rebuilds incrementally in the same folder). Each changes what the
// server does after generating, never the model's work, so the comparison stays like for like:
// - content-only output: the server runs every completion's text, /infill included, through its chat-output parser,
//   whose content-only grammar rejected some of the random-weight 1.5B shape's nonsense (text cut inside a UTF-8
//   character is the likely trigger, which a real model's short answer can hit too) and answered HTTP 500 for a
//   generation it had finished. Text with no chat format to parse is returned as it is.
const PATCHES = [
  {
    name: 'content-only-output',
    file: 'common/chat.cpp',
    find: '        LOG_DBG("No parser definition detected, assuming pure content parser.");\n    }',
    replace:
      '        LOG_DBG("No parser definition detected, assuming pure content parser.");\n' +
      '        common_chat_msg msg; // verdant bench patch: content-only output is the text as it is\n' +
      '        msg.role = "assistant";\n' +
      '        msg.content = input;\n' +
      '        return msg;\n    }',
  },
];

function applyPatches(root) {
  for (const p of PATCHES) {
    const file = path.join(root, p.file);
    const text = readFileSync(file, 'utf8');
    if (text.includes(p.replace)) continue;
    if (!text.includes(p.find)) throw new Error(`patch ${p.name}: ${p.file} no longer has the code it changes; update the patch for this llama.cpp`);
    writeFileSync(file, text.replace(p.find, p.replace));
  }
}

// The bundle's commit is part of the key, so a node-llama-cpp update with the same tag name still rebuilds.
const commit = out('git', ['bundle', 'list-heads', bundle]).split(/\s/)[0];
const key = createHash('sha256').update(JSON.stringify({ tag, commit, OPTIONS })).digest('hex').slice(0, 10);
const cacheRoot = process.env.VERDANT_CACHE
  ? path.join(process.env.VERDANT_CACHE, 'llama-server')
  : path.join(os.homedir(), '.cache', 'verdant', 'llama-server');
const dir = path.join(cacheRoot, `${tag}-${key}`);
const src = path.join(dir, 'src');
const build = path.join(dir, 'build');
const binary = path.join(build, 'bin', 'llama-server');
const stamp = path.join(dir, 'built.json');

if (existsSync(stamp) && existsSync(binary) && JSON.parse(readFileSync(stamp, 'utf8')).patches?.join() === PATCHES.map((p) => p.name).join()) {
  console.log(binary);
  process.exit(0);
}
mkdirSync(dir, { recursive: true });
if (!existsSync(path.join(src, '.git')) || out('git', ['rev-parse', 'HEAD'], src) !== commit) {
  rmSync(src, { recursive: true, force: true });
  run('git', ['-c', 'advice.detachedHead=false', 'clone', '--quiet', bundle, src]);
  run('git', ['-c', 'advice.detachedHead=false', 'checkout', '--quiet', commit], src);
}
applyPatches(src);
const started = Date.now();
const ninja = spawnSync('ninja', ['--version']).status === 0;
run('cmake', ['-S', src, '-B', build, ...(ninja ? ['-G', 'Ninja'] : []), ...OPTIONS.map((o) => `-D${o}`)]);
run('cmake', ['--build', build, '--config', 'Release', '--target', 'llama-server', '-j', values.jobs]);
if (!existsSync(binary)) throw new Error(`the build finished without ${binary}`);
writeFileSync(
  stamp,
  JSON.stringify(
    { tag, commit, options: OPTIONS, patches: PATCHES.map((p) => p.name), seconds: Math.round((Date.now() - started) / 1000) },
    null,
    2,
  ) + '\n',
);
console.error(`built llama-server ${tag} (${commit.slice(0, 12)}) in ${Math.round((Date.now() - started) / 1000)} s`);
console.log(binary);
