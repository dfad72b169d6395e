/**
 * Test support: catching the error a call must throw. Each fails the test when nothing is thrown
 * and rethrows an error of another class, so a test built on them cannot pass by accident.
 */

type ErrorClass<E> = abstract new (...args: never[]) => E;

/** The error of class `type` that `f` throws. */
export function thrownBy<E>(f: () => unknown, type: ErrorClass<E>): E {
  try {
    f();
  } catch (e) {
    if (e instanceof type) return e;
    throw e;
  }
  throw new Error(`expected a ${type.name}, but nothing was thrown`);
}

/** The error of class `type` that the promise (or the async function) rejects with. */
export async function rejectedWith<E>(p: Promise<unknown> | (() => unknown), type: ErrorClass<E>): Promise<E> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof type) return e;
    throw new Error(`expected a ${type.name}, got ${String(e)}`, { cause: e });
  }
  throw new Error(`expected a ${type.name}, but none was thrown`);
}
