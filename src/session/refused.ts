/**
 * A core's refusal of a session snapshot's payload (docs/session-snapshots.md). A core
 * that throws it fails to boot with a failure of this type, which the host reports as
 * InvalidInputError (a damaged or foreign snapshot is bad input, not a crash). No imports:
 * the sandbox's cores load this.
 */
export const SESSION_REFUSED = 'SessionRefused';

export class SessionRefused extends Error {
  override readonly name = SESSION_REFUSED;
}
