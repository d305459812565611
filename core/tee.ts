/**
 * Two readers of one iterator, in order, without either holding more than the other has pulled
 * ahead of it: the reader ahead pulls from the source and leaves each item for the one behind
 * if that one wants it (a reader always gets what it pulls itself). A restore reads chunks
 * ahead of the files it writes from one scan of the manifest this way.
 */
export function tee<T>(source: Iterator<T>, wants: readonly [(item: T) => boolean, (item: T) => boolean] = [() => true, () => true]): [Iterator<T>, Iterator<T>] {
  const waiting: [T[], T[]] = [[], []];
  let ended = false;
  // A source that throws has failed for both readers, not ended for the second one to ask.
  let failure: { error: unknown } | undefined;
  const reader = (own: T[], other: T[], otherWants: (item: T) => boolean): Iterator<T> => ({
    next(): IteratorResult<T> {
      if (own.length > 0) return { done: false, value: own.shift()! };
      if (failure !== undefined) throw failure.error;
      if (ended) return { done: true, value: undefined };
      let step: IteratorResult<T>;
      try {
        step = source.next();
      } catch (error) {
        failure = { error };
        throw error;
      }
      if (step.done === true) {
        ended = true;
        return { done: true, value: undefined };
      }
      if (otherWants(step.value)) other.push(step.value);
      return { done: false, value: step.value };
    },
  });
  return [reader(waiting[0], waiting[1], wants[1]), reader(waiting[1], waiting[0], wants[0])];
}
