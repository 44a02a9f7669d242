// package.json is the contract with VS Code: these checks keep it and the typed settings from drifting apart.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { EFFICIENCY_MODES } from '../../src/core/power/efficiency';
import { BUDGET_ACTIONS, ROUTING_MODES } from '../../src/core/routing/policy';
import { DEFAULT_SETTINGS, readSettings } from '../../src/core/settings';
import { PROPOSAL_PENDING_CONTEXT, REFACTOR_CONTEXT } from '../../src/vscode/contextKeys';

interface Property {
  default: unknown;
  scope?: string;
  markdownDescription?: string;
  enum?: string[];
}
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const properties: Record<string, Property> = pkg.contributes.configuration.properties;

function defaultOf(key: string): unknown {
  return key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], DEFAULT_SETTINGS);
}

describe('package.json manifest', () => {
  it('shows the commands that act on something pending only while it is (#22), by context keys the code sets', () => {
    const palette: { command: string; when?: string }[] = pkg.contributes.menus.commandPalette;
    const when = (command: string) => palette.find((m) => m.command === command)?.when;
    const expected: Record<string, string> = {
      'verdant.applyProposal': PROPOSAL_PENDING_CONTEXT,
      'verdant.discardProposal': PROPOSAL_PENDING_CONTEXT,
      'verdant.applyRefactor': REFACTOR_CONTEXT.review,
      'verdant.discardRefactor': REFACTOR_CONTEXT.review,
      'verdant.resumeRefactor': REFACTOR_CONTEXT.resumable,
      'verdant.runRefactorWhenClean': REFACTOR_CONTEXT.planOpen,
    };
    for (const [command, key] of Object.entries(expected)) assert.equal(when(command), key, command);
  });

  it('declares exactly the settings the typed reader reads, with the same defaults', () => {
    const read: string[] = [];
    readSettings((key) => {
      read.push(key);
      return undefined;
    });
    assert.deepEqual(Object.keys(properties).sort(), read.map((k) => `verdant.${k}`).sort());
    for (const key of read) assert.deepEqual(properties[`verdant.${key}`]!.default, defaultOf(key), key);
  });

  it('gives every setting a markdownDescription and a scope', () => {
    for (const [key, p] of Object.entries(properties)) {
      assert.ok(p.markdownDescription && p.markdownDescription.length > 20, `${key} description`);
      assert.ok(p.scope, `${key} scope`);
    }
  });

  it('machine-scopes the settings that choose what runs or where code goes', () => {
    const machine = [
      'verdant.local.backend',
      'verdant.local.modelPath',
      'verdant.local.gpu',
      'verdant.local.threads',
      'verdant.local.serverUrl',
      'verdant.local.serverModel',
      'verdant.local.efficiencyMode',
      'verdant.cloud.endpoint',
      'verdant.cloud.model',
      'verdant.cloud.zone',
      'verdant.cloud.modelParams',
      // What runs with VS Code closed, and whether it may wake the machine (#23).
      'verdant.scheduler.whenClosed',
      'verdant.scheduler.wakeToRun',
      'verdant.scheduler.runWhenLoggedOff',
    ];
    for (const key of machine) {
      assert.equal(properties[key]!.scope, 'machine', key);
    }
    assert.equal(properties['verdant.cloud.enable']!.scope, 'application', 'consent cannot come from a workspace');
  });

  it("declares Efficiency Mode's three values, each described, as the reader accepts them (#19)", () => {
    const mode = properties['verdant.local.efficiencyMode'] as Property & { enum?: string[]; markdownEnumDescriptions?: string[] };
    assert.deepEqual(mode.enum, [...EFFICIENCY_MODES]);
    assert.equal(mode.markdownEnumDescriptions?.length, EFFICIENCY_MODES.length);
  });

  it('machine-scopes the routing settings and matches their choices to the policy', () => {
    const routing = [
      'verdant.routing.mode',
      'verdant.routing.dailyBudgetGrams',
      'verdant.routing.budgetAction',
      'verdant.routing.cascade',
      'verdant.routing.deferWithinHours',
    ];
    assert.deepEqual(
      Object.keys(properties)
        .filter((k) => k.startsWith('verdant.routing.'))
        .sort(),
      [...routing].sort(),
    );
    for (const key of routing) assert.equal(properties[key]!.scope, 'machine', key);
    const mode = properties['verdant.routing.mode'] as Property & { markdownEnumDescriptions?: string[] };
    assert.deepEqual(mode.enum, [...ROUTING_MODES]);
    assert.equal(mode.markdownEnumDescriptions?.length, ROUTING_MODES.length);
    const action = properties['verdant.routing.budgetAction'] as Property & { markdownEnumDescriptions?: string[] };
    assert.deepEqual(action.enum, [...BUDGET_ACTIONS]);
    assert.equal(action.markdownEnumDescriptions?.length, BUDGET_ACTIONS.length);
    // The manifest's bounds are the reader's: the largest allowed budget is read, one more is refused.
    const budget = properties['verdant.routing.dailyBudgetGrams'] as Property & { type?: string; minimum?: number; maximum?: number };
    assert.deepEqual([budget.type, budget.minimum, budget.maximum], ['number', 0, 1_000_000]);
    assert.equal(readSettings((k) => (k === 'routing.dailyBudgetGrams' ? budget.maximum : undefined)).problems.length, 0);
    assert.equal(readSettings((k) => (k === 'routing.dailyBudgetGrams' ? budget.maximum! + 1 : undefined)).problems.length, 1);
    assert.equal((properties['verdant.routing.cascade'] as Property & { type?: string }).type, 'boolean');
    const defer = properties['verdant.routing.deferWithinHours'] as Property & {
      type?: string;
      minimum?: number;
      maximum?: number;
      default?: number;
    };
    assert.deepEqual([defer.type, defer.minimum, defer.maximum, defer.default], ['number', 0, 48, DEFAULT_SETTINGS.routing.deferWithinHours]);
    assert.equal(readSettings((k) => (k === 'routing.deferWithinHours' ? defer.maximum! + 1 : undefined)).problems.length, 1);
  });

  it('contributes the router commands', () => {
    const commands = new Map<string, { title?: string }>(pkg.contributes.commands.map((c: { command: string; title?: string }) => [c.command, c]));
    for (const id of ['verdant.switchRoutingMode', 'verdant.showRoutingLog', 'verdant.retryInCloud', 'verdant.retryLocally']) {
      assert.ok(commands.has(id), id);
      assert.ok((commands.get(id)?.title ?? '').length > 0, `${id} title`);
    }
    assert.equal(
      new Set(pkg.contributes.commands.map((c: { command: string }) => c.command)).size,
      pkg.contributes.commands.length,
      'no duplicate commands',
    );
  });

  it('puts every command in the Verdant category under verdant.*', () => {
    assert.ok(pkg.contributes.commands.length > 0);
    for (const c of pkg.contributes.commands) {
      assert.match(c.command, /^verdant\.[a-zA-Z]+$/);
      assert.equal(c.category, 'Verdant');
    }
  });

  it('runs on the user machine, activates late, and declares trust support', () => {
    assert.deepEqual(pkg.extensionKind, ['workspace']);
    assert.deepEqual(pkg.activationEvents, ['onStartupFinished']);
    assert.equal(pkg.engines.vscode, '^1.100.0');
    assert.equal(pkg.capabilities.untrustedWorkspaces.supported, 'limited');
    assert.equal(pkg.dependencies['node-llama-cpp'], '3.21.1');
    assert.equal(pkg.allowScripts['onnxruntime-node'], false);
  });

  it('keeps README.md free of relative links, which vsce refuses to package without a repository URL', () => {
    const relative = [...readFileSync('README.md', 'utf8').matchAll(/\]\(([^)\s]+)\)/g)]
      .map((m) => m[1]!)
      .filter((href) => !/^(?:https?:|mailto:|#)/.test(href));
    assert.deepEqual(relative, []);
  });
});
