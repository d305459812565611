/** In-memory storage, for tests and for edge code that keeps a repository in a request. */
import { checkKey, notFound, shortObject, type Storage } from './storage.ts';

export class MemoryStorage implements Storage {
  readonly location = 'memory:';
  readonly objects = new Map<string, Uint8Array>();

  async get(key: string): Promise<Uint8Array> {
    const value = this.objects.get(checkKey(key));
    if (value === undefined) throw notFound(key);
    return value.slice();
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    const value = this.objects.get(checkKey(key));
    if (value === undefined) throw notFound(key);
    if (offset + length > value.length) throw shortObject(key);
    return value.slice(offset, offset + length);
  }

  async put(key: string, data: Uint8Array): Promise<boolean> {
    if (this.objects.has(checkKey(key))) return false;
    this.objects.set(key, data.slice());
    return true;
  }

  async has(key: string): Promise<boolean> {
    return this.objects.has(checkKey(key));
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(checkKey(key));
  }
}
