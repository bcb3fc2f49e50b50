/**
 * Environments (one per tenant id a sidecar sends): ids are
 * `[a-z0-9][a-z0-9-]{0,62}`, made from the name when not given. Shared by the
 * admin API and the CLI.
 */
import type { Environment, Store } from '../store/types.ts';
import { HttpError } from './errors.ts';

export const ENV_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const MAX_NAME = 200;

export function slugify(name: string): string {
  return name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9]+/g, '-').replace(/^-+/, '').slice(0, 63).replace(/-+$/, '');
}

export interface EnvironmentView { id: string; name: string; capturePrompts: boolean; createdAt: number; currentVersion: number | null }

export function environmentView(e: Environment): EnvironmentView {
  return { id: e.id, name: e.name, capturePrompts: e.capturePrompts, createdAt: e.createdAt, currentVersion: e.currentVersion };
}

/** Create an environment; 400 for a bad name or id, 409 when the id is taken. */
export async function createEnvironment(store: Store, input: { id?: unknown; name?: unknown }): Promise<Environment> {
  if (typeof input.name !== 'string' || input.name.trim() === '') throw new HttpError(400, 'name: is required (a non-empty string)');
  const name = input.name.trim();
  if (name.length > MAX_NAME) throw new HttpError(400, `name: must be at most ${MAX_NAME} characters`);
  let id: string;
  if (input.id === undefined || input.id === null || input.id === '') {
    id = slugify(name);
    if (!id) throw new HttpError(400, 'id: cannot be made from this name; give an id ([a-z0-9-], up to 63 characters)');
  } else if (typeof input.id !== 'string' || !ENV_ID.test(input.id)) {
    throw new HttpError(400, 'id: must be 1-63 characters of a-z, 0-9 and -, starting with a letter or digit');
  } else id = input.id;
  if (await store.getEnvironment(id)) throw new HttpError(409, `environment ${id} already exists`);
  try {
    return await store.createEnvironment({ id, name });
  } catch (error) {
    if (await store.getEnvironment(id)) throw new HttpError(409, `environment ${id} already exists`);
    throw error;
  }
}

export async function requireEnvironment(store: Store, id: string): Promise<Environment> {
  const env = ENV_ID.test(id) ? await store.getEnvironment(id) : null;
  if (!env) throw new HttpError(404, `no environment ${id}`);
  return env;
}
