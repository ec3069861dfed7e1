import { ALL_SLOTS, type FieldValue, type Slot } from './field-map.ts';

type Rec = Record<string, unknown>;
export type Lowered = string | readonly string[] | undefined;

/**
 * One event seen through the field map, with each field read and lower-cased at most once however
 * many rules ask for it. An engine reuses one view (reset per event) to avoid allocation.
 */
export class EventView {
  event: Rec = {};
  private epoch = 1;
  private readonly rawAt: number[] = new Array<number>(ALL_SLOTS.length).fill(0);
  private readonly lowAt: number[] = new Array<number>(ALL_SLOTS.length).fill(0);
  private readonly rawVal: FieldValue[] = new Array<FieldValue>(ALL_SLOTS.length);
  private readonly lowVal: Lowered[] = new Array<Lowered>(ALL_SLOTS.length);

  reset(event: Rec): this {
    this.event = event;
    this.epoch++;
    return this;
  }

  raw(slot: Slot): FieldValue {
    const id = slot.id;
    if (this.rawAt[id] === this.epoch) return this.rawVal[id];
    const v = slot.get(this.event);
    this.rawAt[id] = this.epoch;
    this.rawVal[id] = v;
    return v;
  }

  /** The value as a string (numbers and booleans printed), or a list of strings. */
  str(slot: Slot): Lowered {
    const v = this.raw(slot);
    if (v === undefined || typeof v === 'string' || Array.isArray(v)) return v as Lowered;
    return String(v);
  }

  lower(slot: Slot): Lowered {
    const id = slot.id;
    if (this.lowAt[id] === this.epoch) return this.lowVal[id];
    const v = this.str(slot);
    const low = v === undefined ? undefined : typeof v === 'string' ? v.toLowerCase() : v.map((s) => s.toLowerCase());
    this.lowAt[id] = this.epoch;
    this.lowVal[id] = low;
    return low;
  }
}
