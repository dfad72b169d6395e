/**
 * The only module that imports `binaryen`. Loading it costs about a second (15 MB of JS with
 * top-level await), so it is loaded lazily, on the first compile, and never by the runtime.
 */
import type BinaryenDefault from 'binaryen';

/** The binaryen.js namespace. */
export type Binaryen = typeof BinaryenDefault;
/** A Binaryen module. */
export type BModule = InstanceType<Binaryen['Module']>;
/** A Binaryen expression reference. */
export type ExprRef = number;

let loading: Promise<Binaryen> | undefined;

/** Loads binaryen.js once. */
export function loadBinaryen(): Promise<Binaryen> {
  loading ??= import('binaryen').then((m) => m.default);
  return loading;
}
