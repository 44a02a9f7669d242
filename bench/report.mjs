#!/usr/bin/env node
// `npm run bench:report`: turns the benchmark results (bench/results/*.json, written by `npm run bench`) into
// docs/BENCHMARKS.md: a table per benchmark with its machine and date, medians and spreads, the Verdant/llama-server
// ratio per peer scenario, the memory verdict, and how each was measured. A result that is missing is listed as not
// run; nothing here measures anything.
//   node bench/report.mjs [--results DIR] [--out FILE]
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// ---- formatting ----

const DASH = '–';
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
/** A number with at most `digits` decimals, thousands grouped; '–' for anything else. */
function num(v, digits = 1) {
  if (!isNum(v)) return DASH;
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}
/** Milliseconds: 3 decimals below 1 ms, 2 below 10, 1 above. */
function ms(v) {
  if (!isNum(v)) return DASH;
  return num(v, Math.abs(v) < 1 ? 3 : Math.abs(v) < 10 ? 2 : 1);
}
const mib = (bytes) => (isNum(bytes) ? `${num(bytes / 2 ** 20, 1)} MiB` : DASH);
const kib = (bytes) => (isNum(bytes) ? `${num(bytes / 1024, 1)} KiB` : DASH);
const cell = (v) =>
  String(v ?? DASH)
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');
function table(header, rows) {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}
function machineLine(r) {
  const m = r.machine ?? {};
  const parts = [
    m.cpu,
    isNum(m.logicalCores) ? `${m.logicalCores} logical cores` : undefined,
    isNum(m.memoryGiB) ? `${m.memoryGiB} GiB RAM` : undefined,
    m.arch && m.platform && !m.platform.includes('-') ? `${m.platform}-${m.arch}` : m.platform,
    m.node ? `Node ${m.node}` : undefined,
  ].filter(Boolean);
  const date = typeof r.date === 'string' ? r.date.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC') : DASH;
  const load =
    r.loadAverage && isNum(r.loadAverage.before?.[0])
      ? ` Load average (1 min) before / after: ${num(r.loadAverage.before[0], 2)} / ${num(r.loadAverage.after?.[0], 2)}.`
      : '';
  return `Machine: ${parts.join(', ') || DASH}. Measured: ${date}.${load}`;
}
/** "median (p90)" from a spread object {median, p90} or {p50, p90}. */
const medP90 = (s) => (s ? `${ms(s.median ?? s.p50)} (${ms(s.p90)})` : DASH);
const caveats = (lines) => `**How measured / caveats**\n\n${lines.map((l) => `- ${l}`).join('\n')}`;

// ---- sections ----

/** "Parity, 1 thread" / "As shipped, 3 threads": a peers row's label. */
const peerRowLabel = (x) =>
  `${x.row === 'parity' ? 'Parity' : x.row === 'asShipped' ? 'As shipped' : (x.row ?? DASH)}, ${x.threads ?? DASH} thread${x.threads === 1 ? '' : 's'}`;

function peers(r) {
  if (!Array.isArray(r.rows)) return 'peers.json predates the parity and as-shipped rows (#20): rerun `npm run bench -- peers`.';
  const SCENARIOS = [
    ['cold', 'cold prompt'],
    ['oneCharEdit', 'one-character edit'],
    ['typingThrough', 'typing-through'],
    ['largeDocument', 'large document'],
  ];
  const whyNot = (server) => (server?.skipped ? `skipped: ${server.skipped}` : server?.failed ? `failed: ${server.failed}` : undefined);
  // Settings each side ran with, as read back from the process and its log.
  const settingsRow = (label, side, x) => {
    const s = x[side] ?? {};
    const why = whyNot(s);
    if (why) return [`${peerRowLabel(x)}: ${label}`, why, DASH, DASH, DASH, DASH, DASH];
    return [
      `${peerRowLabel(x)}: ${label}`,
      s.cpuVariant ? `${s.cpuVariant}${s.cpuLibrarySha256 ? ` (${String(s.cpuLibrarySha256).slice(0, 12)})` : ''}` : DASH,
      `${num(s.batch, 0)} / ${num(s.ubatch, 0)}`,
      `${num(s.context, 0)} × ${num(s.sequences, 0)}`,
      num(s.threads, 0),
      s.flashAttention ?? DASH,
      isNum(s.rssMiB) ? `${num(s.rssMiB, 1)} MiB` : DASH,
    ];
  };
  const tokens = (side) =>
    side && side.latencyMs
      ? `${side.evaluatedTokens ? medP90(side.evaluatedTokens) : num(side.meanEvaluatedPromptTokens, 1)} / ${num(side.meanGeneratedTokens, 1)}`
      : DASH;
  const latencyRows = r.rows.flatMap((x) =>
    SCENARIOS.map(([key, name]) => {
      const sc = x.scenarios?.[key];
      const label = `${peerRowLabel(x)}: ${name}`;
      if (!sc) return [label, DASH, DASH, DASH, DASH, DASH];
      const p = sc.llamaServer ?? {};
      const peerCell = p.latencyMs ? medP90(p.latencyMs) : p.skipped ? 'skipped' : p.failed ? 'failed' : DASH;
      const ratio = sc.ratio ? `${num(sc.ratio.median, 2)} (${num(sc.ratio.p90, 2)})` : DASH;
      return [label, medP90(sc.verdant?.latencyMs), peerCell, ratio, tokens(sc.verdant), tokens(p)];
    }),
  );
  const split = (side) =>
    side && side.promptPhaseMs
      ? `${ms(side.promptPhaseMs.median)} / ${ms(side.decodePhaseMs?.median)} / ${ms(side.latencyMs.median - side.engineReportedMs.median)}`
      : DASH;
  const timeRows = r.rows.flatMap((x) =>
    SCENARIOS.map(([key, name]) => [`${peerRowLabel(x)}: ${name}`, split(x.scenarios?.[key]?.verdant), split(x.scenarios?.[key]?.llamaServer)]),
  );
  // Full paths say little in a table; the file names are the evidence.
  const evidence = (s) => String(s?.cpuVariantEvidence ?? DASH).replace(/\/\S*\/(libggml-cpu-[^,;\s]+)/g, '$1');
  const evidenceLines = r.rows.flatMap((x) =>
    [
      ['Verdant', x.verdant],
      ['llama-server', x.llamaServer],
    ]
      .filter(([, s]) => s && !whyNot(s))
      .map(([label, s]) => `${peerRowLabel(x)}, ${label}: ${evidence(s)}`),
  );
  const servers = [
    ...new Set(
      r.rows
        .map((x) => x.llamaServer)
        .filter((s) => s && !whyNot(s))
        .map((s) => `${s.version ?? DASH} (${s.binary ?? DASH})`),
    ),
  ];
  const serverArgs = r.rows.filter((x) => x.llamaServer?.args).map((x) => `${peerRowLabel(x)}: \`${x.llamaServer.args.join(' ')}\``);
  const notMeasured = [...new Set(r.rows.map((x) => whyNot(x.llamaServer)).filter(Boolean))];
  const cached = r.rows.filter((x) => x.verdantTypingWithCache);
  const pb = r.parityBatch ?? {};
  const ld = r.largeDocument ?? {};
  const parts = [
    machineLine(r),
    '',
    `Model: ${r.model ?? DASH} (${r.modelSource ?? DASH}), ${r.maxTokens ?? DASH} tokens per suggestion, ${r.docs ?? DASH} documents (cold and edit), ${r.typingSessions ? `${r.typingSessions.documents} × ${r.typingSessions.keystrokes} keystrokes` : DASH} (typing-through), ${ld.documents ?? DASH} × ${ld.keystrokes ?? DASH} keystrokes in a document of ${num(ld.prefixChars, 0)} characters above the cursor (large document; the parity context is ${num(ld.parityContextTokens, 0)} tokens). Threads: ${Array.isArray(r.threads) ? r.threads.join(', ') : DASH}. Parity batch: ${num(pb.batch, 0)} / ubatch ${num(pb.ubatch, 0)} on both sides (the server's -b ${num(pb.serverBatch, 0)}, which sizes its /infill prompt window).`,
    '',
    servers.length ? `llama-server: ${servers.join('; ')}.` : `llama-server: ${notMeasured.join('; ') || DASH}.`,
    ...(serverArgs.length ? ['', `Server flags: ${serverArgs.join('; ')}.`] : []),
    '',
    'What each side ran with, read back from the process (/proc/PID/maps) and its log:',
    '',
    table(
      ['Row: side', 'CPU variant loaded (sha256)', 'Batch / ubatch', 'Context × sequences (slots)', 'Threads', 'Flash attention', 'RSS'],
      r.rows.flatMap((x) => [settingsRow('Verdant', 'verdant', x), settingsRow('llama-server', 'llamaServer', x)]),
    ),
    '',
    ...(evidenceLines.length ? ['Evidence of the CPU variant:', '', ...evidenceLines.map((l) => `- ${l}`), ''] : []),
    table(
      [
        'Row: scenario',
        'Verdant ms, median (p90)',
        'llama-server ms, median (p90)',
        'Ratio Verdant / llama-server, median (p90)',
        'Verdant tokens evaluated per request, median (p90) / generated',
        'llama-server tokens evaluated per request, median (p90) / generated',
      ],
      latencyRows,
    ),
    '',
    "Where the time goes (medians, ms; each side's own engine timings): prompt evaluation (Verdant: to the first token), decoding, and the rest of the wall time (IPC or HTTP, JSON, the pipeline).",
    '',
    table(['Row: scenario', 'Verdant prompt / decode / rest', 'llama-server prompt / decode / rest'], timeRows),
    '',
    ...cached.map(
      (x) =>
        `${peerRowLabel(x)}, with its suggestion cache on, Verdant's typing-through takes ${medP90(x.verdantTypingWithCache.latencyMs)} ms (median (p90)): ${x.verdantTypingWithCache.servedByTypingThrough ?? DASH} of ${x.verdantTypingWithCache.latencyMs?.n ?? DASH} keystrokes were served by typing-through and ${x.verdantTypingWithCache.engineCalls ?? DASH} reached the engine. No ratio: llama.vscode has a similar walk-back cache in its client, which this benchmark does not run.`,
    ),
    '',
    caveats([
      'Same model file, same prompts, same machine, CPU, greedy decoding, one run each. Both run side by side and the requests alternate between them (never two at once), so background load on this shared machine falls on both alike. A ratio below 1 means Verdant is faster.',
      `Parity row: the same CPU kernels, byte for byte (llama-server built by scripts/build-llama-server.mjs from the llama.cpp source node-llama-cpp ships, with its prebuilt's GGML_BACKEND_DL + all-CPU-variants layout, and run beside node-llama-cpp's own prebuilt libggml-cpu-*.so files: the same variant built with another compiler is not the same kernels; the table shows the file each loaded and its sha256), the same physical batch (Verdant's batchSize, which node-llama-cpp uses as both n_batch and n_ubatch; the server's -ub), flash attention off, the same context, one server slot. The server's -b stays ${num(pb.serverBatch, 0)} because in /infill it also sizes the prompt window (3/4 of it for the prefix, 1/4 for the suffix): a smaller -b would make the server evaluate a much shorter prompt.`,
      "As-shipped row: Verdant's engine as the extension configures it (context, sequences and batch left to the engine); llama-server with llama.vscode's README CPU-only flags (-b/-ub 512 for Qwen2.5-Coder 1.5B, 1024 for 0.5B and the toy model, --ctx-size 0, --cache-reuse 256, slots and flash attention at its defaults). Threads as the row says on both sides.",
      "Verdant: CompletionPipeline → EngineClient → the shared engine worker over its socket → node-llama-cpp, as in the extension, with no debounce and the suggestion cache cleared before each compared request. llama-server: POST /infill over loopback HTTP with llama.vscode's payload (input_prefix, prompt, input_suffix, input_extra, n_predict, cache_prompt, id_slot 0, t_max_*_ms); greedy instead of llama.vscode's sampled top_k/top_p/infill chain so both sides decode the same way, and one completion instead of its three.",
      'Cold: a new document each time (nothing of it cached). One-character edit: the same document with one character typed at the cursor, right after its cold request. Typing-through: each request extends the prefix by the first character of the previous suggestion. Large document: typing-through with a prefix about 4× the parity context, each side trimming as it does (llama-server keeps 3/4 of -b of the prefix); tokens evaluated per keystroke show how much of the prompt each re-evaluates.',
      /stories260K/.test(r.model ?? '')
        ? "The test model is tiny (260K parameters, a 512-token vocabulary), so absolute latencies say little about a real model's: with a 1.5B-parameter coder model evaluation takes far longer and fixed costs (IPC, HTTP, JSON, the pipeline) weigh less in the ratio."
        : "A model shape with random weights runs at the real model's speed, but its suggestions are noise: the typed text differs between the sides, so compare per-keystroke costs, not what was typed.",
    ]),
  ];
  return parts.join('\n');
}

function memory(r) {
  const row = (label, t) =>
    t
      ? [
          label,
          `${num(t.firstMiB, 2)} MiB`,
          `${num(t.lastMiB, 2)} MiB`,
          `${num(t.maxMiB, 2)} MiB`,
          kib(t.slopeBytesPer1000),
          `${num(t.growthOverRunMiB, 2)} MiB`,
          kib(t.secondHalfSlopeBytesPer1000),
          `${num(t.noiseThresholdMiB, 2)} MiB (${t.thresholdRule ?? DASH})`,
          `${num(t.residualSdMiB, 2)} MiB`,
          t.verdict ?? DASH,
        ]
      : [label, DASH, DASH, DASH, DASH, DASH, DASH, DASH, DASH, DASH];
  const p = r.pipeline ?? {};
  return [
    machineLine(r),
    '',
    `Model: ${r.model ?? DASH} (${r.engine?.backend ?? DASH}, in-process, ${r.engine?.threads ?? DASH} thread, ${r.engine?.maxTokens ?? DASH} tokens per suggestion). ${num(r.completions, 0)} completions after a warm-up of ${num(r.warmup, 0)}, sampled every ${num(r.sampleEvery, 0)}${r.gcForcedBeforeSample ? ' after a forced GC' : ''}; ${num(p.engineCalls, 0)} reached the engine, ${num(p.typingThrough, 0)} were typing-through, ${num(p.cacheHits, 0)} cache hits. Run: ${num(r.runSeconds, 1)} s; per completion ${medP90(r.completionMs)} ms (median (p90)).`,
    '',
    table(
      [
        'Memory',
        'First',
        'Last',
        'Max',
        'Slope per 1,000 completions',
        'Growth over the run (slope × completions / 1,000)',
        'Second half: slope per 1,000',
        'Noise threshold',
        'Residual SD',
        'Verdict',
      ],
      [row('Heap used', r.heapUsed), row('RSS', r.rss)],
    ),
    '',
    caveats([
      "The real pipeline (cache, typing-through, output rules, usage records, the extra-context ring) and the real engine in one process, so RSS includes llama.cpp's native memory; the slope is a least-squares fit over the samples.",
      `Before the warm-up one prompt that fills the context is evaluated in each KV sequence (RSS ${r.contextFill ? `${num(r.contextFill.rssBeforeMiB, 1)} → ${num(r.contextFill.rssAfterMiB, 1)} MiB` : DASH}): llama.cpp allocates its compute buffers at load and the OS maps their pages on first use, so RSS otherwise steps up the first times a longer prompt comes; that is a high-water mark, not a leak.`,
      'Verdict: "no growth beyond noise" when the slope over the run × completions / 1,000 is below the noise threshold; above it, "rose early, then flat" when the second half\'s slope is below it (a high-water mark reached during the run), else "GROWTH beyond noise".',
      `Edits are scripted (seeded)${
        r.edits
          ? `: ${Object.entries(r.edits)
              .map(([k, n]) => `${num(n, 0)} ${k}`)
              .join(', ')}`
          : ''
      }; typing is partly the suggestion's own next character (typing-through), files are cut back to their size as they grow, jumps go to the last lines of a file, switches go among five TypeScript files (four KV sequences). Edits stay near the end of each file because in the PSM layout every keystroke re-evaluates the suffix, which would make this a decoding benchmark.`,
      'Noise threshold: the larger of 5 % of the first sample and a floor (heap 2 MiB, RSS 8 MiB). After a forced GC heap used still moves by a few hundred KB (code and feedback V8 compiles meanwhile); RSS moves by MiBs (malloc arenas, native buffers). Retaining one prompt window (~8 KB) or one usage record per completion would add ~80 MB or ~5 MB over 10,000 completions, far above it.',
      'The pipeline keeps two small entries per document it has ever completed in (not per completion); with five documents this run cannot show that growth.',
      'Test model (stories260K): absolute memory is small; a real model adds its weights and KV cache, which are allocated once at load.',
    ]),
  ].join('\n');
}

function ledger(r) {
  const seq = r.sequential ?? {};
  const conc = r.concurrent ?? {};
  const read = r.readDay ?? {};
  const per = conc.appendMsPerProcess ?? [];
  const maxOf = (k) => (per.length ? Math.max(...per.map((x) => x[k])) : undefined);
  return [
    machineLine(r),
    '',
    `Records of ${num(r.recordBytes, 0)} bytes (a local inline-completion record) in ${r.filesystem ?? DASH}.`,
    '',
    table(
      ['Case', 'Records', 'Records/s', 'ms per operation, median', 'p99', 'Check'],
      [
        ['Append, one writer, sequential', num(seq.records, 0), num(seq.recordsPerSecond, 0), ms(seq.appendMs?.median), ms(seq.appendMs?.p99), DASH],
        [
          `Append, ${conc.processes ?? DASH} processes at once`,
          num(conc.records, 0),
          num(conc.recordsPerSecond, 0),
          per.length ? `${ms(Math.min(...per.map((x) => x.p50)))}–${ms(maxOf('p50'))} (per process)` : DASH,
          per.length ? `${ms(maxOf('p99'))} (worst process)` : DASH,
          conc.exactlyOnce === true
            ? `every record exactly once (${num(conc.writerSwitchesInFile, 0)} writer switches in the file)`
            : conc.exactlyOnce === false
              ? 'RECORDS LOST OR DOUBLED'
              : DASH,
        ],
        [
          "Read the day's records",
          num(read.records, 0),
          num(read.recordsPerSecond, 0),
          `${ms(read.ms?.median)} per read of ${num(read.fileMiB, 2)} MiB`,
          ms(read.ms?.p99),
          isNum(read.mibPerSecond) ? `${num(read.mibPerSecond, 1)} MiB/s, ${read.runs} reads` : DASH,
        ],
      ],
    ),
    '',
    caveats([
      'The real Ledger: each append opens the month file for append, checks its last byte, writes the whole line in one write() and closes it; no fsync (a crash may lose the last records, never corrupt others). Appends are awaited one after another in each writer.',
      `Concurrent: ${conc.processes ?? DASH} node processes, started together on a signal, on ${r.machine?.logicalCores ?? DASH} logical cores; records/s from the first start to the last end. "Exactly once" checks the raw file (every id on one line, no extra lines) and Ledger.read (all records, no problems). One writer is bound by latency (five file-system calls awaited in turn per append, through libuv's thread pool), not by CPU or disk, which is why several writers together append more per second than one.`,
      "Reading: Ledger.read for the day's range, which parses and validates every line of the month file and de-duplicates by id. A local ext4 disk here; a network folder or Windows with antivirus scanning would be slower.",
    ]),
  ].join('\n');
}

function engine(results) {
  const rows = results.map(([, r]) => [
    r.backend ?? DASH,
    (r.devices ?? []).join(', ') || 'CPU',
    r.threads ?? DASH,
    ms(r.workerStartMs),
    ms(r.loadMs),
    ms(r.warmupMs),
    r.ttftMs ? `${ms(r.ttftMs.median)} (${ms(Math.min(...(r.ttftMs.runs ?? [NaN])))}–${ms(Math.max(...(r.ttftMs.runs ?? [NaN])))})` : DASH,
    r.tokensPerSecond
      ? `${num(r.tokensPerSecond.median, 0)} (${num(Math.min(...(r.tokensPerSecond.runs ?? [NaN])), 0)}–${num(Math.max(...(r.tokensPerSecond.runs ?? [NaN])), 0)})`
      : DASH,
    isNum(r.workerRssMiB) ? `${num(r.workerRssMiB, 1)} MiB` : DASH,
    r.prefixReuse
      ? `${r.prefixReuse.firstRequestEvaluated} → ${r.prefixReuse.afterTypingEvaluated} → ${r.prefixReuse.identicalRequestEvaluated} of ${r.prefixReuse.promptTokens}`
      : DASH,
  ]);
  return [
    ...results.map(([f, r]) => `${f}: ${machineLine(r)} Model: ${r.model ?? DASH}.`).map((l) => `${l}  `),
    '',
    table(
      [
        'Backend',
        'Devices',
        'Threads',
        'Worker start ms',
        'Load ms',
        'Warm-up ms',
        'TTFT ms, median (range)',
        'Tokens/s, median (range)',
        'Worker RSS',
        'Prompt tokens evaluated: first → after typing → same again',
      ],
      rows,
    ),
    '',
    caveats([
      'Through the real path: EngineClient → the shared worker process → node-llama-cpp. TTFT on a new document each run (the whole prompt evaluated); tokens/s over the decode after the first token.',
      "Test model (stories260K): the numbers show the machinery (start, load, prefix reuse), not a real model's speed.",
      "Vulkan here is lavapipe (llvmpipe), a software rasterizer on the CPU: it shows the Vulkan backend works, not GPU speed. There is no GPU on this machine. `npm run bench` measures the CPU backend; the Vulkan row comes from `GGML_VK_VISIBLE_DEVICES=0 node out/bench/engine.js --gpu vulkan --runs 3` (ggml's Vulkan backend lists a CPU device such as lavapipe only when GGML_VK_VISIBLE_DEVICES names it).",
    ]),
  ].join('\n');
}

function completion(r) {
  const o = r.pipelineOverheadMs ?? {};
  const e = r.oneCharEditAtEndOfPrefix ?? {};
  const t = r.typingSession ?? {};
  return [
    machineLine(r),
    '',
    `Model: ${r.model ?? DASH}.`,
    '',
    table(
      ['Metric', 'p50', 'p99', 'Target'],
      [
        [
          'Pipeline overhead, instant engine (ms)',
          ms(o.instantEngine?.p50),
          ms(o.instantEngine?.p99),
          o.instantEngine?.targets ? `p50 ≤ ${o.instantEngine.targets.p50}, p99 ≤ ${o.instantEngine.targets.p99}` : DASH,
        ],
        [
          'Pipeline overhead, real engine: wall minus engine time (ms)',
          ms(o.realEngineWallMinusEngine?.p50),
          ms(o.realEngineWallMinusEngine?.p99),
          DASH,
        ],
        ['Cache hit (ms)', ms(r.cacheHitMs?.p50), ms(r.cacheHitMs?.p99), isNum(r.cacheHitMs?.target) ? `< ${r.cacheHitMs.target}` : DASH],
      ],
    ),
    '',
    table(
      ['Metric', 'Value', 'Target'],
      [
        [
          `Prompt tokens evaluated after a one-character edit at the end of a ${num(e.promptTokens, 0)}-token prefix`,
          num(e.evaluatedAfterEdit, 0),
          isNum(e.target) ? `≤ ${e.target}` : DASH,
        ],
        [
          `Engine calls saved by typing-through (${num(t.keystrokes, 0)} keystrokes, ${num(t.engineCalls, 0)} engine calls)`,
          isNum(t.callsSavedRatio) ? `${num(t.callsSavedRatio * 100, 1)} %` : DASH,
          DASH,
        ],
      ],
    ),
    '',
    caveats([
      'Overhead: prefix/suffix windows cut from a 2,000-line file, cache lookup with walk-back, request building, output rules, cache insert; the engine in-process (no IPC).',
      'The typing session types a story character by character; how many calls typing-through saves depends on how often the user types what was suggested.',
    ]),
  ].join('\n');
}

function largeDocuments(r) {
  const t = r.targets ?? {};
  const met = r.met ?? {};
  const yes = (ok) => (ok === true ? 'yes' : ok === false ? 'NO' : DASH);
  const worst = (key) => {
    const medians = (r.shapes ?? []).map((x) => x[key]?.median).filter(isNum);
    return medians.length ? ms(Math.max(...medians)) : DASH;
  };
  return [
    machineLine(r),
    '',
    `Model: ${r.model ?? DASH}, ${num(r.threads, 0)} thread(s); median (p90) of ${num(r.runs, 0)} runs per document.`,
    '',
    table(
      ['10 MB document', 'Building the request, ms', 'Whole keystroke with the engine, ms'],
      (r.shapes ?? []).map((x) => [x.shape, medP90(x.buildMs), medP90(x.keystrokeMs)]),
    ),
    '',
    table(
      ['Metric', 'Median ms', 'Target', 'Met'],
      [
        ["Building the request (the worst document's median)", worst('buildMs'), `< ${t.buildMs ?? DASH} ms`, yes(met.build)],
        ["Whole keystroke (the worst document's median)", worst('keystrokeMs'), `< ${t.keystrokeMs ?? DASH} ms`, yes(met.keystroke)],
        [
          'Extra context: visiting a 10 MB file and a minified one, a 10 MB clipboard (median (p90))',
          medP90(r.extraContextMs),
          `< ${t.extraContextMs ?? DASH} ms`,
          yes(met.extraContext),
        ],
      ],
    ),
    '',
    ...typingThrough(r.typing, t, r.typing?.model ?? r.model),
    caveats([
      'These were timed assertions in the hardening tests; the tests now check only that what is sent and kept stays bounded, and the speed is measured here.',
    ]),
  ].join('\n');
}

/** Typing through documents of several window multiples (bench/largeDocuments.ts typingThrough). */
function typingThrough(x, targets, model) {
  if (!x) return [];
  return [
    `Typing through documents of several context windows (context ${num(x.contextSize, 0)} tokens, ~${num(x.tokensPerLine, 1)} tokens per line, the cursor ${num(x.suffixLines, 0)} lines from the end; ${model ?? DASH}); every keystroke reaches the engine, 16 tokens at most per suggestion:`,
    '',
    table(
      ['Document', 'Lines', 'First request, ms', 'Keystrokes', 'Tokens evaluated per keystroke', 'Keystroke latency, ms'],
      (x.sizes ?? []).map((s) => [
        `${s.multiple}x the window`,
        num(s.lines, 0),
        ms(s.coldMs),
        num(s.keystrokes, 0),
        medP90(s.evaluatedTokens),
        medP90(s.latencyMs),
      ]),
    ),
    '',
    `The worst larger document's keystroke p90 over the small one's: ${num(x.largeOverSmallP90, 2)} (target ≤ ${num(targets.largeOverSmallP90, 1)}: ${x.met === true ? 'met' : x.met === false ? 'NOT met' : DASH}).`,
    '',
  ];
}

function kernels(r) {
  return [
    machineLine(r),
    '',
    `One thread; prompt evaluation over ${num(r.promptTokens, 0)} tokens, then ${num(r.decodeTokens, 0)} tokens decoded; median of ${num(r.runs, 0)} runs, the variants alternating.`,
    '',
    table(
      ['Model', 'Head width', 'Flash attention', 'Batch', 'Prompt tokens/s', 'Decode ms/token'],
      (r.models ?? []).flatMap((m) =>
        (m.variants ?? []).map((v) => [
          m.model,
          num(m.headWidth, 0),
          v.flashAttention ? 'on' : 'off',
          num(v.batchSize, 0),
          num(v.promptTokPerS, 1),
          num(v.decodeMsPerToken, 1),
        ]),
      ),
    ),
    '',
    caveats([
      "The engine's CPU choices follow these rows (cpuBatchSize in src/engine/llama/engine.ts): batch 128 for models up to 1024 wide, node-llama-cpp's default (512) above; flash attention off on the CPU, since a keystroke waits on decoding and decoding is not faster with it.",
    ]),
  ].join('\n');
}

function redact(r) {
  const fp = r.falsePositives;
  const fpRow = (label, x) => [label, num(x?.files, 0), num(x?.mb, 2), num(x?.findings, 0), num(x?.perMb, 2), num(x?.mbPerSecond, 1)];
  return [
    machineLine(r),
    '',
    table(
      ['Pathological input', 'Characters', 'Median ms', 'At twice the size, ms', 'Growth (linear ≈ 2)'],
      (r.inputs ?? []).map((x) => [x.name, num(x.chars, 0), ms(x.ms), ms(x.doubledMs), num(x.growth, 2)]),
    ),
    '',
    fp
      ? table(
          ['Ordinary code (node_modules)', 'Files', 'MB', 'Findings', 'Findings per MB', 'MB/s'],
          [fpRow('A fixed 5 MB sample', fp.sample), fpRow('Every .js/.ts file up to 256 KB', fp.all)],
        )
      : '',
    '',
    caveats([
      "Inputs that make backtracking regular expressions quadratic or worse; the unit test checks only that they finish with the right answer. Before #16 item 4, 'token=' repeated (1.2 MB) took 6.0 s on this machine (21 s in the issue's report) and 'a--' repeated (0.3 MB) 77 s.",
      "Findings over node_modules are false positives, apart from a secret scanner's own examples (@secretlint); the files are ordered by the sha1 of their path, so the sample is the same wherever the lockfile is. Before #16 item 4: 37 findings in the 5 MB sample, 405 in all 57 MB. The list is in bench/results/redact.json; the unit test checks that this repository's own code has none.",
    ]),
  ].join('\n');
}

function priority(r) {
  const pct = (v) => (isNum(v) ? `${num(v * 100, 1)} %` : DASH);
  const phases = r.phases ?? [];
  const hogsAlone = phases.find((p) => p.workerMode === null)?.hogUnitsPerSecond;
  const rows = phases.map((p) => {
    const w = p.priorities?.worker;
    const at = w ? `${p.workerMode === 'always' ? 'low' : 'normal'}: nice ${num(w.nice, 0)}, session group ${w.group ?? DASH}` : DASH;
    const g = p.worker;
    return [
      p.name ?? DASH,
      at,
      g ? num(g.tokensPerSecond, 1) : DASH,
      g ? medP90(g.requestMs) : DASH,
      g ? num(g.requests, 0) : DASH,
      p.hogs ? num(p.hogUnitsPerSecond, 0) : DASH,
      p.hogs && p.workerMode !== null ? pct(isNum(hogsAlone) ? p.hogUnitsPerSecond / hogsAlone : undefined) : DASH,
    ];
  });
  const s = r.summary ?? {};
  return [
    machineLine(r),
    '',
    `Model: ${r.model ?? DASH}, ${r.threads ?? DASH} inference thread, ${r.maxTokens ?? DASH} tokens per request, one request after another for ${r.secondsPerPhase ?? DASH} s per phase; ${phases[0]?.hogs ?? DASH} hogs (busy loops, each its own process, at the bench's priority ${num(phases[0]?.priorities?.bench, 0)}). The kernel groups processes by session (autogroup): ${r.autogroup === true ? 'yes' : r.autogroup === false ? 'no' : DASH}.`,
    '',
    table(
      ['Phase', 'Worker priority (read back)', 'Worker tokens/s', 'Request ms, median (p90)', 'Requests', 'Hogs: units/s', 'Hogs vs alone'],
      rows,
    ),
    '',
    `Beside the hogs, the worker at normal priority kept ${pct(s.workerSpeedBesideHogsNormal)} of its speed alone and left the hogs ${pct(s.hogThroughputBesideNormal)} of theirs; at low priority it kept ${pct(s.workerSpeedBesideHogsLow)} and left the hogs ${pct(s.hogThroughputBesideLow)}. Alone, the low worker ran at ${pct(s.workerSpeedAloneLowVsNormal)} of the normal one's speed: low priority costs nothing measurable when the CPU is free.`,
    '',
    caveats([
      "The real worker (dist/engine-worker.js) started by EngineClient with verdant.local.efficiencyMode 'off' (normal) and 'always' (low), each with the model loaded before the phases; the priorities are read back from the OS during each phase (os.getPriority of the worker, the hogs and the bench; the worker's /proc/PID/autogroup), and the worker's own status says the same.",
      "The worker is started detached, so it leads a session of its own. Where the kernel groups processes by session (autogroup), nice only orders the threads of one session and sessions share the CPU by their group's nice: the worker lowers both (src/engine/priority.ts). Lowering only the threads' nice (tried first) left a low worker as fast as a normal one beside hogs in another session: its session still got an equal share.",
      "Hogs vs alone: the hogs' throughput in that phase over their throughput with no worker. The bench process (the client reading the tokens) runs in the hogs' session, so it competes with them too.",
      'One run, on a machine shared with other work (load average before / after above): a few percent either way is noise, so hogs beside a low worker can come out slightly above the hogs alone.',
      "Test model (stories260K): a token costs little, so tokens/s is mostly per-request overhead; what matters is the ratio between phases, not the absolute speed. Only Linux is measured: macOS applies nice to the whole process, Windows maps the low priority to the Idle class (EcoQoS, Windows 11's Efficiency Mode, is not set: docs/ARCHITECTURE.md).",
    ]),
  ].join('\n');
}

function hostileEndpoint(r) {
  const s = r.scenarios ?? {};
  const mib1 = (v) => (isNum(v) ? `${num(v, 1)} MiB` : DASH);
  const poured = isNum(r.poured?.mib) ? `${num(r.poured.mib, 0)} MiB` : DASH;
  const row = (label, x) =>
    x
      ? [
          label,
          String(x.outcome ?? DASH).replace(/: .*$/, ''),
          num(x.textChars, 0),
          mib1(x.serverSentMiB),
          mib1(x.rssPeakGrowthMiB),
          mib1(x.heapPeakGrowthMiB),
          ms(x.ms),
        ]
      : [label, DASH, DASH, DASH, DASH, DASH, DASH];
  return [
    machineLine(r),
    '',
    table(
      [
        'Hostile server (127.0.0.1)',
        'How the call ended',
        'Characters kept',
        'Sent before the client hung up',
        'RSS growth (peak)',
        'Heap growth (peak)',
        'ms',
      ],
      [
        row(`Cloud: non-streamed answer of ${poured}`, s.body),
        row(`Cloud: one SSE line of ${poured}`, s.line),
        row(`Cloud: endless stream of small events (max_tokens ${num(r.maxTokens, 0)})`, s.endless),
        row(`Ollama: info() answer of ${poured}`, s['ollama-body']),
        row(`Ollama: one NDJSON line of ${poured}`, s['ollama-line']),
        row(`Ollama: endless NDJSON stream (maxTokens ${num(r.maxTokens, 0)})`, s['ollama-endless']),
      ],
    ),
    '',
    caveats([
      'The real CloudClient and OllamaBackend (standing for the local server backends, which all read through the same HttpClient) with their default limits (cloud: answers and model lists up to 8 MiB, a streamed line or event up to 1 MiB; Ollama: info() answers up to 8 MiB, a streamed line up to 4 MiB; both: an answer up to max_tokens × 16 characters) against a server that writes from one reused buffer, waiting for the socket to drain. Each client runs in a fresh process; growth is its peak over a baseline taken after a warm-up request and a forced GC (RSS and heap sampled every 2 ms, RSS also from the process high-water mark). "Sent" includes what the kernel buffered and the client never read.',
      "Before the caps (issue #16 item 5), the same run on the same machine grew the cloud client's RSS by 1,202 MiB for the answer (then ERR_STRING_TOO_LONG), its heap by 516 MiB for the line (then a raw RangeError), and read all 600 MiB of the endless stream (38 million characters, RSS +267 MiB) before failing.",
      'Before the same caps for the local servers, Ollama\'s backend grew RSS by 1,210 MiB for the info() answer (then ERR_STRING_TOO_LONG, shown as a failed request), the heap by 517 MiB for the line (then "Invalid string length", shown as an internal failure of Verdant), and read all 600 MiB of the endless stream (some 34 million characters, RSS +243 MiB, heap +219 MiB) before failing it as cut short.',
    ]),
  ].join('\n');
}

function router(r) {
  const m = r.ms ?? {};
  const t = r.targets ?? {};
  const met = r.met ?? {};
  const row = (label, s, target, ok) => [label, ms(s?.p50), ms(s?.p90), ms(s?.p99), target, ok === true ? 'yes' : ok === false ? 'NO' : DASH];
  return [
    machineLine(r),
    '',
    `${num(r.decisions, 0)} decisions after ${num(r.warmup, 0)} warm-up ones (${r.inputs ?? DASH}).`,
    '',
    table(
      ['Path', 'p50 ms', 'p90 ms', 'p99 ms', 'Target p99', 'Met'],
      [
        row('Policy alone', m.policy, `< ${t.policyP99Ms ?? DASH} ms`, met.policy),
        row(
          'Features + TS classifier in-process + policy (extension, CLI)',
          m.featuresReferencePolicy,
          `< ${t.withClassifierP99Ms ?? DASH} ms`,
          met.referenceClassifier,
        ),
        row('Features + ONNX in-process + policy', m.featuresOnnxInProcessPolicy, `< ${t.withClassifierP99Ms ?? DASH} ms`, met.onnxInProcess),
        row(
          'Features + ONNX in the engine worker + policy (before #17)',
          m.featuresEngineWorkerPolicy,
          `< ${t.withClassifierP99Ms ?? DASH} ms`,
          met.engineWorker,
        ),
      ],
    ),
    '',
    caveats([
      'Seeded inputs over every kind, mode and setting; the worker path includes the socket round trip, and excludes starting the worker (its first route, spawn and onnxruntime-node load included, is in bench/results/router.json). Routing now uses the TS row: it never starts the worker.',
    ]),
  ].join('\n');
}

const pctOf = (x) => (isNum(x) ? `${num(x * 100, 1)} %` : DASH);

function routerEval(r) {
  const modes = Object.values(r.modes ?? {});
  return [
    machineLine(r),
    '',
    `Data: ${r.data ?? DASH} (${r.rows ?? DASH} requests${r.labels ? `: ${r.labels.local} local, ${r.labels.cloud} cloud, ${r.labels.either} either` : ''}; ${r.disagreementRows ?? DASH} where size and difficulty disagree). Classifier agreement ${pctOf(r.classifier?.accuracy)} (${r.classifier?.provider ?? DASH}), ${pctOf(r.classifier?.disagreement?.accuracy)} on the disagreement slice; best single route (${r.baseline?.best ?? DASH}) ${pctOf(r.baseline?.bestAccuracy)}.`,
    '',
    table(
      ['Mode', 'Agreement', 'Disagreement slice', 'Routes local / cascade / cloud / later', 'g CO2e routed', 'All cloud', 'All local'],
      modes.map((x) => [
        x.mode,
        pctOf(x.accuracy?.accuracy),
        pctOf(x.disagreement?.accuracy),
        x.routes ? `${x.routes.local} / ${x.routes.cascade} / ${x.routes.cloud} / ${x.routes.later}` : DASH,
        num(x.carbon?.routerG, 3),
        num(x.carbon?.allCloudG, 3),
        num(x.carbon?.allLocalG, 3),
      ]),
    ),
    '',
    caveats([
      'The held-out fifth of the labelled corpus (src/core/routing/model/corpus), never trained on; "either" agrees with both routes; a cascade counts as local. See `npm run eval:router`. Grams depend on the assumed zones and device in the setup.',
      'The split mixes the first corpus files and the later, deliberately harder ones (ids `<kind>b-<nnn>`: decoy words, casual phrasing); `node out/bench/evalRouter.js --data FILE` scores any subset.',
    ]),
  ].join('\n');
}

function foundation(r) {
  const b = r.bundleBytes ?? {};
  const a = r.activation ?? {};
  const vsix = Array.isArray(r.vsix) ? r.vsix : [];
  return [
    machineLine(r),
    '',
    table(
      ['What', 'Value'],
      [
        ...Object.entries(b).map(([f, bytes]) => [`dist/${f} (production)`, kib(bytes)]),
        [`Activation in ${a.host ?? DASH}, median of ${a.runs ?? DASH}`, `${ms(a.activateMsMedian)} ms (${(a.activateMs ?? []).map(ms).join(', ')})`],
        ...vsix.map((v) => [`.vsix ${v.target}`, mib(v.vsixBytes)]),
      ],
    ),
    '',
    caveats([
      'Activation is timed by the extension itself inside a real extension host (code-server), from the e2e run; the .vsix sizes come from the last `npm run package`.',
    ]),
  ].join('\n');
}

// ---- assembly ----

function load(dir) {
  const out = new Map();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()) {
    try {
      out.set(f, JSON.parse(readFileSync(path.join(dir, f), 'utf8')));
    } catch (e) {
      console.error(`bench:report: skipping ${f}: ${e.message}`);
    }
  }
  return out;
}

export function render(results) {
  const notRun = (name) => `Not run yet: \`npm run bench -- ${name}\`.`;
  const one = (file, name, fn) => (results.has(file) ? fn(results.get(file)) : notRun(name));
  const engines = [...results.entries()].filter(([f]) => /^engine.*\.json$/.test(f));
  // peers.json (the default model) first, then other models' peers-<model>.json.
  const peerFiles = [...results.entries()]
    .filter(([f]) => /^peers(-.+)?\.json$/.test(f))
    .sort(([a], [b]) => (a === 'peers.json' ? -1 : b === 'peers.json' ? 1 : a.localeCompare(b)));
  const sections = [
    ...(peerFiles.length
      ? peerFiles.map(([f, r]) => [
          `Peers: Verdant vs llama-server /infill (as llama.vscode drives it)${f === 'peers.json' ? '' : `, ${r.model ?? f}`}`,
          peers(r),
        ])
      : [['Peers: Verdant vs llama-server /infill (as llama.vscode drives it)', notRun('peers')]]),
    ['Memory over a long session', one('memory.json', 'memory', memory)],
    ['Carbon ledger', one('ledger.json', 'ledger', ledger)],
    ['Local engine', engines.length ? engine(engines) : notRun('engine')],
    ['Inline-completion pipeline', one('completion.json', 'completion', completion)],
    ['Large documents', one('large-documents.json', 'large-documents', largeDocuments)],
    ['CPU kernels per model shape: flash attention and batch size', one('kernels.json', 'kernels', kernels)],
    ['Secret redaction: pathological input and false positives', one('redact.json', 'redact', redact)],
    ['Cloud client and local backends against a hostile server', one('hostile-endpoint.json', 'hostile-endpoint', hostileEndpoint)],
    ['Efficiency Mode: the engine at low priority beside CPU hogs', one('priority.json', 'priority', priority)],
    ['Router decision latency', one('router.json', 'router', router)],
    ['Router evaluation', results.has('router-eval.json') ? routerEval(results.get('router-eval.json')) : 'Not run yet: `npm run eval:router`.'],
    ['Foundation: bundle sizes and activation', one('foundation.json', 'foundation', foundation)],
  ];
  return (
    [
      '# Benchmarks',
      '',
      '<!-- Generated by `npm run bench:report` (bench/report.mjs) from bench/results/*.json; edit the script, not this file. -->',
      '',
      "Numbers from `npm run bench` (all benchmarks, or `npm run bench -- NAME`), turned into these tables by `npm run bench:report`. Each section names the machine and the date it was measured on. Spreads are given as median (p90) unless a column says otherwise. The speed comparisons (peers, large documents, CPU kernels) run realistic-shape models (below) by default, so their costs are a real model's; the other benchmarks measure Verdant's own machinery with the tiny test model, which runs anywhere; each section names its model.",
      '',
      "Realistic-shape models: `npm run bench:shapes` (bench/shapes.ts) writes GGUF files with the exact architecture, tensor shapes and types, vocabulary and special tokens of the catalog's Qwen2.5-Coder presets (0.5B, 1.5B and 3B Q8_0; 1.5B Instruct Q4_K_M) but random weights from a fixed seed, once, into a cache outside the repository (`$VERDANT_SHAPES_DIR`, else `$VERDANT_CACHE/shapes`, else `~/.cache/verdant/shapes`). Their output is nonsense; loading, memory, tokenization, prompt evaluation and decoding cost what the real model's do. `node out/bench/shapes.js --check NAME` loads one and prints its prompt and decode tokens/s.",
      '',
      ...sections.flatMap(([title, body]) => [`## ${title}`, '', body, '']),
    ]
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .trimEnd() + '\n'
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      results: { type: 'string', default: path.join(root, 'bench', 'results') },
      out: { type: 'string', default: path.join(root, 'docs', 'BENCHMARKS.md') },
    },
  });
  const results = load(path.resolve(values.results));
  const text = render(results);
  mkdirSync(path.dirname(path.resolve(values.out)), { recursive: true });
  writeFileSync(path.resolve(values.out), text);
  console.log(
    `bench:report: wrote ${path.relative(process.cwd(), path.resolve(values.out)) || values.out} from ${results.size} result file(s) in ${values.results}`,
  );
}
