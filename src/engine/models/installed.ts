// The model files on this machine that Verdant manages (#21): the GGUF files in its models folder (downloaded presets
// and imported files) and any file a role points at elsewhere, each with its size and the roles that use it. Import
// copies a checked GGUF file into the folder; delete removes a file only from that folder.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { LocalRole } from '../../core/localRoles';
import { EngineError } from '../errors';
import { readGguf } from '../gguf';

export interface InstalledModel {
  readonly path: string;
  readonly bytes: number;
  /** In Verdant's models folder (deletable from the manager), or a file elsewhere that a role uses. */
  readonly managed: boolean;
  readonly roles: readonly LocalRole[];
}

/** The models folder's GGUF files and the roles' files, largest first. Partial downloads are not listed. */
export async function installedModels(modelsDir: string, rolePaths: Readonly<Record<LocalRole, string>>): Promise<InstalledModel[]> {
  const files = new Map<string, boolean>();
  for (const name of await fs.readdir(modelsDir).catch(() => [] as string[])) {
    if (/\.gguf$/i.test(name)) files.set(path.join(modelsDir, name), true);
  }
  for (const p of Object.values(rolePaths)) if (p && !files.has(p)) files.set(p, false);
  const out: InstalledModel[] = [];
  for (const [file, managed] of files) {
    const stat = await fs.stat(file).catch(() => undefined);
    if (!stat?.isFile()) continue; // a role pointing at a file that is gone: the engine status says so
    const roles = (Object.entries(rolePaths) as [LocalRole, string][]).filter(([, p]) => p === file).map(([r]) => r);
    out.push({ path: file, bytes: stat.size, managed, roles });
  }
  return out.sort((a, b) => b.bytes - a.bytes);
}

/**
 * Copies a GGUF file into the models folder after checking it is one (a clear error for a wrong, truncated or corrupt
 * file, before anything is copied); an existing file of the same name is never overwritten.
 */
export async function importModel(source: string, modelsDir: string): Promise<string> {
  await readGguf(source);
  await fs.mkdir(modelsDir, { recursive: true });
  const dest = path.join(modelsDir, path.basename(source));
  if (path.resolve(source) === path.resolve(dest)) return dest;
  try {
    await fs.copyFile(source, dest, fs.constants.COPYFILE_EXCL);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      throw new EngineError('model-invalid', `${path.basename(dest)} is already in Verdant's models folder; rename the file to import it as well.`);
    throw e;
  }
  return dest;
}

/** Deletes a model file from the models folder; a file elsewhere is the user's, never deleted from here. */
export async function deleteModel(file: string, modelsDir: string): Promise<void> {
  if (path.dirname(path.resolve(file)) !== path.resolve(modelsDir))
    throw new EngineError('model-invalid', `${file} is not in Verdant's models folder; delete it yourself if you no longer need it.`);
  await fs.rm(file);
}
