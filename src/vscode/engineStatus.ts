// "Verdant: Show Engine Status": which backend runs the local model, on which device, with how many threads, how the
// shared worker is doing, and what the NPU does (src/core/power/npu.ts). Returns the report and the lines shown at
// once (the dialog is not awaited) so tests can read them.
import { promises as fs } from 'node:fs';
import * as vscode from 'vscode';
import { describePriority } from '../engine/priority';
import type { EngineReport, LocalEngine, RoleReport } from './localEngine';
import { describeQuality, type QualitySummary } from '../core/completion/quality';
import { describeAssignment } from '../core/localRoles';
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

export function describeReport(r: EngineReport, npu: NpuDetection, completionQuality?: QualitySummary): string[] {
  const lines: string[] = [];
  for (const role of r.roles) {
    lines.push(...describeRole(role, r.worker));
    if (role.assignment.role === 'completion' && role.assignment.model && completionQuality) lines.push(`  ${describeQuality(completionQuality)}`);
  }
  const w = r.worker;
  if (w) {
    lines.push(`Worker: pid ${w.pid}, up ${Math.round(w.uptimeMs / 1000)} s, ${w.clients} window(s), ${Math.round(w.rssBytes / 2 ** 20)} MB`);
    // An older worker (another Verdant version still serving) may not count its requests.
    if (w.requests) lines.push(`Requests: ${w.requests.finished} answered, ${w.requests.aborted} cancelled, ${w.requests.failed} failed`);
    if (w.loading) lines.push(`Loading: ${w.loading}`);
    if (w.swaps?.last)
      lines.push(
        `Swaps: ${w.swaps.count} (memory for one model at a time; last: unloaded ${basename(w.swaps.last.unloaded)} to load ${basename(w.swaps.last.loading)}, ${w.swaps.last.reason})`,
      );
    // Efficiency Mode: whether the worker runs low, and whether the OS refused to raise it when the user needed it.
    if (w.priority) lines.push(describePriority(w.priority));
  }
  lines.push(...describePlacement(npu, { backend: r.backend, info: r.info }));
  if (r.problem) lines.push(`Problem: ${r.problem}`);
  return lines;
}

/** A role's lines: who serves it, then (when loaded) backend, devices, memory and the model's own facts, indented. */
function describeRole(role: RoleReport, worker: EngineReport['worker']): string[] {
  const lines = [describeAssignment(role.assignment)];
  const info = role.info;
  const model = role.assignment.model;
  if (role.assignment.servedBy !== role.assignment.role) return lines; // the other role's lines describe that model
  if (info) {
    const facts = [`backend ${info.backend}`, `devices ${devicesText({ backend: model?.backend ?? 'llama.cpp', info })}`];
    if (info.recipe) facts.push(`Lemonade recipe ${info.recipe}`);
    if (info.vramBytes) facts.push(`VRAM ${(info.vramBytes / 2 ** 30).toFixed(1)} GiB`);
    if (info.threads) facts.push(`${info.threads} threads`);
    if (info.contextSize) facts.push(`context ${info.contextSize} tokens`);
    facts.push(info.fimSupported ? 'fill-in-the-middle' : 'no fill-in-the-middle (prefix completion)');
    lines.push(`  ${facts.join(' · ')}`);
    if (role.tokensPerSecond !== null) facts.push(`measured ${role.tokensPerSecond.toFixed(1)} tokens/s`);
    const loaded = model?.backend === 'llama.cpp' ? worker?.models.find((m) => m.modelPath === model.modelPath) : undefined;
    if (loaded)
      lines.push(
        `  memory about ${(loaded.memoryBytes / 2 ** 30).toFixed(1)} GiB (weights and cache), loaded in ${Math.round(loaded.loadMs)} ms, warm-up ${Math.round(loaded.warmupMs)} ms, ${loaded.sequencesUsed} document cache(s) in use`,
      );
  } else if (model) {
    lines.push(role.problem ? `  not available: ${role.problem}` : '  not loaded (loads on first use)');
  }
  return lines;
}

const basename = (p: string) => p.split(/[\\/]/).pop() ?? p;

export async function showEngineStatus(
  engine: LocalEngine,
  npuOfMachine: () => Promise<NpuDetection>,
  commands: { selectModel: string; showLog: string },
  completionQuality?: () => QualitySummary,
): Promise<EngineStatusShown> {
  const [report, npu] = await Promise.all([engine.report(), npuOfMachine()]);
  const lines = describeReport(report, npu, completionQuality?.());
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
