/** A one-line progress display on stderr, redrawn at most 10 times a second, only on a terminal. */
import { displayPath, formatBytes, formatDuration, formatRate } from './format.ts';
import type { Io } from './io.ts';

export class ProgressLine {
  private readonly io: Io;
  private readonly startedAt = Date.now();
  private lastDrawAt = 0;
  private isDrawn = false;

  constructor(io: Io) {
    this.io = io;
  }

  update(state: { files: number; bytes: number; totalBytes?: number; label?: string }): void {
    if (!this.io.isInteractive) return;
    const now = Date.now();
    if (now - this.lastDrawAt < 100) return;
    this.lastDrawAt = now;
    const elapsed = now - this.startedAt;
    let line = `${state.files} files, ${formatBytes(state.bytes)}`;
    if (state.totalBytes) {
      const fraction = Math.min(1, state.bytes / state.totalBytes);
      line += ` of ${formatBytes(state.totalBytes)} (${(fraction * 100).toFixed(0)}%)`;
      if (fraction > 0.01) line += `, ETA ${formatDuration(Math.round((elapsed / fraction) * (1 - fraction)))}`;
    }
    line += `, ${formatRate(state.bytes, elapsed)}`;
    if (state.label) line += `  ${displayPath(state.label)}`;
    const width = 100;
    this.io.err(`\r\x1b[K${line.length > width ? line.slice(0, width - 1) + '…' : line}`);
    this.isDrawn = true;
  }

  done(): void {
    if (this.isDrawn) this.io.err('\r\x1b[K');
    this.isDrawn = false;
  }
}
