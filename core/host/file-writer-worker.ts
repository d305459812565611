/**
 * A file-writer thread (core/host/file-writer.ts): makes a restore's directories, links and small
 * files with synchronous calls, in order, off the thread that decrypts and plans. Each file is
 * created with O_EXCL|O_NOFOLLOW under the restore's private staging directory.
 */
import { closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, lutimesSync, mkdirSync, openSync, symlinkSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { discard } from '../format/bytes.ts';
import type { FsTime } from './fs-time.ts';
import { changeOwner } from './owner-change.ts';

/** One step of a restore's staging, in order: a directory, a link or a small file. */
export type WriteOp =
  | { readonly kind: 'dir'; readonly path: string }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string; readonly time: FsTime; readonly owner: Owner | undefined }
  | { readonly kind: 'file'; readonly path: string; readonly mode: number; readonly time: FsTime; readonly owner: Owner | undefined; readonly chunks: readonly Uint8Array[] };

/** Numeric owner and group to give an entry (only a restore running as root sets them). */
export type Owner = readonly [uid: number, gid: number];

export type WriterRequest = { id: number; ops: WriteOp[] };
export type WriterReply = { id: number; error?: { message: string; code?: string; path: string }; ownersRefused?: { count: number; code: string } };

const FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Owners the system refused in the batch being applied (EPERM, EINVAL): counted, not fatal. */
let refused: { count: number; code: string } | undefined;

/** Whether the owner was set; a refusal is counted, and the caller then drops set-id bits. */
function chown(set: () => void): boolean {
  const refusal = changeOwner(set);
  if (refusal !== undefined) refused = { count: (refused?.count ?? 0) + 1, code: refused?.code ?? refusal };
  return refusal === undefined;
}

function writeFile(file: Extract<WriteOp, { kind: 'file' }>): void {
  const fd = openSync(file.path, FLAGS, 0o600);
  try {
    for (const chunk of file.chunks) {
      let done = 0;
      while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done);
    }
    // Through the descriptor: no second path lookup, nothing that could follow a link. The owner
    // first: a change of owner clears the set-user-id and set-group-id bits the mode then sets.
    const owner = file.owner;
    const owned = owner === undefined || chown(() => fchownSync(fd, owner[0], owner[1]));
    fchmodSync(fd, owned ? file.mode : file.mode & ~0o6000);
    futimesSync(fd, file.time, file.time);
  } finally {
    closeSync(fd);
  }
  // The chunks were transferred here for this file alone: freed now, not at this thread's next GC.
  for (const chunk of file.chunks) discard(chunk);
}

function apply(op: WriteOp): void {
  if (op.kind === 'file') return writeFile(op);
  if (op.kind === 'dir') return void mkdirSync(op.path, { mode: 0o700 });
  symlinkSync(op.target, op.path);
  const owner = op.owner;
  if (owner) chown(() => lchownSync(op.path, owner[0], owner[1]));
  try {
    lutimesSync(op.path, op.time, op.time);
  } catch {
    // Some file systems cannot set a link's own time; the link itself is what matters.
  }
}

parentPort!.on('message', (request: WriterRequest) => {
  refused = undefined;
  for (const op of request.ops) {
    try {
      apply(op);
    } catch (error) {
      const e = error as { message?: string; code?: string };
      parentPort!.postMessage({ id: request.id, error: { message: String(e.message ?? error), ...(e.code ? { code: e.code } : {}), path: op.path } } satisfies WriterReply);
      return;
    }
  }
  parentPort!.postMessage({ id: request.id, ...(refused ? { ownersRefused: refused } : {}) } satisfies WriterReply);
});
