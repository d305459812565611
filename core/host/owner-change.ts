/**
 * Giving a restored entry its recorded owner. Some systems refuse it to root itself: a user
 * namespace that maps no such uid (EINVAL), NFS with root squashing or vfat (EPERM). That is not
 * a failed restore: the entry stays the restorer's, and the caller drops its set-id bits.
 */
export type OwnerRefusal = 'EPERM' | 'EINVAL';

/** Runs `change` (a chown); the system's refusal is returned, any other error thrown. */
export function changeOwner(change: () => void): OwnerRefusal | undefined {
  try {
    change();
    return undefined;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'EPERM' || code === 'EINVAL') return code;
    throw error;
  }
}
