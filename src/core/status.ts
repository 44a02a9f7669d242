// What the status-bar item says, computed from plain inputs so the wording is tested without VS Code.
import { assignRole, describeAssignment, LOCAL_ROLES, type LocalRole, type RoleAssignment, type RoleFacts } from './localRoles';
import type { SettingProblem, VerdantSettings } from './settings';
import { hostOf } from './cloud/endpoint';

export interface StatusInput {
  readonly version: string;
  readonly settings: VerdantSettings;
  readonly problems: readonly SettingProblem[];
  /** Workspace trust: untrusted workspaces never send code to the cloud. */
  readonly trusted: boolean;
  /** Whether a cloud API key is stored in secret storage. */
  readonly hasCloudKey: boolean;
  /** The local engine is working on a request (or loading the model for it). */
  readonly engineBusy?: boolean;
  /** The last local-engine failure, until a request succeeds again. */
  readonly engineProblem?: string;
  /** What this window has measured of each role's model. */
  readonly roleFacts?: (role: LocalRole) => RoleFacts;
  readonly onBattery?: boolean;
}

export type CloudState = 'off' | 'untrusted' | 'no-endpoint' | 'no-key' | 'ready';

export interface StatusView {
  /** Status-bar text, with a codicon. */
  readonly text: string;
  /** Markdown lines for the tooltip and the status report. */
  readonly lines: readonly string[];
  readonly severity: 'ok' | 'off' | 'warning';
  readonly cloud: CloudState;
}

export function cloudState(input: StatusInput): CloudState {
  const { cloud } = input.settings;
  if (!cloud.enable) return 'off';
  if (!input.trusted) return 'untrusted';
  if (!cloud.endpoint) return 'no-endpoint';
  if (!input.hasCloudKey) return 'no-key';
  return 'ready';
}

const CLOUD_LINES: Record<CloudState, string> = {
  off: 'Cloud: off, nothing leaves this machine',
  untrusted: 'Cloud: off in this untrusted workspace (local only)',
  'no-endpoint': 'Cloud: enabled but no endpoint set (`verdant.cloud.endpoint`)',
  'no-key': 'Cloud: enabled but no API key stored (run **Verdant: Set Cloud API Key**)',
  ready: 'Cloud: on',
};

/**
 * Who serves a local role; a model of its own on Verdant's engine also says its device and threads, and what this
 * window has measured of it (the backend that answered, tokens/s).
 */
function roleLine(a: RoleAssignment, facts: RoleFacts | undefined): string {
  const line = describeAssignment(a);
  const m = a.model;
  if (a.servedBy !== a.role || !m) return line;
  const settings = m.backend === 'llama.cpp' ? ` (${m.gpu === 'auto' ? 'GPU auto' : m.gpu}, ${m.threads || 'auto'} threads)` : '';
  const seen = [facts?.backend ?? '', facts?.tokensPerSecond ? `${facts.tokensPerSecond.toFixed(0)} tokens/s` : ''].filter(Boolean);
  return `${line}${settings}${seen.length ? ` · ${seen.join(', ')}` : ''}`;
}

export function describeStatus(input: StatusInput): StatusView {
  const { settings, problems } = input;
  const cloud = cloudState(input);
  const lines: string[] = [];
  lines.push(`**Verdant ${input.version}**: ${settings.enable ? 'on' : 'off'}`);
  for (const role of LOCAL_ROLES) lines.push(roleLine(assignRole(settings, role), input.roleFacts?.(role)));
  lines.push(completionsLine(input));
  lines.push(cloud === 'ready' ? `${CLOUD_LINES.ready} → ${hostOf(settings.cloud.endpoint)}` : CLOUD_LINES[cloud]);
  lines.push(routingLine(settings));
  for (const p of problems) lines.push(`$(warning) ${p.message}`);
  if (input.engineProblem) lines.push(`$(warning) ${input.engineProblem}`);

  const severity = problems.length > 0 || input.engineProblem ? 'warning' : settings.enable ? 'ok' : 'off';
  const paused = settings.enable && (!settings.completions.enable || (input.onBattery && settings.completions.onBattery === 'pause'));
  const icon =
    severity === 'warning'
      ? '$(warning)'
      : severity === 'off'
        ? '$(circle-slash)'
        : input.engineBusy
          ? '$(loading~spin)'
          : paused
            ? '$(debug-pause)'
            : '$(sparkle)';
  // The mode shows in the bar only when it differs from the default, so a "local-only" or "cloud-only" is never forgotten.
  const mode = settings.routing.mode === 'balanced' ? '' : ` · ${settings.routing.mode}`;
  // Until a model is chosen, the bar says so: nothing else tells a new user why no ghost text comes (#22).
  const noModel = settings.enable && assignRole(settings, 'completion').model === null ? ': no model' : '';
  return { text: `${icon} Verdant${noModel}${mode}`, lines, severity, cloud };
}

function routingLine(settings: VerdantSettings): string {
  const r = settings.routing;
  const budget =
    r.dailyBudgetGrams > 0 ? `, budget ${r.dailyBudgetGrams} g/day (${r.budgetAction === 'stop' ? 'stop bursting' : 'warn'} when exceeded)` : '';
  return `Routing: ${r.mode}${r.cascade ? ', local draft first when unsure' : ''}${budget} (**Verdant: Switch Routing Mode**)`;
}

function completionsLine(input: StatusInput): string {
  const c = input.settings.completions;
  if (!c.enable) return 'Inline completions: paused (**Verdant: Pause/Resume Inline Completions**)';
  if (input.onBattery && c.onBattery === 'pause') return 'Inline completions: paused on battery (the trigger key still works)';
  if (input.onBattery && c.onBattery === 'reduced') return 'Inline completions: on, reduced on battery';
  return input.engineBusy ? 'Inline completions: on, working…' : 'Inline completions: on';
}
