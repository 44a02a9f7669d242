// `verdant` executable entry (dist/cli.js).
import { runCli } from './cli';

// runCli never rejects: it turns every error into a message and an exit code.
void runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text + '\n'),
  write: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text + '\n'),
  baseDir: __dirname,
}).then((code) => {
  process.exitCode = code;
});
