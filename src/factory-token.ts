/**
 * Refusing direct construction of classes that must come from a factory
 * (`await SqliteStore.open(path)`, `await createEngine(...)`...). TypeScript's `private
 * constructor` stops only TypeScript callers; JavaScript (or a cast) could still call
 * `new SqliteStore('/tmp/x.db')` and get an object that fails much later with a TypeError.
 * The factory passes FACTORY, which the package does not export, so no caller outside can.
 */
import { InvalidInputError } from './errors.js';

/** The token a factory passes to its class's constructor. Never exported from the package. */
export const FACTORY: unique symbol = Symbol('scriptbox factory');
export type FactoryToken = typeof FACTORY;

/** Throws InvalidInputError, naming the factory to use, unless `token` is FACTORY. */
export function requireFactory(token: unknown, what: string, factory: string): void {
  if (token !== FACTORY) {
    throw new InvalidInputError(`${what} cannot be made with \`new\`; use ${factory}`);
  }
}

/** Objects the package's own code made for a constructor that takes no token (see markMade). */
const made = new WeakSet<object>();

/**
 * Marks an argument as made by the package (e.g. resolveOptions' result), for a constructor
 * that checks its argument instead of taking a token (requireMade).
 */
export function markMade<T extends object>(value: T): T {
  made.add(value);
  return value;
}

/** Throws InvalidInputError, naming the factory to use, unless `value` was marked by markMade. */
export function requireMade(value: unknown, what: string, factory: string): void {
  requireFactory(typeof value === 'object' && value !== null && made.has(value) ? FACTORY : undefined, what, factory);
}
