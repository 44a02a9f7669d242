// What a request asks, as numbers the router's classifier can weigh: cue families read from the words the user
// typed (why, race, precision, timezone, security, design... against rename, format, docstring, bump) and from the
// code it carries (locks and atomics, pointers, bit operations, regexes, numerics, window functions, generics,
// branching, nesting and how repetitive it is), plus the typed words and their pairs hashed into a fixed number of buckets,
// and the mean direction of the typed words' English word vectors (src/core/routing/wordVectors.ts), so a word the
// corpus never used still weighs a little like its neighbours do. Two requests of the same kind
// and size that ask different things get different vectors. Pure, linear in the input, and bounded: only the first
// MAX_TEXT / MAX_CODE characters are read.
import type { WordVectors } from './wordVectors';

/** Characters of the typed text and of the code that are read (a long paste says no more about difficulty). */
const MAX_TEXT = 4000;
const MAX_CODE = 20000;
/** Buckets the typed words and word pairs are hashed into (signed hashing: collisions cancel rather than add). */
export const TEXT_BUCKETS = 2048;
/** Buckets the code's identifiers, keywords and operators are hashed into. */
export const CODE_BUCKETS = 2048;
/** Dimensions of the word vectors (src/core/routing/model/word-vectors.bin). */
export const WORD_VECTOR_DIMS = 100;
/**
 * The typed words' mean direction is a unit vector times this: about the weight of the cues, so the words' meaning
 * counts as much as their spelling (chosen by cross-validation on the training rows: 2, 3 and 5 within noise, 1 less).
 */
const WORD_VECTOR_SCALE = 3;
/** Frequent words say little ("the", "this", "to"): a word of this rank weighs half, rarer ones nearly 1. */
const FREQUENT_RANK = 200;

export interface RequestText {
  /** What the user typed: the question, the refactoring wanted; empty for commands that take none. */
  readonly text?: string;
  /** The code the request carries (selection, file, diff, the lines before the cursor). */
  readonly code?: string;
  /** The VS Code language id of the code. */
  readonly language?: string;
}

type Cue = readonly [name: string, pattern: RegExp];

/** Families of words in what the user typed; each counts 0, 0.5 (one hit) or 1 (two or more). */
const TEXT_CUES: readonly Cue[] = [
  ['t_why', /\bwhy\b|how come|what causes|\breason\b|\bexplain\b|root cause|\bunderstand\b/g],
  [
    't_debug',
    /\bbugs?\b|broken|\bwrong\b|\bfails?\b|failing|\berrors?\b|crash|flaky|intermittent|sometimes|random(ly)?\b|in prod|hangs?\b|stuck|not work|doesn'?t work|\bleaks?\b|unexpected|weird|strange|inconsistent|differ(s|ent)?\b/g,
  ],
  [
    't_concurrency',
    /\brace\b|deadlock|thread|concurren|parallel|atomic|mutex|\blocks?\b|locking|await|async|goroutine|channel|volatile|memory order|happens.before|reentran|synchroni[sz]/g,
  ],
  [
    't_numeric',
    /float|precision|rounding|overflow|underflow|\bnan\b|numeric|stabilit|epsilon|decimal|ieee|accumulat|catastrophic|cancellation error|integer division/g,
  ],
  ['t_time', /time ?zone|\bdst\b|daylight|\butc\b|locale|\bleap\b|calendar|\bepoch\b|clock skew|monotonic/g],
  [
    't_security',
    /secur|inject|\bxss\b|csrf|\bcors\b|\bauth|oauth|\bjwt\b|crypto|encrypt|password|sanitiz|vulnerab|permission|privilege|\bssrf\b|escap(e|ing)\b|timing attack|\bsecrets?\b/g,
  ],
  [
    't_perf',
    /\bperf|slow|optimi[sz]|complexity|big.?o\b|o\(n|memory usage|\bcach(e|ing)\b|latency|throughput|benchmark|bottleneck|scal(e|ing)\b|allocation/g,
  ],
  [
    't_design',
    /design|architect|pattern|trade.?offs?|best (way|practice)|should (i|we)\b|structur|abstraction|coupling|maintainab|approach|compare|difference between|\bvs\.?\b|pros and cons|idiomatic/g,
  ],
  [
    't_semantics',
    /lifetime|borrow|undefined behaviou?r|\bub\b|aliasing|varian(ce|t)|covarian|contravarian|generic|template|monad|type inference|closure|hoist|coercion|isolation level|transaction|consisten|invariant|idempoten|ordering|semantics|edge cases?/g,
  ],
  [
    't_mechanical',
    /renam|reformat|\bformat(ting)?\b|indent|sort (the )?imports|type (annotations?|hints?)|add types|docstrings?|jsdoc|\bcomments?\b|typos?|spelling|camel.?case|snake.?case|\bvar\b|\bconst\b|\blint|prettier|extract (a |the )?(constant|variable|literal)|remove unused|dead code|\bbump\b|upgrade|translate|whitespace|trailing|semicolons?|quotes|boilerplate|getters?|setters?/g,
  ],
  [
    't_simple',
    /how (do|to|can) (i|you)\b|what (is|does)\b|syntax|example of|\bconvert\b|\bprint\b|list (the|all)|\bcount\b|\bwhere is\b|which (file|function)|simple|quick(ly)?\b|just\b|basic/g,
  ],
  [
    't_constraints',
    /keep(ing)? (the )?(behaviou?r|semantics|api|output|order)|identical|without breaking|backwards?.compatib|must (still|keep|not)|so that|at the same time|two (requests|runs|threads|processes|users|workers)|overlap|concurrent(ly)?|exactly once|atomically|no (data )?loss|in order|preserv/g,
  ],
  [
    't_lifecycle',
    /cancel|timeout|deadline|retry|retries|back.?off|graceful|shutdown|cleanup|clean up|dispose|leak|propagat|context\b|signal|trap\b/g,
  ],
  [
    't_multi',
    /across|all (the )?files|whole (project|codebase|repo|app)|every (file|module|service)|\bmodules\b|\bservices\b|end.to.end|system.wide|migrat/g,
  ],
];

/** Families of constructs in the code; each is a density (hits per 20 lines, at most 1). */
const CODE_CUES: readonly Cue[] = [
  [
    'c_concurrency',
    /\bMutex\b|\bRwLock\b|\bLock\b|synchronized|\batomic|Atomic[A-Z]|\bvolatile\b|\bThread\b|thread::|\bgo func\b|\bchan\b|\bselect\s*\{|Promise\.(all|race|any)|\bspawn\b|tokio|\bArc<|CompletableFuture|Semaphore|compare_?exchange|CAS\b|\bwait\(|notify|Condvar|pthread|std::thread|asyncio\.|ConcurrentHashMap|DispatchQueue|@MainActor|\bactor\b/g,
  ],
  [
    'c_lowlevel',
    /\bunsafe\b|malloc|\bfree\(|memcpy|memset|reinterpret_cast|static_cast|\basm\b|uintptr|ptr::|\*mut\b|\*const\b|__attribute__|#pragma|\bsizeof\b|alignof|mmap|\bstd::launder\b/g,
  ],
  ['c_bitops', /<<|>>>?|\b0x[0-9a-fA-F]+\b|[^&|]&[^&=]|\^|~[\w(]|\bpopcount|bit(s|set|mask)/g],
  [
    'c_regex',
    /new RegExp|\bre\.(compile|match|search|sub|findall)|\bRegex\b|regexp\.|Pattern\.compile|preg_|=~|\/[^/\n]*(\(\?[=!<:]|\\[dws]|[+*]\)[+*])[^/\n]*\//g,
  ],
  [
    'c_math',
    /Math\.|\bsqrt|\bexp\(|\blog\(|\bpow\(|\bsin\(|\bcos\(|\bf64\b|\bf32\b|\bdouble\b|\bfloat\b|epsilon|numpy|\bnp\.|BigDecimal|\bfsum\b|Kahan|\bmatrix|\bgradient/g,
  ],
  [
    'c_sql',
    /\bOVER\s*\(|PARTITION BY|WITH RECURSIVE|\bLATERAL\b|\bWINDOW\b|FOR UPDATE|ISOLATION|\bCOALESCE\b|\bHAVING\b|LEFT JOIN|\bMERGE\b|\bUPSERT\b|ON CONFLICT/gi,
  ],
  [
    'c_generics',
    /<[A-Z]\w*\s*(extends|,|>|:)|template\s*<|\bwhere\s+[A-Z]\w*\s*:|\bimpl\s*<|\bdyn\b|\btrait\b|typename|\binfer\b|keyof|\bPhantomData|'\w+\b(?=[,>])/g,
  ],
  ['c_crypto', /crypto|hmac|\bsha\d*|\baes\b|cipher|\bnonce\b|signature|\bsign\(|verify\(|bcrypt|scrypt|argon/gi],
  [
    'c_lifecycle',
    /\bcancel|context\.Context|ctx\b|CancellationToken|AbortSignal|\bdefer\b|\btrap\b|\btimeout|\bdeadline|dispose|\bDrop\b|__exit__|\bwith\b.*\bas\b|using\s*\(|finally/g,
  ],
  ['c_errors', /\btry\b|\bcatch\b|\bexcept\b|\bfinally\b|Result<|\bErr\(|\brescue\b|\bpanic|\bthrow\b|\braise\b/g],
  ['c_branching', /\bif\b|\bfor\b|\bwhile\b|\bcase\b|\bcatch\b|&&|\|\||\?[^?.:]|\bmatch\b|\bswitch\b|\belif\b|\bunless\b/g],
];

/** Languages where a small model's answers are weakest (fewer examples, stricter semantics). */
const HARD_LANGUAGES = new Set([
  'c',
  'cpp',
  'rust',
  'haskell',
  'ocaml',
  'scala',
  'zig',
  'fsharp',
  'elixir',
  'erlang',
  'clojure',
  'assembly',
  'asm',
  'vhdl',
  'verilog',
  'cuda',
]);

/** Names of the dense text features, in order (the hashed buckets follow them). */
export const TEXT_FEATURE_NAMES = [
  ...TEXT_CUES.map(([n]) => n),
  't_words',
  't_question',
  ...CODE_CUES.map(([n]) => n),
  'c_lines',
  'c_nesting',
  'c_simple',
  'c_repeat_lines',
  'c_repeat_tokens',
  'lang_hard',
  'has_text',
  'has_code',
] as const;

export const TEXT_DENSE_COUNT = TEXT_FEATURE_NAMES.length;
/** Where the word-vector block starts: after the dense cues and both sets of buckets. */
export const WORD_VECTOR_START = TEXT_DENSE_COUNT + TEXT_BUCKETS + CODE_BUCKETS;
export const TEXT_FEATURE_COUNT = WORD_VECTOR_START + WORD_VECTOR_DIMS;

function hits(re: RegExp, s: string): number {
  re.lastIndex = 0;
  let n = 0;
  while (re.exec(s) !== null) {
    n++;
    // A zero-width match would loop forever; none of the cues can match empty, but stay safe.
    if (re.lastIndex === 0) break;
  }
  return n;
}

/** FNV-1a, 32 bits: the buckets here, the held-out split in training.ts. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The typed words, lower-cased, for hashing: letters and digits, at least two characters. */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z][a-z0-9_']+|\d+/g) ?? [];
}

/** Lines read for the repetition cues: what a corpus excerpt holds, so a long paste reads as its excerpt did. */
const REPEAT_LINES = 40;

/**
 * How repetitive the code is, from its first REPEAT_LINES lines: the share of lines whose shape (words replaced by
 * one placeholder) repeats an earlier line's, and the share of tokens that repeat an earlier token. A long run of
 * look-alike cases, routes, fields or calls is long but mechanical.
 */
function repetition(lines: readonly string[]): [lineShare: number, tokenShare: number] {
  const head = lines.slice(0, REPEAT_LINES);
  const shapes = head.map((l) => l.trim().replace(/\w+/g, 'w')).filter((l) => l !== '');
  const lineShare = shapes.length >= 3 ? 1 - new Set(shapes).size / shapes.length : 0;
  const tokens = codeTokens(head.join('\n'));
  const tokenShare = tokens.length >= 10 ? 1 - new Set(tokens).size / tokens.length : 0;
  return [lineShare, tokenShare];
}

/** A line that does nothing subtle: a declaration, a field, an assignment of a literal, a plain return, a brace. */
const SIMPLE_LINE =
  /^\s*(?:[}\])]+[;,]?|(?:public|private|protected|readonly|static|final|export|const|let|var|val|def|fn|func|return|import|from|package|using|#include|@\w+)\b[^;{(]*[;,]?|\w+(?:\.\w+)*\s*[:=]\s*(?:["'`\d\w.[\]{}-]+|null|true|false|None|nil)\s*[;,]?|\/\/.*|#.*|\*.*|\/\*.*|"""|'''|)\s*$/;

/** The code's tokens for hashing: identifiers split at camelCase and snake_case, keywords, runs of operators. */
export function codeTokens(code: string): string[] {
  const out: string[] = [];
  for (const m of code.matchAll(/[A-Za-z_][A-Za-z0-9_]*|[-+*/%<>=!&|^~?:.]{2,3}/g)) {
    const t = m[0];
    if (/^[A-Za-z_]/.test(t)) {
      for (const part of t.replace(/([a-z0-9])([A-Z])/g, '$1 $2').split(/[\s_]+/)) if (part.length >= 2) out.push(part.toLowerCase());
    } else {
      out.push(t);
    }
  }
  return out;
}

/**
 * The typed words' mean direction: the unit-length mean of their word vectors, times WORD_VECTOR_SCALE, into
 * v[at ..]; zeros when no word has a vector.
 */
function meanDirection(ws: readonly string[], vectors: WordVectors, v: Float32Array, at: number): void {
  if (vectors.dims !== WORD_VECTOR_DIMS) throw new RangeError(`Router word vectors have ${vectors.dims} dimensions, expected ${WORD_VECTOR_DIMS}.`);
  const sum = new Float64Array(WORD_VECTOR_DIMS);
  let found = 0;
  for (const w of ws) {
    const rank = vectors.rank(w);
    if (rank === undefined) continue;
    vectors.addTo(w, sum, rank / (rank + FREQUENT_RANK));
    found++;
  }
  if (found === 0) return;
  const norm = Math.hypot(...sum);
  if (norm === 0) return;
  for (let j = 0; j < WORD_VECTOR_DIMS; j++) v[at + j] = (WORD_VECTOR_SCALE * sum[j]!) / norm;
}

/**
 * The text features of one request: TEXT_DENSE_COUNT cues (each in [0, 1]), then TEXT_BUCKETS hashed words and word
 * pairs of the typed text, then CODE_BUCKETS hashed code tokens (each token once: presence, not frequency), then
 * the typed words' mean direction (WORD_VECTOR_DIMS values, each in [-3, 3]).
 */
export function textFeatures(r: RequestText, vectors: WordVectors): Float32Array {
  const v = new Float32Array(TEXT_FEATURE_COUNT);
  const text = (r.text ?? '').slice(0, MAX_TEXT).toLowerCase();
  const code = (r.code ?? '').slice(0, MAX_CODE);
  let i = 0;
  for (const [, re] of TEXT_CUES) v[i++] = Math.min(1, hits(re, text) / 2);
  const ws = words(text);
  v[i++] = Math.min(1, Math.log1p(ws.length) / Math.log(200));
  v[i++] = text.includes('?') ? 1 : 0;
  const lines = code === '' ? [] : code.split('\n');
  const per20 = Math.max(1, lines.length) / 20;
  for (const [, re] of CODE_CUES) v[i++] = Math.min(1, hits(re, code) / per20 / 4);
  v[i++] = Math.min(1, Math.log1p(lines.length) / Math.log(1000));
  let deepest = 0;
  let simple = 0;
  for (const line of lines) {
    const indent = /^[ \t]*/.exec(line)?.[0] ?? '';
    // Tabs count as one level, four spaces as one (two-space code reads a little deeper; it is a coarse signal).
    const depth = (indent.match(/\t/g)?.length ?? 0) + Math.floor(indent.replace(/\t/g, '').length / 4);
    if (depth > deepest) deepest = depth;
    if (SIMPLE_LINE.test(line)) simple++;
  }
  v[i++] = Math.min(1, deepest / 8);
  v[i++] = lines.length > 0 ? simple / lines.length : 0;
  for (const share of repetition(lines)) v[i++] = share;
  v[i++] = HARD_LANGUAGES.has((r.language ?? '').toLowerCase()) ? 1 : 0;
  v[i++] = text.trim() !== '' ? 1 : 0;
  v[i++] = code.trim() !== '' ? 1 : 0;
  // The typed words and adjacent pairs, hashed with a sign; scaled so a long question weighs no more than a short one.
  if (ws.length > 0) {
    const scale = 1 / Math.sqrt(ws.length);
    const add = (token: string) => {
      const h = fnv1a(token);
      const at = TEXT_DENSE_COUNT + (h % TEXT_BUCKETS);
      v[at] = v[at]! + (h & 0x80000000 ? -1 : 1) * scale;
    };
    for (let k = 0; k < ws.length; k++) {
      add(ws[k]!);
      if (k > 0) add(`${ws[k - 1]!} ${ws[k]!}`);
    }
  }
  meanDirection(ws, vectors, v, WORD_VECTOR_START);
  const tokens = new Set(codeTokens(code));
  if (tokens.size > 0) {
    const scale = 1 / Math.sqrt(tokens.size);
    const base = TEXT_DENSE_COUNT + TEXT_BUCKETS;
    for (const t of tokens) {
      const h = fnv1a(`c:${t}`);
      const at = base + (h % CODE_BUCKETS);
      v[at] = v[at]! + (h & 0x80000000 ? -1 : 1) * scale;
    }
  }
  return v;
}
