/**
 * Two readers of one iterator, each getting every item in order, without either holding more
 * than the other has not yet reached: the reader ahead pulls from the source and leaves each
 * item for the one behind. A restore reads chunks ahead of the files it writes from one scan
 * of the manifest this way.
 */
export function tee<T>(source: Iterator<T>): [Iterator<T>, Iterator<T>] {
  const waiting: [T[], T[]] = [[], []];
  let ended = false;
  const reader = (own: T[], other: T[]): Iterator<T> => ({
    next(): IteratorResult<T> {
      if (own.length > 0) return { done: false, value: own.shift()! };
      if (ended) return { done: true, value: undefined };
      const step = source.next();
      if (step.done === true) {
        ended = true;
        return { done: true, value: undefined };
      }
      other.push(step.value);
      return { done: false, value: step.value };
    },
  });
  return [reader(waiting[0], waiting[1]), reader(waiting[1], waiting[0])];
}
