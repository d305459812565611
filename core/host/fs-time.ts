/**
 * The time a restore hands utimes() for a recorded mtime (whole milliseconds, FORMAT.md §1.2).
 *
 * utimes takes seconds as a double and libuv cuts the nanoseconds toward zero, so 1795789231.813 s
 * can land on …812.99996 ms: half a microsecond away from zero keeps the millisecond exact.
 * Before 1970 the seconds are negative, which Node's utimes silently replaces with "now"; a
 * numeric string (which Node documents as a time) passes as it is, back to 1901-12-13, where
 * libuv's 32-bit seconds stop. Deno's node:fs takes no negative number or string, only a Date of
 * whole seconds: there a time before 1970 keeps its whole seconds.
 */
export type FsTime = number | string | Date;

const IS_DENO = 'Deno' in globalThis;

export function fsTime(mtimeMs: number): FsTime {
  if (mtimeMs >= 0) return (mtimeMs + 0.0005) / 1000;
  if (IS_DENO) return new Date(Math.trunc(mtimeMs / 1000) * 1000);
  return String((mtimeMs - 0.0005) / 1000);
}
