// "Verdant: Show Engine Status": which backend runs the local model, on which device, with how many threads, how the
// shared worker is doing, and what the NPU does (src/core/power/npu.ts). Returns the report and the lines shown at
// once (the dialog is not awaited) so tests can read them.
import { promises as fs } from 'node:fs';
import * as vscode from 'vscode';
import { describePriority } from '../engine/priority';
import type { EngineReport, LocalEngine } from './localEngine';
import { osFacts } from '../core/carbon/energy/devices';
import { errorMessage } from '../core/errors';
import { describePlacement, detectNpu, devicesText, type NpuDetection } from '../core/power/npu';
import { showFailure } from './unawaited';

export interface EngineStatusShown extends EngineReport {
  readonly npu: NpuDetection;
  /** The dialog's text, line by line. */
  readonly lines: readonly string[];
}

/** This machine's NPU, from its CPU name and (Linux) the kernel's accelerator list. */
export function thisMachinesNpu(): Promise<NpuDetection> {
  return detectNpu(
    { cpuModel: osFacts().cpuModel, platform: process.platform },
    { readDir: (dir) => fs.readdir(dir), readFile: (file) => fs.readFile(file, 'utf8') },
  );
}

export function describeReport(r: EngineReport, npu: NpuDetection): string[] {
  const lines: string[] = [];
  const info = r.info;
  if (info) {
    lines.push(`Backend: ${info.backend}`, `Model: ${info.model}`);
    lines.push(`Devices: ${devicesText({ backend: r.backend, info })}`);
    if (info.recipe) lines.push(`Lemonade recipe: ${info.recipe}`);
    if (info.vramBytes) lines.push(`VRAM: ${(info.vramBytes / 2 ** 30).toFixed(1)} GiB`);
    if (info.threads) lines.push(`Threads: ${info.threads}`);
    if (info.contextSize) lines.push(`Context: ${info.contextSize} tokens`);
    lines.push(`Fill-in-the-middle: ${info.fimSupported ? 'yes' : 'no (prefix completion)'}`);
  } else {
    lines.push(`Backend: ${r.backend}`, 'Model: not loaded');
  }
  const w = r.worker;
  if (w) {
    lines.push(`Worker: pid ${w.pid}, up ${Math.round(w.uptimeMs / 1000)} s, ${w.clients} window(s), ${Math.round(w.rssBytes / 2 ** 20)} MB`);
    if (w.model)
      lines.push(
        `Load: ${Math.round(w.model.loadMs)} ms, warm-up ${Math.round(w.model.warmupMs)} ms, ${w.model.sequencesUsed} document cache(s) in use`,
      );
    // An older worker (another Verdant version still serving) may not count its requests.
    if (w.requests) lines.push(`Requests: ${w.requests.finished} answered, ${w.requests.aborted} cancelled, ${w.requests.failed} failed`);
    if (w.loading) lines.push(`Loading: ${w.loading}`);
    // Efficiency Mode: whether the worker runs low, and whether the OS refused to raise it when the user needed it.
    if (w.priority) lines.push(describePriority(w.priority));
  }
  lines.push(...describePlacement(npu, { backend: r.backend, info }));
  if (r.problem) lines.push(`Problem: ${r.problem}`);
  return lines;
}

export async function showEngineStatus(
  engine: LocalEngine,
  npuOfMachine: () => Promise<NpuDetection>,
  commands: { selectModel: string; showLog: string },
): Promise<EngineStatusShown> {
  const [report, npu] = await Promise.all([engine.report(), npuOfMachine()]);
  const lines = describeReport(report, npu);
  const actions = report.info ? ['Show Log'] : ['Load Model', 'Select Local Model', 'Show Log'];
  const act = async (choice: string | undefined): Promise<void> => {
    if (choice === 'Select Local Model') await vscode.commands.executeCommand(commands.selectModel);
    else if (choice === 'Show Log') await vscode.commands.executeCommand(commands.showLog);
    else if (choice === 'Load Model') {
      await vscode.window
        .withProgress({ location: vscode.ProgressLocation.Notification, title: 'Verdant: loading the local model' }, () => engine.load())
        .then(
          (info) => vscode.window.showInformationMessage(`Verdant: ${info.model} ready on ${info.backend}.`),
          (e) => vscode.window.showErrorMessage(errorMessage(e)),
        );
    }
  };
  void vscode.window.showInformationMessage('Verdant local engine', { modal: true, detail: lines.join('\n') }, ...actions).then(
    (choice) => showFailure(act(choice)),
    (e) => console.warn(`Verdant: could not show the engine status dialog: ${e}`),
  ); // e.g. dialogs refused under test
  return { ...report, npu, lines };
}
