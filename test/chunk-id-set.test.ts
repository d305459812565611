/** ChunkIdSet: the byte-keyed set of known chunk ids a codec worker checks every chunk against. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChunkIdSet, idSlot } from '../core/chunk-id-set.ts';
import { pseudoRandomBytes } from './helpers.ts';

const id = (ids: Uint8Array, i: number): Uint8Array => ids.slice(i * 32, i * 32 + 32);

test('holds every id it was given and no other', () => {
  const count = 20_000;
  const ids = pseudoRandomBytes(count * 32, 7);
  const set = new ChunkIdSet(ids);
  assert.is(set.size, count);
  for (let i = 0; i < count; i++) assert.ok(set.has(id(ids, i)), `id ${i}`);
  const others = pseudoRandomBytes(count * 32, 8);
  let found = 0;
  for (let i = 0; i < count; i++) if (set.has(id(others, i))) found++;
  assert.is(found, 0);
});

test('an id that differs in any one byte, or has another length, is not in the set', () => {
  const ids = pseudoRandomBytes(100 * 32, 9);
  const set = new ChunkIdSet(ids);
  const known = id(ids, 42);
  for (let at = 0; at < 32; at++) {
    const near = known.slice();
    near[at]! ^= 0x01;
    assert.not.ok(set.has(near), `byte ${at} flipped`);
  }
  assert.not.ok(set.has(known.subarray(0, 31)));
  const longer = new Uint8Array(33);
  longer.set(known);
  assert.not.ok(set.has(longer));
});

test('ids that share their first 8 bytes are told apart by the rest', () => {
  const ids = pseudoRandomBytes(64 * 32, 10);
  for (let i = 1; i < 64; i++) ids.copyWithin(i * 32, 0, 8);
  const set = new ChunkIdSet(ids);
  for (let i = 0; i < 64; i++) assert.ok(set.has(id(ids, i)), `id ${i}`);
  const stranger = id(ids, 5);
  stranger[31]! ^= 0x80;
  assert.not.ok(set.has(stranger));
});

test('an empty set has nothing; a list that is not whole ids is refused', () => {
  const empty = new ChunkIdSet(new Uint8Array(0));
  assert.is(empty.size, 0);
  assert.not.ok(empty.has(new Uint8Array(32)));
  assert.throws(() => new ChunkIdSet(new Uint8Array(33)), /not a whole number of ids/);
});

// Slots, not lookups: a slot function that sends every id to one slot (or hashes only some of
// the bytes) still finds every id, only slowly, so the spread itself is what is checked here.
// 40,000 ids in 2^17 slots land on ~34,500 distinct slots when the slots are uniform (sd ~100);
// ids that differ in one word only must do as well, whichever word it is.
test('ids that differ in a single 4-byte word spread over the table like random ones, whichever word', () => {
  const count = 40_000;
  const mask = (1 << 17) - 1;
  const base = pseudoRandomBytes(32, 11);
  for (let word = 0; word < 8; word++) {
    const slots = new Set<number>();
    const id = base.slice();
    for (let i = 0; i < count; i++) {
      new DataView(id.buffer).setUint32(word * 4, i, true);
      slots.add(idSlot(id, 0, mask));
    }
    assert.ok(slots.size > 33_000, `word ${word}: ${slots.size} distinct slots of ${count} ids`);
  }
});

test('ids that differ in one byte, or in one bit, do not share slots', () => {
  const mask = (1 << 16) - 1;
  const base = pseudoRandomBytes(32, 12);
  const slots = new Set<number>();
  for (let at = 0; at < 32; at++) {
    for (let bit = 0; bit < 8; bit++) {
      const id = base.slice();
      id[at]! ^= 1 << bit;
      slots.add(idSlot(id, 0, mask));
    }
  }
  // 256 one-bit neighbours in 65,536 slots: ~0.5 collisions expected.
  assert.ok(slots.size >= 250, `${slots.size} distinct slots of 256 one-bit neighbours`);
});

test.run();
